/**
 * The one header the relay adds: a Received: trace line (RFC 5321 section
 * 4.4), with the protocol word from RFC 3848 (ESMTP, ESMTPS for TLS,
 * ESMTPA for AUTH, ESMTPSA for both).
 *
 * The "for" clause is written only for a single recipient, so the header
 * does not reveal Bcc recipients to the others.
 */

export interface ReceivedInfo {
  readonly helo: string;
  readonly clientAddress: string;
  readonly byHost: string;
  readonly id: string;
  readonly tls: boolean;
  readonly authenticated: boolean;
  readonly recipients: readonly string[];
  readonly date: Date;
}

const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** Formats a date as an RFC 5322 date-time in UTC, e.g. `Fri, 4 Dec 2026 16:21:44 +0000`. */
export function formatRfc5322Date(date: Date): string {
  const pad = (value: number): string => String(value).padStart(2, '0');
  const time = `${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())}`;
  return `${WEEKDAYS[date.getUTCDay()]}, ${date.getUTCDate()} ${MONTHS[date.getUTCMonth()]} ${date.getUTCFullYear()} ${time} +0000`;
}

/** Keeps a peer-supplied word printable and free of line breaks. */
function sanitize(text: string): string {
  const clean = text.replace(/[^\x21-\x7e]/g, '?').slice(0, 255);
  return clean === '' ? 'unknown' : clean;
}

function protocol(info: ReceivedInfo): string {
  return `ESMTP${info.tls ? 'S' : ''}${info.authenticated ? 'A' : ''}`;
}

export function buildReceivedHeader(info: ReceivedInfo): Buffer {
  const address = info.clientAddress.replace(/^::ffff:/, '');
  const literal = address.includes(':') ? `[IPv6:${address}]` : `[${address}]`;
  const single = info.recipients.length === 1 ? info.recipients[0] : undefined;
  const forClause = single === undefined ? '' : ` for <${sanitize(single)}>`;
  const lines = [
    `Received: from ${sanitize(info.helo)} (${literal})`,
    `\tby ${sanitize(info.byHost)} (Smarthost Relay) with ${protocol(info)} id ${info.id}${forClause};`,
    `\t${formatRfc5322Date(info.date)}`,
  ];
  return Buffer.from(lines.join('\r\n') + '\r\n', 'latin1');
}
