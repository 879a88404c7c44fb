/**
 * Spool: the durable on-disk queue. A message is acknowledged with 250
 * only after its file and its directory entry are on disk.
 *
 * Layout under `<data-dir>/queue/`:
 *
 *   <id>.eml    the message exactly as it will be relayed (the one added
 *               Received: header, then the bytes the device sent after
 *               DATA, dot-unstuffed), then the queue record it was
 *               accepted with, then a footer (RECORD_FOOTER) giving that
 *               record's length. Readers take the first `size` bytes
 *               (queue-record.ts). Written once, never changed.
 *   <id>.json   the queue record (queue-record.ts): envelope, recipients
 *               and their status, attempts, last reply, next attempt.
 *               Only once the state has changed since the accept; it then
 *               takes precedence over the record in the .eml. Rewritten
 *               atomically on every state change.
 *   tmp/        files being written; emptied at start-up, because a file
 *               there never got its 250.
 *
 * `<data-dir>/corrupt/` receives files that fail validation, so they
 * never block the others.
 *
 * One file per accepted message, because creating, syncing and renaming
 * a file is most of an accept's cost. With one file instead of two, the
 * relay's CPU per message fell by about a quarter (docs/benchmarks.md).
 *
 * Accept steps, in order:
 *   1. write tmp/<id>.eml: the message, then its record and the footer;
 *   2. fdatasync it;
 *   3. rename it to <id>.eml (the commit point);
 *   4. fsync the queue directory, so the rename survives power loss.
 * Several messages arriving together share one directory fsync (group
 * commit): a caller waits for the next fsync that starts after its
 * rename.
 *
 * State updates write tmp/<id>.json.<n>, fdatasync, and rename it over
 * <id>.json. Removal unlinks <id>.eml and then <id>.json. A .json without
 * its .eml is a removal cut short, deleted at the next start. Neither
 * waits for a directory fsync: after a power loss the older state comes
 * back, which can only cause one more delivery attempt (RFC 5321 section
 * 6.1 accepts duplicates over losses).
 *
 * Throws SmtpReplyError (ESPOOL_WRITE, 452 4.3.1) when a write fails, after
 * removing what it had written.
 */
