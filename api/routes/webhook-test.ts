/** `POST /api/v1/webhook-endpoints/:id/test`: a `webhook.test` event to one endpoint, delivered like any other. */
import { DeskflowError } from '../../domain/errors';
import type { WebhookDeliveryStore } from '../../stores/webhook-deliveries';
import type { WebhookTestSendStore } from '../../stores/webhook-test-sends';
import type { Limit, RateLimiters } from '../http/rate-limit';
import type { RouteSpec } from '../http/route';
import { IdParams } from '../http/schemas';
import { sendCreated } from '../idempotency';
import { identityOf, idParam } from '../request';
import { WebhookDelivery } from './webhook-deliveries';

/**
 * Each test is a real POST to a URL the tenant chose (and up to WEBHOOK_MAX_RETRIES more when it fails), so
 * tests are budgeted per endpoint, on top of the credential's own limit: a check, not a way to flood a host.
 */
export const WEBHOOK_TEST_LIMIT: Limit = { name: 'webhook-test', points: 10, windowSec: 60 };

export function webhookTestRoutes(deps: { sends: WebhookTestSendStore; deliveries: WebhookDeliveryStore; limiters: RateLimiters }): RouteSpec[] {
  return [
    {
      method: 'post',
      path: '/api/v1/webhook-endpoints/:id/test',
      tag: 'Webhooks',
      summary: 'Send a `webhook.test` event to this endpoint only (signed, retried and logged like any delivery; 10 per minute per endpoint)',
      auth: 'bearer',
      scope: 'webhooks:manage',
      idempotent: true,
      request: { params: IdParams },
      responses: {
        202: {
          description: 'Queued: the dispatcher attempts it shortly; `Location` is the delivery, with its attempts',
          body: WebhookDelivery,
          headers: ['Location'],
        },
        409: { description: 'The endpoint is disabled: enable it first (a disabled endpoint holds its deliveries)' },
        429: { description: 'Ten tests a minute per endpoint: retry after `Retry-After` seconds' },
      },
      handler: async (req, res) => {
        const who = identityOf(req);
        const endpointId = idParam(req, 'id');
        await deps.limiters.consume(res, WEBHOOK_TEST_LIMIT, `${who.tenantId}:${endpointId}`);
        await deps.sends.send(who, endpointId, req.resourceId!, req.requestId);
        const delivery = await deps.deliveries.get(who.tenantId, req.resourceId!);
        if (!delivery) throw new DeskflowError('not_found', 'webhook endpoint not found');
        const { attempts: _attempts, ...body } = delivery;
        await sendCreated(res, { status: 202, headers: { Location: `/api/v1/webhook-deliveries/${delivery.id}` }, body });
      },
    },
  ];
}
