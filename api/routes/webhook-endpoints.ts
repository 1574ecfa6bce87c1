import { z } from 'zod';
import { DeskflowError } from '../../domain/errors';
import { PageQuery } from '../../domain/pagination';
import { CreateWebhookEndpointInput, PatchWebhookEndpointInput, WebhookEndpoint, WebhookEventTypeInfo, webhookEventCatalog } from '../../domain/webhooks';
import type { WebhookEndpointStore } from '../../stores/webhook-endpoints';
import { decodeCursor, pageOf, TimeIdKey } from '../cursor';
import type { RouteSpec } from '../http/route';
import { IdParams, pageOfSchema } from '../http/schemas';
import { sendCreated } from '../idempotency';
import { etagOf, identityOf, idParam, ifMatchVersion, notModified, parseBody, parseQuery } from '../request';

const PageOnlyQuery = z.object(PageQuery).strict();
const WithSecret = WebhookEndpoint.extend({
  secret: z.string().describe('the signing secret (`whsec_…`): shown only in this response, store it now'),
});
const EventTypeList = z.object({ data: z.array(WebhookEventTypeInfo) });
const UNSAFE_URL = { description: 'The URL is refused (`unsafe_url`, with `reason`): not https, credentials in it, or an address that is not public' };
const NO_STORE = { 'Cache-Control': 'no-store' };

export function webhookEndpointRoutes(endpoints: WebhookEndpointStore): RouteSpec[] {
  const tag = 'Webhooks';
  const catalog = { data: webhookEventCatalog() };
  return [
    {
      method: 'get',
      path: '/api/v1/webhook-event-types',
      tag,
      summary: 'List the event types an endpoint can subscribe to, with the JSON Schema of each payload',
      auth: 'bearer',
      scope: 'webhooks:manage',
      responses: { 200: { description: 'The catalog (the bodies themselves are documented under `webhooks`)', body: EventTypeList } },
      handler: (_req, res) => void res.json(catalog),
    },
    {
      method: 'post',
      path: '/api/v1/webhook-endpoints',
      tag,
      summary: 'Subscribe an endpoint to events',
      auth: 'bearer',
      scope: 'webhooks:manage',
      idempotent: true,
      request: { body: CreateWebhookEndpointInput },
      responses: {
        201: { description: 'Created; `secret` is shown only in this response', body: WithSecret, headers: ['Location', 'ETag', 'Cache-Control'] },
        422: UNSAFE_URL,
      },
      handler: async (req, res) => {
        const input = parseBody(CreateWebhookEndpointInput, req);
        const { endpoint, secret } = await endpoints.create(identityOf(req), req.resourceId!, input, req.requestId);
        const headers = { Location: `/api/v1/webhook-endpoints/${endpoint.id}`, ETag: etagOf(endpoint.version), ...NO_STORE };
        await sendCreated(res, { status: 201, headers, body: { ...endpoint, secret } });
      },
    },
    {
      method: 'get',
      path: '/api/v1/webhook-endpoints',
      tag,
      summary: 'List webhook endpoints (newest first; never their secrets)',
      auth: 'bearer',
      scope: 'webhooks:manage',
      request: { query: PageOnlyQuery },
      responses: { 200: { description: 'A page of endpoints', body: pageOfSchema(WebhookEndpoint) } },
      handler: async (req, res) => {
        const q = parseQuery(PageOnlyQuery, req);
        const rows = await endpoints.list(identityOf(req).tenantId, q.limit, decodeCursor(q.cursor, TimeIdKey));
        res.json(pageOf(rows, q.limit, (e) => [e.created_at, e.id]));
      },
    },
    {
      method: 'get',
      path: '/api/v1/webhook-endpoints/:id',
      tag,
      summary: 'Get a webhook endpoint (never its secret)',
      auth: 'bearer',
      scope: 'webhooks:manage',
      conditional: ['If-None-Match'],
      request: { params: IdParams },
      responses: { 200: { description: 'The endpoint', body: WebhookEndpoint, headers: ['ETag'] }, 304: { description: 'Not modified' } },
      handler: async (req, res) => {
        const endpoint = await endpoints.get(identityOf(req).tenantId, idParam(req, 'id'));
        if (!endpoint) throw new DeskflowError('not_found', 'webhook endpoint not found');
        const etag = etagOf(endpoint.version);
        res.setHeader('ETag', etag);
        if (notModified(req, etag)) return void res.status(304).end();
        res.json(endpoint);
      },
    },
    {
      method: 'patch',
      path: '/api/v1/webhook-endpoints/:id',
      tag,
      summary: 'Change a webhook endpoint (URL, description, event types, enabled, headers, internal notes)',
      auth: 'bearer',
      scope: 'webhooks:manage',
      conditional: ['If-Match'],
      request: { params: IdParams, body: PatchWebhookEndpointInput },
      responses: {
        200: { description: 'The changed endpoint', body: WebhookEndpoint, headers: ['ETag'] },
        412: { description: 'Stale If-Match' },
        422: UNSAFE_URL,
      },
      handler: async (req, res) => {
        const id = idParam(req, 'id');
        const patch = parseBody(PatchWebhookEndpointInput, req);
        const endpoint = await endpoints.patch(identityOf(req), id, patch, ifMatchVersion(req), req.requestId);
        res.setHeader('ETag', etagOf(endpoint.version)).json(endpoint);
      },
    },
    {
      method: 'delete',
      path: '/api/v1/webhook-endpoints/:id',
      tag,
      summary: 'Delete a webhook endpoint (nothing more is delivered to it; its delivery log is kept)',
      auth: 'bearer',
      scope: 'webhooks:manage',
      request: { params: IdParams },
      responses: { 204: { description: 'Deleted' } },
      handler: async (req, res) => {
        await endpoints.delete(identityOf(req), idParam(req, 'id'), req.requestId);
        res.status(204).end();
      },
    },
    {
      method: 'post',
      path: '/api/v1/webhook-endpoints/:id/rotate-secret',
      tag,
      summary: 'Issue a new signing secret; the previous one keeps signing for WEBHOOK_SECRET_OVERLAP (24 hours by default)',
      auth: 'bearer',
      scope: 'webhooks:manage',
      // A retry with the same key gets the same new secret, rather than a third one that ends the old one's overlap.
      idempotent: true,
      request: { params: IdParams },
      responses: { 200: { description: 'The endpoint and, only in this response, its new `secret`', body: WithSecret, headers: ['ETag', 'Cache-Control'] } },
      handler: async (req, res) => {
        const { endpoint, secret } = await endpoints.rotateSecret(identityOf(req), idParam(req, 'id'), req.requestId);
        await sendCreated(res, { status: 200, headers: { ETag: etagOf(endpoint.version), ...NO_STORE }, body: { ...endpoint, secret } });
      },
    },
  ];
}
