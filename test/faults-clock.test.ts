// The wall clock jumps forward and back (an NTP step, a wrong manual
// change) while mail waits: nothing expires because of it, and retries
// keep following elapsed time. The relay's clock is steadyClock with the
// system clock faked (vi.useFakeTimers fakes only Date here, and lets it
// run with real time between jumps), so any part of the relay that read
// Date.now() directly would see the jumps too. The test's own waits use
// the monotonic clock.
import { performance } from 'node:perf_hooks';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { steadyClock } from '../core/clock.ts';
import type { RelayEvent } from '../core/events.ts';
import { Relay } from '../core/relay.ts';
import { startFakeSmartHost } from './support/fake-smarthost.ts';
import type { FakeSmartHost } from './support/fake-smarthost.ts';
import { delay, queueFiles, submitMessage } from './support/relay-harness.ts';
import { describeEvents, testSettings } from './support/throttling-harness.ts';
import { useTempDirs } from './support/tmp.ts';

const createTempDir = useTempDirs();

const DAY_MS = 24 * 60 * 60 * 1000;
const RETRY_INITIAL_SECONDS = 0.3;
const RETRY_MAX_SECONDS = 0.6;

const relays: Relay[] = [];
const fakes: FakeSmartHost[] = [];

/** Polls `condition` until it holds, with a deadline on the monotonic clock. */
async function waitUntil(
  condition: () => boolean | Promise<boolean>,
  description: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${description}`);
    await delay(20);
  }
}

afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(relays.splice(0).map((relay) => relay.stop()));
  await Promise.all(fakes.splice(0).map((fake) => fake.stop()));
});

describe('steadyClock', () => {
  it('reads the wall clock once', () => {
    let wall = 1_000_000;
    let monotonic = 50.4;
    const wallNow = vi.fn(() => wall);
    const clock = steadyClock(wallNow, () => monotonic);

    expect(clock()).toBe(1_000_000);
    monotonic += 1_500;
    expect(clock()).toBe(1_001_500);

    // A step of the system clock either way changes nothing.
    wall += 3 * DAY_MS;
    expect(clock()).toBe(1_001_500);
    wall -= 10 * DAY_MS;
    monotonic += 250.6;
    expect(clock()).toBe(1_001_751);
    expect(wallNow).toHaveBeenCalledTimes(1);
  });

  it('never runs backwards', () => {
    let monotonic = 0;
    let wall = 5_000;
    const clock = steadyClock(() => wall, () => monotonic);
    let previous = clock();

    for (let step = 0; step < 1_000; step += 1) {
      monotonic += (step * 7919) % 13;
      wall += step % 2 === 0 ? DAY_MS : -2 * DAY_MS;
      const current = clock();
      expect(current).toBeGreaterThanOrEqual(previous);
      previous = current;
    }
  });
});

describe('relay with a jumping wall clock', () => {
  it('neither expires nor stalls the queue', async () => {
    const startWall = Date.UTC(2026, 11, 4, 9, 0, 0);
    vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true });
    vi.setSystemTime(startWall);
    const startMonotonic = performance.now();

    let refusing = true;
    const attempts: number[] = [];
    const fake = await startFakeSmartHost({
      onRcptTo: () => {
        attempts.push(performance.now());
        return refusing ? { code: 451, message: '4.3.0 Try again later' } : undefined;
      },
    });
    fakes.push(fake);
    const dataDir = await createTempDir('clock');
    const settings = await testSettings(dataDir, fake, {
      retryInitialSeconds: RETRY_INITIAL_SECONDS,
      retryMaxSeconds: RETRY_MAX_SECONDS,
      // One hour: a forward jump of a day would expire everything if the
      // relay followed the wall clock.
      queueLifetimeHours: 1,
      idleTimeoutSeconds: 0.2,
    });
    const relay = await Relay.start({
      dataDir,
      settings,
      password: null,
      random: () => 0,
      now: steadyClock(() => Date.now(), () => performance.now()),
    });
    relays.push(relay);
    const events: RelayEvent[] = [];
    relay.bus.subscribe((event) => events.push(event));
    const count = (word: RelayEvent['event']): number => events.filter((event) => event.event === word).length;

    const ids: string[] = [];
    for (let index = 0; index < 3; index += 1) {
      ids.push(await submitMessage(relay.listenAddress!, { from: 'device@office.test', to: [`jump${index}@example.test`] }, 'Subject: jump\r\n\r\nbody\r\n'));
    }
    await waitUntil(() => count('DEFERRED') >= 3, 'the first deferrals');

    // Forward three days: the queue lifetime is one hour.
    vi.setSystemTime(Date.now() + 3 * DAY_MS);
    const beforeForward = attempts.length;
    await waitUntil(() => attempts.length >= beforeForward + 6, 'retries after the forward jump', 10_000);

    // Back five days: a relay that waited for the wall clock would stall.
    vi.setSystemTime(Date.now() - 5 * DAY_MS);
    const beforeBack = attempts.length;
    const backAt = performance.now();
    await waitUntil(() => attempts.length >= beforeBack + 6, 'retries after the backward jump', 10_000);
    // Two rounds of the three messages at most RETRY_MAX_SECONDS apart.
    expect(performance.now() - backAt).toBeLessThan(2 * RETRY_MAX_SECONDS * 1000 + 2_000);

    refusing = false;
    await waitUntil(() => count('SENT') >= 3, 'all three sent', 10_000).catch((error: Error) => {
      throw new Error(`${error.message}\n${describeEvents(events)}`);
    });
    expect(count('EXPIRED')).toBe(0);
    expect(count('BOUNCED')).toBe(0);
    for (const event of events.filter((item) => item.event === 'DEFERRED')) {
      // Each announced retry is a backoff step away, whatever the date.
      const waitMs = Date.parse(String(event.fields.next)) - event.time;
      expect(waitMs).toBeGreaterThan(0);
      expect(waitMs).toBeLessThanOrEqual(RETRY_MAX_SECONDS * 1000);
    }
    expect(new Set(fake.messages.map((message) => message.to[0])).size).toBe(3);
    await waitUntil(async () => (await queueFiles(dataDir)).length === 0, 'an empty queue');
    // The relay's own clock moved by the real elapsed time, not by the jumps.
    const lastEventAt = events.at(-1)!.time;
    const elapsedMs = performance.now() - startMonotonic;
    expect(Math.abs(lastEventAt - (startWall + elapsedMs))).toBeLessThan(1_000);
  });
});
