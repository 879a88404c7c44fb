// Unit tests of SmartHostFeedback: how the connection limit drops and
// recovers after throttling, and how pauses, their timers and their
// alerts behave over one episode. Fake timers drive the cool-downs.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AlertBook } from '../core/alerts.ts';
import { EventBus } from '../core/events.ts';
import type { RelayEvent } from '../core/events.ts';
import { RECOVERY_SUCCESSES, SmartHostFeedback, THROTTLE_COOLDOWN_MS } from '../core/feedback.ts';
import { classifyReply } from '../core/reply-classifier.ts';
import { mergeSettings } from '../core/settings.ts';
import type { Settings } from '../core/settings.ts';

const BLOCKLIST_REPLY =
  '554 5.7.1 Service unavailable; Client host [127.0.0.1] blocked using zen.spamhaus.org';
const THROTTLE_REPLY = '421 4.7.0 Too many concurrent SMTP connections from this IP';

interface Subject {
  feedback: SmartHostFeedback;
  alerts: AlertBook;
  events: RelayEvent[];
  resumes: number;
  settings: Settings;
}

function eventsOf(subject: Subject, word: string): RelayEvent[] {
  return subject.events.filter((event) => event.event === word);
}

function createFeedback(patch: Partial<Settings> = {}): Subject {
  const now = (): number => Date.now();
  const bus = new EventBus(now);
  const alerts = new AlertBook(bus, now);
  const subject: Subject = {
    feedback: null as unknown as SmartHostFeedback,
    alerts,
    events: [],
    resumes: 0,
    settings: mergeSettings({
      smarthost: { host: 'smtp.example.test', port: 587 },
      maxConnections: 6,
      // Resume by hand only, unless a test sets a cool-down.
      blacklistCooldownMinutes: 0,
      ...patch,
    }),
  };
  bus.subscribe((event) => subject.events.push(event));
  subject.feedback = new SmartHostFeedback({
    name: () => 'smtp.example.test:587',
    settings: () => subject.settings,
    bus,
    alerts,
    now,
    onResume: () => {
      subject.resumes += 1;
    },
  });
  return subject;
}

function blocklistVerdict(): ReturnType<typeof classifyReply> {
  return classifyReply({ code: 554, text: BLOCKLIST_REPLY, stage: 'mail' });
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
  vi.setSystemTime(Date.UTC(2026, 11, 4, 9, 0, 0));
});

afterEach(() => {
  vi.useRealTimers();
});

describe('SmartHostFeedback throttling', () => {
  it('rejected connect keeps the open count', () => {
    const subject = createFeedback();

    subject.feedback.throttled(THROTTLE_REPLY, 2, true);

    expect(subject.feedback.connectionLimit()).toBe(2);
    expect(subject.feedback.state).toBe('throttled');
    const [event] = eventsOf(subject, 'THROTTLED');
    expect(event?.fields).toMatchObject({ limit: 2, previous: 6, reply: THROTTLE_REPLY });
  });

  it('rate reply halves, never below one', () => {
    const subject = createFeedback();

    subject.feedback.throttled('451 4.7.1 Rate limited, slow down', 6, false);
    expect(subject.feedback.connectionLimit()).toBe(3);
    subject.feedback.throttled('451 4.7.1 Rate limited, slow down', 3, false);
    expect(subject.feedback.connectionLimit()).toBe(1);
    subject.feedback.throttled('451 4.7.1 Rate limited, slow down', 1, false);
    expect(subject.feedback.connectionLimit()).toBe(1);
  });

  it('rejected connect with none open allows one', () => {
    const subject = createFeedback();

    subject.feedback.throttled(THROTTLE_REPLY, 0, true);

    expect(subject.feedback.connectionLimit()).toBe(1);
  });

  it('no recovery during the cool-down', () => {
    const subject = createFeedback();
    subject.feedback.throttled(THROTTLE_REPLY, 2, true);

    for (let index = 0; index < 3 * RECOVERY_SUCCESSES; index += 1) subject.feedback.delivered();
    vi.advanceTimersByTime(THROTTLE_COOLDOWN_MS - 1);
    for (let index = 0; index < 3 * RECOVERY_SUCCESSES; index += 1) subject.feedback.delivered();

    expect(subject.feedback.connectionLimit()).toBe(2);
    expect(subject.feedback.state).toBe('throttled');
  });

  it('climbs one step per recovery batch', () => {
    const subject = createFeedback();
    subject.feedback.throttled(THROTTLE_REPLY, 2, true);
    vi.advanceTimersByTime(THROTTLE_COOLDOWN_MS);
    expect(subject.feedback.state).toBe('active');

    for (let index = 0; index < RECOVERY_SUCCESSES - 1; index += 1) subject.feedback.delivered();
    expect(subject.feedback.connectionLimit()).toBe(2);
    subject.feedback.delivered();
    expect(subject.feedback.connectionLimit()).toBe(3);
    expect(subject.resumes).toBe(1);
    const recovering = eventsOf(subject, 'THROTTLED').at(-1);
    expect(recovering?.fields).toMatchObject({ limit: 3, reason: 'recovering' });

    for (let index = 0; index < 3 * RECOVERY_SUCCESSES; index += 1) subject.feedback.delivered();
    expect(subject.feedback.connectionLimit()).toBe(6);
    for (let index = 0; index < 3 * RECOVERY_SUCCESSES; index += 1) subject.feedback.delivered();
    expect(subject.feedback.connectionLimit()).toBe(6);
  });

  it('user limit caps the lowered limit', () => {
    const subject = createFeedback();
    subject.feedback.throttled(THROTTLE_REPLY, 4, true);

    subject.settings = { ...subject.settings, maxConnections: 2 };

    expect(subject.feedback.connectionLimit()).toBe(2);
  });
});

