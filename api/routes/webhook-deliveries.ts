/** The delivery log (every attempt of every delivery) and the redrive of a dead letter. */
import { z } from 'zod';
import { DeskflowError } from '../../domain/errors';
import { PageQuery } from '../../domain/pagination';
import { DeliveryStatus, WebhookEventType } from '../../domain/webhooks';
import type { WebhookDeliveryStore } from '../../stores/webhook-deliveries';
import { decodeCursor, pageOf, TimeIdKey } from '../cursor';
import type { RouteSpec } from '../http/route';
import { IdParams, pageOfSchema } from '../http/schemas';
import { identityOf, idParam, parseQuery } from '../request';

const DeliveriesQuery = z
  .object({
    ...PageQuery,
    status: DeliveryStatus.optional(),
    event_type: WebhookEventType.optional(),
    /** On the delivery's creation time: from inclusive, to exclusive. */
    from: z.iso.datetime().optional(),
    to: z.iso.datetime().optional(),
  })
  .strict();

export const WebhookDelivery = z.object({
  id: z.uuid(),
  /** The `webhook-id` header every attempt carries (receivers dedupe by it). */
  webhook_id: z.string(),
  endpoint_id: z.uuid(),
  event_id: z.uuid(),
  event_type: z.string(),
  ticket_id: z.uuid().nullable(),
  status: DeliveryStatus,
  attempt_count: z.number().int(),
  last_status: z.number().int().nullable(),
  last_error: z.string().nullable(),
  /** When the next attempt is due (pending or retrying); null once delivered or dead. */
  next_attempt_at: z.string().nullable(),
  delivered_at: z.string().nullable(),
  created_at: z.string(),
  updated_at: z.string(),
});

const WebhookAttempt = z.object({
  attempted_at: z.string(),
  duration_ms: z.number().int(),
  /** null: no answer (timeout, network error). */
  status_code: z.number().int().nullable(),
  response_headers: z.record(z.string(), z.string()).nullable(),
  /** The first KiB of the answer. */
  response_body: z.string().nullable(),
  error: z.string().nullable(),
});

const WebhookDeliveryDetail = WebhookDelivery.extend({ attempts: z.array(WebhookAttempt) });

export function webhookDeliveryRoutes(deliveries: WebhookDeliveryStore): RouteSpec[] {
  const tag = 'Webhooks';
  return [
    {
      method: 'get',
      path: '/api/v1/webhook-endpoints/:id/deliveries',
      tag,
      summary: "An endpoint's deliveries, newest first",
      auth: 'bearer',
      scope: 'webhooks:manage',
      request: { params: IdParams, query: DeliveriesQuery },
      responses: { 200: { description: 'A page of deliveries', body: pageOfSchema(WebhookDelivery) } },
      handler: async (req, res) => {
        const q = parseQuery(DeliveriesQuery, req);
        const before = decodeCursor(q.cursor, TimeIdKey);
        const rows = await deliveries.list(
          identityOf(req).tenantId,
          idParam(req, 'id'),
          { status: q.status, event_type: q.event_type, from: q.from, to: q.to, before },
          q.limit,
        );
        if (!rows) throw new DeskflowError('not_found', 'webhook endpoint not found');
        res.json(pageOf(rows, q.limit, (d) => [d.created_at, d.id]));
      },
    },
    {
      method: 'get',
      path: '/api/v1/webhook-deliveries/:id',
      tag,
      summary: 'A delivery with every attempt',
      auth: 'bearer',
      scope: 'webhooks:manage',
      request: { params: IdParams },
      responses: { 200: { description: 'The delivery and its attempts, oldest first', body: WebhookDeliveryDetail } },
      handler: async (req, res) => {
        const delivery = await deliveries.get(identityOf(req).tenantId, idParam(req, 'id'));
        if (!delivery) throw new DeskflowError('not_found', 'webhook delivery not found');
        res.json(delivery);
      },
    },
    {
      method: 'post',
      path: '/api/v1/webhook-deliveries/:id/retry',
      tag,
      summary: 'Redrive a dead delivery (same webhook-id, a fresh round of retries)',
      auth: 'bearer',
      scope: 'webhooks:manage',
      request: { params: IdParams },
      responses: {
        202: { description: 'Pending again: the dispatcher attempts it shortly', body: WebhookDelivery },
        409: { description: 'The delivery is not a dead letter' },
      },
      handler: async (req, res) => {
        const result = await deliveries.redrive(identityOf(req), idParam(req, 'id'), req.requestId);
        if (result === 'not_found') throw new DeskflowError('not_found', 'webhook delivery not found');
        if (result === 'not_dead') throw new DeskflowError('conflict', 'only a dead delivery can be retried');
        res.status(202).json(result);
      },
    },
  ];
}
