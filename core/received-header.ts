/**
 * The one header the relay adds: a Received: trace line (RFC 5321 section
 * 4.4), with the protocol word from RFC 3848 (ESMTP, ESMTPS for TLS,
 * ESMTPA for AUTH, ESMTPSA for both).
 *
 * The "for" clause is written only for a single recipient, so the header
 * does not reveal Bcc recipients to the others.
 *
 * Names a peer supplies (the HELO name, the recipient) cannot change the
 * header's structure. A character that would open or close a comment, a
 * path or the date part is replaced. An address that cannot be written as
 * it is leaves the "for" clause out.
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

// Maximum host name (RFC 1035) and path (RFC 5321 section 4.5.3.1.3,
// 256 octets with the angle brackets) lengths written into the header.
const MAX_NAME_LENGTH = 255;
const MAX_PATH_LENGTH = 254;
// RFC 5322 specials that end a word, except the dot and the brackets and
// colon of an address literal such as [IPv6:2001:db8::1].
const STRUCTURAL = /[()<>;@\\,"]/g;

/**
 * Keeps a peer-supplied name to printable characters that cannot open a
 * comment or end the clause, at most MAX_NAME_LENGTH of them.
 */
function sanitize(text: string): string {
  const clean = text
    .replace(/[^\x21-\x7e]/g, '?')
    .replace(STRUCTURAL, '?')
    .slice(0, MAX_NAME_LENGTH);
  return clean === '' ? 'unknown' : clean;
}

/** Returns the "for" clause, or '' when the address cannot be written as it is. */
function forClause(recipients: readonly string[]): string {
  const single = recipients.length === 1 ? recipients[0] : undefined;
  if (single === undefined || single.length > MAX_PATH_LENGTH) return '';
  // Quoted local parts may hold specials or spaces. Leaving the clause
  // out is better than writing a different address.
  if (/[^\x21-\x7e]|[()<>;\\,"]/.test(single)) return '';
  return ` for <${single}>`;
}

function protocol(info: ReceivedInfo): string {
  return `ESMTP${info.tls ? 'S' : ''}${info.authenticated ? 'A' : ''}`;
}

export function buildReceivedHeader(info: ReceivedInfo): Buffer {
  const address = info.clientAddress.replace(/^::ffff:/, '');
  const literal = address.includes(':') ? `[IPv6:${address}]` : `[${address}]`;
  const lines = [
    `Received: from ${sanitize(info.helo)} (${literal})`,
    `\tby ${sanitize(info.byHost)} (Smarthost Relay) with ${protocol(info)} id ${info.id}${forClause(info.recipients)};`,
    `\t${formatRfc5322Date(info.date)}`,
  ];
  return Buffer.from(lines.join('\r\n') + '\r\n', 'latin1');
}
