/**
 * Smart-host presets: connection settings and sending limits of common
 * providers, so that an office can pick "Microsoft 365" instead of looking
 * up each number.
 *
 * Every value is plain data that the user can override. Each provider's
 * preset cites the pages its numbers come from and the date they were read.
 * Where a provider publishes no value, the preset uses a conservative guess
 * marked with a NOTE. Providers change their limits without notice, so a
 * smart host's own rejection (see the reply classifier) stays the final word.
 *
 * Pure data: no I/O, logs nothing, throws nothing.
 */

export type Security = 'starttls' | 'tls' | 'none';

/** Sending limits that the relay enforces for one smart host. */
export interface SmartHostLimits {
  /** Maximum simultaneous SMTP connections, from 1 to 20. */
  readonly maxConnections: number;
  /** Maximum messages sent over one connection before the relay reconnects. */
  readonly maxMessagesPerConnection: number;
  /** Maximum RCPT TO addresses in one message; the relay splits larger messages. */
  readonly maxRecipientsPerMessage: number;
  /** Minimum time in ms between two message submissions to this smart host, over all its connections. */
  readonly minGapMs: number;
  /** Message budget per minute; null means no budget. */
  readonly maxMessagesPerMinute: number | null;
  /** Message budget per hour; null means no budget. */
  readonly maxMessagesPerHour: number | null;
  /** Message budget per day; null means no budget. */
  readonly maxMessagesPerDay: number | null;
  /** Recipient budget per day, counting every recipient of every message; null means no budget. */
  readonly maxRecipientsPerDay: number | null;
}

/** A named set of connection settings and limits for one kind of smart host. */
export interface Preset {
  /** Stable id used on the command line, such as 'microsoft365'. */
  readonly name: string;
  /** Name shown in the UI, such as 'Microsoft 365 (SMTP AUTH)'. */
  readonly label: string;
  /** Host name, or null where it depends on the account (generic ISP). */
  readonly host: string | null;
  readonly port: number;
  readonly security: Security;
  readonly limits: SmartHostLimits;
  /** One or two plain sentences for the UI: who this preset is for and what to check. */
  readonly description: string;
}

/** Lowest allowed value of SmartHostLimits.maxConnections. */
export const MIN_CONNECTIONS = 1;

/** Highest allowed value of SmartHostLimits.maxConnections. */
export const MAX_CONNECTIONS = 20;

const SECOND_MS = 1000;
const MINUTE_MS = 60 * SECOND_MS;

/** Port for message submission with STARTTLS (RFC 6409 and RFC 3207). */
const SUBMISSION_PORT = 587;

/** Microsoft 365's SMTP AUTH message rate limit. */
const MICROSOFT_365_MESSAGES_PER_MINUTE = 30;

// Microsoft 365, SMTP AUTH client submission to smtp.office365.com.
// Source: Microsoft, "Changes in message store and throttling for concurrent
// connections" (learn.microsoft.com/en-us/exchange/troubleshoot/send-emails/
// smtp-submission-improvements, page dated 2024-01-24), read 2026-12-04 from
// the MicrosoftDocs/SupportArticles-docs copy: at most 3 concurrent
// connections, 30 messages per minute, 10,000 recipients per day.
// Recipients per message: the Exchange Online default recipient limit is 500
// (customizable up to 1,000), per office365itpros.com/2020/01/17/
// custom-recipient-limits-exo/, read 2026-12-04.
const MICROSOFT_365: Preset = {
  name: 'microsoft365',
  label: 'Microsoft 365 (SMTP AUTH)',
  host: 'smtp.office365.com',
  port: SUBMISSION_PORT,
  security: 'starttls',
  limits: {
    maxConnections: 3,
    // NOTE: Microsoft publishes no per-connection limit; one minute's budget is a guess.
    maxMessagesPerConnection: MICROSOFT_365_MESSAGES_PER_MINUTE,
    maxRecipientsPerMessage: 500,
    // Spreads a minute's messages evenly instead of sending them in a burst.
    minGapMs: MINUTE_MS / MICROSOFT_365_MESSAGES_PER_MINUTE,
    maxMessagesPerMinute: MICROSOFT_365_MESSAGES_PER_MINUTE,
    maxMessagesPerHour: null,
    maxMessagesPerDay: null,
    maxRecipientsPerDay: 10_000,
  },
  description:
    'For a Microsoft 365 mailbox with Authenticated SMTP turned on. Sign in with the full address of the mailbox, which may send to about 10,000 recipients a day.',
};