describe('SmartHostFeedback pauses', () => {
  it('one PAUSED and one alert per episode', () => {
    const subject = createFeedback();

    for (let index = 0; index < 5; index += 1) {
      subject.feedback.react(blocklistVerdict(), BLOCKLIST_REPLY);
    }

    expect(subject.feedback.paused).toBe(true);
    expect(subject.feedback.state).toBe('paused-blacklist');
    expect(eventsOf(subject, 'PAUSED').length).toBe(1);
    expect(eventsOf(subject, 'ALERT').length).toBe(1);
    const [alert] = subject.alerts.active();
    expect(alert?.kind).toBe('blacklisted');
    expect(alert?.reply).toBe(BLOCKLIST_REPLY);
    expect(alert?.advice.length).toBeGreaterThan(20);
  });

  it('user resume ends the episode', () => {
    const subject = createFeedback();
    subject.feedback.react(blocklistVerdict(), BLOCKLIST_REPLY);

    expect(subject.feedback.resume('user')).toBe(true);

    expect(subject.feedback.paused).toBe(false);
    expect(subject.feedback.state).toBe('active');
    expect(subject.resumes).toBe(1);
    expect(subject.alerts.active()).toEqual([]);
    expect(eventsOf(subject, 'RESUMED')[0]?.fields).toMatchObject({ after: 'blacklisted', by: 'user' });
    expect(subject.feedback.resume('user')).toBe(false);

    subject.feedback.react(blocklistVerdict(), BLOCKLIST_REPLY);
    expect(eventsOf(subject, 'ALERT').length).toBe(2);
  });

  it('timed resume probes in the same episode', () => {
    const subject = createFeedback({ blacklistCooldownMinutes: 10 });
    const cooldownMs = 10 * 60_000;
    subject.feedback.react(blocklistVerdict(), BLOCKLIST_REPLY);
    expect(subject.feedback.resumesAt).toBe(Date.now() + cooldownMs);

    vi.advanceTimersByTime(cooldownMs - 1);
    expect(subject.feedback.paused).toBe(true);
    vi.advanceTimersByTime(1);
    expect(subject.feedback.paused).toBe(false);
    expect(eventsOf(subject, 'RESUMED')[0]?.fields).toMatchObject({ by: 'timer' });
    // The probe gets the 554 again: a second pause, still one alert.
    subject.feedback.react(blocklistVerdict(), BLOCKLIST_REPLY);
    expect(eventsOf(subject, 'PAUSED').length).toBe(2);
    expect(eventsOf(subject, 'ALERT').length).toBe(1);

    vi.advanceTimersByTime(cooldownMs);
    subject.feedback.delivered();
    expect(subject.alerts.active()).toEqual([]);
    expect(eventsOf(subject, 'ALERT_CLEARED').length).toBe(1);
  });

  it('quota pause states its end', () => {
    const subject = createFeedback();
    const verdict = classifyReply({ code: 550, text: '550 5.4.5 Daily user sending limit exceeded', stage: 'mail' });
    // The default quota pause is 60 minutes.
    const resumeAt = Date.now() + 60 * 60_000;

    subject.feedback.react(verdict, '550 5.4.5 Daily user sending limit exceeded');

    expect(subject.feedback.state).toBe('paused-quota');
    expect(eventsOf(subject, 'PAUSED')[0]?.fields.until).toBe(new Date(resumeAt).toISOString());
    expect(subject.alerts.active().map((alert) => alert.kind)).toEqual(['quota']);
  });

  it('new credentials end only a credentials stop', () => {
    const subject = createFeedback();
    const credentials = classifyReply({ code: 535, text: '535 5.7.8 Username and Password not accepted', stage: 'auth' });
    subject.feedback.react(blocklistVerdict(), BLOCKLIST_REPLY);

    subject.feedback.credentialsChanged();
    expect(subject.feedback.state).toBe('paused-blacklist');

    subject.feedback.resume('user');
    subject.feedback.react(credentials, '535 5.7.8 Username and Password not accepted');
    expect(subject.feedback.state).toBe('stopped-credentials');
    subject.feedback.credentialsChanged();
    expect(subject.feedback.state).toBe('active');
    expect(eventsOf(subject, 'RESUMED').at(-1)?.fields).toMatchObject({ after: 'credentials', by: 'settings' });
  });

  it('per-recipient verdicts do not pause', () => {
    const subject = createFeedback();
    const permanent = classifyReply({ code: 550, text: '550 5.1.1 User unknown', stage: 'rcpt' });

    subject.feedback.react(permanent, '550 5.1.1 User unknown');

    expect(subject.feedback.paused).toBe(false);
    expect(subject.events).toEqual([]);
  });
});

describe('SmartHostFeedback reachability', () => {
  it('retrying until a session opens', () => {
    const subject = createFeedback();

    subject.feedback.unreachable('connect ECONNREFUSED 127.0.0.1:587');
    expect(subject.feedback.state).toBe('retrying');
    expect(subject.feedback.lastReply).toBe('connect ECONNREFUSED 127.0.0.1:587');
    subject.feedback.connected();
    expect(subject.feedback.state).toBe('active');
  });

  it('unconfigured without a smart host', () => {
    const subject = createFeedback();
    subject.settings = { ...subject.settings, smarthost: null };

    expect(subject.feedback.state).toBe('unconfigured');
  });
});
