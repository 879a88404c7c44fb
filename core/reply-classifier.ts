/**
 * Reply classifier: decides what the relay does after a smart host's SMTP
 * reply or a network fault.
 *
 * Input is the reply code, the whole reply text and the stage of the SMTP
 * dialogue. The RFC 3463 enhanced status code is parsed from the text. The
 * result is one of eight kinds (see ReplyKind), whether the kind applies to
 * the whole smart host, and one plain sentence each of explanation and
 * advice for the office user.
 *
 * The rules in REPLY_RULES are tried in order and the first match wins.
 * Order matters because provider texts overlap: Amazon SES replies
 * "454 Throttling failure: Daily message quota exceeded", which is a quota
 * and not throttling, and Gmail's "421 4.7.0 ... very low reputation ...
 * temporarily rate limited" is a reputation block and not throttling. A
 * quota, blocklist, credentials or provider-settings reply wins over the
 * generic 5xx rule, so such a reply never bounces mail. A 5xx before MAIL
 * FROM that no rule recognizes holds the mail for a person (needs-person)
 * instead of bouncing it, because it is about the session, not a message.
 *
 * Pure function: no I/O, logs nothing, throws nothing.
 *
 * Known limitations: the patterns match English reply texts, as the
 * providers below send them. A translated or reworded text falls through to
 * the generic 4xx (retry) or 5xx (bounce) rule.
 */

/** Action that the relay takes after a reply. */
export type ReplyKind =
  | 'success' // 2xx
  | 'throttled' // back off, lower this smart host's concurrency
  | 'quota' // pause the smart host until the budget window resets; never bounce, even when 5xx
  | 'blacklisted' // blacklist / poor reputation: pause the smart host, keep mail, alert
  | 'credentials' // credentials rejected: stop using these credentials until they change, alert
  | 'needs-person' // hold and alert, a human must fix something at the provider
  | 'permanent' // bounce this recipient (or message) with a DSN
  | 'transient'; // retry with backoff

/** Stage of the SMTP dialogue at which the reply (or failure) happened. */
export type ReplyStage =
  'connect' | 'greeting' | 'ehlo' | 'starttls' | 'auth' | 'mail' | 'rcpt' | 'data' | 'network';

export interface SmtpReply {
  /** Reply code such as 550, or undefined for a network fault. */
  readonly code?: number | undefined;
  /** The whole reply text as received, possibly multi-line, with the codes. */
  readonly text: string;
  readonly stage: ReplyStage;
}

export interface ReplyClassification {
  readonly kind: ReplyKind;
  readonly code: number | undefined;
  /** RFC 3463 enhanced status code such as '5.1.1', parsed from the text. */
  readonly enhancedCode: string | undefined;
  /** One plain-language sentence for a non-expert: what happened. */
  readonly explanation: string;
  /** One plain-language sentence: what the user should do (empty string when nothing). */
  readonly advice: string;
  /** True when the classification applies to the whole smart host rather than one recipient/message. */
  readonly affectsSmartHost: boolean;
}

/**
 * Facts about one reply that the rules match on. The text is lowercased,
 * continuation-line reply codes are removed and whitespace is collapsed, so
 * a phrase that a server split across lines still matches.
 */
interface ReplyFacts {
  readonly code: number | undefined;
  readonly enhancedCode: string | undefined;
  readonly text: string;
  readonly stage: ReplyStage;
}

/** One entry of the rule table. Explanation and advice default per kind. */
interface ReplyRule {
  readonly id: string;
  readonly kind: ReplyKind;
  readonly matches: (reply: ReplyFacts) => boolean;
  readonly explanation?: string;
  readonly advice?: string;
}

// ---------------------------------------------------------------------------
// Enhanced status codes (RFC 3463 section 2: class.subject.detail)
// ---------------------------------------------------------------------------

/**
 * First enhanced status code in a reply text. Class is 2, 4 or 5, subject
 * and detail have 1 to 3 digits. The lookarounds skip parts of IP addresses
 * and version numbers such as "192.0.2.5" or "15.20.1665.000".
 */
const ENHANCED_CODE_PATTERN = /(?<![\d.])([245]\.\d{1,3}\.\d{1,3})(?!\.?\d)/;

/** Returns the first RFC 3463 enhanced status code in a reply text, or undefined. */
export function parseEnhancedCode(text: string): string | undefined {
  return ENHANCED_CODE_PATTERN.exec(text)?.[1];
}

