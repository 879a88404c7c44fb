/**
 * Error classes of the relay core. Every error carries a stable string
 * code (listed in docs/errors.md) so callers match on the code, never on
 * the message text. Errors that end up as an SMTP reply carry the reply
 * code and enhanced status code too.
 */

export type RelayErrorCode =
  | 'ESETTINGS'
  | 'ESPOOL_WRITE'
  | 'ESPOOL_CORRUPT'
  | 'ETOO_LARGE'
  | 'ERELAY_DENIED'
  | 'ETLS_CERT'
  | 'EDATA_DIR_IN_USE';

export class RelayError extends Error {
  readonly code: RelayErrorCode;

  constructor(code: RelayErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'RelayError';
    this.code = code;
  }
}

/**
 * An error that the listener returns to the SMTP client as a reply.
 * `responseCode` is the field smtp-server reads.
 */
export class SmtpReplyError extends RelayError {
  readonly responseCode: number;
  readonly enhancedCode: string;

  constructor(
    code: RelayErrorCode,
    responseCode: number,
    enhancedCode: string,
    text: string,
    options?: ErrorOptions,
  ) {
    super(code, `${enhancedCode} ${text}`, options);
    this.name = 'SmtpReplyError';
    this.responseCode = responseCode;
    this.enhancedCode = enhancedCode;
  }
}

/**
 * A settings value outside its allowed range. The message names the
 * field, the value and the range, so the user can fix it without the docs.
 */
export class SettingsError extends RelayError {
  readonly field: string;
  readonly value: unknown;

  constructor(field: string, value: unknown, expected: string) {
    super(
      'ESETTINGS',
      `Invalid value for ${field}: ${formatValue(value)}. Expected ${expected}.`,
    );
    this.name = 'SettingsError';
    this.field = field;
    this.value = value;
  }
}

function formatValue(value: unknown): string {
  if (value === undefined) return 'missing';
  if (typeof value === 'string') return JSON.stringify(value);
  return JSON.stringify(value) ?? String(value);
}
