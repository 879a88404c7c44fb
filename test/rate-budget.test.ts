// Unit tests of RateBudget: rolling message and recipient windows, the
// minimum gap, and the budget.log file that carries counts over a restart.
// Every test drives an injected clock, so no test waits in real time.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DAY_MS, HOUR_MS, MINUTE_MS, RateBudget, WINDOW_MARGIN_MS } from '../core/rate-budget.ts';
import type { BudgetLimits } from '../core/rate-budget.ts';
import { useTempDirs } from './support/tmp.ts';

const createTempDir = useTempDirs();

const START_MS = Date.UTC(2026, 11, 4, 9, 0, 0);

const NO_LIMITS: BudgetLimits = {
  minGapMs: 0,
  maxMessagesPerMinute: null,
  maxMessagesPerHour: null,
  maxMessagesPerDay: null,
  maxRecipientsPerMinute: null,
  maxRecipientsPerHour: null,
  maxRecipientsPerDay: null,
};

function limits(patch: Partial<BudgetLimits>): BudgetLimits {
  return { ...NO_LIMITS, ...patch };
}

/** A clock that moves only when the test moves it. */
class ManualClock {
  time = START_MS;
  readonly now = (): number => this.time;

  advance(ms: number): void {
    this.time += ms;
  }
}

function memoryBudget(clock: ManualClock): RateBudget {
  return new RateBudget({ file: null, now: clock.now, windowMarginMs: 0 });
}

describe('RateBudget window margin', () => {
  it('holds each window a margin longer', () => {
    const clock = new ManualClock();
    const budget = new RateBudget({ file: null, now: clock.now });
    const perMinute = limits({ maxMessagesPerMinute: 1 });
    budget.record(1);

    clock.advance(MINUTE_MS);

    expect(budget.waitMs(1, perMinute)).toBeGreaterThan(0);
    clock.advance(WINDOW_MARGIN_MS + 1);
    expect(budget.waitMs(1, perMinute)).toBe(0);
  });
});

describe('RateBudget messages per minute', () => {
  it('allows up to the budget at once', () => {
    const clock = new ManualClock();
    const budget = memoryBudget(clock);
    const perMinute = limits({ maxMessagesPerMinute: 3 });

    for (let index = 0; index < 3; index += 1) {
      expect(budget.waitMs(1, perMinute)).toBe(0);
      budget.record(1);
    }

    expect(budget.waitMs(1, perMinute)).toBeGreaterThan(0);
  });

  it('waits until the oldest leaves', () => {
    const clock = new ManualClock();
    const budget = memoryBudget(clock);
    const perMinute = limits({ maxMessagesPerMinute: 2 });
    budget.record(1);
    clock.advance(10_000);
    budget.record(1);
    clock.advance(5_000);

    const wait = budget.waitMs(1, perMinute);

    // The first entry, 15 s old, leaves the window 45 s from now.
    expect(wait).toBeGreaterThanOrEqual(45_000);
    expect(wait).toBeLessThanOrEqual(45_001);
    clock.advance(44_999);
    expect(budget.waitMs(1, perMinute)).toBeGreaterThan(0);
    clock.advance(wait - 44_999);
    expect(budget.waitMs(1, perMinute)).toBe(0);
  });

  it('counts per minute, hour and day', () => {
    const clock = new ManualClock();
    const budget = memoryBudget(clock);
    budget.record(2);
    clock.advance(2 * HOUR_MS);
    budget.record(3);
    clock.advance(30 * MINUTE_MS);
    budget.record(4);
    clock.advance(30_000);
    budget.record(5);

    expect(budget.counts()).toEqual({
      messagesLastMinute: 2,
      messagesLastHour: 3,
      messagesLastDay: 4,
      recipientsLastMinute: 9,
      recipientsLastHour: 12,
      recipientsLastDay: 14,
    });

    // A day after the second record, only the last two remain.
    clock.advance(DAY_MS - 10 * MINUTE_MS);
    expect(budget.counts().messagesLastDay).toBe(2);
  });
});