function hasEnhancedCode(reply: ReplyFacts, ...codes: readonly string[]): boolean {
  return reply.enhancedCode !== undefined && codes.includes(reply.enhancedCode);
}

/** True when the enhanced code starts with `prefix` (such as '5.7.') and its detail is in [min, max]. */
function hasEnhancedDetailIn(reply: ReplyFacts, prefix: string, min: number, max: number): boolean {
  if (reply.enhancedCode === undefined || !reply.enhancedCode.startsWith(prefix)) {
    return false;
  }
  const detail = Number(reply.enhancedCode.slice(prefix.length));
  return detail >= min && detail <= max;
}

function hasEnhancedPrefix(reply: ReplyFacts, ...prefixes: readonly string[]): boolean {
  const enhanced = reply.enhancedCode;
  return enhanced !== undefined && prefixes.some((prefix) => enhanced.startsWith(prefix));
}

function isTransientCode(reply: ReplyFacts): boolean {
  return reply.code !== undefined && reply.code >= 400 && reply.code <= 499;
}

function isPermanentCode(reply: ReplyFacts): boolean {
  return reply.code !== undefined && reply.code >= 500 && reply.code <= 599;
}

// ---------------------------------------------------------------------------
// Text patterns, matched against the normalized (lowercased) reply text
// ---------------------------------------------------------------------------

/**
 * Microsoft 365 blocks SMTP AUTH for a mailbox after many identical errors,
 * for example "550 5.2.252 Sender throttled due to continuous send as denied
 * errors." (5.2.251 to 5.2.255). The block lasts a set time, and the errors
 * return unless a person fixes the cause. "554 5.2.252 SendAsDenied" shares
 * the number, so the rule matches the words.
 */
const MICROSOFT_CONTINUOUS_ERROR_PATTERN = /sender throttled due to continuous/;

/** Google: "534 5.7.9 Application-specific password required." */
const APP_PASSWORD_PATTERN = /application-specific password/;

/** Google: "534-5.7.14 Please log in via your web browser and then try again." */
const WEB_LOGIN_PATTERN = /log in (via|with|through) your web browser/;

/** Microsoft: "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant." */
const SMTP_AUTH_DISABLED_PATTERN = /smtpclientauthentication is disabled|5\.7\.139/;

/** Microsoft: "550 5.7.30 Basic authentication is not supported for Client Submission". */
const BASIC_AUTH_RETIRED_PATTERN = /basic authentication is not supported/;

/** Gmail and others: "530 5.7.0 Must issue a STARTTLS command first." */
const STARTTLS_REQUIRED_PATTERN = /must issue a starttls command first|starttls (is )?required/;

/**
 * Sending without (successful) AUTH: Google and Amazon SES "530 Authentication
 * required", Microsoft "530 5.7.57 Client not authenticated to send mail" and
 * Exchange "550 5.7.1 Client was not authenticated". Microsoft's "Sender was
 * not authenticated by organization" (5.7.12) is about the recipient side and
 * does not match.
 */
const AUTH_REQUIRED_PATTERN = /authentication (is )?required|client (was )?not authenticated/;

/** Stages at which a 530 reply means that the relay's AUTH is missing or rejected. */
const AUTH_REPLY_STAGES: readonly ReplyStage[] = ['auth', 'mail', 'rcpt', 'data'];

/**
 * Microsoft reports a full sending mailbox (Sent Items count too) as
 * "554 5.2.2 mailbox full; STOREDRV.Submission.Exception:QuotaExceededException...".
 */
const SENDER_MAILBOX_FULL_PATTERN = /storedrv\.submission\.exception:quotaexceededexception/;

/**
 * "Mailbox full" wording, which is about the sender only in a reply to MAIL
 * FROM. "Quota exceeded" alone is left out because Gmail can reply to MAIL
 * FROM with "Daily sending quota exceeded".
 */
const MAILBOX_FULL_PATTERN = /mailbox (is )?full/;

/** Microsoft: "554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException". */
const SUBMISSION_QUOTA_PATTERN = /submission ?quota ?exceeded/;

/**
 * A daily budget: Gmail "550 5.4.5 Daily user sending limit exceeded", Google
 * relay "Daily SMTP relay limit exceeded for user", Amazon SES "454 Throttling
 * failure: Daily message quota exceeded", Microsoft "reached your daily limit
 * for message recipients". Stops at sentence ends so unrelated words do not pair up.
 */
