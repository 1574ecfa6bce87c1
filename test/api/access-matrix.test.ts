/**
 * Every bearer route, from the route table itself (so a new route cannot escape this test):
 * no credential → 401; missing scope or role → 403; another tenant's credential → 404 and nothing
 * changed; the right credential → success.
 */
import { randomUUID } from 'node:crypto';
import { buildRoutes } from '../../api/app';
import { createLogger } from '../../platform/logger';
import { createTenant, http, login, startStack, type Tenant, type TestStack } from '../support/stack';
import { type Receiver, startReceiver } from '../webhooks/support';
import { multipart } from '../support/multipart';
import { archiveNow, closedTicket } from '../archive/support';
import { createObjectStorage } from '../../platform/object-storage';

let stack: TestStack;
let acme: Tenant;
let globex: Tenant;
let ticketId: string;
let messageId: string;
let attachmentId: string; // a file on a public reply of acme's
let archivedId: string; // a closed ticket of acme's, archived (restored by the first successful restore)
let narrowKey: string; // an API key of acme holding only webhooks:manage
let auditOnlyKey: string; // one holding only audit:read: the wrong scope for the webhooks:manage routes
let calendarId: string;
let policyId: string;
let groupId: string;
let endpointId: string;
const RECEIVER = 'http://127.0.0.1:9/hooks'; // loopback receivers are allowed in the test run
let redriveId: string; // a finished bulk redrive of hookEndpointId, written as the owner
let hookEndpointId: string; // a disabled webhook endpoint written as the owner: its deliveries are never sent
let deliveryId: string;
let receiver: Receiver; // answers 200: test events sent to it are delivered, never dead letters
let testedEndpointId: string; // an enabled endpoint of acme's pointing at `receiver`
const AGENT_SCOPES = ['tickets:read', 'tickets:write', 'customers:read', 'customers:write'];
const office = { name: 'Office', time_zone: 'Europe/Berlin', weekly: [1, 2, 3, 4, 5].map((day) => ({ day, start: '09:00', end: '17:00' })), holidays: [] };

interface Call {
  path: string;
  body?: unknown;
  ok: number;
  /** The path names an object of acme's: another tenant must get a 404. */
  owned?: boolean;
  /** Credential to use for the success case (default: acme's admin). */
  as?: Record<string, string>;
}

