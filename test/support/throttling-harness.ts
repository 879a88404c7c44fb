/**
 * Runs a relay in-process against a fake smart host, for the throttling,
 * budget and reply-reaction tests. It starts the relay on 127.0.0.1 port
 * 0 and records every event of its bus. Tests submit messages through its
 * listener with nodemailer and poll for conditions with a bounded wait.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Relay } from '../../core/relay.ts';
import { mergeSettings } from '../../core/settings.ts';
import type { Settings } from '../../core/settings.ts';
import type { EventWord, RelayEvent } from '../../core/events.ts';
import { connectWithNodemailer } from './clients.ts';
import { testCertificateAuthority } from './fake-smarthost.ts';
import type { FakeSmartHost } from './fake-smarthost.ts';

const DEFAULT_WAIT_TIMEOUT_MS = 10_000;
const DEFAULT_POLL_INTERVAL_MS = 20;

/** A message to submit: envelope and the exact bytes after DATA. */
export interface Submission {
  readonly from: string;
  readonly to: readonly string[];
  readonly raw: Buffer;
}

export interface RelayHarness {
  readonly relay: Relay;
  /** Every event the relay emitted since start() returned. */
  readonly events: RelayEvent[];
  readonly listen: { host: string; port: number };
  /** Events of one kind, in order. */
  eventsOf(word: EventWord): RelayEvent[];
}

export interface StartRelayOptions {
  readonly dataDir: string;
  /** Fake smart host to forward to, or null to start the relay without one. */
  readonly fake: FakeSmartHost | null;
  /** Settings over the test defaults (see testSettings). */
  readonly settings?: Partial<Settings>;
  readonly password?: string | null;
  readonly now?: () => number;
}

/**
 * Returns the settings the tests start from: listener on loopback port 0,
 * no TLS to the fake, and retries after 0.2 s to 1 s so a deferred
 * message comes back within a test.
 */
export async function testSettings(
  dataDir: string,
  fake: FakeSmartHost | null,
  patch: Partial<Settings> = {},
): Promise<Settings> {
  // The test CA's certificate saves generating an RSA key per relay start.
  const certificates = await testCertificateAuthority();
  const tlsCert = join(dataDir, 'listener-cert.pem');
  const tlsKey = join(dataDir, 'listener-key.pem');
  await writeFile(tlsCert, certificates.cert);
  await writeFile(tlsKey, certificates.key, { mode: 0o600 });

  return mergeSettings(
    {
      listen: { host: '127.0.0.1', port: 0 },
      hostname: 'relay.test',
      tlsCert,
      tlsKey,
      smarthost: fake === null ? null : { host: fake.host, port: fake.port },
      security: 'none',
      retryInitialSeconds: 0.2,
      retryMaxSeconds: 1,
    },
    patch,
  );
}

/** Starts a relay and records its events. The caller stops it. */
export async function startRelay(options: StartRelayOptions): Promise<RelayHarness> {
  const settings = await testSettings(options.dataDir, options.fake, options.settings);
  const relay = await Relay.start({
    dataDir: options.dataDir,
    settings,
    password: options.password ?? null,
    ...(options.now ? { now: options.now } : {}),
  });
  const events: RelayEvent[] = [];
  relay.bus.subscribe((event) => events.push(event));

  const listen = relay.listenAddress;
  if (listen === null) {
    await relay.stop();
    throw new Error('Relay.start() returned without a listen address.');
  }
  return {
    relay,
    events,
    listen,
    eventsOf: (word) => events.filter((event) => event.event === word),
  };
}

/** Builds a small message whose Subject and Message-ID carry `label`. */
export function buildMessage(label: string, from: string, to: readonly string[]): Buffer {
  return Buffer.from(
    `From: Sender <${from}>\r\n` +
      `To: ${to.map((address) => `<${address}>`).join(', ')}\r\n` +
      `Subject: ${label}\r\n` +
      `Message-ID: <${label}@client.test>\r\n` +
      'Date: Fri, 04 Dec 2026 10:00:00 +0000\r\n' +
      '\r\n' +
      `Body of ${label}.\r\n`,
  );
}

/** Builds `count` one-recipient messages labelled `<prefix>-<n>`, n from 1. */
export function numberedMessages(prefix: string, count: number): Submission[] {
  return Array.from({ length: count }, (_unused, index) => {
    const label = `${prefix}-${index + 1}`;
    const from = 'sender@client.test';
    const to = [`rcpt${index + 1}@dest.test`];
    return { from, to, raw: buildMessage(label, from, to) };
  });
}

/**
 * Submits messages over one SMTP session to the relay's listener and
 * resolves once each got its 250. `gapMs` spaces them out in real time.
 */
export async function submitMessages(
  listen: { host: string; port: number },
  messages: readonly Submission[],
  gapMs = 0,
): Promise<void> {
  const client = await connectWithNodemailer({
    host: listen.host,
    port: listen.port,
    ignoreTLS: true,
  });
  try {
    for (const message of messages) {
      await client.send({ from: message.from, to: [...message.to] }, message.raw);
      if (gapMs > 0) await new Promise((resolve) => setTimeout(resolve, gapMs));
    }
  } finally {
    await client.quit();
  }
}

/**
 * Polls `condition` until it is true. Rejects after `timeoutMs` with
 * `what` and the result of `describe`, so the failure names what was
 * missing.
 */
export async function waitFor(
  what: string,
  condition: () => boolean,
  options: { timeoutMs?: number; describe?: () => string } = {},
): Promise<void> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_WAIT_TIMEOUT_MS;
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() >= deadline) {
      const detail = options.describe ? `: ${options.describe()}` : '';
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${detail}`);
    }
    await new Promise((resolve) => setTimeout(resolve, DEFAULT_POLL_INTERVAL_MS));
  }
}

/** Resolves after `ms` of real time. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Returns the Subject: of a raw message, or '' when it has none. */
export function subjectOf(raw: Buffer): string {
  return /^Subject: (.*)$/m.exec(raw.toString('latin1'))?.[1]?.trim() ?? '';
}

/** Formats events for a failure message, one line each. */
export function describeEvents(events: readonly RelayEvent[]): string {
  return events
    .map((event) => `${event.event} ${JSON.stringify(event.fields)}`)
    .join('\n');
}