const DAILY_LIMIT_PATTERN =
  /\bdaily\b[^.;]*\b(quota|limit)\b|\b(quota|limit)\b[^.;]*(\bper day\b|\b24[- ]hours?\b)/;

/**
 * Other budget wordings: "sending quota", Plesk's "The limit on the number of
 * allowed outgoing messages was exceeded" and outMail's "You have exceeded
 * your Outmail quota". "Over quota" alone is a full recipient mailbox, so it
 * is not here.
 */
const SENDING_QUOTA_PATTERN =
  /sending quota|message quota|you have exceeded your [^.;]*quota|limit on the number of allowed outgoing messages/;

/** Budget words that go with the X.4.5 "mail system congestion" codes used for quotas. */
const QUOTA_OR_LIMIT_PATTERN = /quota|limit exceeded/;

/** Short-window rate wording, which makes a limit a throttle rather than a quota. */
const SHORT_WINDOW_RATE_PATTERN = /per (second|minute)|\brate\b/;

/**
 * Microsoft: "550 5.7.60 SMTP; Client does not have permissions to send as
 * this sender", "554 5.2.252 SendAsDenied; a@x not allowed to send as b@y"
 * and "554 5.2.0 STOREDRV.Submission.Exception:SendAsDeniedException".
 */
const SEND_AS_DENIED_PATTERN =
  /sendasdenied|not allowed to send as|(do|does) not have permissions? to send as/;

/**
 * The smart host does not accept the relay as a client: "550 5.7.1 Relaying
 * denied", "554 5.7.1 Relay access denied", Google relay "550 5.7.0 Mail
 * relay denied ... Invalid credentials for relay" (IP not registered in the
 * admin console), Google "550 5.7.0 Mail Sending denied" (account disabled)
 * and Google MX "is not authorized to send email directly to our servers".
 */
const RELAY_DENIED_PATTERN =
  /relay(ing)? (access )?(denied|not permitted)|unable to relay|invalid credentials for relay|mail sending denied|not authorized to send email directly/;

/** Amazon SES: "554 Message rejected: Email address is not verified. The following identities failed the check ...". */
const SES_UNVERIFIED_IDENTITY_PATTERN = /email address is not verified|identities failed the check/;

/** Amazon SES: "554 Access denied: User <arn> is not authorized to perform ses:SendRawEmail ...". */
const NOT_AUTHORIZED_TO_PERFORM_PATTERN = /is not authorized to perform/;

/**
 * Microsoft blocks accounts or tenants that sent spam: "5.1.8 Access denied,
 * bad outbound sender", "5.7.501 Access denied, spam abuse detected" and
 * "5.7.705 Access denied, tenant has exceeded threshold".
 */
const ACCOUNT_RESTRICTED_PATTERN =
  /bad outbound sender|spam abuse detected|tenant has exceeded threshold/;

/**
 * SPF, DKIM, DMARC and reverse DNS failures of the sending domain or IP
 * address. Gmail's unusual-rate texts name "your DKIM domain" without any
 * failure, so the rule below excludes UNUSUAL_RATE_PATTERN.
 */
const DOMAIN_AUTHENTICATION_PATTERN = /\bspf\b|\bdkim\b|\bdmarc\b|ptr record|reverse dns/;

/**
 * One message's content looks like spam: Gmail "550 5.7.1 ... this message is
 * likely unsolicited mail", Zoho "Email flagged as Spam", Barracuda "554
 * rejected due to spam URL in content" and "554 rejecting banned content".
 */
const SPAM_CONTENT_PATTERN =
  /likely unsolicited mail|nature of the content|flagged as spam|suspicion of spam|spam message rejected|spam url in content|rejecting banned content/;

/**
 * Gmail: "421 4.7.28 ... an unusual rate of unsolicited mail originating from
 * your IP address ... temporarily rate limited". Older texts contain
 * "blocked", but the limit lifts by itself, so a 4xx of this kind is a throttle.
 */
const UNUSUAL_RATE_PATTERN = /unusual rate of/;

/**
 * Blocklist and reputation wording: Postfix "Client host [192.0.2.1] blocked
 * using zen.spamhaus.org", Barracuda Reputation, SpamCop, Comcast "the sending
 * MTA's poor reputation", Microsoft "(S3150)" and "banned sending IP".
 */
const BLOCKLIST_PATTERN =
  /spamhaus|spamcop|barracuda|\bs3150\b|\b(rbl|dnsbls?)\b|black ?list|block ?list|\blisted\b|blocked using|reputation|\bbanned\b|\bblocked\b/;

