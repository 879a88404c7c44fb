import { describe, expect, it } from 'vitest';

import { classifyReply, parseEnhancedCode } from '../core/reply-classifier.ts';
import type { ReplyKind, ReplyStage } from '../core/reply-classifier.ts';

// Sources of the reply texts. Texts are copied from the sources; placeholders
// are the sources' own or documentation values (192.0.2.x, example.com). A
// source ending in "(assembled)" gave the wording without the reply code or
// line breaks, which were added here.
const GOOGLE_SMTP_ERRORS = 'https://support.google.com/a/answer/3726730';
const SISIMAI_GOOGLE = 'github.com/sisimai/go-sisimai rhost/for-google.go';
const SISIMAI_MICROSOFT = 'github.com/sisimai/go-sisimai rhost/for-microsoft.go';
const FIELD_MANUAL = 'github.com/ActiveCampaign/smtp-field-manual data/codes';
const MICROSOFT_SMTP_SUBMISSION =
  'github.com/MicrosoftDocs/SupportArticles-docs Exchange/ExchangeOnline/send-emails/smtp-submission-improvements.md';
const MICROSOFT_CONTINUOUS_ERRORS =
  'github.com/x13-me/OfficeDocs-Exchange mail-flow-best-practices/continuous-error-throttling-smtp-auth-submissions.md';
const MICROSOFT_BLOG_2018 =
  'https://techcommunity.microsoft.com/t5/exchange-team-blog/changes-coming-to-the-smtp-authenticated-submission-client/ba-p/607825';
const SES_SMTP_CODES =
  'github.com/awsdocs/amazon-ses-developer-guide doc-source/smtp-response-codes.md';
const SES_QUOTA_ERRORS =
  'https://docs.aws.amazon.com/ses/latest/dg/manage-sending-quotas-errors.html';
const EMAILIT_LIMITS = 'https://emailit.com/docs/limits.md';
const NODEMAILER = 'nodemailer 10.6.1 dist/esm/smtp-connection/index.js';

interface ReplyCase {
  readonly name: string;
  readonly code: number | undefined;
  readonly stage: ReplyStage;
  readonly text: string;
  readonly kind: ReplyKind;
  readonly source: string;
}

