/**
 * Activity log: one line per relay event, in the spirit of Postfix's mail
 * log, written to `<data-dir>/logs/activity.log` and optionally to a
 * second stream (the terminal when running `serve`).
 *
 * Line format: `<ISO-8601 time> <EVENT> key=value key="quoted value"`.
 * A value is quoted (JSON string syntax) when it holds a space, a quote, an
 * `=` or a control character, so CR/LF from a peer can never forge a line.
 *
 * Secrets never reach this file because no event carries one; the
 * settings code passes only "set"/"not set" for passwords.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Writable } from 'node:stream';
import type { EventBus, RelayEvent, EventFieldValue } from './events.ts';

// Control characters are matched on purpose: they must force quoting.
// eslint-disable-next-line no-control-regex
const BARE_VALUE = /^[^\s"=\\\x00-\x1f\x7f]+$/;

export function formatField(key: string, value: EventFieldValue): string {
  const text = String(value);
  if (BARE_VALUE.test(text)) return `${key}=${text}`;
  return `${key}=${JSON.stringify(text)}`;
}

export function formatEvent(record: RelayEvent): string {
  const parts = [new Date(record.time).toISOString(), record.event];
  for (const [key, value] of Object.entries(record.fields)) {
    if (value === undefined) continue;
    parts.push(formatField(key, value));
  }
  return parts.join(' ');
}

export interface ActivityLogOptions {
  readonly logDir: string;
  /** Extra copy of every line, e.g. process.stdout for `serve`. */
  readonly echo?: Writable | undefined;
}

/** Writes every event of the bus to the log file (and the echo stream). */
// After a write error (a full disk), the file is reopened on the first
// event after this long; lines in between go only to the echo stream.
const REOPEN_AFTER_MS = 30 * 1000;

export class ActivityLog {
  #file: fs.WriteStream;
  #failedAt: number | null = null;
  #dropped = 0;
  readonly #echo: Writable | undefined;
  readonly #unsubscribe: () => void;
  readonly filePath: string;

  constructor(bus: EventBus, options: ActivityLogOptions) {
    fs.mkdirSync(options.logDir, { recursive: true });
    this.filePath = path.join(options.logDir, 'activity.log');
    this.#file = this.#open();
    this.#echo = options.echo;
    this.#unsubscribe = bus.subscribe((record) => this.#write(record));
  }

  #open(): fs.WriteStream {
    const file = fs.createWriteStream(this.filePath, { flags: 'a' });
    // Without a listener a write error would end the process; the relay
    // must go on when the disk fills up, and the log is not the queue.
    file.on('error', (error) => {
      if (this.#failedAt === null) {
        this.#echo?.write(
          formatEvent({ event: 'ERROR', time: Date.now(), fields: { what: 'activity log write failed', error: error.message } }) + '\n',
        );
      }
      this.#failedAt = Date.now();
    });
    return file;
  }

  #write(record: RelayEvent): void {
    const line = formatEvent(record) + '\n';
    this.#echo?.write(line);
    if (this.#failedAt !== null) {
      if (Date.now() - this.#failedAt < REOPEN_AFTER_MS) {
        this.#dropped += 1;
        return;
      }
      this.#file.destroy();
      this.#failedAt = null;
      this.#file = this.#open();
      if (this.#dropped > 0) {
        this.#file.write(
          formatEvent({ event: 'ERROR', time: record.time, fields: { what: 'activity log lines lost', dropped: this.#dropped } }) + '\n',
        );
        this.#dropped = 0;
      }
    }
    this.#file.write(line);
  }

  async close(): Promise<void> {
    this.#unsubscribe();
    if (this.#failedAt !== null || this.#file.destroyed) {
      this.#file.destroy();
      return;
    }
    await new Promise<void>((resolve) => this.#file.end(resolve));
  }
}
