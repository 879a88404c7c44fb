/**
 * Sender rewriting, for smart hosts that accept only their own account as
 * the sender (Microsoft 365 and Gmail refuse "send as" other addresses).
 *
 * The envelope sender is replaced by `rewriteSender`, except for the null
 * sender of a DSN. With `rewriteFromHeader`, the From: header is replaced
 * too, and the original From: is kept as Reply-To: (unless the message
 * has one) so replies still reach the person who sent it. This changes
 * the message bytes, which breaks a DKIM signature over From:, so it is
 * off unless the user turns it on.
 */
import fs from 'node:fs';
import { PassThrough, Readable } from 'node:stream';

/** Header sections longer than this are relayed without header rewriting. */
const MAX_HEADER_BYTES = 256 * 1024;

export interface RewrittenMessage {
  readonly stream: Readable;
  readonly size: number;
}

/** Returns the envelope sender to use for a message. */
export function envelopeSender(
  from: string,
  isDsn: boolean,
  rewriteSender: string | null,
): string {
  if (rewriteSender === null || from === '' || isDsn) return from;
  return rewriteSender;
}

/**
 * Rewrites the From: header of a header section (latin1 string, so bytes
 * are preserved) and adds Reply-To: with the original value.
 */
export function rewriteFromHeader(headers: string, newFrom: string): string {
  const lines = headers.split(/(?<=\n)/);
  const out: string[] = [];
  let originalFrom: string | null = null;
  let hasReplyTo = false;

  for (let index = 0; index < lines.length; index += 1) {
    const line = lines[index]!;
    if (/^reply-to:/i.test(line)) hasReplyTo = true;
    if (originalFrom === null && /^from:/i.test(line)) {
      // Collect the folded continuation lines of From: as well.
      let value = line.slice(5);
      while (index + 1 < lines.length && /^[ \t]/.test(lines[index + 1]!)) {
        index += 1;
        value += lines[index]!;
      }
      originalFrom = value.trim();
      out.push(`From: <${newFrom}>\r\n`);
      continue;
    }
    out.push(line);
  }
  if (originalFrom !== null && !hasReplyTo) {
    // Insert Reply-To: right after the new From: line.
    const fromIndex = out.findIndex((line) => /^from:/i.test(line));
    out.splice(fromIndex + 1, 0, `Reply-To: ${originalFrom}\r\n`);
  }
  return out.join('');
}

/** Opens a stored message with its From: header rewritten. */
export async function openWithRewrittenFrom(
  emlPath: string,
  size: number,
  newFrom: string,
): Promise<RewrittenMessage> {
  const handle = await fs.promises.open(emlPath, 'r');
  let head: Buffer;
  try {
    const buffer = Buffer.alloc(Math.min(size, MAX_HEADER_BYTES));
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    head = buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }

  const text = head.toString('latin1');
  const match = /\r?\n\r?\n/.exec(text);
  if (!match) {
    // A message of headers only, read whole: all of it is the header section.
    if (head.length === size) {
      const rewritten = Buffer.from(rewriteFromHeader(text, newFrom), 'latin1');
      return { stream: Readable.from([rewritten]), size: rewritten.length };
    }
    // The .eml contains its queue record after the message, so reads stop at `size`.
    return { stream: fs.createReadStream(emlPath, { end: size - 1 }), size };
  }

  const headerEnd = match.index + match[0].length;
  const lastLineEnd = match.index + (match[0].startsWith('\r\n') ? 2 : 1);
  const headers = rewriteFromHeader(text.slice(0, lastLineEnd), newFrom);
  const newHead = Buffer.from(headers + text.slice(lastLineEnd, headerEnd), 'latin1');
  const stream = new PassThrough();
  stream.write(newHead);
  if (headerEnd >= size) {
    stream.end();
  } else {
    const rest = fs.createReadStream(emlPath, { start: headerEnd, end: size - 1 });
    rest.on('error', (error) => stream.destroy(error));
    rest.pipe(stream);
  }
  return { stream, size: size - headerEnd + newHead.length };
}