/** Reply codes that carry a blocklist rejection when the server sends no enhanced code. */
const BLOCKLIST_BARE_CODES: readonly number[] = [421, 550, 554];

/**
 * Rate and concurrency wording in a 4xx reply: Postfix "450 4.7.1 Error: too
 * much mail from", Exim "421 Too many concurrent SMTP connections", Microsoft
 * "432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded" and "451
 * 4.7.500 Server busy", Google "450 4.2.1 Peak SMTP relay limit exceeded".
 */
const RATE_LIMIT_PATTERN = new RegExp(
  [
    'rate[ -]?limit',
    'throttl',
    'slow down',
    '\\btoo many\\b',
    '\\btoo much mail\\b',
    'too (fast|quickly)',
    'concurrent connection',
    'sender thread limit',
    'server busy',
    'max(imum)? (number of )?connections',
    'max(imum)? messages? per connection',
    'excessive volume',
    'sending rate',
    'message rate',
    'limit (exceeded|reached)',
    'exceeded [^.;]*limit',
  ].join('|'),
);

/** Too many connections, for a 421 or a dropped connection before the greeting. */
const TOO_MANY_CONNECTIONS_PATTERN =
  /too many (concurrent )?(smtp )?connections|concurrent connection|connection limit|max(imum)? (number of )?connections/;

/**
 * Gmail: "421 4.7.0 Try again later, closing connection." Google documents
 * it as denial-of-service protection for the SMTP relay at the HELO stage.
 */
const GOOGLE_HELO_DOS_PATTERN = /try again later, closing connection/;

/** RFC 3463 X.5.3 "too many recipients"; Google "452 4.5.3 Your message has too many recipients." */
const TOO_MANY_RECIPIENTS_PATTERN = /too many recipients|policy size per transaction/;

/**
 * Node.js TLS failures, such as "unable to verify the first certificate" or
 * OpenSSL's "ssl3_get_record:wrong version number".
 */
const TLS_FAILURE_PATTERN = /\btls\b|\bssl|certificate|handshake|wrong version number/;

/** Stages before MAIL FROM: a rejection here is about the session, never one message. */
const SESSION_STAGES: readonly ReplyStage[] = ['connect', 'greeting', 'ehlo', 'starttls', 'auth'];

// ---------------------------------------------------------------------------
// Default sentences per kind
// ---------------------------------------------------------------------------

const DEFAULT_EXPLANATION: Readonly<Record<ReplyKind, string>> = {
  success: 'The smart host accepted the message.',
  throttled:
    'The smart host asked the relay to slow down because it received too many connections or messages at once.',
  quota:
    'The smart host rejected more mail because your account reached its sending limit for now.',
  blacklisted:
    'The smart host rejected mail because your public IP address or domain is on a blocklist.',
  credentials: 'The smart host rejected the user name or password that the relay signs in with.',
  'needs-person':
    'The smart host rejected mail because of a setting in your account with the email provider.',
  permanent: 'The smart host permanently rejected this message.',
  transient: 'The smart host had a temporary problem, so the relay will try again.',
};

const DEFAULT_ADVICE: Readonly<Record<ReplyKind, string>> = {
  success: '',
  throttled: '',
  quota:
    'The relay keeps the mail and resumes sending when the limit resets, and if this happens often, ask the provider for a higher limit.',
  blacklisted:
    "Look your public IP address up on the list's site named in the reply (for example Spamhaus), request removal and contact your ISP, then press Resume to send again.",
  credentials:
    'Check the user name and password for this smart host in the settings and save them again, which resumes sending.',
  'needs-person':
    'Ask whoever manages your email account to fix the setting named in the reply at the provider, then press Resume.',
  permanent: 'Read the reason in the bounce message that the sender gets.',
  transient: '',
};

/** Kinds after which the relay pauses or slows the whole smart host, not just one message. */
const SMART_HOST_KINDS: ReadonlySet<ReplyKind> = new Set<ReplyKind>([
  'throttled',
  'quota',
  'blacklisted',
  'credentials',
  'needs-person',
]);

// ---------------------------------------------------------------------------
// Rule table, tried in order; the first match wins
// ---------------------------------------------------------------------------

