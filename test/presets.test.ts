import { describe, expect, it } from 'vitest';

import {
  MAX_CONNECTIONS,
  MIN_CONNECTIONS,
  PRESET_NAMES,
  PRESETS,
  findPreset,
} from '../core/presets.ts';
import type { Preset, SmartHostLimits } from '../core/presets.ts';

/** Returns the named preset, failing the test when it is missing. */
function requirePreset(name: string): Preset {
  const preset = findPreset(name);
  if (preset === undefined) {
    throw new Error(`Preset "${name}" not found; known presets: ${PRESET_NAMES.join(', ')}`);
  }
  return preset;
}

const COUNT_LIMITS = [
  'maxConnections',
  'maxMessagesPerConnection',
  'maxRecipientsPerMessage',
] as const satisfies readonly (keyof SmartHostLimits)[];

const BUDGET_LIMITS = [
  'maxMessagesPerMinute',
  'maxMessagesPerHour',
  'maxMessagesPerDay',
  'maxRecipientsPerDay',
] as const satisfies readonly (keyof SmartHostLimits)[];

describe('preset documented values', () => {
  it('microsoft365 matches SMTP AUTH limits', () => {
    const preset = requirePreset('microsoft365');

    expect(preset.host).toBe('smtp.office365.com');
    expect(preset.port).toBe(587);
    expect(preset.security).toBe('starttls');
    expect(preset.limits.maxConnections).toBe(3);
    expect(preset.limits.maxMessagesPerMinute).toBe(30);
    expect(preset.limits.maxRecipientsPerDay).toBe(10_000);
  });

  it('gmail matches personal limits', () => {
    const preset = requirePreset('gmail');

    expect(preset.host).toBe('smtp.gmail.com');
    expect(preset.port).toBe(587);
    expect(preset.security).toBe('starttls');
    expect(preset.limits.maxRecipientsPerMessage).toBe(100);
    expect(preset.limits.maxMessagesPerDay).toBe(500);
  });

  it('gmail-workspace matches Workspace limits', () => {
    const preset = requirePreset('gmail-workspace');

    expect(preset.host).toBe('smtp.gmail.com');
    expect(preset.port).toBe(587);
    expect(preset.limits.maxRecipientsPerMessage).toBe(100);
    expect(preset.limits.maxMessagesPerDay).toBe(2000);
    expect(preset.limits.maxRecipientsPerDay).toBe(10_000);
  });

  it('google-relay matches relay limits', () => {
    const preset = requirePreset('google-relay');

    expect(preset.host).toBe('smtp-relay.gmail.com');
    expect(preset.port).toBe(587);
    expect(preset.security).toBe('starttls');
    expect(preset.limits.maxRecipientsPerDay).toBe(10_000);
  });

  it('amazon-ses matches sandbox limits', () => {
    const preset = requirePreset('amazon-ses');

    expect(preset.host).toBe('email-smtp.us-east-1.amazonaws.com');
    expect(preset.port).toBe(587);
    expect(preset.security).toBe('starttls');
    expect(preset.limits.maxRecipientsPerMessage).toBe(50);
    expect(preset.limits.minGapMs).toBe(1000);
    expect(preset.limits.maxMessagesPerDay).toBe(200);
    expect(preset.limits.maxRecipientsPerDay).toBe(200);
    expect(preset.description).toMatch(/region/);
    expect(preset.description).toMatch(/production/);
  });

  it('sendgrid matches SMTP limits', () => {
    const preset = requirePreset('sendgrid');

    expect(preset.host).toBe('smtp.sendgrid.net');
    expect(preset.port).toBe(587);
    expect(preset.security).toBe('starttls');
    expect(preset.limits.maxMessagesPerConnection).toBe(100);
    expect(preset.limits.maxRecipientsPerMessage).toBe(1000);
  });

  it('generic-isp is conservative', () => {
    const preset = requirePreset('generic-isp');

    expect(preset.host).toBeNull();
    expect(preset.port).toBe(587);
    expect(preset.security).toBe('starttls');
    expect(preset.limits.maxConnections).toBe(2);
    expect(preset.limits.maxMessagesPerConnection).toBe(20);
    expect(preset.limits.maxRecipientsPerMessage).toBe(50);
    expect(preset.limits.maxMessagesPerMinute).not.toBeNull();
    expect(preset.limits.maxMessagesPerHour).not.toBeNull();
  });
});

describe('preset limit ranges', () => {
  it.each(PRESETS)('$name connections in range', (preset) => {
    expect(preset.limits.maxConnections).toBeGreaterThanOrEqual(MIN_CONNECTIONS);
    expect(preset.limits.maxConnections).toBeLessThanOrEqual(MAX_CONNECTIONS);
  });

  it.each(PRESETS)('$name counts are positive integers', (preset) => {
    for (const key of COUNT_LIMITS) {
      const value = preset.limits[key];

      expect(Number.isInteger(value), `${key} = ${value}`).toBe(true);
      expect(value, key).toBeGreaterThan(0);
    }
  });

  it.each(PRESETS)('$name budgets are null or positive', (preset) => {
    for (const key of BUDGET_LIMITS) {
      const value = preset.limits[key];
      if (value === null) {
        continue;
      }

      expect(Number.isInteger(value), `${key} = ${value}`).toBe(true);
      expect(value, key).toBeGreaterThan(0);
    }
  });

  it.each(PRESETS)('$name gap is non-negative', (preset) => {
    expect(Number.isInteger(preset.limits.minGapMs)).toBe(true);
    expect(preset.limits.minGapMs).toBeGreaterThanOrEqual(0);
  });

  it.each(PRESETS)('$name has port and text', (preset) => {
    expect(Number.isInteger(preset.port)).toBe(true);
    expect(preset.port).toBeGreaterThan(0);
    expect(preset.port).toBeLessThanOrEqual(65_535);
    expect(preset.label).not.toBe('');
    expect(preset.description).not.toBe('');
  });
});

describe('preset names', () => {
  it('lists the required presets', () => {
    expect(PRESET_NAMES).toEqual([
      'microsoft365',
      'gmail',
      'gmail-workspace',
      'google-relay',
      'amazon-ses',
      'sendgrid',
      'generic-isp',
    ]);
  });

  it('are unique', () => {
    expect(new Set(PRESET_NAMES).size).toBe(PRESET_NAMES.length);
  });

  it('match PRESETS order', () => {
    expect(PRESET_NAMES).toEqual(PRESETS.map((preset) => preset.name));
  });
});

describe('findPreset', () => {
  it.each(PRESETS)('finds $name', (preset) => {
    expect(findPreset(preset.name)).toBe(preset);
  });

  it('returns undefined for unknown name', () => {
    expect(findPreset('no-such-provider')).toBeUndefined();
  });

  it('matches names exactly', () => {
    expect(findPreset('Gmail')).toBeUndefined();
    expect(findPreset('')).toBeUndefined();
  });
});
