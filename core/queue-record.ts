/**
 * The queue record: a message's envelope and delivery state. The record
 * of the accept is stored after the message bytes in `<id>.eml`, and
 * every later state in `<id>.json` (see spool.ts for the on-disk steps).
 * The schema validates records read back from disk, so a damaged file is
 * detected rather than half-used.
 */
import { z } from 'zod';

export const RECORD_VERSION = 1;

export const recipientSchema = z.object({
  address: z.string(),
  /** pending: not yet accepted by the smart host; sent: accepted; bounced: a DSN was queued for it. */
  status: z.enum(['pending', 'sent', 'bounced']),
  /** The smart host's last reply for this recipient. */
  reply: z.string().nullable(),
});

export const queueRecordSchema = z.object({
  version: z.literal(RECORD_VERSION),
  id: z.string().regex(/^[A-Z0-9]{10,40}$/),
  /** Envelope sender; the empty string is the null sender `<>`. */
  from: z.string(),
  recipients: z.array(recipientSchema).min(1),
  /** Size of the message in bytes, the Received: header included: the first `size` bytes of the `.eml`. */
  size: z.number().int().nonnegative(),
  receivedAt: z.number(),
  client: z.object({
    address: z.string(),
    helo: z.string(),
    user: z.string().nullable(),
  }),
  subject: z.string(),
  /** The body holds bytes over 127, so BODY=8BITMIME is requested upstream. */
  eightBit: z.boolean(),
  /** This message is itself a delivery status notification. */
  dsn: z.boolean(),
  /** queued: waiting for its next attempt; held: kept until a user releases it. */
  state: z.enum(['queued', 'held']),
  attempts: z.number().int().nonnegative(),
  lastReply: z.string().nullable(),
  lastAttemptAt: z.number().nullable(),
  nextAttemptAt: z.number(),
});

export type Recipient = z.infer<typeof recipientSchema>;
export type QueueRecord = z.infer<typeof queueRecordSchema>;

export function pendingRecipients(record: QueueRecord): Recipient[] {
  return record.recipients.filter((recipient) => recipient.status === 'pending');
}
