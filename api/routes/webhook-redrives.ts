/**
 * Bulk redrive of an endpoint's dead letters since a time: recorded (one running per endpoint), then walked by a
 * workflow on the webhook task queue at a bounded rate; its progress stays readable after it ends.
 */
import { type Client, WorkflowNotFoundError } from '@temporalio/client';
import { z } from 'zod';
import { DeskflowError } from '../../domain/errors';
import { WebhookEventType } from '../../domain/webhooks';
import type { RedriveRecord, WebhookRedriveStore } from '../../stores/webhook-redrives';
import {
  WEBHOOK_REDRIVE_WORKFLOW_TYPE,
  type WebhookRedriveInput,
  webhookRedriveStartOptions,
  webhookRedriveWorkflowId,
} from '../../workflows/webhook-redrive-contract';
import type { RouteSpec } from '../http/route';
import { IdParams } from '../http/schemas';
import { identityOf, idParam, parseBody } from '../request';

const RedriveInput = z
  .object({
    /** Dead letters created at or after this time. */
    since: z.iso.datetime({ offset: true }),
    /** …and before this one (default: no bound). */
    until: z.iso.datetime({ offset: true }).optional(),
    /** Only these event types (default: every type). */
    event_types: z.array(WebhookEventType).max(50).optional(),
  })
  .strict()
  .superRefine((input, ctx) => {
    if (Date.parse(input.since) > Date.now()) ctx.addIssue({ code: 'custom', path: ['since'], message: 'since is in the future' });
    if (input.until !== undefined && Date.parse(input.until) <= Date.parse(input.since))
      ctx.addIssue({ code: 'custom', path: ['until'], message: 'until must be after since' });
  });

const WebhookRedrive = z.object({
  id: z.uuid(),
  endpoint_id: z.uuid(),
  since: z.string(),
  until: z.string().nullable(),
  event_types: z.array(z.string()),
  per_second: z.number().int().describe('dead letters requeued per second, on average'),
  state: z.enum(['running', 'completed', 'cancelled', 'failed']),
  requeued: z.number().int().describe('dead letters put back to pending so far (each then attempted by the dispatcher)'),
  cursor: z
    .object({ created_at: z.string(), id: z.uuid() })
    .nullable()
    .describe('the last dead letter requeued, in (created_at, id) order: where the redrive resumes'),
  error: z.string().nullable(),
  requested_by: z.object({ type: z.string(), id: z.string().nullable() }),
  created_at: z.string(),
  updated_at: z.string(),
  finished_at: z.string().nullable(),
});

export interface RedriveSettings {
  taskQueue: string;
  perSecond: number;
  batchSize: number;
  batchesPerRun: number;
}

const locationOf = (r: RedriveRecord) => `/api/v1/webhook-redrives/${r.id}`;

export function webhookRedriveRoutes(deps: { redrives: WebhookRedriveStore; temporal: Client; settings: RedriveSettings }): RouteSpec[] {
  const { redrives, temporal, settings } = deps;
  const tag = 'Webhooks';

  /** A running row whose workflow is gone (the API died before starting it) must not block the endpoint forever. */
  const stillRunning = async (tenantId: string, r: RedriveRecord): Promise<boolean> => {
    try {
      const { status } = await temporal.workflow.getHandle(webhookRedriveWorkflowId(r.id)).describe();
      if (status.name === 'RUNNING' || status.name === 'CONTINUED_AS_NEW') return true;
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError))
        throw new DeskflowError('service_unavailable', `cannot tell whether the running redrive goes on: ${(err as Error).message}`);
    }
    // Re-read: the workflow's last batch may have ended it properly just now.
    if ((await redrives.get(tenantId, r.id))?.state !== 'running') return false;
    await redrives.fail(tenantId, r.id, 'its workflow is not running (it was never started, or was terminated)');
    return false;
  };

  return [
    {
      method: 'post',
      path: '/api/v1/webhook-endpoints/:id/redrive',
      tag,
      summary: "Redrive an endpoint's dead letters since a time (rate-limited, resumable; one at a time per endpoint)",
      auth: 'bearer',
      scope: 'webhooks:manage',
      request: { params: IdParams, body: RedriveInput },
      responses: {
        202: { description: 'Started; follow its progress at Location', body: WebhookRedrive, headers: ['Location'] },
        409: { description: 'A redrive of this endpoint is running (`redrive_id` names it)' },
        503: { description: 'Temporal is unavailable: nothing was started' },
      },
      handler: async (req, res) => {
        const who = identityOf(req);
        const endpointId = idParam(req, 'id');
        const input = parseBody(RedriveInput, req);
        let result = await redrives.create(who, endpointId, input, settings.perSecond, req.requestId);
        if (result !== 'not_found' && 'running' in result && !(await stillRunning(who.tenantId, result.running)))
          result = await redrives.create(who, endpointId, input, settings.perSecond, req.requestId);
        if (result === 'not_found') throw new DeskflowError('not_found', 'webhook endpoint not found');
        if ('running' in result)
          throw new DeskflowError('conflict', `a redrive of this endpoint is running: ${locationOf(result.running)}`, { redrive_id: result.running.id });
        const redrive = result.created;
        const workflowInput: WebhookRedriveInput = {
          tenant_id: who.tenantId,
          redrive_id: redrive.id,
          per_second: settings.perSecond,
          batch_size: settings.batchSize,
          batches_per_run: settings.batchesPerRun,
        };
        try {
          await temporal.workflow.start(WEBHOOK_REDRIVE_WORKFLOW_TYPE, webhookRedriveStartOptions(settings.taskQueue, workflowInput));
        } catch (err) {
          await redrives.fail(who.tenantId, redrive.id, 'its workflow could not be started');
          throw new DeskflowError('service_unavailable', `the redrive could not be started: ${(err as Error).message}`);
        }
        res.status(202).setHeader('Location', locationOf(redrive)).json(redrive);
      },
    },
    {
      method: 'get',
      path: '/api/v1/webhook-redrives/:id',
      tag,
      summary: "A bulk redrive's progress (requeued so far, cursor, state)",
      auth: 'bearer',
      scope: 'webhooks:manage',
      request: { params: IdParams },
      responses: { 200: { description: 'The redrive', body: WebhookRedrive } },
      handler: async (req, res) => {
        const redrive = await redrives.get(identityOf(req).tenantId, idParam(req, 'id'));
        if (!redrive) throw new DeskflowError('not_found', 'webhook redrive not found');
        res.json(redrive);
      },
    },
    {
      method: 'post',
      path: '/api/v1/webhook-redrives/:id/cancel',
      tag,
      summary: 'Stop a running bulk redrive after its current batch (what it requeued stays requeued)',
      auth: 'bearer',
      scope: 'webhooks:manage',
      request: { params: IdParams },
      responses: { 200: { description: 'The redrive, cancelled (or as it ended, if it had already)', body: WebhookRedrive } },
      handler: async (req, res) => {
        const redrive = await redrives.cancel(identityOf(req), idParam(req, 'id'), req.requestId);
        if (!redrive) throw new DeskflowError('not_found', 'webhook redrive not found');
        res.json(redrive);
      },
    },
  ];
}
