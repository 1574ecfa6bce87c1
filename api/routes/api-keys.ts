import { z } from 'zod';
import { ApiKey, CreateApiKeyInput } from '../../domain/auth';
import { DeskflowError } from '../../domain/errors';
import { PageQuery } from '../../domain/pagination';
import type { ApiKeyStore } from '../../stores/api-keys';
import { decodeCursor, pageOf, TimeIdKey } from '../cursor';
import type { RouteSpec } from '../http/route';
import { IdParams, pageOfSchema } from '../http/schemas';
import { sendCreated } from '../idempotency';
import { identityOf, idParam, parseBody, parseQuery } from '../request';

const PageOnlyQuery = z.object(PageQuery).strict();
const CreatedApiKey = ApiKey.extend({ token: z.string().describe('the full key: shown this once, store it now') });

export function apiKeyRoutes(keys: ApiKeyStore): RouteSpec[] {
  const tag = 'API keys';
  return [
    {
      method: 'post',
      path: '/api/v1/api-keys',
      tag,
      summary: 'Mint an API key for an integration',
      auth: 'bearer',
      scope: 'api_keys:manage',
      idempotent: true,
      request: { body: CreateApiKeyInput },
      responses: { 201: { description: 'Created; `token` is shown only in this response', body: CreatedApiKey, headers: ['Location'] } },
      handler: async (req, res) => {
        const { key, token } = await keys.create(identityOf(req), req.resourceId!, parseBody(CreateApiKeyInput, req), req.requestId);
        res.setHeader('Cache-Control', 'no-store');
        await sendCreated(res, { status: 201, headers: { Location: `/api/v1/api-keys/${key.id}`, 'Cache-Control': 'no-store' }, body: { ...key, token } });
      },
    },
    {
      method: 'get',
      path: '/api/v1/api-keys',
      tag,
      summary: 'List API keys (never their secrets)',
      auth: 'bearer',
      scope: 'api_keys:manage',
      request: { query: PageOnlyQuery },
      responses: { 200: { description: 'A page of keys', body: pageOfSchema(ApiKey) } },
      handler: async (req, res) => {
        const q = parseQuery(PageOnlyQuery, req);
        res.json(pageOf(await keys.list(identityOf(req).tenantId, q.limit, decodeCursor(q.cursor, TimeIdKey)), q.limit, (k) => [k.created_at, k.id]));
      },
    },
    {
      method: 'get',
      path: '/api/v1/api-keys/:id',
      tag,
      summary: 'Get an API key (with last_used_at)',
      auth: 'bearer',
      scope: 'api_keys:manage',
      request: { params: IdParams },
      responses: { 200: { description: 'The key', body: ApiKey } },
      handler: async (req, res) => {
        const key = await keys.get(identityOf(req).tenantId, idParam(req, 'id'));
        if (!key) throw new DeskflowError('not_found', 'API key not found');
        res.json(key);
      },
    },
    {
      method: 'delete',
      path: '/api/v1/api-keys/:id',
      tag,
      summary: 'Revoke an API key (effective immediately)',
      auth: 'bearer',
      scope: 'api_keys:manage',
      request: { params: IdParams },
      responses: { 204: { description: 'Revoked' } },
      handler: async (req, res) => {
        await keys.revoke(identityOf(req), idParam(req, 'id'), req.requestId);
        res.status(204).end();
      },
    },
  ];
}