const REPLY_CASES: readonly ReplyCase[] = [
  // --- success ---
  {
    name: 'SES accepted message',
    code: 250,
    stage: 'data',
    text: '250 Ok 0100018c1f5a2b3c-4d5e6f70-8a9b-4cde-8f01-23456789abcd-000000',
    kind: 'success',
    source: `${SES_SMTP_CODES} (assembled)`,
  },
  {
    name: 'Gmail accepted message',
    code: 250,
    stage: 'data',
    text: '250 2.0.0 OK 1376056636 i3si9508927obz.16 - gsmtp',
    kind: 'success',
    source: 'github.com/sendgrid/docs common_smtp_server_bounce_responses.md',
  },

  // --- throttled ---
  {
    name: 'Microsoft sender thread limit',
    code: 432,
    stage: 'mail',
    text: '432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded',
    kind: 'throttled',
    source: MICROSOFT_SMTP_SUBMISSION,
  },
  {
    name: 'Microsoft concurrent connection limit',
    code: 432,
    stage: 'mail',
    text: '432 4.3.2 Concurrent connections limit exceeded.',
    kind: 'throttled',
    source: MICROSOFT_BLOG_2018,
  },
  {
    name: 'Microsoft server busy 4.7.500',
    code: 451,
    stage: 'rcpt',
    text: '451 4.7.500 Server busy. Please try again later from [192.0.2.2]. (AS761)',
    kind: 'throttled',
    source: SISIMAI_MICROSOFT,
  },
  {
    name: 'Microsoft connections per forest',
    code: 421,
    stage: 'greeting',
    text: '421 4.3.2 The maximum number of concurrent connections per resource forest has exceeded a limit, closing transmission channel. example.com. PRX8 [example.com]',
    kind: 'throttled',
    source: FIELD_MANUAL,
  },
  {
    name: 'Gmail 4.7.28 unusual rate',
    code: 421,
    stage: 'data',
    text: '421 4.7.28 [x.xx.xx.xx] Our system has detected an unusual rate of unsolicited mail originating from your IP address. To protect our users from spam, mail sent from your IP address has been temporarily rate limited. Please visit https://support.google.com/mail/?p=UnsolicitedRateLimitError to review our Bulk Email Senders Guidelines. - gsmtp',
    kind: 'throttled',
    source: FIELD_MANUAL,
  },
  {
    name: 'Gmail 4.7.0 unusual rate blocked',
    code: 421,
    stage: 'data',
    text: '421 4.7.0 Our system has detected an unusual rate of unsolicited mail originating from your IP address. To protect our users from spam, mail sent from your IP address has been temporarily blocked.',
    kind: 'throttled',
    source: GOOGLE_SMTP_ERRORS,
  },
  {
    name: 'Gmail 4.7.28 DKIM domain rate',
    code: 421,
    stage: 'data',
    text: '421-4.7.28 Gmail has detected an unusual rate of mail originating from your DKIM domain example.org\r\n421 4.7.28 To protect our users from spam, mail has been temporarily rate limited.',
    kind: 'throttled',
    source: `${SISIMAI_GOOGLE} (assembled)`,
  },
  {
    name: 'Gmail server busy',
    code: 421,
    stage: 'mail',
    text: '421 4.4.5 Server busy, try again later.',
    kind: 'throttled',
    source: GOOGLE_SMTP_ERRORS,
  },
  {
    name: 'Gmail relay HELO protection',
    code: 421,
    stage: 'ehlo',
    text: '421 4.7.0 Try again later, closing connection.',
    kind: 'throttled',
    source: GOOGLE_SMTP_ERRORS,
  },
  {
    name: 'Google relay peak limit',
    code: 450,
    stage: 'mail',
    text: '450 4.2.1 Peak SMTP relay limit exceeded for customer. This is a temporary error. For more information on SMTP relay limits, please contact your administrator or visit https://support.google.com/a/answer/6140680',
    kind: 'throttled',
    source: SISIMAI_GOOGLE,
  },
  {
    name: 'Gmail too many recipients',
    code: 452,
    stage: 'rcpt',
    text: "452 4.5.3 Your message has too many recipients. For more information regarding Google's sending limits, visit https://support.google.com/mail/answer/6592",
    kind: 'throttled',
    source: SISIMAI_GOOGLE,
  },
  {
    name: 'Gmail too many login attempts',
    code: 454,
    stage: 'auth',
    text: '454 4.7.0 Too many login attempts, please try again later. For more information, go to Add Gmail to another email client. https://support.google.com/mail/answer/7126229',
    kind: 'throttled',
    source: SISIMAI_GOOGLE,
  },
  {
    name: 'SES maximum sending rate',
    code: 454,
    stage: 'data',
    text: '454 Throttling failure: Maximum sending rate exceeded',
    kind: 'throttled',
    source: SES_QUOTA_ERRORS,
  },
  {
    name: 'SES too many connections',
    code: 421,
    stage: 'greeting',
    text: '421 Too many concurrent SMTP connections',
    kind: 'throttled',
    source: SES_SMTP_CODES,
  },
  {
    name: 'Exim too many connections',
    code: 421,
    stage: 'greeting',
    text: '421 mail.example.com: Too many concurrent SMTP connections; please try again later',
    kind: 'throttled',
    source: 'Exim smtp_in.c format string, host name filled in',
  },
  {
    name: 'Postfix too many connections',
    code: 421,
    stage: 'greeting',
    text: '421 4.7.0 smtp.corp.redhat.com Error: too many connections from 10.0.115.152',
    kind: 'throttled',
    source: 'Postfix smtpd anvil limit, quoted in a public Python project',
  },
  {
    name: 'Postfix too much mail',
    code: 450,
    stage: 'mail',
    text: '450 4.7.1 Error: too much mail from 10.145.28.114',
    kind: 'throttled',
    source: 'Postfix smtpd.c',
  },
  {
    name: 'hosting mailbox rate limit',
    code: 451,
    stage: 'mail',
    text: '451 4.7.1 Mailbox rate limit reached, please try again later',
    kind: 'throttled',
    source: 'shared hosting reply quoted in a public project',
  },
  {
    name: 'Emailit per-second limit',
    code: 452,
    stage: 'mail',
    text: '452 4.4.5 Messages per second limit exceeded',
    kind: 'throttled',
    source: EMAILIT_LIMITS,
  },
  {
    name: 'Verizon messages per connection',
    code: 421,
    stage: 'mail',
    text: 'smtp;421 Max message per connection reached, closing transmission channel',
    kind: 'throttled',
    source: FIELD_MANUAL,
  },

  // --- quota ---
  {
    name: 'Gmail daily user sending limit',
    code: 550,
    stage: 'data',
    text: '550-5.4.5 Daily user sending quota exceeded.\r\n550 5.4.5 https://support.google.com/mail/?p=DailyLimitExceeded',
    kind: 'quota',
    source:
      'https://www.simplefastwebsites.com/errors/email/smtp-550-5-4-5-daily-sending-quota-exceeded-gmail/',
  },
  {
    name: 'Gmail daily sending quota',
    code: 550,
    stage: 'mail',
    text: '550 5.4.5 Daily sending quota exceeded.',
    kind: 'quota',
    source: SISIMAI_GOOGLE,
  },
  {
    name: 'Google relay daily user limit',
    code: 550,
    stage: 'mail',
    text: '550 5.4.5 Daily SMTP relay limit exceeded for user. For more information on SMTP relay sending limits please contact your administrator or visit SMTP relay service error messages.',
    kind: 'quota',
    source: SISIMAI_GOOGLE,
  },
  {
    name: 'Google relay daily customer limit',
    code: 550,
    stage: 'mail',
    text: '550 5.7.1 Daily SMTP relay limit exceeded for customer',
    kind: 'quota',
    source: SISIMAI_GOOGLE,
  },
  {
    name: 'Microsoft submission quota',
    code: 554,
    stage: 'data',
    text: '554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException',
    kind: 'quota',
    source: MICROSOFT_SMTP_SUBMISSION,
  },
  {
    name: 'Microsoft daily recipient limit',
    code: 550,
    stage: 'rcpt',
    text: '550 5.1.90 Reached your daily limit for message recipients',
    kind: 'quota',
    source: `${SISIMAI_MICROSOFT} (assembled)`,
  },
  {
    name: 'SES daily message quota',
    code: 454,
    stage: 'data',
    text: '454 Throttling failure: Daily message quota exceeded.',
    kind: 'quota',
    source: 'github.com/EFForg/action-center-platform issue 874',
  },
  {
    name: 'Emailit daily limit on 4.5.3',
    code: 452,
    stage: 'mail',
    text: '452 4.5.3 Daily message limit exceeded',
    kind: 'quota',
    source: EMAILIT_LIMITS,
  },
  {
    name: 'Plesk outgoing message limit',
    code: 554,
    stage: 'data',
    text: '554 5.7.0 Your message could not be sent. The limit on the number of allowed outgoing messages was exceeded. Try again later.',
    kind: 'quota',
    source: 'github.com/zotonic/zotonic issue 3508',
  },
  {
    name: 'outMail quota on 5.7.1',
    code: 554,
    stage: 'rcpt',
    text: '554 5.7.1 <email@example.com>: Recipient address rejected: You have exceeded your Outmail quota.',
    kind: 'quota',
    source: 'https://www.prolateral.com/help/kb/smtp/530-what-does-smtp-554-571-mean.html',
  },

  // --- blacklisted ---
  {
    name: 'Spamhaus ZEN via Postfix',
    code: 554,
    stage: 'rcpt',
    text: '554 5.7.1 Service unavailable; Client host [195.64.178.81] blocked using zen.spamhaus.org; http://www.spamhaus.org/query/bl?ip=195.64.178.81',
    kind: 'blacklisted',
    source: 'Postfix reject log quoted in a public repository',
  },
  {
    name: 'Spamhaus without enhanced code',
    code: 554,
    stage: 'greeting',
    text: '554 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org',
    kind: 'blacklisted',
    source: 'public test fixture for a DNSBL parser',
  },
  {
    name: 'Barracuda Reputation',
    code: 554,
    stage: 'rcpt',
    text: '554 Service unavailable; Client host [xxxx.ro] blocked using Barracuda Reputation; http://www.barracudanetworks.com/reputation/?r=1&ip=',
    kind: 'blacklisted',
    source: 'Postfix deferral log quoted in a public repository',
  },
  {
    name: 'SpamCop listing',
    code: 554,
    stage: 'rcpt',
    text: '554 5.7.1 Service unavailable; Client host [93.91.148.34] blocked using bl.spamcop.net; Blocked - see https://www.spamcop.net/bl.shtml?93.91.148.34',
    kind: 'blacklisted',
    source: 'Postfix reject log quoted in a public repository',
  },
  {
    name: 'Microsoft S3150 block list',
    code: 550,
    stage: 'rcpt',
    text: "550 5.7.1 Unfortunately, messages from [10.0.2.5] weren't sent. Please contact your Internet service provider since part of their network is on our block list (S3150).",
    kind: 'blacklisted',
    source: SISIMAI_MICROSOFT,
  },
  {
    name: 'Microsoft banned sending IP',
    code: 550,
    stage: 'greeting',
    text: '550 5.7.606 Access denied, banned sending IP [192.0.2.10]',
    kind: 'blacklisted',
    source: `${SISIMAI_MICROSOFT} (assembled)`,
  },
  {
    name: 'Microsoft IP reputation rate limit',
    code: 451,
    stage: 'mail',
    text: '451 4.7.650 The mail server [192.0.2.5] has been temporarily rate limited due to IP reputation. For e-mail delivery information, see https://postmaster.live.com (S775)',
    kind: 'blacklisted',
    source: SISIMAI_MICROSOFT,
  },
  {
    name: 'Outlook Spamhaus MAIL FROM domain',
    code: 550,
    stage: 'mail',
    text: 'smtp;550 5.7.1 Service unavailable, MailFrom domain is listed in Spamhaus. To request removal from this list see https://www.spamhaus.org/query/lookup/ (S8002) [#.eop-nam02.prod.protection.outlook.com]',
    kind: 'blacklisted',
    source: FIELD_MANUAL,
  },
  {
    name: 'Gmail low domain reputation',
    code: 421,
    stage: 'data',
    text: 'smtp;421 4.7.0 [x.xx.xx.xx] Our system has detected that this message is suspicious due to the very low reputation of the sending domain. To best protect our users from spam, the message has been blocked. Please visit https://support.google.com/mail/answer/188131 for more information. - gsmtp',
    kind: 'blacklisted',
    source: FIELD_MANUAL,
  },
  {
    name: 'Comcast poor MTA reputation',
    code: 554,
    stage: 'greeting',
    text: "554 Your access to this mail system has been rejected due to the sending MTA's poor reputation.",
    kind: 'blacklisted',
    source: 'Comcast reply listed in a public PowerMTA backoff configuration (assembled)',
  },

  // --- credentials ---
  {
    name: 'Gmail bad credentials',
    code: 535,
    stage: 'auth',
    text: '535-5.7.8 Username and Password not accepted. Learn more at\n5.7.8  https://support.google.com/mail/?p=BadCredentials c8sm5954072pfi.117 - gsmtp',
    kind: 'credentials',
    source: 'Gmail reply quoted in a public repository',
  },
  {
    name: 'Microsoft authentication unsuccessful',
    code: 535,
    stage: 'auth',
    text: '535 5.7.3 Authentication unsuccessful',
    kind: 'credentials',
    source: 'https://mytechblaze.com/?p=247',
  },
  {
    name: 'Microsoft SMTP AUTH disabled',
    code: 535,
    stage: 'auth',
    text: '535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant.',
    kind: 'credentials',
    source: 'https://docs.bookyourpto.com/features/smtp-troubleshoot',
  },
  {
    name: 'Microsoft basic auth retired',
    code: 550,
    stage: 'auth',
    text: '550 5.7.30 Basic authentication is not supported for Client Submission',
    kind: 'credentials',
    source: 'Microsoft 365 reply quoted in several public repositories',
  },
  {
    name: 'Microsoft client not authenticated',
    code: 530,
    stage: 'mail',
    text: '530 5.7.57 SMTP; Client was not authenticated to send anonymous mail during MAIL FROM [AM6PR0732BE0065.eurprd07.prod.outlook.com]',
    kind: 'credentials',
    source: 'https://www.easy365manager.com/office-365-ndr-error-codes/',
  },
  {
    name: 'Gmail app password required',
    code: 534,
    stage: 'auth',
    text: '534 5.7.9 Application-specific password required. Learn more at\n5.7.9  https://support.google.com/mail/?p=InvalidSecondFactor s141sm5130851pfs.13 - gsmtp',
    kind: 'credentials',
    source: 'Gmail reply quoted in a public repository',
  },
  {
    name: 'Gmail web login required',
    code: 534,
    stage: 'auth',
    text: '534-5.7.14 Please log in via your web browser and then try again.\r\n534-5.7.14  Learn more at\r\n534 5.7.14  https://support.google.com/mail/answer/78754 z19sm5633318wrg.28 - gsmtp',
    kind: 'credentials',
    source: 'Gmail reply quoted in a public repository',
  },
  {
    name: 'Gmail STARTTLS first',
    code: 530,
    stage: 'mail',
    text: '530 5.7.0 Must issue a STARTTLS command first. y129sm721561qka.33 - gsmtp',
    kind: 'credentials',
    source: 'Jenkins log quoted in gist.github.com/farooqyousuf',
  },
  {
    name: 'SES authentication required',
    code: 530,
    stage: 'mail',
    text: '530 Authentication required',
    kind: 'credentials',
    source: SES_SMTP_CODES,
  },
  {
    name: 'SES credentials invalid',
    code: 535,
    stage: 'auth',
    text: '535 Authentication Credentials Invalid',
    kind: 'credentials',
    source: SES_SMTP_CODES,
  },
  {
    name: 'SES account not subscribed',
    code: 535,
    stage: 'auth',
    text: '535 Account not subscribed to SES',
    kind: 'credentials',
    source: SES_SMTP_CODES,
  },

  // --- needs-person ---
  {
    name: 'Microsoft send as permission',
    code: 550,
    stage: 'mail',
    text: '550 5.7.60 SMTP; Client does not have permissions to send as this sender',
    kind: 'needs-person',
    source: 'Microsoft 365 reply quoted in several public repositories',
  },
  {
    name: 'Microsoft SendAsDenied 5.2.252',
    code: 554,
    stage: 'data',
    text: '554 5.2.252 SendAsDenied; delightgx46@outlook.com not allowed to send as security@sfb.com; STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied; Failed to process message due to a permanent exception with message [BeginDiagnosticData]Cannot submit message. 0.35250:1F009983, 1.36674:0A000000',
    kind: 'needs-person',
    source: 'github.com/gophish/gophish issue 2900',
  },
  {
    name: 'Microsoft SendAsDeniedException 5.2.0',
    code: 554,
    stage: 'data',
    text: '554 5.2.0 STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied; Failed to process message due to a permanent exception with message Cannot submit message.',
    kind: 'needs-person',
    source: 'github.com/MicrosoftDocs/OfficeDocs-Support issue 1187',
  },
  {
    name: 'Microsoft continuous send as errors',
    code: 550,
    stage: 'mail',
    text: '550 5.2.252 Sender throttled due to continuous send as denied errors.',
    kind: 'needs-person',
    source: MICROSOFT_CONTINUOUS_ERRORS,
  },
  {
    name: 'Microsoft continuous mailbox full',
    code: 550,
    stage: 'mail',
    text: '550 5.2.251 Sender throttled due to continuous mailbox full errors.',
    kind: 'needs-person',
    source: MICROSOFT_CONTINUOUS_ERRORS,
  },
  {
    name: 'Microsoft continuous too many recipients',
    code: 550,
    stage: 'mail',
    text: '550 5.2.254 Sender throttled due to continuous too many recipients errors.',
    kind: 'needs-person',
    source: MICROSOFT_CONTINUOUS_ERRORS,
  },
  {
    name: 'Microsoft sending mailbox full',
    code: 554,
    stage: 'data',
    text: '554 5.2.2 mailbox full; STOREDRV.Submission.Exception:QuotaExceededException.MapiExceptionShutoffQuotaExceeded',
    kind: 'needs-person',
    source: MICROSOFT_SMTP_SUBMISSION,
  },
  {
    name: 'relaying denied',
    code: 550,
    stage: 'rcpt',
    text: 'smtp;550 5.7.1 Relaying denied',
    kind: 'needs-person',
    source: FIELD_MANUAL,
  },
  {
    name: 'Google relay IP not registered',
    code: 550,
    stage: 'mail',
    text: "550 5.7.0 Mail relay denied [192.0.2.7]. Invalid credentials for relay for one of the domains in: example.com (as obtained from HELO and MAIL FROM). Email is being sent from a domain or IP address which isn't registered in your Workspace account.",
    kind: 'needs-person',
    source: SISIMAI_GOOGLE,
  },
  {
    name: 'SES unverified address',
    code: 554,
    stage: 'data',
    text: '554 Message rejected: Email address is not verified. The following identities failed the check in region US-EAST-1: sender@example.com',
    kind: 'needs-person',
    source: SES_SMTP_CODES,
  },
  {
    name: 'SES IAM not authorized',
    code: 554,
    stage: 'data',
    text: '554 Access denied: User arn:aws:iam::123456789012:user/smtp is not authorized to perform ses:SendRawEmail on resource arn:aws:ses:us-east-1:123456789012:identity/example.com',
    kind: 'needs-person',
    source: SES_SMTP_CODES,
  },
  {
    name: 'Gmail DMARC rejection',
    code: 550,
    stage: 'data',
    text: "550 5.7.26 Unauthenticated email from example.com is not accepted due to domain's DMARC policy. Please contact the administrator of example.com domain.",
    kind: 'needs-person',
    source: SISIMAI_GOOGLE,
  },
  {
    name: 'unknown 5xx at greeting',
    code: 554,
    stage: 'greeting',
    text: '554 No SMTP service here',
    kind: 'needs-person',
    source: 'RFC 5321 section 4.2.3',
  },

  // --- permanent ---
  {
    name: 'Gmail unknown recipient',
    code: 550,
    stage: 'rcpt',
    text: "550-5.1.1 The email account that you tried to reach does not exist. Please try\r\n550-5.1.1 double-checking the recipient's email address for typos or\r\n550 5.1.1 unnecessary spaces. https://support.google.com/mail/?p=NoSuchUser - gsmtp",
    kind: 'permanent',
    source: `${FIELD_MANUAL} (assembled)`,
  },
  {
    name: 'Proofpoint unknown user',
    code: 550,
    stage: 'rcpt',
    text: 'smtp;550 5.1.1 <email@example>: Recipient address rejected: User unknown',
    kind: 'permanent',
    source: FIELD_MANUAL,
  },
  {
    name: 'recipient mailbox full',
    code: 552,
    stage: 'rcpt',
    text: '552 5.2.2 The email account that you tried to reach is over quota.',
    kind: 'permanent',
    source: `${SISIMAI_GOOGLE} (assembled)`,
  },
  {
    name: 'message too large',
    code: 552,
    stage: 'data',
    text: "552 5.3.4 Your message exceeded Google's message size limits. For more information, visit https://support.google.com/mail/answer/6584",
    kind: 'permanent',
    source: SISIMAI_GOOGLE,
  },
  {
    name: 'Gmail likely spam content',
    code: 550,
    stage: 'data',
    text: '550-5.7.1 Our system has detected that this message is likely unsolicited mail. To\r\n550-5.7.1 reduce the amount of spam sent to Gmail, this message has been blocked.',
    kind: 'permanent',
    source: `${SISIMAI_GOOGLE} (assembled)`,
  },

  // --- transient ---
  {
    name: 'Gmail temporary system problem',
    code: 421,
    stage: 'data',
    text: '421 4.7.0 Temporary System Problem. Try again later.',
    kind: 'transient',
    source: GOOGLE_SMTP_ERRORS,
  },
  {
    name: 'insufficient storage',
    code: 452,
    stage: 'mail',
    text: '452 Requested action not taken: insufficient system storage',
    kind: 'transient',
    source: 'github.com/kura/blackhole docs/source/response-codes.rst',
  },
  {
    name: 'recipient mailbox temporarily full',
    code: 452,
    stage: 'rcpt',
    text: '452 4.2.2 The email account that you tried to reach is over quota. Please direct the recipient to Clear Google Drive space & increase storage.',
    kind: 'transient',
    source: SISIMAI_GOOGLE,
  },
  {
    name: 'SES temporary authentication failure',
    code: 454,
    stage: 'auth',
    text: '454 Temporary authentication failure',
    kind: 'transient',
    source: SES_SMTP_CODES,
  },
  {
    name: 'Gmail temporary authentication problem',
    code: 454,
    stage: 'auth',
    text: '454 4.7.0 Cannot authenticate due to a temporary system problem. Try again later.',
    kind: 'transient',
    source: SISIMAI_GOOGLE,
  },
  {
    name: 'SES timeout waiting for data',
    code: 451,
    stage: 'data',
    text: '451 Timeout waiting for data from client',
    kind: 'transient',
    source: SES_SMTP_CODES,
  },
  {
    name: 'Microsoft service not available',
    code: 421,
    stage: 'greeting',
    text: 'smtp;421 4.3.2 Service not available [outlook.com]',
    kind: 'transient',
    source: FIELD_MANUAL,
  },
  {
    name: 'connection refused',
    code: undefined,
    stage: 'connect',
    text: 'connect ECONNREFUSED 127.0.0.1:587',
    kind: 'transient',
    source: 'Node.js net error message',
  },
  {
    name: 'greeting timeout',
    code: undefined,
    stage: 'greeting',
    text: 'Greeting never received',
    kind: 'transient',
    source: NODEMAILER,
  },
  {
    name: 'connection timeout',
    code: undefined,
    stage: 'network',
    text: 'Connection timeout',
    kind: 'transient',
    source: NODEMAILER,
  },
  {
    name: 'TLS certificate failure',
    code: undefined,
    stage: 'starttls',
    text: 'unable to verify the first certificate',
    kind: 'transient',
    source: 'Node.js tls error message',
  },
];

