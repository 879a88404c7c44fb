// The per-minute message budget, measured at the smart host, across several
// connections and a restart of the relay, on a fake clock so minutes pass
// in seconds. budgets-real-clock.test.ts runs the same budget on the real
// clock.
import { performance } from 'node:perf_hooks';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { startFakeSmartHost, testCertificateAuthority } from './support/fake-smarthost.ts';
import type { FakeSmartHost } from './support/fake-smarthost.ts';
import { numberedMessages, startRelay, subjectOf, submitMessages } from './support/throttling-harness.ts';
import type { RelayHarness } from './support/throttling-harness.ts';
import { useTempDirs } from './support/tmp.ts';

const createTempDir = useTempDirs();

// Captured before any test fakes the timers, so the clock driver can
// yield to real I/O.
const realSetTimeout = globalThis.setTimeout;

const MESSAGES_PER_MINUTE = 30;
const MINUTE_MS = 60_000;
/** Fake time added per turn of the driver while sockets are open. */
const CLOCK_STEP_MS = 10;
/** Maximum real time the clock waits for the MAIL of a transaction the budget has counted. */
const MAX_HOLD_MS = 1_000;

let fake: FakeSmartHost | null = null;

beforeAll(async () => {
  // Generated once per process, on real timers, so the clock driver never waits for it.
  await testCertificateAuthority();
});

afterEach(async () => {
  vi.useRealTimers();
  await fake?.stop();
  fake = null;
});

interface ClockState {
  relay: () => RelayHarness | null;
  /** MAIL commands the fake has seen. */
  mails: () => number;
  /** True while the test itself has a session open, e.g. a submission. */
  busy: () => boolean;
}

/**
 * Runs the fake clock until `done()` or `realTimeoutMs` of real time.
 *
 * While a socket is open the clock moves CLOCK_STEP_MS per turn; when
 * nothing is open it jumps to the next timer. The clock does not move
 * while the relay has counted a transaction in its budget whose MAIL the
 * fake has not seen. So the fake stamps each MAIL with the instant the
 * relay counted it, and the test measures the budget, not the step size.
 */
async function runClock(
  done: () => boolean,
  what: string,
  state: ClockState,
  realTimeoutMs = 30_000,
): Promise<void> {
  const deadline = performance.now() + realTimeoutMs;
  let heldSince: number | null = null;
  while (!done()) {
    if (performance.now() > deadline) {
      throw new Error(`Timed out after ${realTimeoutMs} ms of real time waiting for ${what}.`);
    }
    await new Promise((resolve) => realSetTimeout(resolve, 1));

    const harness = state.relay();
    const counted = harness?.relay.budget.counts().messagesLastDay ?? 0;
    if (counted > state.mails()) {
      heldSince ??= performance.now();
      if (performance.now() - heldSince < MAX_HOLD_MS) continue;
    }
    heldSince = null;

    const socketsOpen = (fake?.openConnections ?? 0) + (harness?.relay.scheduler.openConnections ?? 0);
    if (socketsOpen === 0 && !state.busy() && vi.getTimerCount() > 0) vi.advanceTimersToNextTimer();
    else vi.advanceTimersByTime(CLOCK_STEP_MS);
  }
}

/** Returns the largest number of MAIL times inside any window of `lengthMs`. */
function busiestWindow(times: readonly number[], lengthMs: number): { count: number; from: number } {
  const sorted = [...times].sort((left, right) => left - right);
  let busiest = { count: 0, from: sorted[0] ?? 0 };
  let first = 0;
  for (let last = 0; last < sorted.length; last += 1) {
    while (sorted[last]! - sorted[first]! >= lengthMs) first += 1;
    if (last - first + 1 > busiest.count) busiest = { count: last - first + 1, from: sorted[first]! };
  }
  return busiest;
}

describe('messages per minute on a fake clock', () => {
  it('30 per minute across connections and a restart', async () => {
    const MESSAGE_COUNT = 100;
    const RESTART_AFTER_MAILS = 45;
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    const startedAt = Date.now();

    fake = await startFakeSmartHost();
    const mails: { at: number; connectionId: number }[] = [];
    fake.setHooks({
      onMailFrom: (_address, connection) => {
        mails.push({ at: Date.now(), connectionId: connection.connectionId });
        return undefined;
      },
    });
    const dataDir = await createTempDir('budget');
    const options = {
      dataDir,
      fake,
      now: () => Date.now(),
      settings: { maxConnections: 5, maxMessagesPerMinute: MESSAGES_PER_MINUTE },
    };
    let harness: RelayHarness | null = await startRelay(options);
    let submitted = false;
    const state = { relay: () => harness, mails: () => mails.length, busy: () => !submitted };

    const submission = submitMessages(harness.listen, numberedMessages('budget', MESSAGE_COUNT)).then(() => {
      submitted = true;
    });
    await runClock(() => submitted, 'the submission', state);
    await submission;
    await runClock(() => mails.length >= RESTART_AFTER_MAILS, `${RESTART_AFTER_MAILS} MAIL commands`, state);

    // Restart in the middle of the second minute's budget.
    let stopped = false;
    const first = harness;
    const stopping = first.relay.stop().then(() => {
      stopped = true;
    });
    await runClock(() => stopped, 'the relay to stop', state);
    await stopping;
    harness = null;
    const mailsBeforeRestart = mails.length;
    const restartedAt = Date.now();
    harness = await startRelay(options);

    await runClock(() => fake!.messages.length >= MESSAGE_COUNT, `${MESSAGE_COUNT} messages`, state);
    let stoppedAgain = false;
    const stoppingAgain = harness.relay.stop().then(() => {
      stoppedAgain = true;
    });
    await runClock(() => stoppedAgain, 'the relay to stop', state);
    await stoppingAgain;

    const subjects = new Set(fake.messages.map((message) => subjectOf(message.raw)));
    expect(subjects.size).toBe(MESSAGE_COUNT);
    expect(mailsBeforeRestart).toBeLessThan(MESSAGE_COUNT);

    const times = mails.map((mail) => mail.at);
    const busiest = busiestWindow(times, MINUTE_MS);
    expect(busiest.count, `busiest minute starts at +${busiest.from - startedAt} ms`).toBeLessThanOrEqual(
      MESSAGES_PER_MINUTE,
    );
    // The budget was used in full, so the relay did not crawl either.
    expect(busiest.count).toBe(MESSAGES_PER_MINUTE);
    const spanMs = Math.max(...times) - Math.min(...times);
    expect(spanMs).toBeGreaterThanOrEqual(3 * MINUTE_MS);
    expect(spanMs).toBeLessThan(4 * MINUTE_MS);
    expect(new Set(mails.map((mail) => mail.connectionId)).size).toBeGreaterThan(1);

    // The restart came while the current minute's budget was partly
    // used, so a relay that forgot its counts would have overshot above.
    const usedAtRestart = times.filter((at) => at > restartedAt - MINUTE_MS && at <= restartedAt).length;
    expect(usedAtRestart).toBeGreaterThan(0);
    expect(usedAtRestart).toBeLessThan(MESSAGES_PER_MINUTE);
  }, 60_000);
});
