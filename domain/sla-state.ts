/** The SLA state a ticket carries (in its workflow, its projection and its API representation). */
import { z } from 'zod';

export const SLA_METRICS = ['first_reply', 'next_reply', 'resolution'] as const;
export const SlaMetric = z.enum(SLA_METRICS);
export type SlaMetric = z.infer<typeof SlaMetric>;

const Iso = z.string();

export const MetricState = z.object({
  metric: SlaMetric,
  /** `running` counts business time; `paused` (ticket status pauses the clock); `achieved`; `inactive` (next_reply between cycles). */
  status: z.enum(['running', 'paused', 'achieved', 'inactive']),
  /** Increments each time the metric starts again (next_reply per customer reply, resolution on reopen). */
  cycle: z.number().int().nonnegative(),
  target_ms: z.number().nonnegative(),
  started_at: Iso.nullable(),
  /** Business time consumed before the current running segment. */
  consumed_ms: z.number().nonnegative(),
  segment_started_at: Iso.nullable(),
  due_at: Iso.nullable(),
  paused_ms: z.number().nonnegative(),
  paused_since: Iso.nullable(),
  warned_at: Iso.nullable(),
  breached_at: Iso.nullable(),
  achieved_at: Iso.nullable(),
  /** Escalation rules already fired in this cycle (each fires at most once per cycle). */
  fired: z.array(z.string()),
  /** Set by an acknowledgement: the ladder stops climbing for this cycle. */
  acknowledged_at: Iso.nullable(),
  /** Holidays (local dates) between the segment start and the due time: part of the explanation. */
  holidays_skipped: z.array(z.string()),
});
export type MetricState = z.infer<typeof MetricState>;

export const SlaState = z.object({
  policy_id: z.string(),
  policy_version: z.number().int().positive(),
  policy_name: z.string(),
  calendar_id: z.string().nullable(),
  calendar_version: z.number().int().nonnegative(),
  time_zone: z.string(),
  pause_statuses: z.array(z.string()),
  metrics: z.array(MetricState),
});
export type SlaState = z.infer<typeof SlaState>;