/** Rules that hold mail until a person fixes the account at Microsoft or Amazon. */
const PROVIDER_SETTINGS_RULES: readonly ReplyRule[] = [
  {
    // Before the send-as and quota rules: the same 5.2.25x numbers, and the
    // text contains "throttled" although the cause needs a person.
    id: 'microsoft-continuous-error-block',
    kind: 'needs-person',
    matches: (reply) =>
      hasEnhancedDetailIn(reply, '5.2.', 251, 255) &&
      MICROSOFT_CONTINUOUS_ERROR_PATTERN.test(reply.text),
    explanation:
      'Microsoft 365 blocked this mailbox from sending because the same error repeated many times.',
    advice:
      'Fix the repeated problem named in the reply (full mailbox, Send As permission, license or recipients), then wait for Microsoft to lift the block, because its support cannot lift it early.',
  },
  {
    id: 'send-as-denied',
    kind: 'needs-person',
    matches: (reply) => hasEnhancedCode(reply, '5.7.60') || SEND_AS_DENIED_PATTERN.test(reply.text),
    explanation:
      'The smart host rejected mail from this sender address because the signed-in account may not send as that address.',
    advice:
      'Give the signed-in account "Send As" permission for the sender address at the provider, or send from the signed-in address, then press Resume.',
  },
  {
    // The sending mailbox, not a recipient's: Microsoft keeps a copy of every
    // SMTP AUTH message in Sent Items, and a 5.2.2 reply to MAIL FROM is
    // about the envelope sender.
    id: 'sender-mailbox-full',
    kind: 'needs-person',
    matches: (reply) =>
      SENDER_MAILBOX_FULL_PATTERN.test(reply.text) ||
      (reply.stage === 'mail' &&
        (hasEnhancedCode(reply, '5.2.2', '4.2.2') || MAILBOX_FULL_PATTERN.test(reply.text))),
    explanation:
      'The mailbox that the relay sends from is full, so the smart host rejects new mail.',
    advice:
      'Empty the Sent Items and other large folders of the sending mailbox, or raise its size limit, then press Resume.',
  },
  {
    id: 'relay-denied',
    kind: 'needs-person',
    matches: (reply) => isPermanentCode(reply) && RELAY_DENIED_PATTERN.test(reply.text),
    explanation: 'The smart host does not accept mail from this relay for forwarding.',
    advice:
      "Check that the relay signs in to the smart host, or that your public IP address is registered in the provider's relay settings, then press Resume.",
  },
  {
    id: 'ses-unverified-identity',
    kind: 'needs-person',
    matches: (reply) => SES_UNVERIFIED_IDENTITY_PATTERN.test(reply.text),
    explanation: 'Amazon SES rejected the message because an address or domain is not verified.',
    advice:
      'Verify the sender address or domain in the Amazon SES console for this region (in the sandbox, the recipients too), then press Resume.',
  },
  {
    id: 'not-authorized-to-send',
    kind: 'needs-person',
    matches: (reply) => NOT_AUTHORIZED_TO_PERFORM_PATTERN.test(reply.text),
    explanation: 'The smart host account is not allowed to send mail.',
    advice:
      'Give the sending user permission to send at the provider (for Amazon SES, ses:SendRawEmail in IAM), then press Resume.',
  },
  {
    id: 'account-restricted-for-spam',
    kind: 'needs-person',
    matches: (reply) =>
      isPermanentCode(reply) &&
      (hasEnhancedDetailIn(reply, '5.7.', 501, 503) || ACCOUNT_RESTRICTED_PATTERN.test(reply.text)),
    explanation: 'The provider blocked this account from sending because it suspects spam.',
    advice:
      "Check the account for a break-in and change its password, then ask the provider's support to unblock it and press Resume.",
  },
  {
    id: 'domain-authentication-failed',
    kind: 'needs-person',
    matches: (reply) =>
      hasEnhancedPrefix(reply, '5.7.', '4.7.') &&
      DOMAIN_AUTHENTICATION_PATTERN.test(reply.text) &&
      !UNUSUAL_RATE_PATTERN.test(reply.text),
    explanation:
      "Mail was rejected because your domain's SPF, DKIM, DMARC or reverse DNS records do not match this smart host.",
    advice:
      "Ask whoever manages your domain's DNS to fix its SPF, DKIM and DMARC records for this smart host, then press Resume.",
  },
];

