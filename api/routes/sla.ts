import { type Client, WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { z } from 'zod';
import { CalendarInput } from '../../domain/business-hours';
import { DeskflowError } from '../../domain/errors';
import { CreateSlaPolicyInput, PatchSlaPolicyInput, SlaPolicy } from '../../domain/sla-policy';
import { rolloutStartOptions, SLA_ROLLOUT_WORKFLOW_TYPE } from '../../workflows/sla-rollout-contract';
import type { slaRolloutWorkflow } from '../../workflows/sla-rollout.workflow';
import type { RouteSpec } from '../http/route';
import { IdParams } from '../http/schemas';
import { sendCreated } from '../idempotency';
import { etagOf, identityOf, idParam, ifMatchVersion, parseBody, parseQuery } from '../request';
import type { Rollout, SlaStore } from '../../stores/sla';

const BusinessHoursBody = CalendarInput.extend({
  id: z.uuid(),
  tenant_id: z.uuid(),
  version: z.number().int(),
  created_at: z.string(),
  updated_at: z.string(),
});
const ReportQuery = z
  .object({ from: z.iso.datetime(), to: z.iso.datetime(), policy: z.uuid().optional() })
  .strict()
  .refine((q) => Date.parse(q.from) < Date.parse(q.to), { message: 'from must be before to' });
const MetricReport = z.object({
  policy_id: z.uuid(),
  policy_name: z.string(),
  metric: z.string(),
  total: z.number().int(),
  achieved: z.number().int(),
  breached: z.number().int(),
  open: z.number().int(),
  achievement_rate: z.number().nullable().describe('achieved within target ÷ (achieved within target + breached)'),
});
const Durations = z.object({ count: z.number().int(), median_seconds: z.number().nullable(), p90_seconds: z.number().nullable() });
const SlaReport = z.object({ from: z.string(), to: z.string(), metrics: z.array(MetricReport), first_reply: Durations, resolution: Durations });

const FAST_PATH_DEADLINE_MS = 5000;

export function slaRoutes(deps: { sla: SlaStore; temporal: Client; taskQueue: string }): RouteSpec[] {
  const { sla, temporal, taskQueue } = deps;

  /**
   * The fast path of a rollout already recorded with the change (the outbox): start it now. If this
   * fails, or the process dies first, the worker's outbox relay starts it, so the change still stands.
   */
  const rollout = async (r: Rollout | null) => {
    if (!r) return;
    try {
      // Bounded: with Temporal unreachable the change is still answered (the relay starts it later).
      await temporal.withDeadline(Date.now() + FAST_PATH_DEADLINE_MS, () =>
        temporal.workflow
          .start<typeof slaRolloutWorkflow>(SLA_ROLLOUT_WORKFLOW_TYPE, rolloutStartOptions(taskQueue, r.workflow_id, r.input))
          .catch((err: unknown) => {
            if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err; // it ran already
          }),
      );
      await sla.rolloutStarted(r.tenant_id, r.workflow_id);
    } catch {
      // Left pending in the outbox: the relay starts it within seconds (and logs it).
    }
  };

  return [
    {
      method: 'post',
      path: '/api/v1/business-hours',
      tag: 'SLA',
      summary: 'Create a business-hours calendar',
      auth: 'bearer',
      scope: 'sla:manage',
      idempotent: true,
      request: { body: CalendarInput },
      responses: { 201: { description: 'Created', body: BusinessHoursBody, headers: ['Location', 'ETag'] } },
      handler: async (req, res) => {
        const cal = await sla.calendars.create(identityOf(req), req.resourceId!, parseBody(CalendarInput, req), req.requestId);
        await sendCreated(res, { status: 201, headers: { Location: `/api/v1/business-hours/${cal.id}`, ETag: etagOf(cal.version) }, body: cal });
      },
    },
    {
      method: 'get',
      path: '/api/v1/business-hours',
      tag: 'SLA',
      summary: 'List business-hours calendars',
      auth: 'bearer',
      scope: 'sla:manage',
      responses: { 200: { description: 'All calendars', body: z.object({ data: z.array(BusinessHoursBody) }) } },
      handler: async (req, res) => void res.json({ data: await sla.calendars.list(identityOf(req).tenantId) }),
    },
    {
      method: 'get',
      path: '/api/v1/business-hours/:id',
      tag: 'SLA',
      summary: 'Get a business-hours calendar',
      auth: 'bearer',
      scope: 'sla:manage',
      request: { params: IdParams },
      responses: { 200: { description: 'The calendar', body: BusinessHoursBody, headers: ['ETag'] } },
      handler: async (req, res) => {
        const cal = await sla.calendars.get(identityOf(req).tenantId, idParam(req, 'id'));
        if (!cal) throw new DeskflowError('not_found', 'business-hours calendar not found');
        res.setHeader('ETag', etagOf(cal.version)).json(cal);
      },
    },
    {
      method: 'put',
      path: '/api/v1/business-hours/:id',
      tag: 'SLA',
      summary: 'Replace a calendar (open hours, holidays): running tickets move their deadlines',
      auth: 'bearer',
      scope: 'sla:manage',
      conditional: ['If-Match'],
      request: { params: IdParams, body: CalendarInput },
      responses: { 200: { description: 'The new version', body: BusinessHoursBody, headers: ['ETag'] }, 412: { description: 'Stale If-Match' } },
      handler: async (req, res) => {
        const who = identityOf(req);
        const { calendar, rollout: owed } = await sla.calendars.replace(
          who,
          idParam(req, 'id'),
          parseBody(CalendarInput, req),
          taskQueue,
          ifMatchVersion(req),
          req.requestId,
        );
        await rollout(owed.input.policy_ids.length ? owed : null);
        res.setHeader('ETag', etagOf(calendar.version)).json(calendar);
      },
    },
    {
      method: 'post',
      path: '/api/v1/sla-policies',
      tag: 'SLA',
      summary: 'Create an SLA policy (evaluated by position; first match wins)',
      auth: 'bearer',
      scope: 'sla:manage',
      idempotent: true,
      request: { body: CreateSlaPolicyInput },
      responses: {
        201: { description: 'Created', body: SlaPolicy, headers: ['Location', 'ETag'] },
        422: { description: 'Unknown calendar, customer or user' },
      },
      handler: async (req, res) => {
        const policy = await sla.policies.create(identityOf(req), req.resourceId!, parseBody(CreateSlaPolicyInput, req), req.requestId);
        await sendCreated(res, { status: 201, headers: { Location: `/api/v1/sla-policies/${policy.id}`, ETag: etagOf(policy.version) }, body: policy });
      },
    },
    {
      method: 'get',
      path: '/api/v1/sla-policies',
      tag: 'SLA',
      summary: 'List SLA policies in evaluation order',
      auth: 'bearer',
      scope: 'sla:manage',
      responses: { 200: { description: 'All policies', body: z.object({ data: z.array(SlaPolicy) }) } },
      handler: async (req, res) => void res.json({ data: await sla.policies.list(identityOf(req).tenantId) }),
    },
    {
      method: 'get',
      path: '/api/v1/sla-policies/:id',
      tag: 'SLA',
      summary: 'Get an SLA policy',
      auth: 'bearer',
      scope: 'sla:manage',
      request: { params: IdParams },
      responses: { 200: { description: 'The policy', body: SlaPolicy, headers: ['ETag'] } },
      handler: async (req, res) => {
        const policy = await sla.policies.get(identityOf(req).tenantId, idParam(req, 'id'));
        if (!policy) throw new DeskflowError('not_found', 'SLA policy not found');
        res.setHeader('ETag', etagOf(policy.version)).json(policy);
      },
    },
    {
      method: 'get',
      path: '/api/v1/sla-policies/:id/versions/:version',
      tag: 'SLA',
      summary: 'A past version of a policy (as tickets recorded it)',
      auth: 'bearer',
      scope: 'sla:manage',
      request: { params: z.object({ id: z.uuid(), version: z.coerce.number().int().positive() }) },
      responses: { 200: { description: 'The policy as it was', body: SlaPolicy } },
      handler: async (req, res) => {
        const version = z.coerce.number().int().positive().max(1_000_000).safeParse(req.params.version);
        if (!version.success) throw new DeskflowError('not_found');
        const snapshot = await sla.policies.version(identityOf(req).tenantId, idParam(req, 'id'), version.data);
        if (!snapshot) throw new DeskflowError('not_found', 'no such policy version');
        res.json(snapshot);
      },
    },
    {
      method: 'patch',
      path: '/api/v1/sla-policies/:id',
      tag: 'SLA',
      summary: 'Change a policy (a new version): its open tickets move their deadlines',
      auth: 'bearer',
      scope: 'sla:manage',
      conditional: ['If-Match'],
      request: { params: IdParams, body: PatchSlaPolicyInput },
      responses: {
        200: { description: 'The new version', body: SlaPolicy, headers: ['ETag'] },
        412: { description: 'Stale If-Match' },
        422: { description: 'Unknown calendar, customer or user' },
      },
      handler: async (req, res) => {
        const who = identityOf(req);
        const { policy, rollout: owed } = await sla.policies.patch(
          who,
          idParam(req, 'id'),
          parseBody(PatchSlaPolicyInput, req),
          taskQueue,
          ifMatchVersion(req),
          req.requestId,
        );
        await rollout(owed);
        res.setHeader('ETag', etagOf(policy.version)).json(policy);
      },
    },
    {
      method: 'get',
      path: '/api/v1/reports/sla',
      tag: 'Reports',
      summary: 'SLA achievement per metric and policy; median and p90 times to first reply and resolution',
      auth: 'bearer',
      scope: 'reports:read',
      request: { query: ReportQuery },
      responses: { 200: { description: 'The report for tickets created in [from, to)', body: SlaReport } },
      handler: async (req, res) => {
        const q = parseQuery(ReportQuery, req);
        const tenantId = identityOf(req).tenantId;
        const report = await sla.report(tenantId, q.from, q.to, q.policy ?? null);
        res.json({ from: q.from, to: q.to, ...report });
      },
    },
  ];
}