const fixtures: Record<string, () => Promise<Call> | Call> = {
  'post /api/v1/auth/logout': async () => {
    const session = await login(stack, acme.agent.email, acme.agent.password);
    return { path: '/api/v1/auth/logout', ok: 204, as: { Authorization: `Bearer ${session.token}` } };
  },
  'post /api/v1/customers': () => ({ path: '/api/v1/customers', body: { name: 'Matrix Customer' }, ok: 201 }),
  'get /api/v1/customers': () => ({ path: '/api/v1/customers', ok: 200 }),
  'get /api/v1/customers/:id': () => ({ path: `/api/v1/customers/${acme.customerId}`, ok: 200, owned: true }),
  'patch /api/v1/customers/:id': () => ({ path: `/api/v1/customers/${acme.customerId}`, body: { name: 'Renamed' }, ok: 200, owned: true }),
  // A fresh customer each time: an erasure is final.
  'post /api/v1/customers/:id/erase': async () => {
    const fresh = await http(stack, 'POST', '/api/v1/customers', { headers: acme.admin.headers, body: { name: 'To be erased' } });
    return { path: `/api/v1/customers/${fresh.body.id}/erase`, ok: 200, owned: true };
  },
  'post /api/v1/tickets': () => ({ path: '/api/v1/tickets', body: { subject: 's', description: 'd', customer_id: acme.customerId }, ok: 201 }),
  'get /api/v1/tickets': () => ({ path: '/api/v1/tickets', ok: 200 }),
  'get /api/v1/tickets/:id': () => ({ path: `/api/v1/tickets/${ticketId}`, ok: 200, owned: true }),
  'patch /api/v1/tickets/:id': () => ({ path: `/api/v1/tickets/${ticketId}`, body: { priority: 'high' }, ok: 200, owned: true }),
  'post /api/v1/tickets/:id/messages': () => ({ path: `/api/v1/tickets/${ticketId}/messages`, body: { body: 'hello' }, ok: 201, owned: true }),
  'get /api/v1/tickets/:id/messages': () => ({ path: `/api/v1/tickets/${ticketId}/messages`, ok: 200, owned: true }),
  'get /api/v1/tickets/:id/messages/:messageId': () => ({ path: `/api/v1/tickets/${ticketId}/messages/${messageId}`, ok: 200, owned: true }),
  'get /api/v1/tickets/:id/events': () => ({ path: `/api/v1/tickets/${ticketId}/events`, ok: 200, owned: true }),
  'get /api/v1/tickets/:id/presence': () => ({ path: `/api/v1/tickets/${ticketId}/presence`, ok: 200, owned: true }),
  'post /api/v1/users': () => ({
    path: '/api/v1/users',
    body: { email: `m-${randomUUID()}@acme.test`, name: 'M', role: 'agent', password: 'matrix password 1' },
    ok: 201,
  }),
  'get /api/v1/users': () => ({ path: '/api/v1/users', ok: 200 }),
  'get /api/v1/users/:id': () => ({ path: `/api/v1/users/${acme.agent.id}`, ok: 200, owned: true }),
  'patch /api/v1/users/:id': () => ({ path: `/api/v1/users/${acme.agent.id}`, body: { name: 'Agent Renamed' }, ok: 200, owned: true }),
  'post /api/v1/api-keys': () => ({ path: '/api/v1/api-keys', body: { name: 'k', scopes: ['tickets:read'] }, ok: 201 }),
  'get /api/v1/api-keys': () => ({ path: '/api/v1/api-keys', ok: 200 }),
  'get /api/v1/api-keys/:id': async () => ({ path: `/api/v1/api-keys/${await freshKeyId()}`, ok: 200, owned: true }),
  'delete /api/v1/api-keys/:id': async () => ({ path: `/api/v1/api-keys/${await freshKeyId()}`, ok: 204, owned: true }),
  'get /api/v1/tenant': () => ({ path: '/api/v1/tenant', ok: 200 }),
  'patch /api/v1/tenant': () => ({ path: '/api/v1/tenant', body: { name: 'Acme Inc' }, ok: 200 }),
  'post /api/v1/tenant/inbound-secret': () => ({ path: '/api/v1/tenant/inbound-secret', ok: 200 }),
  'get /api/v1/audit': () => ({ path: '/api/v1/audit', ok: 200 }),
  'get /api/v1/tickets/:id/sla': () => ({ path: `/api/v1/tickets/${ticketId}/sla`, ok: 200, owned: true }),
  'post /api/v1/tickets/:id/sla/ack': () => ({ path: `/api/v1/tickets/${ticketId}/sla/ack`, ok: 200, owned: true }),
  'post /api/v1/business-hours': () => ({ path: '/api/v1/business-hours', body: office, ok: 201 }),
  'get /api/v1/business-hours': () => ({ path: '/api/v1/business-hours', ok: 200 }),
  'get /api/v1/business-hours/:id': () => ({ path: `/api/v1/business-hours/${calendarId}`, ok: 200, owned: true }),
  'put /api/v1/business-hours/:id': () => ({ path: `/api/v1/business-hours/${calendarId}`, body: office, ok: 200, owned: true }),
  'post /api/v1/sla-policies': () => ({ path: '/api/v1/sla-policies', body: { name: 'Later', position: 50, targets: { low: { resolution: 600 } } }, ok: 201 }),
  'get /api/v1/sla-policies': () => ({ path: '/api/v1/sla-policies', ok: 200 }),
  'get /api/v1/sla-policies/:id': () => ({ path: `/api/v1/sla-policies/${policyId}`, ok: 200, owned: true }),
  'get /api/v1/sla-policies/:id/versions/:version': () => ({ path: `/api/v1/sla-policies/${policyId}/versions/1`, ok: 200, owned: true }),
  'patch /api/v1/sla-policies/:id': () => ({ path: `/api/v1/sla-policies/${policyId}`, body: { name: 'Standard' }, ok: 200, owned: true }),
  'post /api/v1/groups': () => ({ path: '/api/v1/groups', body: { name: `Team ${randomUUID()}` }, ok: 201 }),
  'get /api/v1/groups': () => ({ path: '/api/v1/groups', ok: 200 }),
  'get /api/v1/groups/:id': () => ({ path: `/api/v1/groups/${groupId}`, ok: 200, owned: true }),
  'get /api/v1/webhook-event-types': () => ({ path: '/api/v1/webhook-event-types', ok: 200 }),
  'post /api/v1/webhook-endpoints': () => ({ path: '/api/v1/webhook-endpoints', body: { url: RECEIVER }, ok: 201 }),
  'get /api/v1/webhook-endpoints': () => ({ path: '/api/v1/webhook-endpoints', ok: 200 }),
  'get /api/v1/webhook-endpoints/:id': () => ({ path: `/api/v1/webhook-endpoints/${endpointId}`, ok: 200, owned: true }),
  'patch /api/v1/webhook-endpoints/:id': () => ({ path: `/api/v1/webhook-endpoints/${endpointId}`, body: { description: 'Changed' }, ok: 200, owned: true }),
  'delete /api/v1/webhook-endpoints/:id': async () => ({ path: `/api/v1/webhook-endpoints/${await freshEndpointId()}`, ok: 204, owned: true }),
  'post /api/v1/webhook-endpoints/:id/test': () => ({ path: `/api/v1/webhook-endpoints/${testedEndpointId}/test`, ok: 202, owned: true }),
  'post /api/v1/webhook-endpoints/:id/rotate-secret': () => ({ path: `/api/v1/webhook-endpoints/${endpointId}/rotate-secret`, ok: 200, owned: true }),
  'get /api/v1/webhook-endpoints/:id/deliveries': () => ({ path: `/api/v1/webhook-endpoints/${hookEndpointId}/deliveries`, ok: 200, owned: true }),
  'get /api/v1/webhook-deliveries/:id': () => ({ path: `/api/v1/webhook-deliveries/${deliveryId}`, ok: 200, owned: true }),
  'post /api/v1/webhook-deliveries/:id/retry': async () => ({ path: `/api/v1/webhook-deliveries/${await deadDelivery()}/retry`, ok: 202, owned: true }),
  // A fresh endpoint each time: one redrive per endpoint runs at a time.
  'post /api/v1/webhook-endpoints/:id/redrive': async () => ({
    path: `/api/v1/webhook-endpoints/${await pausedEndpointId()}/redrive`,
    body: { since: '2020-01-01T00:00:00Z' },
    ok: 202,
    owned: true,
  }),
  'get /api/v1/webhook-redrives/:id': () => ({ path: `/api/v1/webhook-redrives/${redriveId}`, ok: 200, owned: true }),
  'post /api/v1/webhook-redrives/:id/cancel': () => ({ path: `/api/v1/webhook-redrives/${redriveId}/cancel`, ok: 200, owned: true }),
  'get /api/v1/reports/sla': () => ({ path: `/api/v1/reports/sla?from=2020-01-01T00:00:00Z&to=2100-01-01T00:00:00Z`, ok: 200 }),
  'get /api/v1/events': () => ({ path: '/api/v1/events?include_internal=true', ok: 200 }),
  'get /api/v1/attachments/:id': () => ({ path: `/api/v1/attachments/${attachmentId}`, ok: 200, owned: true }),
  // The archive is kept after a restore: the document stays readable whatever ran before.
  'get /api/v1/tickets/:id/archive': () => ({ path: `/api/v1/tickets/${archivedId}/archive`, ok: 200, owned: true }),
  // Restoring a restored ticket answers as the first restore did.
  'post /api/v1/tickets/:id/restore': () => ({ path: `/api/v1/tickets/${archivedId}/restore`, ok: 200, owned: true }),
  'get /api/v1/tickets/:id/legal-hold': () => ({ path: `/api/v1/tickets/${ticketId}/legal-hold`, ok: 200, owned: true }),
  'put /api/v1/tickets/:id/legal-hold': () => ({ path: `/api/v1/tickets/${ticketId}/legal-hold`, body: { reason: 'matrix' }, ok: 200, owned: true }),
  'delete /api/v1/tickets/:id/legal-hold': () => ({ path: `/api/v1/tickets/${ticketId}/legal-hold`, ok: 204, owned: true }),
};