const CREDENTIALS_RULES: readonly ReplyRule[] = [
  {
    id: 'smtp-auth-disabled',
    kind: 'credentials',
    matches: (reply) =>
      SMTP_AUTH_DISABLED_PATTERN.test(reply.text) || hasEnhancedCode(reply, '5.7.139'),
    explanation:
      'Microsoft 365 rejected the sign-in because SMTP sign-in is turned off for this mailbox or organization.',
    advice:
      'Ask your Microsoft 365 administrator to turn on Authenticated SMTP for this mailbox and check the security defaults, then save the settings again.',
  },
  {
    id: 'basic-auth-retired',
    kind: 'credentials',
    matches: (reply) =>
      hasEnhancedCode(reply, '5.7.30') && BASIC_AUTH_RETIRED_PATTERN.test(reply.text),
    explanation: 'Microsoft 365 no longer accepts a plain password for sending from this mailbox.',
    advice:
      'Switch this smart host to OAuth sign-in or to another provider, then save the settings again.',
  },
  {
    id: 'app-password-required',
    kind: 'credentials',
    matches: (reply) => APP_PASSWORD_PATTERN.test(reply.text),
    explanation: "The provider requires an app password instead of the account's normal password.",
    advice:
      "Create an app password in the account's security settings and enter it as this smart host's password.",
  },
  {
    id: 'web-login-required',
    kind: 'credentials',
    matches: (reply) => WEB_LOGIN_PATTERN.test(reply.text),
    explanation:
      'The provider blocked the sign-in until someone signs in to the account in a web browser.',
    advice:
      "Sign in to the account in a web browser and confirm the sign-in, then save this smart host's password again.",
  },
  {
    id: 'starttls-required',
    kind: 'credentials',
    matches: (reply) =>
      reply.code === 530 &&
      AUTH_REPLY_STAGES.includes(reply.stage) &&
      STARTTLS_REQUIRED_PATTERN.test(reply.text),
    explanation: 'The smart host rejected the sign-in because the connection is not encrypted.',
    advice: "Set this smart host's security to STARTTLS (usually port 587) and save the settings.",
  },
  {
    // RFC 4954 section 6: 530 5.7.0 is "Authentication required".
    id: 'authentication-required',
    kind: 'credentials',
    matches: (reply) =>
      hasEnhancedCode(reply, '5.7.57') ||
      (reply.code === 530 && AUTH_REPLY_STAGES.includes(reply.stage)) ||
      (isPermanentCode(reply) && AUTH_REQUIRED_PATTERN.test(reply.text)),
    explanation: 'The smart host requires the relay to sign in, and it has not signed in.',
    advice: 'Enter the user name and password for this smart host in the settings and save them.',
  },
  {
    // RFC 4954 section 6: 534 "authentication mechanism is too weak" and
    // 535 "authentication credentials invalid", at any stage.
    id: 'authentication-rejected',
    kind: 'credentials',
    matches: (reply) => reply.code === 534 || reply.code === 535,
  },
];

const QUOTA_RULES: readonly ReplyRule[] = [
  {
    id: 'microsoft-submission-quota',
    kind: 'quota',
    matches: (reply) => SUBMISSION_QUOTA_PATTERN.test(reply.text),
    explanation:
      'Microsoft 365 rejected more mail because this mailbox reached its limit of 10,000 recipients a day.',
  },
  {
    id: 'daily-limit',
    kind: 'quota',
    matches: (reply) =>
      (isTransientCode(reply) || isPermanentCode(reply)) && DAILY_LIMIT_PATTERN.test(reply.text),
    explanation:
      'The smart host rejected more mail because your account reached its daily sending limit.',
  },
  {
    id: 'sending-quota',
    kind: 'quota',
    matches: (reply) =>
      (isTransientCode(reply) || isPermanentCode(reply)) && SENDING_QUOTA_PATTERN.test(reply.text),
  },
  {
    // X.4.5 is "mail system congestion" in RFC 3463, but Gmail sends 5.4.5
    // for its daily limits. A per-second limit on these codes is a throttle.
    id: 'congestion-code-quota',
    kind: 'quota',
    matches: (reply) =>
      hasEnhancedCode(reply, '5.4.5', '4.4.5') &&
      QUOTA_OR_LIMIT_PATTERN.test(reply.text) &&
      !SHORT_WINDOW_RATE_PATTERN.test(reply.text),
  },
];

/**
 * One message's content, not the smart host: bounce it (5xx) or retry it
 * (4xx) and let the rest of the queue flow. These come before the blocklist
 * rules because Gmail's texts end with "the message has been blocked".
 */
