import { z } from 'zod';
import { DeskflowError } from '../../domain/errors';
import { CreateGroupInput, Group } from '../../domain/group';
import { PageQuery } from '../../domain/pagination';
import { decodeCursor, pageOf } from '../cursor';
import type { GroupStore } from '../../stores/groups';
import type { RouteSpec } from '../http/route';
import { IdParams, pageOfSchema } from '../http/schemas';
import { sendCreated } from '../idempotency';
import { identityOf, idParam, parseBody, parseQuery } from '../request';

const ListGroupsQuery = z.object(PageQuery).strict();
const NameIdKey = z.tuple([z.string().max(100), z.uuid()]);

export function groupRoutes(groups: GroupStore): RouteSpec[] {
  const tag = 'Groups';
  return [
    {
      method: 'post',
      path: '/api/v1/groups',
      tag,
      summary: 'Create an agent group',
      auth: 'bearer',
      scope: 'users:manage',
      idempotent: true,
      request: { body: CreateGroupInput },
      responses: { 201: { description: 'Created', body: Group, headers: ['Location'] }, 409: { description: 'Name taken' } },
      handler: async (req, res) => {
        const group = await groups.create(identityOf(req), req.resourceId!, parseBody(CreateGroupInput, req), req.requestId);
        await sendCreated(res, { status: 201, headers: { Location: `/api/v1/groups/${group.id}` }, body: group });
      },
    },
    {
      method: 'get',
      path: '/api/v1/groups',
      tag,
      summary: 'List agent groups (by name)',
      auth: 'bearer',
      scope: 'tickets:read',
      request: { query: ListGroupsQuery },
      responses: { 200: { description: 'A page of groups', body: pageOfSchema(Group) } },
      handler: async (req, res) => {
        const q = parseQuery(ListGroupsQuery, req);
        const rows = await groups.list(identityOf(req).tenantId, q.limit, decodeCursor(q.cursor, NameIdKey));
        res.json(pageOf(rows, q.limit, (g) => [g.name, g.id]));
      },
    },
    {
      method: 'get',
      path: '/api/v1/groups/:id',
      tag,
      summary: 'Get an agent group',
      auth: 'bearer',
      scope: 'tickets:read',
      request: { params: IdParams },
      responses: { 200: { description: 'The group', body: Group } },
      handler: async (req, res) => {
        const group = await groups.get(identityOf(req).tenantId, idParam(req, 'id'));
        if (!group) throw new DeskflowError('not_found', 'group not found');
        res.json(group);
      },
    },
  ];
}