/**
 * Routes that hand out power need, besides their scope, the power they hand out (nobody grants more
 * than they hold): managing an agent takes the agent's scopes, a key's scopes must be the creator's.
 */
const GRANTED: Record<string, string[]> = {
  'post /api/v1/users': AGENT_SCOPES,
  'patch /api/v1/users/:id': AGENT_SCOPES,
  'post /api/v1/api-keys': ['tickets:read'],
};

/** An API key of acme's holding exactly these scopes (made once per set). */
const exactKeys = new Map<string, Promise<string>>();
function exactKey(scopes: string[]): Promise<string> {
  const id = [...scopes].sort().join(' ');
  if (!exactKeys.has(id)) {
    exactKeys.set(
      id,
      http(stack, 'POST', '/api/v1/api-keys', { headers: acme.admin.headers, body: { name: `exact ${id}`, scopes } }).then((res) => {
        if (res.status !== 201) throw new Error(`cannot mint a ${id} key: ${res.status}`);
        return res.body.token as string;
      }),
    );
  }
  return exactKeys.get(id)!;
}

/** Every id of acme's objects the fixtures know: none may appear in anything another tenant reads. */
const acmeIds = () => [
  acme.id,
  acme.customerId,
  acme.agent.id,
  acme.admin.id,
  ticketId,
  messageId,
  attachmentId,
  archivedId,
  calendarId,
  policyId,
  groupId,
  endpointId,
  hookEndpointId,
  deliveryId,
  redriveId,
  testedEndpointId,
];
function idsIn(value: unknown, found = new Set<string>()): Set<string> {
  if (typeof value === 'string') found.add(value);
  else if (Array.isArray(value)) for (const v of value) idsIn(v, found);
  else if (value && typeof value === 'object') for (const v of Object.values(value)) idsIn(v, found);
  return found;
}