// Gmail with a personal (@gmail.com) account through smtp.gmail.com.
// Sources, read 2026-12-04: developer.nylas.com/docs/cookbook/email/
// gmail-smtp-settings (smtp.gmail.com:587 STARTTLS, app password, 500 messages
// a day for personal accounts) and Gmail's help text quoted at
// www.wirya.id/2007/09/13/are-there-limits-for-sending-mail.html (up to 100
// recipients per message when sending through POP/SMTP access).
// NOTE: third-party pages disagree on whether the 500 a day counts messages
// or recipients, so the preset limits both to 500.
const GMAIL: Preset = {
  name: 'gmail',
  label: 'Gmail (personal account)',
  host: 'smtp.gmail.com',
  port: SUBMISSION_PORT,
  security: 'starttls',
  limits: {
    // NOTE: Google publishes no connection, per-connection or per-minute
    // limits for smtp.gmail.com; these are conservative guesses.
    maxConnections: 2,
    maxMessagesPerConnection: 20,
    maxRecipientsPerMessage: 100,
    minGapMs: SECOND_MS,
    maxMessagesPerMinute: 20,
    maxMessagesPerHour: null,
    maxMessagesPerDay: 500,
    maxRecipientsPerDay: 500,
  },
  description:
    'For a personal Gmail address. Use an app password, not the account password, and note that Gmail allows about 500 messages a day.',
};

// Gmail with a Google Workspace account through smtp.gmail.com.
// Source: Google, "Gmail sending limits in Google Workspace"
// (support.google.com/a/answer/166852), read 2026-12-04 from the copies at
// support.dmit.co.th/hc/en-us/articles/115002170747 and
// blogger.incoreporation.com/2019/04/google-g-suite-email-sending-limits.html:
// 2,000 messages per day (500 for trial accounts), 100 recipients per message
// sent via SMTP, 10,000 total recipients per day.
const GMAIL_WORKSPACE: Preset = {
  name: 'gmail-workspace',
  label: 'Gmail (Google Workspace account)',
  host: 'smtp.gmail.com',
  port: SUBMISSION_PORT,
  security: 'starttls',
  limits: {
    // NOTE: Google publishes no connection, per-connection or per-minute
    // limits for smtp.gmail.com; these are conservative guesses.
    maxConnections: 2,
    maxMessagesPerConnection: 20,
    maxRecipientsPerMessage: 100,
    minGapMs: SECOND_MS,
    maxMessagesPerMinute: 20,
    maxMessagesPerHour: null,
    maxMessagesPerDay: 2000,
    maxRecipientsPerDay: 10_000,
  },
  description:
    'For one Google Workspace user sending as themselves. Use an app password, and note that Workspace allows 2,000 messages a day (500 during a trial).',
};

// Google Workspace SMTP relay service, smtp-relay.gmail.com.
// Sources, read 2026-12-04: developer.nylas.com/docs/cookbook/email/
// gmail-smtp-settings (up to 10,000 recipients per day per user, IP-based
// authentication allowed) and the Workspace limits table quoted at
// support.dmit.co.th/hc/en-us/articles/115002170747 (100 recipients per
// message, including smtp-relay.gmail.com). Google's relay rejections
// ("550 5.4.5 Daily SMTP relay limit exceeded for user", "450 4.2.1 Peak SMTP
// relay limit exceeded for customer") are in sisimai/go-sisimai
// rhost/for-google.go.
const GOOGLE_RELAY: Preset = {
  name: 'google-relay',
  label: 'Google Workspace SMTP relay',
  host: 'smtp-relay.gmail.com',
  port: SUBMISSION_PORT,
  security: 'starttls',
  limits: {
    // NOTE: Google publishes no connection, per-connection or per-minute
    // limits for the relay; these are conservative guesses.
    maxConnections: 3,
    maxMessagesPerConnection: 50,
    maxRecipientsPerMessage: 100,
    minGapMs: 0,
    maxMessagesPerMinute: 60,
    maxMessagesPerHour: null,
    // The recipient budget below also caps messages at 10,000 a day.
    maxMessagesPerDay: null,
    maxRecipientsPerDay: 10_000,
  },
  description:
    'For offices whose Google Workspace administrator set up the SMTP relay service. Check that your public IP address or the sign-in is allowed in the relay settings.',
};

