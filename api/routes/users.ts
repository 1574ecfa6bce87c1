import { z } from 'zod';
import { CreateUserInput, PatchUserInput, User } from '../../domain/auth';
import { DeskflowError } from '../../domain/errors';
import { PageQuery } from '../../domain/pagination';
import { decodeCursor, pageOf, TimeIdKey } from '../cursor';
import type { RouteSpec } from '../http/route';
import { IdParams, pageOfSchema } from '../http/schemas';
import { sendCreated } from '../idempotency';
import { etagOf, identityOf, idParam, ifMatchVersion, parseBody, parseQuery } from '../request';
import type { UserStore } from '../../stores/users';

const PageOnlyQuery = z.object(PageQuery).strict();

export function userRoutes(users: UserStore): RouteSpec[] {
  const tag = 'Users';
  return [
    {
      method: 'post',
      path: '/api/v1/users',
      tag,
      summary: 'Add an admin or agent',
      auth: 'bearer',
      scope: 'users:manage',
      idempotent: true,
      request: { body: CreateUserInput },
      responses: { 201: { description: 'Created', body: User, headers: ['Location', 'ETag'] }, 409: { description: 'Email taken' } },
      handler: async (req, res) => {
        const user = await users.create(identityOf(req), parseBody(CreateUserInput, req), req.resourceId!, req.requestId);
        await sendCreated(res, { status: 201, headers: { Location: `/api/v1/users/${user.id}`, ETag: etagOf(user.version) }, body: user });
      },
    },
    {
      method: 'get',
      path: '/api/v1/users',
      tag,
      summary: 'List users',
      auth: 'bearer',
      scope: 'users:manage',
      request: { query: PageOnlyQuery },
      responses: { 200: { description: 'A page of users', body: pageOfSchema(User) } },
      handler: async (req, res) => {
        const q = parseQuery(PageOnlyQuery, req);
        res.json(pageOf(await users.list(identityOf(req).tenantId, q.limit, decodeCursor(q.cursor, TimeIdKey)), q.limit, (u) => [u.created_at, u.id]));
      },
    },
    {
      method: 'get',
      path: '/api/v1/users/:id',
      tag,
      summary: 'Get a user',
      auth: 'bearer',
      scope: 'users:manage',
      request: { params: IdParams },
      responses: { 200: { description: 'The user', body: User, headers: ['ETag'] } },
      handler: async (req, res) => {
        const user = await users.get(identityOf(req).tenantId, idParam(req, 'id'));
        if (!user) throw new DeskflowError('not_found', 'user not found');
        res.setHeader('ETag', etagOf(user.version)).json(user);
      },
    },
    {
      method: 'patch',
      path: '/api/v1/users/:id',
      tag,
      summary: 'Rename, change role, deactivate or reset the password of a user',
      auth: 'bearer',
      scope: 'users:manage',
      conditional: ['If-Match'],
      request: { params: IdParams, body: PatchUserInput },
      responses: {
        200: { description: 'The changed user', body: User, headers: ['ETag'] },
        412: { description: 'Stale If-Match' },
        422: { description: 'Self-demotion' },
      },
      handler: async (req, res) => {
        const id = idParam(req, 'id');
        const user = await users.patch(identityOf(req), id, parseBody(PatchUserInput, req), ifMatchVersion(req), req.requestId);
        res.setHeader('ETag', etagOf(user.version)).json(user);
      },
    },
  ];
}