async function freshEndpointId(): Promise<string> {
  const res = await http(stack, 'POST', '/api/v1/webhook-endpoints', { headers: acme.admin.headers, body: { url: RECEIVER } });
  return res.body.id;
}

/** A paused endpoint of acme's, written as the owner (nothing is ever sent to it, so no dead letter appears later). */
async function pausedEndpointId(): Promise<string> {
  const id = randomUUID();
  await stack.admin.query(
    "INSERT INTO webhook_endpoints (id, tenant_id, url, secret_enc, enabled, disabled_reason) VALUES ($1, $2, 'https://hooks.example.invalid/x', 'enc', false, 'fixture')",
    [id, acme.id],
  );
  return id;
}

/** A dead delivery of acme's (each redrive makes one pending again). Its endpoint is disabled: nothing is sent. */
async function deadDelivery(): Promise<string> {
  const { rows } = await stack.admin.query<{ seq: string }>(
    "INSERT INTO webhook_events (id, tenant_id, type, body) VALUES ($1, $2, 'webhook.test', '{}') RETURNING seq",
    [randomUUID(), acme.id],
  );
  const id = randomUUID();
  await stack.admin.query(
    "INSERT INTO webhook_deliveries (id, tenant_id, endpoint_id, event_seq, event_type, status, attempts) VALUES ($1, $2, $3, $4, 'webhook.test', 'dead', 4)",
    [id, acme.id, hookEndpointId, rows[0]!.seq],
  );
  return id;
}

async function freshKeyId(): Promise<string> {
  const res = await http(stack, 'POST', '/api/v1/api-keys', { headers: acme.admin.headers, body: { name: 'victim', scopes: ['tickets:read'] } });
  return res.body.id;
}

/** Everything of acme's a call could change, to prove a refused call changed nothing. */
async function snapshot(tenantId: string) {
  const { rows } = await stack.admin.query(
    // Ticket changes made by someone (not the SLA re-matching that a policy edit sets off in the background).
    `SELECT (SELECT count(*) FROM ticket_events WHERE tenant_id = $1 AND actor_type <> 'system')::int AS tickets,
            (SELECT count(*) FROM messages WHERE tenant_id = $1)::int AS messages,
            (SELECT coalesce(sum(version), 0) FROM customers WHERE tenant_id = $1)::int AS customers,
            (SELECT coalesce(sum(version), 0) FROM users WHERE tenant_id = $1)::int AS users,
            (SELECT count(*) FROM api_keys WHERE tenant_id = $1 AND revoked_at IS NULL)::int AS live_keys,
            (SELECT name || coalesce(inbound_secret_enc, '') FROM tenants WHERE id = $1) AS tenant,
            (SELECT coalesce(sum(version), 0) FROM business_hours WHERE tenant_id = $1)::int AS calendars,
            (SELECT coalesce(sum(version), 0) FROM sla_policies WHERE tenant_id = $1)::int AS policies,
            (SELECT coalesce(sum(version), 0) FROM webhook_endpoints WHERE tenant_id = $1)::int AS webhook_endpoints,
            (SELECT count(*) FROM webhook_events WHERE tenant_id = $1 AND type = 'webhook.test')::int AS webhook_tests,
            -- The redrive fixtures' dead letters only: ticket events sent to RECEIVER (nothing listens) die on their own time.
            (SELECT count(*) FROM webhook_deliveries WHERE tenant_id = $1 AND endpoint_id = $2 AND status = 'dead')::int AS dead_deliveries,
            (SELECT count(*) FROM webhook_redrives WHERE tenant_id = $1)::int AS redrives,
            (SELECT count(*) FROM webhook_redrives WHERE tenant_id = $1 AND state = 'cancelled')::int AS cancelled_redrives,
            (SELECT count(*) FROM ticket_archives WHERE tenant_id = $1 AND state = 'restored')::int AS restored,
            (SELECT count(*) FROM ticket_legal_holds WHERE tenant_id = $1 AND held)::int AS legal_holds`,
    [tenantId, hookEndpointId],
  );
  return rows[0];
}