import fsp from 'node:fs/promises';
import fs, { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import path from 'node:path';
import crypto from 'node:crypto';
import { SmtpReplyError } from './errors.ts';
import type { EventBus } from './events.ts';
import { queueRecordSchema } from './queue-record.ts';
import type { QueueRecord } from './queue-record.ts';

type Awaitable<T> = T | Promise<T>;

/** An open file, as the spool uses it. An fs/promises FileHandle is one. */
export interface SpoolFile {
  write(data: Buffer | string): Awaitable<unknown>;
  datasync(): Promise<void>;
  sync(): Promise<void>;
  close(): Awaitable<void>;
}

/** The file-system calls the spool makes; tests inject faults here. */
export interface SpoolFileSystem {
  open(path: string, flags: string, mode?: number): Awaitable<SpoolFile>;
  rename(from: string, to: string): Awaitable<void>;
  unlink(path: string): Awaitable<void>;
  mkdir: typeof fsp.mkdir;
  readdir: typeof fsp.readdir;
  readFile: typeof fsp.readFile;
  stat: typeof fsp.stat;
  rm: typeof fsp.rm;
}

/** Runs every call on libuv's thread pool, so the calling thread does not wait for the disk. */
export const asyncFileSystem: SpoolFileSystem = {
  open: (filePath, flags, mode) => fsp.open(filePath, flags, mode),
  rename: fsp.rename,
  unlink: fsp.unlink,
  mkdir: fsp.mkdir,
  readdir: fsp.readdir,
  readFile: fsp.readFile,
  stat: fsp.stat,
  rm: fsp.rm,
};

/** An open file whose writes and close are synchronous; its flushes are not. */
class SyncStepFile implements SpoolFile {
  readonly #fd: number;

  constructor(fd: number) {
    this.#fd = fd;
  }

  write(data: Buffer | string): void {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    let offset = 0;
    while (offset < bytes.length) offset += fs.writeSync(this.#fd, bytes, offset);
  }

  datasync(): Promise<void> {
    return new Promise((resolve, reject) => fs.fdatasync(this.#fd, (error) => (error ? reject(error) : resolve())));
  }

  sync(): Promise<void> {
    return new Promise((resolve, reject) => fs.fsync(this.#fd, (error) => (error ? reject(error) : resolve())));
  }

  close(): void {
    fs.closeSync(this.#fd);
  }
}

/**
 * Runs open, write, close, rename and unlink synchronously. Only the
 * flushes (fdatasync, fsync) go to libuv's thread pool, where several can
 * wait on the disk at once.
 *
 * A thread-pool round trip costs more CPU than one of these short calls
 * (docs/benchmarks.md). That suits the accept thread, whose only other
 * work is SMTP with devices. On the main thread the waits would also
 * delay the deliveries and the console.
 */
export const syncStepFileSystem: SpoolFileSystem = {
  ...asyncFileSystem,
  open: (filePath, flags, mode) => new SyncStepFile(fs.openSync(filePath, flags, mode)),
  rename: (from, to) => fs.renameSync(from, to),
  unlink: (filePath) => fs.unlinkSync(filePath),
};

export interface SpoolOptions {
  readonly dataDir: string;
  readonly fileSystem?: SpoolFileSystem | undefined;
  /** Receives an ERROR event when a clean-up step fails. */
  readonly bus?: EventBus | undefined;
}

/** Record fields the listener has before the message bytes arrive. */
export type NewRecord = Omit<QueueRecord, 'size' | 'eightBit' | 'subject'>;

export interface AcceptResult {
  readonly record: QueueRecord;
}

export interface LoadResult {
  readonly records: QueueRecord[];
  /** Messages moved to corrupt/, with the reason. */
  readonly corrupt: { id: string; reason: string }[];
  /** Removals cut short: a .json without its .eml, deleted. */
  readonly orphans: string[];
}

/** Message bytes gathered before one write to the file. */
const WRITE_BATCH_BYTES = 64 * 1024;
/** Records read in parallel at start-up. */
const LOAD_CONCURRENCY = 64;
/** Upper bound on the header bytes kept in memory to read the Subject. */
const HEADER_SCAN_LIMIT_BYTES = 64 * 1024;
const EIGHT_BIT = /[\x80-\xff]/;

/** Makes a queue id that sorts by arrival time: 9 base-36 time digits and 10 hex digits. */
export function newQueueId(now: number = Date.now()): string {
  const time = now.toString(36).toUpperCase().padStart(9, '0');
  return time + randomHex(5).toUpperCase();
}

// Random bytes for queue ids, drawn in blocks: one call to the system's
// generator per 1,024 ids, because each call costs far more than copying.
const RANDOM_POOL = Buffer.alloc(5 * 1024);
let randomPoolOffset = RANDOM_POOL.length;

function randomHex(bytes: number): string {
  if (randomPoolOffset + bytes > RANDOM_POOL.length) {
    crypto.randomFillSync(RANDOM_POOL);
    randomPoolOffset = 0;
  }
  const hex = RANDOM_POOL.toString('hex', randomPoolOffset, randomPoolOffset + bytes);
  randomPoolOffset += bytes;
  return hex;
}

export class Spool {
  readonly queueDir: string;
  readonly tmpDir: string;
  readonly corruptDir: string;
  readonly #fs: SpoolFileSystem;
  readonly #bus: EventBus | undefined;
  #syncRunning: Promise<void> | null = null;
  #syncQueued: Promise<void> | null = null;
  #updateCounter = 0;
  #directory: Promise<SpoolFile> | null = null;
  /** Ids whose state is in a .json file, which remove() deletes too. */
  readonly #recordFiles = new Set<string>();

  constructor(options: SpoolOptions) {
    this.queueDir = path.join(options.dataDir, 'queue');
    this.tmpDir = path.join(this.queueDir, 'tmp');
    this.corruptDir = path.join(options.dataDir, 'corrupt');
    this.#fs = options.fileSystem ?? asyncFileSystem;
    this.#bus = options.bus;
  }

  async init(): Promise<void> {
    // A file in tmp/ never got its 250, so it is safe to drop.
    await this.#fs.rm(this.tmpDir, { recursive: true, force: true });
    await this.#fs.mkdir(this.tmpDir, { recursive: true });
    await this.#fs.mkdir(this.corruptDir, { recursive: true });
  }

  emlPath(id: string): string {
    return path.join(this.queueDir, `${id}.eml`);
  }

  jsonPath(id: string): string {
    return path.join(this.queueDir, `${id}.json`);
  }

  /**
   * Stores a message durably. `prefix` is the Received: header; `body` is
   * the DATA stream from the device. Resolves once the message is on disk.
   */
  async accept(
    fields: NewRecord,
    prefix: Buffer,
    body: AsyncIterable<Buffer> | Iterable<Buffer>,
  ): Promise<AcceptResult> {
    const tmpEml = path.join(this.tmpDir, `${fields.id}.eml`);

    try {
      const { handle, record } = await this.#writeMessage(tmpEml, fields, prefix, body);
      await syncAndClose(handle);
      await this.#fs.rename(tmpEml, this.emlPath(fields.id));
      await this.syncQueueDirectory();
      return { record };
    } catch (error) {
      await this.#removeQuietly([tmpEml, this.emlPath(fields.id)]);
      // A reply chosen upstream (552 for an oversized message) stands.
      if (error instanceof SmtpReplyError) throw error;
      throw new SmtpReplyError(
        'ESPOOL_WRITE',
        452,
        '4.3.1',
        'Insufficient system storage: the relay could not store the message, please try again later',
        { cause: error },
      );
    }
  }

  /**
   * Writes the message file, its record and the footer, and returns the
   * file open and not yet synced. The Received: header and the body chunks
   * are gathered into writes of at least WRITE_BATCH_BYTES (the last one
   * may be shorter), because each write can be a round trip to libuv's
   * thread pool.
   */
  async #writeMessage(
    filePath: string,
    fields: NewRecord,
    prefix: Buffer,
    body: AsyncIterable<Buffer> | Iterable<Buffer>,
  ): Promise<{ handle: SpoolFile; record: QueueRecord }> {
    const handle = await this.#fs.open(filePath, 'wx', 0o600);
    let batch: Buffer[] = [prefix];
    let batchBytes = prefix.length;
    let size = prefix.length;
    let eightBit = false;
    const headerChunks: Buffer[] = [];
    let headerBytes = 0;

    try {
      for await (const chunk of body) {
        batch.push(chunk);
        batchBytes += chunk.length;
        size += chunk.length;
        if (!eightBit && EIGHT_BIT.test(chunk.toString('latin1'))) eightBit = true;
        if (headerBytes < HEADER_SCAN_LIMIT_BYTES) {
          headerChunks.push(chunk);
          headerBytes += chunk.length;
        }
        if (batchBytes >= WRITE_BATCH_BYTES) {
          await handle.write(Buffer.concat(batch, batchBytes));
          batch = [];
          batchBytes = 0;
        }
      }
      const record: QueueRecord = { ...fields, size, eightBit, subject: readSubject(Buffer.concat(headerChunks)) };
      const json = Buffer.from(JSON.stringify(record));
      batch.push(json, recordFooter(json.length));
      await handle.write(Buffer.concat(batch));
      return { handle, record };
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  async #writeFile(filePath: string, text: string): Promise<void> {
    const handle = await this.#fs.open(filePath, 'wx', 0o600);
    try {
      await handle.write(text);
      await handle.datasync();
    } finally {
      await handle.close();
    }
  }

  async #removeQuietly(paths: string[]): Promise<void> {
    for (const filePath of paths) {
      try {
        await this.#fs.unlink(filePath);
      } catch (error) {
        // A leftover is a tmp/ file (emptied at the next start) or an
        // uncommitted .eml (removed as an orphan then), so log and go on.
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
          this.#bus?.emit('ERROR', {
            what: 'spool clean-up failed',
            path: filePath,
            error: (error as Error).message,
          });
        }
      }
    }
  }

  /**
   * fsyncs the queue directory. Callers that arrive while an fsync runs
   * share the next one, because their renames may have missed the
   * running one.
   */
  syncQueueDirectory(): Promise<void> {
    if (this.#syncQueued) return this.#syncQueued;
    if (!this.#syncRunning) {
      this.#syncRunning = this.#fsyncDirectory().finally(() => {
        this.#syncRunning = null;
      });
      return this.#syncRunning;
    }
    const queued = this.#syncRunning
      .catch(() => undefined)
      .then(() => {
        this.#syncQueued = null;
        return this.syncQueueDirectory();
      });
    this.#syncQueued = queued;
    return queued;
  }

  /** fsyncs the queue directory through one handle kept open, instead of an open and close each time. */
  async #fsyncDirectory(): Promise<void> {
    const opening = (this.#directory ??= Promise.resolve(this.#fs.open(this.queueDir, 'r')));
    try {
      await (await opening).sync();
    } catch (error) {
      // The next fsync starts from a fresh handle.
      if (this.#directory === opening) this.#directory = null;
      await opening.then((handle) => handle.close()).catch(() => undefined);
      throw error;
    }
  }

  /** Closes the queue directory's handle. The spool opens it again if it is used. */
  async close(): Promise<void> {
    const opening = this.#directory;
    this.#directory = null;
    if (opening) await opening.then((handle) => handle.close()).catch(() => undefined);
  }

  /** Rewrites a record atomically. */
  async update(record: QueueRecord): Promise<void> {
    this.#updateCounter += 1;
    const tmp = path.join(this.tmpDir, `${record.id}.json.${this.#updateCounter}`);
    try {
      await this.#writeFile(tmp, JSON.stringify(record));
      await this.#fs.rename(tmp, this.jsonPath(record.id));
      this.#recordFiles.add(record.id);
    } catch (error) {
      await this.#removeQuietly([tmp]);
      throw error;
    }
  }

  async remove(id: string): Promise<void> {
    // The .eml goes first: a .json left without it is deleted at the next
    // start, while an .eml left alone would be delivered a second time.
    await this.#fs.unlink(this.emlPath(id));
    if (this.#recordFiles.delete(id)) await this.#fs.unlink(this.jsonPath(id));
  }

  /** Streams the message's `size` bytes, without the record after them. */
  openMessage(id: string, size: number): Readable {
    if (size === 0) return Readable.from([]);
    return createReadStream(this.emlPath(id), { end: size - 1 });
  }

  async readMessage(id: string, size: number): Promise<Buffer> {
    const file = await this.#fs.readFile(this.emlPath(id));
    return file.subarray(0, size);
  }

  /** Reads every record back, moving damaged ones aside. */
  async load(): Promise<LoadResult> {
    const names = await this.#fs.readdir(this.queueDir);
    const jsonIds = new Set<string>();
    const emlIds = new Set<string>();
    for (const name of names) {
      if (name.endsWith('.json')) jsonIds.add(name.slice(0, -5));
      else if (name.endsWith('.eml')) emlIds.add(name.slice(0, -4));
    }

    const orphans: string[] = [];
    for (const id of jsonIds) {
      if (emlIds.has(id)) continue;
      orphans.push(id);
      await this.#removeQuietly([this.jsonPath(id)]);
    }

    const records: QueueRecord[] = [];
    const corrupt: { id: string; reason: string }[] = [];
    // Reads run LOAD_CONCURRENCY at a time: one by one, a queue of 100,000
    // messages takes far longer to come back after a restart.
    const ids = [...emlIds];
    for (let start = 0; start < ids.length; start += LOAD_CONCURRENCY) {
      const batch = ids.slice(start, start + LOAD_CONCURRENCY);
      const results = await Promise.all(batch.map((id) => this.#loadOne(id, jsonIds.has(id))));
      for (const [index, result] of results.entries()) {
        const id = batch[index]!;
        if ('record' in result) {
          records.push(result.record);
          if (jsonIds.has(id)) this.#recordFiles.add(id);
        } else {
          corrupt.push({ id, reason: result.reason });
          await this.moveAside(id);
        }
      }
    }

    records.sort((a, b) => a.receivedAt - b.receivedAt || a.id.localeCompare(b.id));
    return { records, corrupt, orphans };
  }

  /** Reads one message's latest record: its .json if it has one, else the one in its .eml. */
  async #loadOne(id: string, hasRecordFile: boolean): Promise<{ record: QueueRecord } | { reason: string }> {
    let json: unknown;
    let fileSize: number;
    let trailerBytes = 0;
    try {
      if (hasRecordFile) {
        json = JSON.parse(await this.#fs.readFile(this.jsonPath(id), 'utf8'));
        fileSize = (await this.#fs.stat(this.emlPath(id))).size;
      } else {
        const trailer = await readTrailer(this.emlPath(id));
        json = JSON.parse(trailer.json);
        fileSize = trailer.fileSize;
        trailerBytes = trailer.bytes;
      }
    } catch (error) {
      return { reason: `unreadable record: ${(error as Error).message}` };
    }

    const parsed = queueRecordSchema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      return { reason: `invalid record: ${issue?.path.join('.')} ${issue?.message}` };
    }
    if (parsed.data.id !== id) {
      return { reason: `record id ${parsed.data.id} does not match its file name` };
    }
    // A .json record is checked against the message bytes only, because
    // the .eml keeps its first record after them.
    const expected = parsed.data.size + trailerBytes;
    if (hasRecordFile ? fileSize < expected : fileSize !== expected) {
      return { reason: `message file is ${fileSize} bytes, the record says ${parsed.data.size}` };
    }
    return { record: parsed.data };
  }

  /** Moves both files of a message to corrupt/, keeping whatever exists. */
  async moveAside(id: string): Promise<void> {
    for (const name of [`${id}.json`, `${id}.eml`]) {
      try {
        await this.#fs.rename(path.join(this.queueDir, name), path.join(this.corruptDir, name));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
    }
  }
}

async function syncAndClose(handle: SpoolFile): Promise<void> {
  try {
    await handle.datasync();
  } finally {
    await handle.close();
  }
}

/** Marks the end of an .eml's record; the record's length in bytes follows. */
const RECORD_FOOTER_MARK = '\nrecord-length:';
const RECORD_FOOTER_DIGITS = 10;
const RECORD_FOOTER_BYTES = RECORD_FOOTER_MARK.length + RECORD_FOOTER_DIGITS + 1;

/** Builds the footer after an .eml's record: `\nrecord-length:0000000123\n`. */
function recordFooter(recordBytes: number): Buffer {
  return Buffer.from(`${RECORD_FOOTER_MARK}${String(recordBytes).padStart(RECORD_FOOTER_DIGITS, '0')}\n`);
}

/** Reads the record at the end of an .eml, with the file's size and the bytes after the message. */
async function readTrailer(emlPath: string): Promise<{ json: string; fileSize: number; bytes: number }> {
  const handle = await fsp.open(emlPath, 'r');
  try {
    const { size } = await handle.stat();
    if (size < RECORD_FOOTER_BYTES) throw new Error(`no record footer in a file of ${size} bytes`);
    const footer = Buffer.alloc(RECORD_FOOTER_BYTES);
    await handle.read(footer, 0, RECORD_FOOTER_BYTES, size - RECORD_FOOTER_BYTES);
    const text = footer.toString('latin1');
    const digits = text.slice(RECORD_FOOTER_MARK.length, -1);
    if (!text.startsWith(RECORD_FOOTER_MARK) || !/^\d+$/.test(digits) || !text.endsWith('\n')) {
      throw new Error('no record footer at the end of the message file');
    }
    const recordBytes = Number(digits);
    if (recordBytes > size - RECORD_FOOTER_BYTES) {
      throw new Error(`the footer gives a record of ${recordBytes} bytes in a file of ${size}`);
    }
    const record = Buffer.alloc(recordBytes);
    await handle.read(record, 0, recordBytes, size - RECORD_FOOTER_BYTES - recordBytes);
    return { json: record.toString('utf8'), fileSize: size, bytes: recordBytes + RECORD_FOOTER_BYTES };
  } finally {
    await handle.close();
  }
}

/**
 * Reads the Subject header from the start of a message, unfolded, for the
 * queue view. Encoded words (RFC 2047) are left as they are.
 */
export function readSubject(head: Buffer): string {
  const text = head.toString('latin1');
  const end = text.search(/\r?\n\r?\n/);
  const headers = end === -1 ? text : text.slice(0, end);
  const match = /^subject:[ \t]*(.*(?:\r?\n[ \t].*)*)/im.exec(headers);
  if (!match?.[1]) return '';
  const unfolded = match[1].replace(/\r?\n(?=[ \t])/g, '');
  return Buffer.from(unfolded, 'latin1').toString('utf8').trim().slice(0, 500);
}
