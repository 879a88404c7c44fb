/**
 * Reads the activity log backwards for the console's log screen: the
 * newest lines first, optionally only those that contain a text (case
 * insensitive), one page at a time.
 *
 * A page ends after `limit` matching lines or after SCAN_MAX_BYTES read,
 * whichever comes first, so a search that matches nothing in a large log
 * still answers quickly; `nextBefore` then continues where it stopped.
 */
import fs from 'node:fs/promises';
import type { LogEntry, LogPage } from '../api/model.ts';

const CHUNK_BYTES = 64 * 1024;
export const SCAN_MAX_BYTES = 8 * 1024 * 1024;

const LOG_LINE_HEAD = /^(\S+) ([A-Z][A-Z0-9_]*)(?: |$)/;

export interface LogQuery {
  readonly limit: number;
  readonly search?: string | undefined;
  /** Byte offset to read before, from a previous page; the end of the file when absent. */
  readonly before?: number | undefined;
}

export function parseLogEntry(line: string): LogEntry {
  const head = LOG_LINE_HEAD.exec(line);
  const time = head?.[1] ? Date.parse(head[1]) : Number.NaN;
  return {
    time: Number.isFinite(time) ? time : null,
    event: head?.[2] ?? '',
    line,
  };
}

/** Reads one page of the log, newest line first. A missing log is an empty page. */
export async function readLogPage(file: string, query: LogQuery): Promise<LogPage> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { entries: [], nextBefore: null };
    throw error;
  }

  try {
    const size = (await handle.stat()).size;
    const needle = query.search?.trim().toLowerCase() ?? '';
    const entries: LogEntry[] = [];
    let end = Math.min(query.before ?? size, size);
    // Bytes of a line whose start is in an earlier chunk than its end.
    let carry = Buffer.alloc(0);
    let scanned = 0;

    while (end > 0 && scanned < SCAN_MAX_BYTES) {
      const start = Math.max(0, end - CHUNK_BYTES);
      const chunk = Buffer.alloc(end - start);
      await handle.read(chunk, 0, chunk.length, start);
      scanned += chunk.length;
      let data = Buffer.concat([chunk, carry]);

      // Every complete line in `data` starts after a newline, except the
      // first one when the chunk starts the file.
      let lineEnd = data.length;
      for (let index = data.length - 1; index >= -1; index -= 1) {
        if (index >= 0 && data[index] !== 0x0a) continue;
        if (index === -1 && start > 0) break;
        const lineStart = index + 1;
        const line = data.subarray(lineStart, lineEnd).toString('utf8').replace(/\r$/, '');
        lineEnd = index;
        if (line === '' || (needle !== '' && !line.toLowerCase().includes(needle))) continue;
        entries.push(parseLogEntry(line));
        if (entries.length >= query.limit) {
          return { entries, nextBefore: start + lineStart > 0 ? start + lineStart : null };
        }
      }
      carry = Buffer.from(data.subarray(0, Math.max(lineEnd, 0)));
      data = Buffer.alloc(0);
      end = start;
      if (start === 0) return { entries, nextBefore: null };
    }
    return { entries, nextBefore: end + carry.length > 0 ? end + carry.length : null };
  } finally {
    await handle.close();
  }
}