const bearerRoutes = () =>
  buildRoutes({ config: stack.config, pool: stack.pool, redis: stack.redis, temporal: stack.temporal, log: createLogger(stack.config, 'matrix') })
    .routes.filter((r) => r.auth === 'bearer')
    .map((r) => ({ key: `${r.method} ${r.path}`, method: r.method.toUpperCase(), scope: r.scope }));

beforeAll(async () => {
  // The run's object storage (test/support/global-setup.ts), not a directory of its own: the run's worker restores.
  stack = await startStack({ OBJECT_STORAGE: 'local' });
  acme = await createTenant(stack, 'Acme');
  globex = await createTenant(stack, 'Globex');
  calendarId = (await http(stack, 'POST', '/api/v1/business-hours', { headers: acme.admin.headers, body: office })).body.id;
  policyId = (
    await http(stack, 'POST', '/api/v1/sla-policies', {
      headers: acme.admin.headers,
      body: { name: 'Default', position: 10, targets: { normal: { first_reply: 600, resolution: 6000 }, high: { first_reply: 300 } } },
    })
  ).body.id;
  groupId = (await http(stack, 'POST', '/api/v1/groups', { headers: acme.admin.headers, body: { name: 'Acme support' } })).body.id;
  const created = await http(stack, 'POST', '/api/v1/tickets', {
    headers: acme.headers,
    body: { subject: 's', description: 'd', customer_id: acme.customerId },
  });
  ticketId = created.body.id;
  messageId = (await http(stack, 'GET', `/api/v1/tickets/${ticketId}/messages`, { headers: acme.headers })).body.data[0].id;
  const form = multipart([
    { name: 'body', value: 'with a file' },
    { name: 'files', filename: 'notes.txt', type: 'text/plain', data: 'hello' },
  ]);
  const withFile = await http(stack, 'POST', `/api/v1/tickets/${ticketId}/messages`, {
    headers: { ...acme.headers, 'Content-Type': form.contentType },
    body: form.body.toString(),
  });
  attachmentId = withFile.body.attachments[0].id;
  archivedId = (await closedTicket(stack, acme, { files: false })).id;
  const storage = createObjectStorage(stack.config);
  expect(await archiveNow(stack, storage, acme.id, archivedId)).toBe('archived');
  await storage.close();
  hookEndpointId = randomUUID();
  await stack.admin.query(
    "INSERT INTO webhook_endpoints (id, tenant_id, url, secret_enc, enabled, disabled_reason) VALUES ($1, $2, 'https://hooks.example.invalid/x', 'enc', false, 'fixture')",
    [hookEndpointId, acme.id],
  );
  deliveryId = await deadDelivery();
  redriveId = randomUUID();
  await stack.admin.query(
    `INSERT INTO webhook_redrives (id, tenant_id, endpoint_id, since, per_second, state, requested_by_type, requested_by_id, finished_at)
     VALUES ($1, $2, $3, now() - interval '1 day', 50, 'completed', 'agent', $4, now())`,
    [redriveId, acme.id, hookEndpointId, acme.admin.id],
  );
  narrowKey = (await http(stack, 'POST', '/api/v1/api-keys', { headers: acme.admin.headers, body: { name: 'narrow', scopes: ['webhooks:manage'] } })).body
    .token;
  auditOnlyKey = (await http(stack, 'POST', '/api/v1/api-keys', { headers: acme.admin.headers, body: { name: 'audit only', scopes: ['audit:read'] } })).body
    .token;
  endpointId = (await http(stack, 'POST', '/api/v1/webhook-endpoints', { headers: acme.admin.headers, body: { url: RECEIVER } })).body.id;
  receiver = await startReceiver(() => ({ status: 200 }));
  testedEndpointId = (
    await http(stack, 'POST', '/api/v1/webhook-endpoints', { headers: acme.admin.headers, body: { url: receiver.url, event_types: ['webhook.test'] } })
  ).body.id;
});
afterAll(async () => {
  await receiver?.close();
  await stack.close();
});

