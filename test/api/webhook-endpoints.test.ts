/**
 * Webhook endpoints over real HTTP and the real database: CRUD, the secret shown once and stored
 * encrypted, rotation with an overlap, `secret_rotation_due`, tenant isolation, scopes, the event
 * catalog, and SSRF refusals at creation and at every change of the URL.
 */
import { randomUUID } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { WEBHOOK_EVENT_TYPES } from '../../domain/webhooks';
import { createFieldCrypto } from '../../platform/field-crypto';
import { type WebhookEndpointStore, webhookEndpointStore } from '../../stores/webhook-endpoints';
import { createTenant, http, startStack, type Tenant, type TestStack } from '../support/stack';

let stack: TestStack;
/** The same database with WEBHOOK_ALLOW_LOOPBACK=false: production's rules. */
let strictStack: TestStack;
let acme: Tenant;
let globex: Tenant;
let store: WebhookEndpointStore;

const SECRET = /^whsec_([A-Za-z0-9+/]{43}=)$/;
const RECEIVER = 'http://127.0.0.1:9/hooks';

beforeAll(async () => {
  stack = await startStack();
  strictStack = await startStack({ WEBHOOK_ALLOW_LOOPBACK: 'false' });
  acme = await createTenant(stack, 'Acme');
  globex = await createTenant(stack, 'Globex');
  store = webhookEndpointStore(stack.pool, createFieldCrypto(stack.config), stack.config);
});
afterAll(async () => {
  await strictStack?.close();
  await stack?.close();
});

async function createEndpoint(tenant: Tenant, body: Record<string, unknown> = {}) {
  const res = await http(stack, 'POST', '/api/v1/webhook-endpoints', { headers: tenant.admin.headers, body: { url: RECEIVER, ...body } });
  expect(res.status).toBe(201);
  return res.body as { id: string; secret: string; version: number } & Record<string, unknown>;
}

const row = async (id: string) => (await stack.admin.query('SELECT * FROM webhook_endpoints WHERE id = $1', [id])).rows[0];