// Amazon SES SMTP interface, email-smtp.<region>.amazonaws.com.
// Sources, all read 2026-12-04:
// - docs.aws.amazon.com/ses/latest/dg/quotas.html: in the sandbox, 200 emails
//   per 24 hours and 1 email per second. Quotas count recipients, not
//   messages, and production quotas vary per account.
// - docs.aws.amazon.com/ses/latest/dg/smtp-connect.html: STARTTLS on port
//   25, 587 or 2587.
// - The SES SendEmail reference at docs.aws.amazon.com/sdkfornet: at most 50
//   recipients per message.
// NOTE: SES also counts each recipient against the per-second rate, which
// these limits cannot express. A message with many recipients can therefore
// still be throttled, and the relay backs off when it is.
const AMAZON_SES: Preset = {
  name: 'amazon-ses',
  label: 'Amazon SES',
  host: 'email-smtp.us-east-1.amazonaws.com',
  port: SUBMISSION_PORT,
  security: 'starttls',
  limits: {
    // NOTE: Amazon publishes no connection or per-connection limit (it
    // replies "421 Too many concurrent SMTP connections"); these are guesses.
    maxConnections: 2,
    maxMessagesPerConnection: 50,
    maxRecipientsPerMessage: 50,
    // The sandbox sending rate of 1 email per second.
    minGapMs: SECOND_MS,
    maxMessagesPerMinute: 60,
    maxMessagesPerHour: null,
    maxMessagesPerDay: 200,
    maxRecipientsPerDay: 200,
  },
  description:
    'For an Amazon SES account. Change the region in the host name to your SES region. The limits are the sandbox defaults (200 a day, 1 per second), so enter your production quotas once Amazon raises them.',
};

// Twilio SendGrid SMTP relay, smtp.sendgrid.net.
// Sources, all read 2026-12-04:
// - github.com/sendgrid/docs, source/for-developers/getting-started/
//   integrating-with-the-smtp-api.md: smtp.sendgrid.net:587, user name
//   "apikey", up to 100 messages per SMTP connection and 10 concurrent
//   connections from a single server.
// - twilio.com/docs/sendgrid/for-developers/sending-email/
//   integrating-with-the-smtp-api: the current page allows 5,000 messages per
//   connection and 10,000 connections; the preset keeps the older, lower values.
// - twilio.com/docs/sendgrid/for-developers/sending-email/
//   building-an-x-smtpapi-header: split large sends into transactions of
//   about 1,000 recipients.
const SENDGRID: Preset = {
  name: 'sendgrid',
  label: 'SendGrid',
  host: 'smtp.sendgrid.net',
  port: SUBMISSION_PORT,
  security: 'starttls',
  limits: {
    maxConnections: 10,
    maxMessagesPerConnection: 100,
    maxRecipientsPerMessage: 1000,
    minGapMs: 0,
    // Budgets depend on the SendGrid plan, so none is set.
    maxMessagesPerMinute: null,
    maxMessagesPerHour: null,
    maxMessagesPerDay: null,
    maxRecipientsPerDay: null,
  },
  description:
    'For a SendGrid account. Sign in with the user name "apikey" and an API key with Mail permission as the password, and enter your plan\'s daily limit if it has one.',
};

// A generic ISP or hosting provider's submission server.
// NOTE: these are conservative guesses, not any provider's published limits.
// The description asks the user to get the real limits from the provider.
const GENERIC_ISP: Preset = {
  name: 'generic-isp',
  label: 'Other ISP or hosting provider',
  host: null,
  port: SUBMISSION_PORT,
  security: 'starttls',
  limits: {
    maxConnections: 2,
    maxMessagesPerConnection: 20,
    maxRecipientsPerMessage: 50,
    minGapMs: 2 * SECOND_MS,
    maxMessagesPerMinute: 20,
    maxMessagesPerHour: 300,
    maxMessagesPerDay: null,
    maxRecipientsPerDay: null,
  },
  description:
    'For the mail server of your internet or hosting provider. Enter its host name, and ask the provider for its sending limits, because these are cautious defaults.',
};

/** All presets, in the order the UI lists them. */
export const PRESETS: readonly Preset[] = [
  MICROSOFT_365,
  GMAIL,
  GMAIL_WORKSPACE,
  GOOGLE_RELAY,
  AMAZON_SES,
  SENDGRID,
  GENERIC_ISP,
];

/** Names of all presets, in the order of PRESETS. */
export const PRESET_NAMES: readonly string[] = PRESETS.map((preset) => preset.name);

/** Returns the preset with this name, or undefined when there is none. */
export function findPreset(name: string): Preset | undefined {
  return PRESETS.find((preset) => preset.name === name);
}
