// The per-minute message budget on the real clock: the relay's own
// timers, its default clock and budget.log, with a restart after the
// first minute's budget is used up. Takes a little over a minute.
import { afterEach, describe, expect, it } from 'vitest';
import { startFakeSmartHost } from './support/fake-smarthost.ts';
import type { FakeSmartHost } from './support/fake-smarthost.ts';
import {
  numberedMessages,
  startRelay,
  subjectOf,
  submitMessages,
  waitFor,
} from './support/throttling-harness.ts';
import type { RelayHarness } from './support/throttling-harness.ts';
import { useTempDirs } from './support/tmp.ts';

const createTempDir = useTempDirs();

const MINUTE_MS = 60_000;
const MESSAGES_PER_MINUTE = 30;
const MESSAGE_COUNT = 35;
/** How late after the window opens the rest may go out: timers, connect and greeting. */
const MAX_RESUME_DELAY_MS = 3_000;

let fake: FakeSmartHost | null = null;
let harness: RelayHarness | null = null;

afterEach(async () => {
  await harness?.relay.stop();
  harness = null;
  await fake?.stop();
  fake = null;
});

describe('messages per minute on the real clock', () => {
  it('35 messages wait a minute after a restart', async () => {
    fake = await startFakeSmartHost();
    const mails: number[] = [];
    fake.setHooks({
      onMailFrom: () => {
        mails.push(Date.now());
        return undefined;
      },
    });
    const options = {
      dataDir: await createTempDir('budget-real'),
      fake,
      settings: { maxConnections: 5, maxMessagesPerMinute: MESSAGES_PER_MINUTE },
    };
    harness = await startRelay(options);

    await submitMessages(harness.listen, numberedMessages('real', MESSAGE_COUNT));
    await waitFor('the first minute of MAIL commands', () => mails.length >= MESSAGES_PER_MINUTE);
    await harness.relay.stop();
    harness = await startRelay(options);

    await fake.waitForMessages(MESSAGE_COUNT, MINUTE_MS + 10_000);

    expect(new Set(fake.messages.map((message) => subjectOf(message.raw))).size).toBe(MESSAGE_COUNT);
    expect(mails.length).toBe(MESSAGE_COUNT);
    const sorted = [...mails].sort((left, right) => left - right);
    const first = sorted[0]!;
    const rest = sorted.slice(MESSAGES_PER_MINUTE);
    // No 60 s window of the fake's MAIL times contains a 31st MAIL.
    expect(rest[0]! - first).toBeGreaterThanOrEqual(MINUTE_MS);
    for (let index = MESSAGES_PER_MINUTE; index < sorted.length; index += 1) {
      const span = sorted[index]! - sorted[index - MESSAGES_PER_MINUTE]!;
      expect(span, `MAIL ${index + 1} after MAIL ${index + 1 - MESSAGES_PER_MINUTE}`).toBeGreaterThanOrEqual(
        MINUTE_MS,
      );
    }
    expect(rest[0]! - first).toBeLessThan(MINUTE_MS + MAX_RESUME_DELAY_MS);
  }, 90_000);
});