describe('CRUD', () => {
  it('creates (201, Location, ETag, the secret once), reads, lists, changes and deletes', async () => {
    const created = await http(stack, 'POST', '/api/v1/webhook-endpoints', {
      headers: acme.admin.headers,
      body: { url: RECEIVER, description: ' Orders ', event_types: ['ticket.created', 'ticket.closed', 'ticket.created'], headers: { 'X-Team': 'ops' } },
    });
    expect(created.status).toBe(201);
    const id = created.body.id;
    expect(created.headers.get('location')).toBe(`/api/v1/webhook-endpoints/${id}`);
    expect(created.headers.get('etag')).toBe('"1"');
    expect(created.headers.get('cache-control')).toBe('no-store');
    expect(created.body).toMatchObject({
      tenant_id: acme.id,
      url: RECEIVER,
      description: 'Orders',
      event_types: ['ticket.created', 'ticket.closed'],
      enabled: true,
      disabled_reason: null,
      headers: { 'X-Team': 'ops' },
      include_internal: false,
      secret_rotation_due: false,
      circuit: { state: 'closed', trips: 0, retry_at: null },
      version: 1,
    });
    const match = SECRET.exec(created.body.secret);
    expect(match).not.toBeNull();
    expect(Buffer.from(match![1]!, 'base64')).toHaveLength(32);

    // Stored encrypted: the column holds neither the secret nor its key bytes, and decrypts to it.
    const stored = await row(id);
    expect(stored.secret_enc).not.toContain(match![1]);
    expect(createFieldCrypto(stack.config).decrypt(stored.secret_enc)).toBe(created.body.secret);

    const read = await http(stack, 'GET', `/api/v1/webhook-endpoints/${id}`, { headers: acme.admin.headers });
    expect(read.status).toBe(200);
    expect(read.body).not.toHaveProperty('secret');
    expect(JSON.stringify(read.body)).not.toContain(match![1]);
    expect(read.headers.get('etag')).toBe('"1"');
    const cached = await http(stack, 'GET', `/api/v1/webhook-endpoints/${id}`, { headers: { ...acme.admin.headers, 'If-None-Match': '"1"' } });
    expect(cached.status).toBe(304);

    const list = await http(stack, 'GET', '/api/v1/webhook-endpoints', { headers: acme.admin.headers });
    expect(list.status).toBe(200);
    const listed = list.body.data.find((e: { id: string }) => e.id === id);
    expect(listed).toBeDefined();
    expect(JSON.stringify(list.body)).not.toContain(match![1]);
    expect(list.body.data.every((e: object) => !('secret' in e))).toBe(true);

    const patched = await http(stack, 'PATCH', `/api/v1/webhook-endpoints/${id}`, {
      headers: { ...acme.admin.headers, 'If-Match': '"1"' },
      body: { description: 'Orders (new)', enabled: false, include_internal: true },
    });
    expect(patched.status).toBe(200);
    expect(patched.headers.get('etag')).toBe('"2"');
    // Only the fields sent change; the others keep their values (no defaults re-applied).
    expect(patched.body).toMatchObject({
      description: 'Orders (new)',
      enabled: false,
      disabled_reason: 'disabled by an admin',
      include_internal: true,
      event_types: ['ticket.created', 'ticket.closed'],
      headers: { 'X-Team': 'ops' },
      url: RECEIVER,
      version: 2,
    });
    const stale = await http(stack, 'PATCH', `/api/v1/webhook-endpoints/${id}`, {
      headers: { ...acme.admin.headers, 'If-Match': '"1"' },
      body: { description: 'lost update' },
    });
    expect({ status: stale.status, code: stale.body.code, current: stale.body.current_version }).toEqual({ status: 412, code: 'version_mismatch', current: 2 });
    const reenabled = await http(stack, 'PATCH', `/api/v1/webhook-endpoints/${id}`, { headers: acme.admin.headers, body: { enabled: true, event_types: [] } });
    expect(reenabled.body).toMatchObject({ enabled: true, disabled_reason: null, event_types: [], description: 'Orders (new)', version: 3 });
    const off = await createEndpoint(acme, { enabled: false });
    expect(off).toMatchObject({ enabled: false, disabled_reason: 'disabled by an admin' });
    const empty = await http(stack, 'PATCH', `/api/v1/webhook-endpoints/${id}`, { headers: acme.admin.headers, body: {} });
    expect(empty.status).toBe(400);

    const deleted = await http(stack, 'DELETE', `/api/v1/webhook-endpoints/${id}`, { headers: acme.admin.headers });
    expect(deleted.status).toBe(204);
    expect((await http(stack, 'GET', `/api/v1/webhook-endpoints/${id}`, { headers: acme.admin.headers })).status).toBe(404);
    expect((await http(stack, 'PATCH', `/api/v1/webhook-endpoints/${id}`, { headers: acme.admin.headers, body: { enabled: true } })).status).toBe(404);
    expect((await http(stack, 'POST', `/api/v1/webhook-endpoints/${id}/rotate-secret`, { headers: acme.admin.headers })).status).toBe(404);
    expect((await http(stack, 'DELETE', `/api/v1/webhook-endpoints/${id}`, { headers: acme.admin.headers })).status).toBe(404);
    const after = await http(stack, 'GET', '/api/v1/webhook-endpoints', { headers: acme.admin.headers });
    expect(after.body.data.map((e: { id: string }) => e.id)).not.toContain(id);
    // Soft: the row stays (deliveries refer to it), disabled so nothing new goes out; no secret can sign for it.
    expect(await row(id)).toMatchObject({ enabled: false, disabled_reason: 'deleted', deleted_at: expect.any(String) });
    await expect(store.secretsForSigning(acme.id, id)).rejects.toMatchObject({ code: 'not_found' });
  });

  it('lists newest first across pages', async () => {
    const tenant = await createTenant(stack, 'Pager');
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push((await createEndpoint(tenant)).id);
    const first = await http(stack, 'GET', '/api/v1/webhook-endpoints?limit=2', { headers: tenant.admin.headers });
    expect(first.body.has_more).toBe(true);
    const second = await http(stack, 'GET', `/api/v1/webhook-endpoints?limit=2&cursor=${first.body.next_cursor}`, { headers: tenant.admin.headers });
    expect([...first.body.data, ...second.body.data].map((e: { id: string }) => e.id)).toEqual(ids.reverse());
    expect(second.body.has_more).toBe(false);
  });

  it('an Idempotency-Key replays the creation (same endpoint, same secret), and creates one row', async () => {
    const key = randomUUID();
    const send = () =>
      http(stack, 'POST', '/api/v1/webhook-endpoints', { headers: { ...acme.admin.headers, 'Idempotency-Key': key }, body: { url: RECEIVER } });
    const [a, b] = [await send(), await send()];
    expect([a.status, b.status]).toEqual([201, 201]);
    expect(b.headers.get('idempotent-replayed')).toBe('true');
    expect(b.body.id).toBe(a.body.id);
    expect(b.body.secret).toBe(a.body.secret);
    expect((await stack.admin.query('SELECT count(*)::int AS n FROM webhook_endpoints WHERE id = $1', [a.body.id])).rows[0].n).toBe(1);
  });

  it('event_types must come from the catalog; custom headers may not be reserved ones', async () => {
    const bad = await http(stack, 'POST', '/api/v1/webhook-endpoints', {
      headers: acme.admin.headers,
      body: { url: RECEIVER, event_types: ['ticket.exploded'] },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.errors.map((e: { path: string }) => e.path)).toContain('body.event_types.0');
    const reserved = await http(stack, 'POST', '/api/v1/webhook-endpoints', {
      headers: acme.admin.headers,
      body: { url: RECEIVER, headers: { 'webhook-signature': 'v1,forged' } },
    });
    expect(reserved.status).toBe(400);
    const ok = await createEndpoint(acme, { event_types: [...WEBHOOK_EVENT_TYPES] });
    expect(ok.event_types).toEqual(WEBHOOK_EVENT_TYPES);
    const patch = await http(stack, 'PATCH', `/api/v1/webhook-endpoints/${ok.id}`, {
      headers: acme.admin.headers,
      body: { event_types: ['sla.breached', 'nope'] },
    });
    expect(patch.status).toBe(400);
    expect((await row(ok.id)).event_types).toEqual(WEBHOOK_EVENT_TYPES);
  });
});

describe('secrets', () => {
  it('rotation returns a new secret once; the previous one signs until the overlap ends', async () => {
    const endpoint = await createEndpoint(acme);
    expect(await store.secretsForSigning(acme.id, endpoint.id)).toEqual([endpoint.secret]);

    const rotated = await http(stack, 'POST', `/api/v1/webhook-endpoints/${endpoint.id}/rotate-secret`, { headers: acme.admin.headers });
    expect(rotated.status).toBe(200);
    expect(rotated.headers.get('cache-control')).toBe('no-store');
    expect(rotated.headers.get('etag')).toBe('"2"');
    expect(rotated.body.secret).toMatch(SECRET);
    expect(rotated.body.secret).not.toBe(endpoint.secret);
    expect(rotated.body.id).toBe(endpoint.id);

    const stored = await row(endpoint.id);
    const crypto = createFieldCrypto(stack.config);
    expect(crypto.decrypt(stored.previous_secret_enc)).toBe(endpoint.secret);
    const overlapMs = Date.parse(stored.previous_secret_expires_at) - Date.now();
    expect(overlapMs).toBeGreaterThan(24 * 3600_000 - 60_000);
    expect(overlapMs).toBeLessThanOrEqual(24 * 3600_000);

    // During the overlap both sign, the new one first; each is a key the standardwebhooks package accepts.
    const secrets = await store.secretsForSigning(acme.id, endpoint.id);
    expect(secrets).toEqual([rotated.body.secret, endpoint.secret]);
    for (const secret of secrets) {
      const wh = new Webhook(secret);
      const body = '{"type":"webhook.test"}';
      const now = new Date();
      const signature = wh.sign('msg_1', now, body);
      expect(wh.verify(body, { 'webhook-id': 'msg_1', 'webhook-timestamp': String(Math.floor(now.getTime() / 1000)), 'webhook-signature': signature })).toEqual(
        {
          type: 'webhook.test',
        },
      );
    }

    // The GET never shows a secret, neither the new nor the previous one.
    const read = await http(stack, 'GET', `/api/v1/webhook-endpoints/${endpoint.id}`, { headers: acme.admin.headers });
    expect(read.body).not.toHaveProperty('secret');
    expect(read.body.secret_created_at).toBe(rotated.body.secret_created_at);

    // After the overlap only the current secret signs.
    await stack.admin.query("UPDATE webhook_endpoints SET previous_secret_expires_at = now() - interval '1 second' WHERE id = $1", [endpoint.id]);
    expect(await store.secretsForSigning(acme.id, endpoint.id)).toEqual([rotated.body.secret]);
  });

  it('a rotation retried with the same Idempotency-Key gets the same secret (the original keeps its overlap)', async () => {
    const endpoint = await createEndpoint(acme);
    const key = randomUUID();
    const rotate = () =>
      http(stack, 'POST', `/api/v1/webhook-endpoints/${endpoint.id}/rotate-secret`, { headers: { ...acme.admin.headers, 'Idempotency-Key': key } });
    const [a, b] = [await rotate(), await rotate()];
    expect(b.body.secret).toBe(a.body.secret);
    expect(await store.secretsForSigning(acme.id, endpoint.id)).toEqual([a.body.secret, endpoint.secret]);
  });

  it('secretsForSigning is tenant-scoped: another tenant naming the endpoint gets not_found', async () => {
    const endpoint = await createEndpoint(acme);
    await expect(store.secretsForSigning(globex.id, endpoint.id)).rejects.toMatchObject({ code: 'not_found' });
  });

  it('secret_rotation_due once the secret is older than WEBHOOK_SECRET_ROTATION (90 days); a rotation clears it', async () => {
    const endpoint = await createEndpoint(acme);
    await stack.admin.query("UPDATE webhook_endpoints SET secret_created_at = now() - interval '89 days' WHERE id = $1", [endpoint.id]);
    expect((await http(stack, 'GET', `/api/v1/webhook-endpoints/${endpoint.id}`, { headers: acme.admin.headers })).body.secret_rotation_due).toBe(false);
    await stack.admin.query("UPDATE webhook_endpoints SET secret_created_at = now() - interval '91 days' WHERE id = $1", [endpoint.id]);
    expect((await http(stack, 'GET', `/api/v1/webhook-endpoints/${endpoint.id}`, { headers: acme.admin.headers })).body.secret_rotation_due).toBe(true);
    const list = await http(stack, 'GET', '/api/v1/webhook-endpoints?limit=100', { headers: acme.admin.headers });
    expect(list.body.data.find((e: { id: string }) => e.id === endpoint.id).secret_rotation_due).toBe(true);
    const rotated = await http(stack, 'POST', `/api/v1/webhook-endpoints/${endpoint.id}/rotate-secret`, { headers: acme.admin.headers });
    expect(rotated.body.secret_rotation_due).toBe(false);
  });

  it('the audit trail records every change, never a secret nor a custom header value', async () => {
    const endpoint = await createEndpoint(acme, { headers: { 'X-Receiver-Token': 'tok-very-secret-value' } });
    await http(stack, 'PATCH', `/api/v1/webhook-endpoints/${endpoint.id}`, {
      headers: acme.admin.headers,
      body: { headers: { 'X-Receiver-Token': 'tok-another-secret' }, description: 'd' },
    });
    const rotated = await http(stack, 'POST', `/api/v1/webhook-endpoints/${endpoint.id}/rotate-secret`, { headers: acme.admin.headers });
    await http(stack, 'DELETE', `/api/v1/webhook-endpoints/${endpoint.id}`, { headers: acme.admin.headers });
    const { rows } = await stack.admin.query('SELECT action, before, after FROM audit_log WHERE tenant_id = $1 AND entity_id = $2 ORDER BY seq', [
      acme.id,
      endpoint.id,
    ]);
    expect(rows.map((r) => r.action)).toEqual([
      'webhook_endpoint.created',
      'webhook_endpoint.updated',
      'webhook_endpoint.secret_rotated',
      'webhook_endpoint.deleted',
    ]);
    expect(rows[0].after).toMatchObject({ url: RECEIVER, header_names: ['X-Receiver-Token'] });
    const text = JSON.stringify(rows);
    for (const secret of [endpoint.secret, rotated.body.secret]) {
      expect(text).not.toContain(secret);
      expect(text).not.toContain(secret.slice('whsec_'.length));
    }
    expect(text).not.toContain('tok-very-secret-value');
    expect(text).not.toContain('tok-another-secret');
    // Nor does the audit API.
    const audit = await http(stack, 'GET', '/api/v1/audit?limit=100', { headers: acme.admin.headers });
    expect(audit.status).toBe(200);
    expect(JSON.stringify(audit.body)).not.toContain(endpoint.secret.slice('whsec_'.length));
  });
});

describe('access', () => {
  it("another tenant's endpoint is a 404 everywhere and never listed", async () => {
    const endpoint = await createEndpoint(acme);
    const path = `/api/v1/webhook-endpoints/${endpoint.id}`;
    const as = globex.admin.headers;
    expect((await http(stack, 'GET', path, { headers: as })).status).toBe(404);
    expect((await http(stack, 'PATCH', path, { headers: as, body: { enabled: false } })).status).toBe(404);
    expect((await http(stack, 'POST', `${path}/rotate-secret`, { headers: as })).status).toBe(404);
    expect((await http(stack, 'DELETE', path, { headers: as })).status).toBe(404);
    const list = await http(stack, 'GET', '/api/v1/webhook-endpoints?limit=100', { headers: as });
    expect(list.body.data.map((e: { id: string }) => e.id)).not.toContain(endpoint.id);
    expect(await row(endpoint.id)).toMatchObject({ enabled: true, version: 1, deleted_at: null });
  });

  it('agents get 403 (webhooks:manage is an admin scope); an API key holding it may manage endpoints', async () => {
    for (const [method, path] of [
      ['GET', '/api/v1/webhook-endpoints'],
      ['POST', '/api/v1/webhook-endpoints'],
      ['GET', '/api/v1/webhook-event-types'],
    ] as const) {
      const res = await http(stack, method, path, { headers: acme.agent.headers, body: method === 'POST' ? { url: RECEIVER } : undefined });
      expect({ path, status: res.status, code: res.body.code }).toEqual({ path, status: 403, code: 'forbidden' });
    }
    const key = await http(stack, 'POST', '/api/v1/api-keys', { headers: acme.admin.headers, body: { name: 'hooks', scopes: ['webhooks:manage'] } });
    const byKey = await http(stack, 'POST', '/api/v1/webhook-endpoints', { headers: { Authorization: `Bearer ${key.body.token}` }, body: { url: RECEIVER } });
    expect(byKey.status).toBe(201);
  });
});

describe('event catalog', () => {
  it('GET /api/v1/webhook-event-types lists every type with its payload schema; the OpenAPI document has each as a webhook', async () => {
    const res = await http(stack, 'GET', '/api/v1/webhook-event-types', { headers: acme.admin.headers });
    expect(res.status).toBe(200);
    expect(res.body.data.map((t: { type: string }) => t.type)).toEqual(WEBHOOK_EVENT_TYPES);
    const created = res.body.data.find((t: { type: string }) => t.type === 'ticket.created');
    expect(created.description).toEqual(expect.any(String));
    expect(created.payload_schema).toMatchObject({ type: 'object', properties: { ticket_id: expect.any(Object), ticket: expect.any(Object) } });
    const doc = (await http(stack, 'GET', '/openapi.json')).body;
    expect(Object.keys(doc.webhooks).sort()).toEqual([...WEBHOOK_EVENT_TYPES].sort());
    const body = doc.webhooks['sla.breached'].post.requestBody.content['application/json'].schema;
    expect(body.properties.type).toMatchObject({ enum: ['sla.breached'] });
    expect(body.properties.data.properties).toHaveProperty('metric');
  });
});

describe('SSRF (WEBHOOK_ALLOW_LOOPBACK=false)', () => {
  const refused = [
    ['http://127.0.0.1:8080/hook', 'plain_http'],
    ['https://127.0.0.1/hook', 'loopback'],
    ['https://10.0.0.1/hook', 'private'],
    ['https://169.254.169.254/latest/meta-data/', 'cloud_metadata'],
    ['https://[::ffff:127.0.0.1]/hook', 'loopback'],
    ['https://localhost/hook', 'loopback'],
    ['http://hooks.example.com/hook', 'plain_http'],
    ['https://user:secret@hooks.example.com/hook', 'credentials_in_url'],
    ['https://100.64.1.1/hook', 'carrier_grade_nat'],
    ['https://[fd00:ec2::254]/hook', 'cloud_metadata'],
  ] as const;

  it.each(refused)('creating with %s is a 422 unsafe_url (%s), nothing stored', async (url, reason) => {
    const before = (await stack.admin.query('SELECT count(*)::int AS n FROM webhook_endpoints WHERE tenant_id = $1', [acme.id])).rows[0].n;
    const res = await http(strictStack, 'POST', '/api/v1/webhook-endpoints', { headers: acme.admin.headers, body: { url } });
    expect({ status: res.status, code: res.body.code, reason: res.body.reason }).toEqual({ status: 422, code: 'unsafe_url', reason });
    expect(res.body.errors).toEqual([{ path: 'body.url', message: expect.any(String) }]);
    expect((await stack.admin.query('SELECT count(*)::int AS n FROM webhook_endpoints WHERE tenant_id = $1', [acme.id])).rows[0].n).toBe(before);
  });

  it('changing the URL is checked the same way; the endpoint keeps its URL', async () => {
    const created = await http(strictStack, 'POST', '/api/v1/webhook-endpoints', { headers: acme.admin.headers, body: { url: 'https://1.1.1.1/hooks' } });
    expect(created.status).toBe(201);
    for (const [url, reason] of refused) {
      const res = await http(strictStack, 'PATCH', `/api/v1/webhook-endpoints/${created.body.id}`, { headers: acme.admin.headers, body: { url } });
      expect({ url, status: res.status, code: res.body.code, reason: res.body.reason }).toEqual({ url, status: 422, code: 'unsafe_url', reason });
    }
    expect(await row(created.body.id)).toMatchObject({ url: 'https://1.1.1.1/hooks', version: 1 });
    const ok = await http(strictStack, 'PATCH', `/api/v1/webhook-endpoints/${created.body.id}`, {
      headers: acme.admin.headers,
      body: { url: 'https://[2606:4700:4700::1111]/hooks' },
    });
    expect(ok.status).toBe(200);
  });

  it('with WEBHOOK_ALLOW_LOOPBACK=true, loopback receivers pass (over http too), other private addresses still do not', async () => {
    for (const url of ['http://127.0.0.1:8080/hook', 'https://localhost/hook', 'http://[::1]:8080/hook']) {
      const res = await http(stack, 'POST', '/api/v1/webhook-endpoints', { headers: acme.admin.headers, body: { url } });
      expect({ url, status: res.status }).toEqual({ url, status: 201 });
    }
    for (const url of ['https://10.0.0.1/hook', 'https://169.254.169.254/', 'http://1.1.1.1/hook']) {
      const res = await http(stack, 'POST', '/api/v1/webhook-endpoints', { headers: acme.admin.headers, body: { url } });
      expect({ url, status: res.status, code: res.body.code }).toEqual({ url, status: 422, code: 'unsafe_url' });
    }
  });
});
