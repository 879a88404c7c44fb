/**
 * Bounces: delivery status notifications (RFC 3464) sent back to the
 * envelope sender when recipients fail for good or the queue lifetime
 * ends.
 *
 * A DSN is itself queued with the null sender `<>` (RFC 5321 section
 * 4.5.5), so a DSN that fails is never bounced again, and no DSN is made
 * for a message whose own sender was null.
 */
import crypto from 'node:crypto';
import { formatRfc5322Date } from './received-header.ts';

export interface FailedRecipient {
  readonly address: string;
  /** The smart host's reply, or a description of the failure. */
  readonly diagnostic: string;
  /** RFC 3463 status, e.g. 5.1.1, or 4.4.7 for an expired message. */
  readonly status: string;
}

export interface BounceInput {
  readonly queueId: string;
  readonly sender: string;
  readonly reportingHost: string;
  /** Host:port of the smart host, when the failure came from it. */
  readonly remoteMta: string | null;
  readonly arrivalDate: Date;
  readonly now: Date;
  readonly failed: readonly FailedRecipient[];
  readonly expired: boolean;
  /** The original message's header section. */
  readonly originalHeaders: Buffer;
}

/** Largest header section copied into the DSN's third part. */
export const MAX_RETURNED_HEADER_BYTES = 64 * 1024;

/** Returns the header section of a message: everything before the first empty line. */
export function headerSection(message: Buffer): Buffer {
  const head = message.subarray(0, MAX_RETURNED_HEADER_BYTES);
  const crlf = head.indexOf('\r\n\r\n');
  const lf = head.indexOf('\n\n');
  const candidates = [crlf === -1 ? -1 : crlf + 2, lf === -1 ? -1 : lf + 1].filter((end) => end >= 0);
  if (candidates.length === 0) return head;
  return head.subarray(0, Math.min(...candidates));
}

/** Picks the RFC 3463 status for a rejected recipient from its reply. */
export function statusFromReply(reply: string, code: number | undefined): string {
  const enhanced = /\b([245]\.\d{1,3}\.\d{1,3})\b/.exec(reply)?.[1];
  if (enhanced) return enhanced;
  if (code !== undefined && code >= 500) return '5.0.0';
  return '4.0.0';
}

/**
 * Drops the port from `host:port` (or `[v6]:port`), because a dns-type
 * Remote-MTA names a host only (RFC 3464 section 2.3.5).
 */
function mtaName(hostPort: string): string {
  return /^\[?(.*?)\]?:\d+$/.exec(hostPort)?.[1] ?? hostPort;
}

function oneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, ' ').trim();
}

function humanText(input: BounceInput): string {
  const lines = [
    `This is the mail relay at ${input.reportingHost}.`,
    '',
    input.expired
      ? 'Your message could not be delivered in the time the relay keeps messages, so it has been returned.'
      : 'Your message could not be delivered to the recipients below, because the receiving mail system rejected them for good.',
    'Other recipients of the same message, if any, are not affected.',
    '',
  ];
  for (const recipient of input.failed) {
    lines.push(`<${recipient.address}>: ${oneLine(recipient.diagnostic)}`);
  }
  lines.push('', 'The headers of your message are attached below.', '');
  return lines.join('\r\n');
}

function deliveryStatus(input: BounceInput): string {
  const lines = [
    `Reporting-MTA: dns; ${input.reportingHost}`,
    `X-Queue-ID: ${input.queueId}`,
    `Arrival-Date: ${formatRfc5322Date(input.arrivalDate)}`,
  ];
  for (const recipient of input.failed) {
    lines.push(
      '',
      `Final-Recipient: rfc822; ${recipient.address}`,
      'Action: failed',
      `Status: ${recipient.status}`,
    );
    if (input.remoteMta) lines.push(`Remote-MTA: dns; ${mtaName(input.remoteMta)}`);
    lines.push(
      `Diagnostic-Code: smtp; ${oneLine(recipient.diagnostic)}`,
      `Last-Attempt-Date: ${formatRfc5322Date(input.now)}`,
    );
  }
  return lines.join('\r\n') + '\r\n';
}

/** Builds the DSN message, ready to be queued with the null sender. */
export function buildBounce(input: BounceInput): Buffer {
  const boundary = `=_dsn_${crypto.randomBytes(12).toString('hex')}`;
  const headers = [
    `From: Mail Delivery System <MAILER-DAEMON@${input.reportingHost}>`,
    `To: <${input.sender}>`,
    `Subject: Undelivered Mail Returned to Sender`,
    `Date: ${formatRfc5322Date(input.now)}`,
    `Message-ID: <${input.queueId}.${crypto.randomBytes(4).toString('hex')}.dsn@${input.reportingHost}>`,
    // RFC 3834: marks the DSN as automatic so auto-responders stay quiet.
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type=delivery-status; boundary="${boundary}"`,
  ];
  // The original headers are copied as bytes (latin1 keeps every byte),
  // while the relay's own text is UTF-8.
  const originalHeaders = input.originalHeaders
    .toString('latin1')
    .replace(/\r?\n/g, '\r\n')
    .trimEnd();
  const report = [
    headers.join('\r\n'),
    '',
    'This is a MIME-encapsulated delivery status notification.',
    '',
    `--${boundary}`,
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 8bit',
    '',
    humanText(input),
    `--${boundary}`,
    'Content-Type: message/delivery-status',
    '',
    deliveryStatus(input),
    `--${boundary}`,
    'Content-Type: text/rfc822-headers',
    '',
    '',
  ].join('\r\n');
  return Buffer.concat([
    Buffer.from(report, 'utf8'),
    Buffer.from(originalHeaders, 'latin1'),
    Buffer.from(`\r\n\r\n--${boundary}--\r\n`, 'utf8'),
  ]);
}