describe('RateBudget longer windows', () => {
  it('per-hour budget waits for the hour', () => {
    const clock = new ManualClock();
    const budget = memoryBudget(clock);
    const perHour = limits({ maxMessagesPerHour: 2, maxMessagesPerMinute: 10 });
    budget.record(1);
    clock.advance(20 * MINUTE_MS);
    budget.record(1);
    clock.advance(MINUTE_MS);

    const wait = budget.waitMs(1, perHour);

    expect(wait).toBeGreaterThanOrEqual(39 * MINUTE_MS);
    expect(wait).toBeLessThanOrEqual(39 * MINUTE_MS + 1);
  });

  it('per-day budget waits for the day', () => {
    const clock = new ManualClock();
    const budget = memoryBudget(clock);
    const perDay = limits({ maxMessagesPerDay: 3 });
    for (let index = 0; index < 3; index += 1) {
      budget.record(1);
      clock.advance(HOUR_MS);
    }

    const wait = budget.waitMs(1, perDay);

    // The first of the three was sent 3 h ago.
    expect(wait).toBeGreaterThanOrEqual(DAY_MS - 3 * HOUR_MS);
    expect(wait).toBeLessThanOrEqual(DAY_MS - 3 * HOUR_MS + 1);
    clock.advance(wait);
    expect(budget.waitMs(1, perDay)).toBe(0);
  });

  it('the longest window decides', () => {
    const clock = new ManualClock();
    const budget = memoryBudget(clock);
    const both = limits({ maxMessagesPerMinute: 1, maxMessagesPerDay: 1 });
    budget.record(1);
    clock.advance(2 * MINUTE_MS);

    expect(budget.waitMs(1, both)).toBeGreaterThanOrEqual(DAY_MS - 2 * MINUTE_MS);
  });
});

describe('RateBudget recipients', () => {
  it('fits the recipient budget', () => {
    const clock = new ManualClock();
    const budget = memoryBudget(clock);
    const perMinute = limits({ maxRecipientsPerMinute: 10 });
    budget.record(4);
    clock.advance(1_000);
    budget.record(4);

    expect(budget.waitMs(2, perMinute)).toBe(0);
    const wait = budget.waitMs(3, perMinute);
    // 4 + 4 + 3 is over 10, so the first 4 must leave, which takes 59 s.
    expect(wait).toBeGreaterThanOrEqual(59_000);
    expect(wait).toBeLessThanOrEqual(59_001);
  });

  it('per-hour and per-day recipient budgets', () => {
    const clock = new ManualClock();
    const budget = memoryBudget(clock);
    budget.record(50);
    clock.advance(10 * MINUTE_MS);

    expect(budget.waitMs(60, limits({ maxRecipientsPerHour: 100 }))).toBeGreaterThanOrEqual(
      50 * MINUTE_MS,
    );
    expect(budget.waitMs(50, limits({ maxRecipientsPerHour: 100 }))).toBe(0);
    expect(budget.waitMs(60, limits({ maxRecipientsPerDay: 100 }))).toBeGreaterThanOrEqual(
      DAY_MS - 10 * MINUTE_MS,
    );
  });

  it('oversized transaction waits for an empty window', () => {
    const clock = new ManualClock();
    const budget = memoryBudget(clock);
    const perMinute = limits({ maxRecipientsPerMinute: 10 });

    // Alone in an empty window it goes at once instead of waiting forever.
    expect(budget.waitMs(25, perMinute)).toBe(0);
    budget.record(25);
    clock.advance(1_000);
    budget.record(3);
    clock.advance(1_000);

    const wait = budget.waitMs(25, perMinute);

    // It waits for both earlier transactions to leave the window.
    expect(wait).toBeGreaterThanOrEqual(59_000);
    expect(wait).toBeLessThanOrEqual(59_001);
    clock.advance(wait);
    expect(budget.waitMs(25, perMinute)).toBe(0);
  });
});

describe('RateBudget minimum gap', () => {
  it('spaces consecutive transactions', () => {
    const clock = new ManualClock();
    const budget = memoryBudget(clock);
    const gap = limits({ minGapMs: 200 });

    expect(budget.waitMs(1, gap)).toBe(0);
    budget.record(1);
    clock.advance(50);
    expect(budget.waitMs(1, gap)).toBe(150);
    clock.advance(150);
    expect(budget.waitMs(1, gap)).toBe(0);
    budget.record(1);
    expect(budget.waitMs(1, gap)).toBe(200);
  });

  it('keeps the gap across a restart', async () => {
    const file = join(await createTempDir('budget'), 'budget.log');
    const clock = new ManualClock();
    new RateBudget({ file, now: clock.now, windowMarginMs: 0 }).record(1);
    clock.advance(80);

    const reloaded = new RateBudget({ file, now: clock.now, windowMarginMs: 0 });

    expect(reloaded.waitMs(1, limits({ minGapMs: 200 }))).toBe(120);
  });
});

