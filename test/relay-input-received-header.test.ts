// The Received: header the relay adds (RFC 5321 section 4.4): its clauses,
// the RFC 3848 protocol words, the address literal forms, the for clause
// only for a single recipient, and peer-supplied names that cannot break
// the header's structure.
import { describe, expect, it } from 'vitest';
import { buildReceivedHeader, formatRfc5322Date } from '../core/received-header.ts';
import type { ReceivedInfo } from '../core/received-header.ts';

const DATE = new Date(Date.UTC(2026, 11, 4, 16, 21, 44));

function info(patch: Partial<ReceivedInfo> = {}): ReceivedInfo {
  return {
    helo: 'scanner.office.test',
    clientAddress: '192.0.2.7',
    byHost: 'relay.office.test',
    id: '0ABCDEF1234567890A',
    tls: false,
    authenticated: false,
    recipients: ['alice@example.test'],
    date: DATE,
    ...patch,
  };
}

function header(patch: Partial<ReceivedInfo> = {}): string {
  return buildReceivedHeader(info(patch)).toString('latin1');
}

/** Removes RFC 5322 comments, nested ones included, as a parser would. */
function withoutComments(text: string): string {
  let result = '';
  let depth = 0;
  for (const character of text) {
    if (character === '(') depth += 1;
    else if (character === ')' && depth > 0) depth -= 1;
    else if (depth === 0) result += character;
  }
  return result;
}

describe('buildReceivedHeader', () => {
  it('writes the RFC 5321 stamp', () => {
    expect(header()).toBe(
      'Received: from scanner.office.test ([192.0.2.7])\r\n' +
        '\tby relay.office.test (Smarthost Relay) with ESMTP id 0ABCDEF1234567890A for <alice@example.test>;\r\n' +
        '\tFri, 4 Dec 2026 16:21:44 +0000\r\n',
    );
  });

  it('names the protocol per RFC 3848', () => {
    expect(header({ tls: false, authenticated: false })).toContain(' with ESMTP id ');
    expect(header({ tls: true, authenticated: false })).toContain(' with ESMTPS id ');
    expect(header({ tls: false, authenticated: true })).toContain(' with ESMTPA id ');
    expect(header({ tls: true, authenticated: true })).toContain(' with ESMTPSA id ');
  });

  it('writes address literals', () => {
    expect(header({ clientAddress: '2001:db8::25' })).toContain('([IPv6:2001:db8::25])');
    // A dual-stack listener reports IPv4 clients as IPv4-mapped IPv6.
    expect(header({ clientAddress: '::ffff:192.0.2.9' })).toContain('([192.0.2.9])');
  });

  it('names no recipient when there are several', () => {
    const several = header({ recipients: ['alice@example.test', 'hidden@example.test'] });
    expect(several).not.toMatch(/\bfor\b/);
    expect(several).not.toContain('alice@example.test');
    expect(several).not.toContain('hidden@example.test');
    expect(several).toMatch(/ id 0ABCDEF1234567890A;\r\n\tFri, /);
  });

  it('keeps every line short and CRLF-terminated', () => {
    const text = header({ helo: 'h'.repeat(2000), byHost: 'b'.repeat(2000), recipients: [`${'l'.repeat(60)}@${'d'.repeat(180)}.test`] });
    expect(text.endsWith('\r\n')).toBe(true);
    const lines = text.slice(0, -2).split('\r\n');
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(998);
    for (const line of lines.slice(1)) expect(line).toMatch(/^\t\S/);
    expect(text).not.toMatch(/[^\r]\n|\r[^\n]/);
  });

  it('keeps a hostile HELO from breaking the header', () => {
    for (const helo of ['evil(', 'a)b', 'x;Fri,', 'in<jected>', 'back\\slash', 'quo"te', 'tab\there', 'ütf8']) {
      const text = header({ helo });
      const bare = withoutComments(text);
      // Outside comments, the stamp still has its from, by, with, id and for clauses, then the date.
      expect(bare, helo).toMatch(
        /^Received: from \S+ \r\n\tby relay\.office\.test {2}with ESMTP id \S+ for <alice@example\.test>;\r\n\t[^;]+\r\n$/,
      );
      expect(text.split(';'), helo).toHaveLength(2);
      expect(text, helo).toMatch(/^[\x20-\x7e\r\n\t]*$/);
    }
  });

  it('leaves out an odd recipient address', () => {
    // A quoted local part may hold characters that would end the path
    // early, and a cut address would name someone else.
    for (const address of ['"a>b(c;"@example.test', `${'l'.repeat(300)}@example.test`]) {
      const text = header({ recipients: [address] });
      expect(text).not.toMatch(/\bfor\b/);
      expect(text.split(';')).toHaveLength(2);
    }
  });
});

describe('formatRfc5322Date', () => {
  it('formats UTC dates', () => {
    expect(formatRfc5322Date(DATE)).toBe('Fri, 4 Dec 2026 16:21:44 +0000');
    expect(formatRfc5322Date(new Date(Date.UTC(2027, 0, 31, 3, 4, 5)))).toBe('Sun, 31 Jan 2027 03:04:05 +0000');
  });
});
