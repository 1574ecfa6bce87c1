import { z } from 'zod';
import { Text } from '../../domain/text';
import { PageQuery } from '../../domain/pagination';
import type { AuditStore } from '../../stores/audit';
import { decodeCursor, pageOf } from '../cursor';
import type { RouteSpec } from '../http/route';
import { pageOfSchema } from '../http/schemas';
import { identityOf, parseQuery } from '../request';

const AuditQuery = z
  .object({
    ...PageQuery,
    entity_type: Text.regex(/^[a-z_]{1,40}$/).optional(),
    entity_id: Text.max(128).optional(),
    actor_id: Text.max(128).optional(),
    action: Text.regex(/^[a-z_.]{1,80}$/).optional(),
    from: z.iso.datetime().optional(),
    to: z.iso.datetime().optional(),
  })
  .strict();

const AuditEntry = z.object({
  seq: z.number().int(),
  actor: z.object({ type: z.string(), id: z.string().nullable() }),
  action: z.string(),
  entity_type: z.string(),
  entity_id: z.string().nullable(),
  before: z.unknown(),
  after: z.unknown(),
  request_id: z.string().nullable(),
  occurred_at: z.string(),
  hash: z.string(),
});
const SeqKey = z.tuple([z.number().int().positive()]);

export function auditRoutes(audit: AuditStore): RouteSpec[] {
  return [
    {
      method: 'get',
      path: '/api/v1/audit',
      tag: 'Audit',
      summary: 'The audit trail, newest first',
      auth: 'bearer',
      scope: 'audit:read',
      request: { query: AuditQuery },
      responses: { 200: { description: 'A page of audit entries', body: pageOfSchema(AuditEntry) } },
      handler: async (req, res) => {
        const q = parseQuery(AuditQuery, req);
        const tenantId = identityOf(req).tenantId;
        const before = decodeCursor(q.cursor, SeqKey)?.[0] ?? null;
        const { entity_type, entity_id, actor_id, action, from, to } = q;
        const rows = await audit.list(tenantId, { entity_type, entity_id, actor_id, action, from, to, before }, q.limit);
        res.json(pageOf(rows, q.limit, (e) => [e.seq]));
      },
    },
  ];
}