describe('RateBudget budget.log', () => {
  it('restores counts after a restart', async () => {
    const file = join(await createTempDir('budget'), 'budget.log');
    const clock = new ManualClock();
    const first = new RateBudget({ file, now: clock.now, windowMarginMs: 0 });
    for (let index = 0; index < 5; index += 1) {
      first.record(index + 1);
      clock.advance(1_000);
    }

    const second = new RateBudget({ file, now: clock.now, windowMarginMs: 0 });

    expect(second.counts()).toEqual(first.counts());
    expect(second.waitMs(1, limits({ maxMessagesPerMinute: 5 }))).toBeGreaterThan(0);
  });

  it('compacts and drops a torn line', async () => {
    const file = join(await createTempDir('budget'), 'budget.log');
    const clock = new ManualClock();
    const old = START_MS - DAY_MS - 1;
    const recent = START_MS - HOUR_MS;
    await writeFile(file, `${old} 7\n${old - 5} 1\n${recent} 2\n${START_MS - 10} 3\n17`);

    const budget = new RateBudget({ file, now: clock.now, windowMarginMs: 0 });

    expect(await readFile(file, 'utf8')).toBe(`${recent} 2\n${START_MS - 10} 3\n`);
    expect(budget.counts().messagesLastDay).toBe(2);
    expect(budget.counts().recipientsLastDay).toBe(5);
    budget.record(4);
    expect(await readFile(file, 'utf8')).toBe(`${recent} 2\n${START_MS - 10} 3\n${START_MS} 4\n`);
  });

  it('missing file starts empty', async () => {
    const file = join(await createTempDir('budget'), 'budget.log');
    const clock = new ManualClock();

    const budget = new RateBudget({ file, now: clock.now, windowMarginMs: 0 });

    expect(budget.counts().messagesLastDay).toBe(0);
    expect(await readFile(file, 'utf8')).toBe('');
  });
});

describe('RateBudget simulation', () => {
  it('no window ever exceeds its budget', () => {
    const clock = new ManualClock();
    const budget = memoryBudget(clock);
    const budgets = limits({
      minGapMs: 50,
      maxMessagesPerMinute: 7,
      maxMessagesPerHour: 90,
      maxRecipientsPerMinute: 20,
      maxRecipientsPerHour: 200,
    });
    const sent: { at: number; recipients: number }[] = [];
    // A fixed linear congruential sequence keeps the run reproducible.
    let seed = 12_345;
    const nextRecipients = (): number => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return 1 + (seed % 9);
    };

    for (let index = 0; index < 400; index += 1) {
      const recipients = nextRecipients();
      const wait = budget.waitMs(recipients, budgets);
      clock.advance(wait);
      expect(budget.waitMs(recipients, budgets)).toBe(0);
      budget.record(recipients);
      sent.push({ at: clock.time, recipients });
      clock.advance(seed % 3_000);
    }

    const windows = [
      { lengthMs: MINUTE_MS, messages: 7, recipients: 20 },
      { lengthMs: HOUR_MS, messages: 90, recipients: 200 },
    ];
    for (const window of windows) {
      for (const [index, entry] of sent.entries()) {
        const inside = sent.filter((other) => other.at >= entry.at && other.at < entry.at + window.lengthMs);
        expect(inside.length, `window of ${window.lengthMs} ms from entry ${index}`).toBeLessThanOrEqual(
          window.messages,
        );
        const recipients = inside.reduce((total, other) => total + other.recipients, 0);
        expect(recipients, `window of ${window.lengthMs} ms from entry ${index}`).toBeLessThanOrEqual(
          window.recipients,
        );
      }
    }
    const gaps = sent.slice(1).map((entry, index) => entry.at - sent[index]!.at);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(50);
  });
});
