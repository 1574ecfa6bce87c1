import { z } from 'zod';
import { Text } from './text';
import { Uuid } from './ids';
import { SlaState } from './sla-state';
import { AttachmentSummary } from './attachment';

export const TICKET_STATUSES = ['new', 'open', 'pending', 'on_hold', 'solved', 'closed'] as const;
export const TicketStatus = z.enum(TICKET_STATUSES);
export type TicketStatus = z.infer<typeof TicketStatus>;

export const TicketPriority = z.enum(['low', 'normal', 'high', 'urgent']);
export type TicketPriority = z.infer<typeof TicketPriority>;

export const Channel = z.enum(['api', 'email', 'web', 'phone', 'chat']);
export type Channel = z.infer<typeof Channel>;

/** Tags are normalised to lower case so `Billing` and `billing` are one tag. */
export const Tag = Text.trim()
  .toLowerCase()
  .min(1)
  .max(64)
  .regex(/^[a-z0-9][a-z0-9_.:-]*$/, 'tags are letters, digits and _ . : -');
export const Tags = z
  .array(Tag)
  .max(50)
  .transform((tags) => [...new Set(tags)].sort());

/** Who did something: an agent or admin (`agent`, user id), an integration (`api_key`, key id), … */
export const Actor = z.object({
  type: z.enum(['agent', 'api_key', 'customer', 'system']),
  id: z.string().max(128).nullable(),
});
export type Actor = z.infer<typeof Actor>;

const Timestamp = z.string(); // ISO-8601, produced by our own code

/** A ticket as the workflow holds it, the projection stores it and the API returns it. */
export const Ticket = z.object({
  id: Uuid,
  tenant_id: Uuid,
  subject: z.string(),
  description: z.string(),
  status: TicketStatus,
  priority: TicketPriority,
  channel: Channel,
  customer_id: Uuid,
  assignee_id: Uuid.nullable(),
  group_id: Uuid.nullable(),
  tags: z.array(z.string()),
  version: z.number().int().positive(),
  created_at: Timestamp,
  updated_at: Timestamp,
  first_agent_reply_at: Timestamp.nullable(),
  solved_at: Timestamp.nullable(),
  closed_at: Timestamp.nullable(),
  /** The SLA clocks, when a policy applies (null otherwise). */
  sla: SlaState.nullable(),
});
export type Ticket = z.infer<typeof Ticket>;

const Subject = Text.trim().min(1).max(250);

/** Body of POST /tickets. `.strict()` so unknown fields (mass assignment) are a 400. */
export const CreateTicketInput = z
  .object({
    subject: Subject,
    description: Text.trim().min(1).max(65_536),
    customer_id: Uuid,
    priority: TicketPriority.default('normal'),
    channel: Channel.default('api'),
    assignee_id: Uuid.nullable().default(null),
    group_id: Uuid.nullable().default(null),
    tags: Tags.default([]),
  })
  .strict();
export type CreateTicketInput = z.infer<typeof CreateTicketInput>;

/** Body of PATCH /tickets/:id: any subset of the mutable fields, at least one. */
export const PatchTicketInput = z
  .object({
    subject: Subject.optional(),
    status: TicketStatus.optional(),
    priority: TicketPriority.optional(),
    assignee_id: Uuid.nullable().optional(),
    group_id: Uuid.nullable().optional(),
    tags: Tags.optional(),
  })
  .strict()
  .refine((patch) => Object.keys(patch).length > 0, { message: 'at least one field is required' });
export type PatchTicketInput = z.infer<typeof PatchTicketInput>;

export const MessageVisibility = z.enum(['public', 'internal']);

/** Body of POST /tickets/:id/messages: a public reply or an internal note. */
export const AddMessageInput = z
  .object({
    body: Text.trim().min(1).max(65_536),
    visibility: MessageVisibility.default('public'),
    /** `customer` records a reply on behalf of the ticket's requester (e.g. relayed from email). */
    author_type: z.enum(['agent', 'customer']).default('agent'),
  })
  .strict()
  .refine((m) => !(m.author_type === 'customer' && m.visibility === 'internal'), {
    message: 'customers cannot write internal notes',
    path: ['visibility'],
  });
export type AddMessageInput = z.infer<typeof AddMessageInput>;

export const Message = z.object({
  id: Uuid,
  tenant_id: Uuid,
  ticket_id: Uuid,
  visibility: MessageVisibility,
  author_type: z.enum(['agent', 'customer', 'system']),
  author_id: z.string().nullable(),
  body: z.string(),
  /** The email Message-ID for messages that arrived by email (threading), else null. */
  external_id: z.string().nullable(),
  created_at: Timestamp,
  /** Files stored with the message (metadata only; `GET /api/v1/attachments/:id` serves each). */
  attachments: z.array(AttachmentSummary),
});
export type Message = z.infer<typeof Message>;