it('every bearer route has a fixture (add one when you add a route)', () => {
  const missing = bearerRoutes()
    .map((r) => r.key)
    .filter((key) => !fixtures[key]);
  expect(missing).toEqual([]);
  expect(bearerRoutes().length).toBeGreaterThanOrEqual(20);
});

describe.each(Object.keys(fixtures))('%s', (key) => {
  const route = () => {
    const found = bearerRoutes().find((r) => r.key === key);
    if (!found) throw new Error(`fixture for a route that is not mounted: ${key}`);
    return found;
  };

  it('no credential → 401', async () => {
    const call = await fixtures[key]!();
    const res = await http(stack, route().method, call.path, { body: call.body });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
  });

  it('wrong scope or role → 403, nothing changed', async () => {
    const { scope, method } = route();
    if (!scope) return void expect(key).toBe('post /api/v1/auth/logout'); // the one bearer route any credential may call
    const call = await fixtures[key]!();
    const before = await snapshot(acme.id);
    const wrongKey = scope === 'webhooks:manage' ? auditOnlyKey : narrowKey;
    const res = await http(stack, method, call.path, { headers: { Authorization: `Bearer ${wrongKey}` }, body: call.body });
    expect({ status: res.status, code: res.body.code }).toEqual({ status: 403, code: 'forbidden' });
    if (!AGENT_SCOPES.includes(scope)) {
      const asAgent = await http(stack, method, call.path, { headers: acme.agent.headers, body: call.body });
      expect(asAgent.status).toBe(403);
    }
    expect(await snapshot(acme.id)).toEqual(before);
  });

  it("another tenant's credential → 404 for acme's objects, nothing changed", async () => {
    const call = await fixtures[key]!();
    if (!call.owned) return void expect(call.path).not.toMatch(/[0-9a-f]{8}-/); // collection routes act on the caller's own tenant
    const before = await snapshot(acme.id);
    const res = await http(stack, route().method, call.path, { headers: globex.admin.headers, body: call.body });
    expect(res.status).toBe(404);
    expect(await snapshot(acme.id)).toEqual(before);
  });

  it('the right credential → success', async () => {
    const call = await fixtures[key]!();
    const res = await http(stack, route().method, call.path, { headers: call.as ?? acme.admin.headers, body: call.body });
    expect(res.status).toBe(call.ok);
  });

  it('an API key holding exactly the scope, and an agent where agents hold it → success', async () => {
    const { scope, method } = route();
    if (!scope) return void expect(key).toBe('post /api/v1/auth/logout');
    const withKey = await fixtures[key]!();
    const token = await exactKey([scope, ...(GRANTED[key] ?? [])]);
    const byKey = await http(stack, method, withKey.path, { headers: { Authorization: `Bearer ${token}` }, body: withKey.body });
    expect({ key, status: byKey.status }).toEqual({ key, status: withKey.ok });
    if (AGENT_SCOPES.includes(scope)) {
      const withAgent = await fixtures[key]!();
      const byAgent = await http(stack, method, withAgent.path, { headers: acme.agent.headers, body: withAgent.body });
      expect({ key, status: byAgent.status }).toEqual({ key, status: withAgent.ok });
    }
  });

  it("another tenant's reads never contain acme's objects", async () => {
    const { method } = route();
    const call = await fixtures[key]!();
    if (method !== 'GET' || call.owned) return void expect(call.owned || method !== 'GET').toBe(true); // object reads are the 404 case above
    const res = await http(stack, method, call.path, { headers: globex.admin.headers });
    expect(res.status).toBe(200);
    const leaked = acmeIds().filter((id) => idsIn(res.body).has(id));
    expect({ key, leaked }).toEqual({ key, leaked: [] });
    // And acme's own read of the same collection does list them, so the check above can fail.
    if (
      Array.isArray(res.body.data) &&
      [
        'get /api/v1/tickets',
        'get /api/v1/customers',
        'get /api/v1/users',
        'get /api/v1/groups',
        'get /api/v1/events',
        'get /api/v1/webhook-endpoints',
      ].includes(key)
    ) {
      const own = await http(stack, method, call.path, { headers: acme.admin.headers });
      expect(acmeIds().filter((id) => idsIn(own.body).has(id)).length).toBeGreaterThan(0);
    }
  });
});