const SPAM_CONTENT_RULES: readonly ReplyRule[] = [
  {
    id: 'spam-content',
    kind: 'permanent',
    matches: (reply) => isPermanentCode(reply) && SPAM_CONTENT_PATTERN.test(reply.text),
    explanation: 'The smart host rejected this message because its content looks like spam.',
    advice:
      "Check the message's links and attachments, because the sender gets a bounce message and can send a revised message.",
  },
  {
    id: 'spam-content-deferred',
    kind: 'transient',
    matches: (reply) => isTransientCode(reply) && SPAM_CONTENT_PATTERN.test(reply.text),
    explanation:
      'The smart host delayed this message because its content looks like spam, so the relay will try again later.',
  },
];

const UNUSUAL_RATE_RULE: ReplyRule = {
  // First in the table: the older Gmail text also says "temporarily
  // blocked", and the newer one names "your DKIM domain".
  id: 'gmail-unusual-rate',
  kind: 'throttled',
  matches: (reply) => isTransientCode(reply) && UNUSUAL_RATE_PATTERN.test(reply.text),
  explanation:
    'Gmail slowed down mail from your IP address because it saw an unusual amount of mail.',
  advice:
    'If this happens often, lower the sending rate for this smart host and check that every sender in the office is legitimate.',
};

const BLOCKLIST_RULES: readonly ReplyRule[] = [
  {
    // Microsoft: "5.7.606-649 Access denied, banned sending IP [IP1.IP2.IP3.IP4]".
    id: 'microsoft-banned-ip',
    kind: 'blacklisted',
    matches: (reply) => hasEnhancedDetailIn(reply, '5.7.', 606, 649),
    advice:
      "Request removal of your public IP address through Microsoft's delist portal named in the reply, then press Resume.",
  },
  {
    // Microsoft: "4.7.500-699 Access denied, please try again later" while it
    // evaluates suspicious activity from the IP address. Microsoft's "451
    // 4.7.500 Server busy" is in the same range and is left to the throttle
    // rules.
    id: 'microsoft-ip-restricted',
    kind: 'blacklisted',
    matches: (reply) =>
      hasEnhancedDetailIn(reply, '4.7.', 500, 699) && /access denied/.test(reply.text),
  },
  {
    // Microsoft: "5.7.708 Access denied, traffic not accepted from this IP".
    id: 'microsoft-ip-not-accepted',
    kind: 'blacklisted',
    matches: (reply) => /traffic not accepted from this ip/.test(reply.text),
  },
  {
    id: 'blocklist-wording',
    kind: 'blacklisted',
    matches: (reply) =>
      (hasEnhancedPrefix(reply, '5.7.', '4.7.') ||
        (reply.enhancedCode === undefined &&
          reply.code !== undefined &&
          BLOCKLIST_BARE_CODES.includes(reply.code))) &&
      BLOCKLIST_PATTERN.test(reply.text),
  },
];

const THROTTLE_RULES: readonly ReplyRule[] = [
  {
    // RFC 5321 section 4.5.3.1.10: after "452 too many recipients" the client
    // sends the remaining recipients in a new transaction, and it treats a
    // 552 with that meaning as temporary too. RFC 3463 X.5.3 says the same
    // for any reply code.
    id: 'too-many-recipients',
    kind: 'throttled',
    matches: (reply) =>
      hasEnhancedCode(reply, '4.5.3', '5.5.3') ||
      ((isTransientCode(reply) || reply.code === 552) &&
        TOO_MANY_RECIPIENTS_PATTERN.test(reply.text)),
    explanation:
      'The smart host accepted fewer recipients in one message than the relay offered, so the relay will send the rest separately.',
  },
  {
    id: 'rate-limit-wording',
    kind: 'throttled',
    matches: (reply) => isTransientCode(reply) && RATE_LIMIT_PATTERN.test(reply.text),
  },
  {
    id: 'google-helo-dos',
    kind: 'throttled',
    matches: (reply) =>
      reply.code === 421 &&
      (reply.stage === 'greeting' || reply.stage === 'ehlo') &&
      GOOGLE_HELO_DOS_PATTERN.test(reply.text),
  },
];

