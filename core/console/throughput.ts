/**
 * Throughput for the dashboard chart: QUEUED, SENT, DEFERRED and BOUNCED
 * events counted in one-minute buckets over the last 24 hours. The hour
 * view shows the minutes; the day view adds them up per quarter hour.
 *
 * At start the buckets are filled from the tail of the activity log, so a
 * restart does not blank the chart. Only the last SEED_MAX_BYTES of the
 * log are read; a busier day than that shows its older part as empty.
 */
import fs from 'node:fs';
import type { EventBus, RelayEvent } from '../events.ts';
import type { ThroughputPoint, ThroughputRange, ThroughputSeries } from '../api/model.ts';

const MINUTE_MS = 60 * 1000;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;
const DAY_BUCKET_MS = 15 * MINUTE_MS;
// About 100,000 log lines; reading them takes well under a second.
export const SEED_MAX_BYTES = 16 * 1024 * 1024;

type Counter = 'sent' | 'deferred' | 'bounced' | 'queued';

const COUNTED: Readonly<Record<string, Counter>> = {
  SENT: 'sent',
  DEFERRED: 'deferred',
  BOUNCED: 'bounced',
  QUEUED: 'queued',
};

// `<ISO time> <EVENT> ...` as core/activity-log.ts writes it.
const LOG_LINE_HEAD = /^(\S+) ([A-Z_]+)(?: |$)/;

interface Counts {
  sent: number;
  deferred: number;
  bounced: number;
  queued: number;
}

export class ThroughputRecorder {
  readonly #buckets = new Map<number, Counts>();
  readonly #now: () => number;
  readonly #unsubscribe: () => void;

  constructor(bus: EventBus, options: { now?: () => number; logFile?: string } = {}) {
    this.#now = options.now ?? Date.now;
    if (options.logFile) this.#seed(options.logFile);
    this.#unsubscribe = bus.subscribe((record) => this.record(record));
  }

  record(record: Pick<RelayEvent, 'event' | 'time'>): void {
    const counter = COUNTED[record.event];
    if (!counter) return;
    if (record.time < this.#now() - DAY_MS) return;

    const start = Math.floor(record.time / MINUTE_MS) * MINUTE_MS;
    let counts = this.#buckets.get(start);
    if (!counts) {
      counts = { sent: 0, deferred: 0, bounced: 0, queued: 0 };
      this.#buckets.set(start, counts);
      this.#prune();
    }
    counts[counter] += 1;
  }

  /** Points oldest first, ending with the bucket that holds now. */
  series(range: ThroughputRange): ThroughputSeries {
    const bucketMs = range === 'hour' ? MINUTE_MS : DAY_BUCKET_MS;
    const count = range === 'hour' ? HOUR_MS / bucketMs : DAY_MS / bucketMs;
    const last = Math.floor(this.#now() / bucketMs) * bucketMs;
    const first = last - (count - 1) * bucketMs;

    const points: ThroughputPoint[] = [];
    for (let at = first; at <= last; at += bucketMs) {
      const total = { at, sent: 0, deferred: 0, bounced: 0, queued: 0 };
      for (let minute = at; minute < at + bucketMs; minute += MINUTE_MS) {
        const counts = this.#buckets.get(minute);
        if (!counts) continue;
        total.sent += counts.sent;
        total.deferred += counts.deferred;
        total.bounced += counts.bounced;
        total.queued += counts.queued;
      }
      points.push(total);
    }
    return { range, bucketMs, points };
  }

  close(): void {
    this.#unsubscribe();
  }

  #prune(): void {
    const oldest = this.#now() - DAY_MS - DAY_BUCKET_MS;
    for (const start of this.#buckets.keys()) {
      if (start < oldest) this.#buckets.delete(start);
    }
  }

  /** Counts the events of the last day from the end of the activity log. */
  #seed(logFile: string): void {
    let text: string;
    try {
      text = readTail(logFile, SEED_MAX_BYTES);
    } catch (error) {
      // No log yet is the normal first start; anything else only costs
      // the chart its history, so the console still starts.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    for (const line of text.split('\n')) {
      const head = LOG_LINE_HEAD.exec(line);
      if (!head?.[1] || !head[2]) continue;
      const time = Date.parse(head[1]);
      if (Number.isFinite(time)) this.record({ event: head[2] as RelayEvent['event'], time });
    }
  }
}

/** Reads the last `maxBytes` of a file, dropping a first line cut in half. */
function readTail(file: string, maxBytes: number): string {
  const descriptor = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(descriptor).size;
    const start = Math.max(0, size - maxBytes);
    const buffer = Buffer.alloc(size - start);
    fs.readSync(descriptor, buffer, 0, buffer.length, start);
    const text = buffer.toString('utf8');
    return start === 0 ? text : text.slice(text.indexOf('\n') + 1);
  } finally {
    fs.closeSync(descriptor);
  }
}
