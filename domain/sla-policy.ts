/** SLA policies and their escalation rules: what admins define, and the snapshot a ticket runs under. */
import { z } from 'zod';
import { Text } from './text';
import { SlaMetric } from './sla-state';
import { Channel, Tag, TicketPriority, TicketStatus } from './ticket';

/** Targets are minutes (fractions allowed, so tests can use seconds). */
const Minutes = z.number().positive().max(525_600);
export const MetricTargets = z.object({ first_reply: Minutes.optional(), next_reply: Minutes.optional(), resolution: Minutes.optional() }).strict();
export const Targets = z.partialRecord(TicketPriority, MetricTargets);

export const PolicyConditions = z
  .object({
    priority: z.array(TicketPriority).min(1).optional(),
    channel: z.array(Channel).min(1).optional(),
    /** Matches when the ticket has any of these tags. */
    tags_any: z.array(Tag).min(1).optional(),
    customer_ids: z.array(z.uuid()).min(1).max(1000).optional(),
  })
  .strict();
export type PolicyConditions = z.infer<typeof PolicyConditions>;

export const EscalationTrigger = z.discriminatedUnion('type', [
  z.object({ type: z.literal('warning'), percent: z.number().min(1).max(99) }).strict(),
  z.object({ type: z.literal('breach') }).strict(),
  z.object({ type: z.literal('after_breach'), minutes: Minutes }).strict(),
]);
export type EscalationTrigger = z.infer<typeof EscalationTrigger>;

export const EscalationAction = z.discriminatedUnion('type', [
  z
    .object({
      type: z.literal('notify'),
      assignee: z.boolean().default(false),
      group: z.boolean().default(false),
      user_ids: z.array(z.uuid()).max(50).default([]),
    })
    .strict(),
  z.object({ type: z.literal('reassign'), assignee_id: z.uuid().nullable().optional(), group_id: z.uuid().nullable().optional() }).strict(),
  z.object({ type: z.literal('set_priority'), priority: TicketPriority }).strict(),
  z.object({ type: z.literal('add_tag'), tag: Tag }).strict(),
  /**
   * Kept so stored policies stay valid: SLA events now reach every endpoint subscribed to them whether or
   * not a rule says `emit`; it is only recorded in the `sla.escalated` event's data.
   */
  z
    .object({ type: z.literal('emit') })
    .strict()
    .describe('Deprecated (no effect): every subscribed webhook endpoint receives sla.* events; recorded in the sla.escalated data only'),
]);
export type EscalationAction = z.infer<typeof EscalationAction>;

export const EscalationRule = z
  .object({
    id: Text.regex(/^[a-z0-9_-]{1,40}$/),
    metrics: z.array(SlaMetric).min(1).default(['first_reply', 'next_reply', 'resolution']),
    trigger: EscalationTrigger,
    actions: z.array(EscalationAction).min(1).max(10),
  })
  .strict();
export type EscalationRule = z.infer<typeof EscalationRule>;

const RuleList = z
  .array(EscalationRule)
  .max(20)
  .refine((rules) => new Set(rules.map((r) => r.id)).size === rules.length, { message: 'rule ids must be unique' });

export const CreateSlaPolicyInput = z
  .object({
    name: Text.trim().min(1).max(100),
    position: z.number().int().min(0).max(10_000),
    active: z.boolean().default(true),
    conditions: PolicyConditions.default({}),
    targets: Targets,
    /** null: 24/7 in UTC. */
    calendar_id: z.uuid().nullable().default(null),
    pause_statuses: z.array(TicketStatus.extract(['new', 'open', 'pending', 'on_hold'])).default(['pending', 'on_hold']),
    escalation_rules: RuleList.default([]),
  })
  .strict();
export type CreateSlaPolicyInput = z.infer<typeof CreateSlaPolicyInput>;

export const PatchSlaPolicyInput = z
  .object({
    name: Text.trim().min(1).max(100).optional(),
    position: z.number().int().min(0).max(10_000).optional(),
    active: z.boolean().optional(),
    conditions: PolicyConditions.optional(),
    targets: Targets.optional(),
    calendar_id: z.uuid().nullable().optional(),
    pause_statuses: z.array(TicketStatus.extract(['new', 'open', 'pending', 'on_hold'])).optional(),
    escalation_rules: RuleList.optional(),
  })
  .strict()
  .refine((p) => Object.keys(p).length > 0, { message: 'at least one field is required' });
export type PatchSlaPolicyInput = z.infer<typeof PatchSlaPolicyInput>;

export const SlaPolicy = z.object({
  id: z.uuid(),
  tenant_id: z.uuid(),
  name: z.string(),
  position: z.number().int(),
  active: z.boolean(),
  conditions: PolicyConditions,
  targets: Targets,
  calendar_id: z.uuid().nullable(),
  pause_statuses: z.array(z.string()),
  escalation_rules: z.array(EscalationRule),
  version: z.number().int().positive(),
  created_at: z.string(),
  updated_at: z.string(),
});
export type SlaPolicy = z.infer<typeof SlaPolicy>;

/** What a ticket workflow holds: the policy version plus the calendar it counts in, self-contained. */
export interface PolicySnapshot {
  id: string;
  version: number;
  name: string;
  targets: z.infer<typeof Targets>;
  pause_statuses: string[];
  escalation_rules: EscalationRule[];
  calendar: {
    id: string | null;
    version: number;
    time_zone: string;
    weekly: { day: number; start: string; end: string }[];
    holidays: { date: string; name?: string; recurring?: boolean }[];
  };
}

/**
 * What a policy or calendar change owes the open tickets under these policies (re-match, move deadlines):
 * written with the change (the rollout outbox) and handed to the rollout workflow as its input.
 */
export interface SlaRolloutInput {
  tenant_id: string;
  policy_ids: string[];
  reason: 'policy_updated' | 'calendar_updated';
}

export interface MatchFacts {
  priority: string;
  channel: string;
  tags: string[];
  customer_id: string;
}

/** Every condition given must hold; no conditions matches everything. */
export function policyMatches(conditions: PolicyConditions, t: MatchFacts): boolean {
  if (conditions.priority && !conditions.priority.includes(t.priority as never)) return false;
  if (conditions.channel && !conditions.channel.includes(t.channel as never)) return false;
  if (conditions.tags_any && !conditions.tags_any.some((tag) => t.tags.includes(tag))) return false;
  // UUIDs in either letter case (z.uuid() accepts both; PostgreSQL hands them back lower case).
  if (conditions.customer_ids && !conditions.customer_ids.some((id) => id.toLowerCase() === t.customer_id.toLowerCase())) return false;
  return true;
}