const FALLBACK_RULES: readonly ReplyRule[] = [
  {
    // A 5xx before MAIL FROM is about the session, not a message: bouncing
    // every queued message for it would lose mail that another setting or
    // another day would deliver.
    id: 'session-refused',
    kind: 'needs-person',
    matches: (reply) => isPermanentCode(reply) && SESSION_STAGES.includes(reply.stage),
    explanation: 'The smart host rejected the connection before any message was sent.',
    advice:
      "Check the smart host's name, port and security settings and read the reason in the reply, then press Resume.",
  },
  {
    id: 'bad-recipient-address',
    kind: 'permanent',
    matches: (reply) =>
      isPermanentCode(reply) && reply.stage === 'rcpt' && hasEnhancedPrefix(reply, '5.1.'),
    explanation: 'The smart host reports that this recipient address does not exist or is invalid.',
    advice: 'Check the address for typos, because the sender gets a bounce message for it.',
  },
  {
    id: 'recipient-rejected',
    kind: 'permanent',
    matches: (reply) => isPermanentCode(reply) && reply.stage === 'rcpt',
    explanation: 'The smart host permanently rejected this recipient.',
  },
  {
    id: 'message-rejected',
    kind: 'permanent',
    matches: isPermanentCode,
  },
  {
    id: 'temporary-failure',
    kind: 'transient',
    matches: isTransientCode,
  },
];

/**
 * All rules in the order they are tried: Gmail's unusual-rate throttle,
 * settings problems that a person must fix, rejected credentials, quotas,
 * one spam message, blocklists, other throttles, and last the generic 5xx
 * and 4xx rules.
 */
const REPLY_RULES: readonly ReplyRule[] = [
  UNUSUAL_RATE_RULE,
  ...PROVIDER_SETTINGS_RULES,
  ...CREDENTIALS_RULES,
  ...QUOTA_RULES,
  ...SPAM_CONTENT_RULES,
  ...BLOCKLIST_RULES,
  ...THROTTLE_RULES,
  ...FALLBACK_RULES,
];

// ---------------------------------------------------------------------------
// Classification
// ---------------------------------------------------------------------------

/** Removes continuation-line reply codes ("\n550-"), collapses whitespace and lowercases. */
function normalizeReplyText(text: string): string {
  return text
    .replace(/\r?\n\s*\d{3}[ -]/g, ' ')
    .replace(/\s+/g, ' ')
    .trim()
    .toLowerCase();
}

function buildClassification(
  reply: ReplyFacts,
  kind: ReplyKind,
  explanation: string | undefined,
  advice: string | undefined,
): ReplyClassification {
  return {
    kind,
    code: reply.code,
    enhancedCode: reply.enhancedCode,
    explanation: explanation ?? DEFAULT_EXPLANATION[kind],
    advice: advice ?? DEFAULT_ADVICE[kind],
    affectsSmartHost: SMART_HOST_KINDS.has(kind),
  };
}

/**
 * Classifies a failure without a reply code: a refused (ECONNREFUSED) or dropped
 * connection, a timeout or a TLS error. Only a hint of a connection limit
 * makes it a throttle; everything else is retried.
 */
function classifyNetworkFault(reply: ReplyFacts): ReplyClassification {
  if (TOO_MANY_CONNECTIONS_PATTERN.test(reply.text)) {
    return buildClassification(reply, 'throttled', undefined, undefined);
  }

  if (reply.stage === 'starttls' || TLS_FAILURE_PATTERN.test(reply.text)) {
    return buildClassification(
      reply,
      'transient',
      'The encrypted (TLS) connection to the smart host failed, so the relay will try again.',
      "If this keeps happening, check the smart host's name and security setting.",
    );
  }

  return buildClassification(
    reply,
    'transient',
    'The relay could not reach the smart host or lost the connection, so it will try again.',
    undefined,
  );
}

/** Classifies an SMTP reply or network fault; see the file header for the rule order. */
export function classifyReply(reply: SmtpReply): ReplyClassification {
  const facts: ReplyFacts = {
    code: reply.code,
    enhancedCode: parseEnhancedCode(reply.text),
    text: normalizeReplyText(reply.text),
    stage: reply.stage,
  };

  if (facts.code === undefined) {
    return classifyNetworkFault(facts);
  }

  if (facts.code >= 200 && facts.code <= 299) {
    return buildClassification(facts, 'success', undefined, undefined);
  }

  for (const rule of REPLY_RULES) {
    if (rule.matches(facts)) {
      return buildClassification(facts, rule.kind, rule.explanation, rule.advice);
    }
  }

  // 1xx and 3xx are not final replies (RFC 5321 section 4.2.1), and other
  // numbers are not SMTP codes at all; retrying is the safe answer.
  return buildClassification(
    facts,
    'transient',
    'The smart host sent a reply that the relay did not expect, so it will try again.',
    undefined,
  );
}