describe('classifyReply with real replies', () => {
  it.each(REPLY_CASES)('$name → $kind', (replyCase) => {
    const result = classifyReply({
      code: replyCase.code,
      text: replyCase.text,
      stage: replyCase.stage,
    });

    expect(result.kind, `${replyCase.text} (source: ${replyCase.source})`).toBe(replyCase.kind);
    expect(result.code).toBe(replyCase.code);
    expect(result.explanation).not.toBe('');
  });
});

describe('classifyReply rule order', () => {
  it('never bounces a 5xx quota reply', () => {
    const result = classifyReply({
      code: 550,
      text: '550 5.4.5 Daily user sending limit exceeded.',
      stage: 'rcpt',
    });

    expect(result.kind).toBe('quota');
    expect(result.affectsSmartHost).toBe(true);
  });

  it('prefers SES daily quota over throttling', () => {
    const daily = classifyReply({
      code: 454,
      text: '454 Throttling failure: Daily message quota exceeded.',
      stage: 'data',
    });
    const rate = classifyReply({
      code: 454,
      text: '454 Throttling failure: Maximum sending rate exceeded.',
      stage: 'data',
    });

    expect(daily.kind).toBe('quota');
    expect(rate.kind).toBe('throttled');
  });

  it('tells Microsoft 5.2.252 meanings apart', () => {
    const block = classifyReply({
      code: 550,
      text: '550 5.2.252 Sender throttled due to continuous send as denied errors.',
      stage: 'mail',
    });
    const sendAs = classifyReply({
      code: 554,
      text: '554 5.2.252 SendAsDenied; a@example.com not allowed to send as b@example.com',
      stage: 'data',
    });

    expect(block.kind).toBe('needs-person');
    expect(sendAs.kind).toBe('needs-person');
    expect(block.advice).not.toBe(sendAs.advice);
  });

  it('treats 535 at AUTH as credentials', () => {
    const result = classifyReply({
      code: 535,
      text: '535 Incorrect authentication data',
      stage: 'auth',
    });

    expect(result.kind).toBe('credentials');
  });

  it('keeps 5.7.1 relaying denied off the blocklist', () => {
    const result = classifyReply({
      code: 554,
      text: '554 5.7.1 <a@example.com>: Relay access denied',
      stage: 'rcpt',
    });

    expect(result.kind).toBe('needs-person');
  });

  it('reads sender mailbox full at MAIL FROM', () => {
    const atMail = classifyReply({ code: 552, text: '552 5.2.2 Mailbox full', stage: 'mail' });
    const atRcpt = classifyReply({ code: 552, text: '552 5.2.2 Mailbox full', stage: 'rcpt' });

    expect(atMail.kind).toBe('needs-person');
    expect(atRcpt.kind).toBe('permanent');
  });

  it('throttles refused connection with limit hint', () => {
    const result = classifyReply({
      code: undefined,
      text: 'Connection closed: 421 Too many concurrent SMTP connections',
      stage: 'connect',
    });

    expect(result.kind).toBe('throttled');
  });

  it('splits on 552 too many recipients', () => {
    const result = classifyReply({ code: 552, text: '552 Too many recipients', stage: 'rcpt' });

    expect(result.kind).toBe('throttled');
  });

  it('retries unexpected reply codes', () => {
    const result = classifyReply({ code: 354, text: '354 Start mail input', stage: 'data' });

    expect(result.kind).toBe('transient');
  });
});

describe('classifyReply result fields', () => {
  const expectedScope: Readonly<Record<ReplyKind, boolean>> = {
    success: false,
    throttled: true,
    quota: true,
    blacklisted: true,
    credentials: true,
    'needs-person': true,
    permanent: false,
    transient: false,
  };

  it.each(REPLY_CASES)('$name scope', (replyCase) => {
    const result = classifyReply(replyCase);

    expect(result.affectsSmartHost).toBe(expectedScope[replyCase.kind]);
  });

  it.each(REPLY_CASES)('$name advice', (replyCase) => {
    const result = classifyReply(replyCase);
    const needsAction = ['blacklisted', 'credentials', 'needs-person', 'permanent'].includes(
      replyCase.kind,
    );

    if (needsAction) {
      expect(result.advice).not.toBe('');
    }
    if (replyCase.kind === 'success') {
      expect(result.advice).toBe('');
    }
  });

  it('returns the parsed enhanced code', () => {
    const result = classifyReply({ code: 550, text: '550 5.1.1 User unknown', stage: 'rcpt' });

    expect(result.enhancedCode).toBe('5.1.1');
  });

  it('explains blocklist in plain words', () => {
    const result = classifyReply({
      code: 554,
      text: '554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org',
      stage: 'rcpt',
    });

    expect(result.explanation).toMatch(/blocklist/);
    expect(result.advice).toMatch(/Spamhaus/);
  });
});

describe('parseEnhancedCode', () => {
  it.each([
    ['550 5.1.1 User unknown', '5.1.1'],
    ['550-5.7.1 [192.0.2.5] Our system has detected', '5.7.1'],
    ['smtp;554 5.2.122 The recipient has exceeded their limit', '5.2.122'],
    ['432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded', '4.3.2'],
    ['550 Invalid recipient <a@example.com> (#5.1.1)', '5.1.1'],
    ['250 2.0.0 OK', '2.0.0'],
    ['5.7.60 SMTP; Client does not have permissions to send as this sender', '5.7.60'],
  ])('parses %s', (text, expected) => {
    expect(parseEnhancedCode(text)).toBe(expected);
  });

  it.each([
    ['454 Throttling failure: Daily message quota exceeded.'],
    ['554 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org'],
    ['421 mail from 5.9.41.22 refused'],
    ['X-ServerApplication: Exchange/15.20.1665.000'],
    ['Greeting never received'],
  ])('finds none in %s', (text) => {
    expect(parseEnhancedCode(text)).toBeUndefined();
  });
});
