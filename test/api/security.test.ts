/**
 * Security properties over real HTTP and the real database: PII encrypted at rest, row-level security
 * as a second wall behind the application's own tenant filters, least privilege of the application role,
 * hardening headers and CORS, no secrets in logs, API keys, and bad input that persists nothing.
 */
import { createHash, createHmac, randomUUID } from 'node:crypto';
import pg from 'pg';
import pino from 'pino';
import { createPool } from '../../platform/db';
import { createFieldCrypto } from '../../platform/field-crypto';
import { reindexBlindIndexes } from '../../platform/migrate';
import { connectTemporal } from '../../platform/temporal';
import { inTenantTransaction, withTenant } from '../../platform/tenant-db';
import { signPayload } from '../../platform/signing';
import { ticketStore } from '../../stores/tickets';
import { type ApiProcess, startApiProcess } from '../support/api-process';
import { captureLogLines } from '../support/log-capture';
import { createTenant, type HttpResult, http, login, startExtraApi, startStack, type Tenant, type TestStack } from '../support/stack';

let stack: TestStack;
let acme: Tenant;
let globex: Tenant;
let globexTicketId: string;

beforeAll(async () => {
  stack = await startStack();
  acme = await createTenant(stack, 'Acme');
  globex = await createTenant(stack, 'Globex');
  const ticket = await http(stack, 'POST', '/api/v1/tickets', {
    headers: globex.headers,
    body: { subject: 'Globex private', description: 'globex only', customer_id: globex.customerId },
  });
  expect(ticket.status).toBe(201);
  globexTicketId = ticket.body.id;
  expect(
    (await http(stack, 'POST', '/api/v1/api-keys', { headers: globex.admin.headers, body: { name: 'globex key', scopes: ['tickets:read'] } })).status,
  ).toBe(201);
});
afterAll(() => stack.close());

const office = { name: 'Office', time_zone: 'Europe/Berlin', weekly: [1, 2, 3, 4, 5].map((day) => ({ day, start: '09:00', end: '17:00' })), holidays: [] };
const pgCode = (p: Promise<unknown>) =>
  p.then(
    () => 'succeeded',
    (err: { code?: string }) => err.code ?? String(err),
  );
const count = async (db: { query: pg.Pool['query'] }, sql: string, params: unknown[] = []) => (await db.query(sql, params)).rows[0].n as number;

describe('customer PII at rest', () => {
  it('email and phone are stored encrypted; lookup by email works through the blind index', async () => {
    const email = `Encrypted.Person.${randomUUID()}@Example.com`;
    const phone = '+1 415 555 0199';
    const created = await http(stack, 'POST', '/api/v1/customers', { headers: acme.headers, body: { name: 'Encrypted Person', email, phone } });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ email: email.toLowerCase(), phone });

    const { rows } = await stack.admin.query('SELECT * FROM customers WHERE id = $1', [created.body.id]);
    const row = rows[0];
    expect(Object.keys(row)).not.toContain('email');
    expect(Object.keys(row)).not.toContain('phone');
    expect(row.email_enc).toMatch(/^v1\.[\w-]+\.[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(row.phone_enc).toMatch(/^v1\./);
    const raw = JSON.stringify(row).toLowerCase();
    for (const plain of [email.toLowerCase(), email.toLowerCase().split('@')[0]!, '555 0199', '5550199']) expect(raw).not.toContain(plain);
    expect(row.email_bidx).not.toContain('@');

    // Lookup by exact address (any case) finds it; encryption is randomised, so equal emails never look equal at rest.
    for (const form of [email, email.toUpperCase(), ` ${email.toLowerCase()} `]) {
      const found = await http(stack, 'GET', `/api/v1/customers?email=${encodeURIComponent(form)}`, { headers: acme.headers });
      expect(found.status).toBe(200);
      expect(found.body.data.map((c: any) => c.id)).toEqual([created.body.id]);
    }
    const twin = await http(stack, 'POST', '/api/v1/customers', { headers: globex.headers, body: { name: 'Twin', email } });
    expect(twin.status).toBe(201);
    const twinRow = (await stack.admin.query('SELECT email_enc, email_bidx, email_bidx_version FROM customers WHERE id = $1', [twin.body.id])).rows[0];
    expect(twinRow.email_enc).not.toBe(row.email_enc);
    // Nor do their blind indexes: each tenant's index key is its own, so equal emails do not correlate across tenants.
    expect(twinRow.email_bidx).not.toBe(row.email_bidx);
    expect([row.email_bidx_version, twinRow.email_bidx_version]).toEqual([2, 2]);
    // Each tenant's lookup finds only its own.
    const mine = await http(stack, 'GET', `/api/v1/customers?email=${encodeURIComponent(email)}`, { headers: globex.headers });
    expect(mine.body.data.map((c: any) => c.id)).toEqual([twin.body.id]);
  });

  it('rows indexed with the old single key are re-keyed per tenant by the migration step, once', async () => {
    const email = `legacy.${randomUUID()}@example.com`;
    const crypto = createFieldCrypto(stack.config);
    // A row as the previous release wrote it: one blind-index key for every tenant, index version 1.
    const legacyIndex = createHmac('sha256', Buffer.from(stack.config.BLIND_INDEX_KEY, 'base64')).update(email).digest('base64url');
    const id = randomUUID();
    await stack.admin.query(`INSERT INTO customers (id, tenant_id, name, email_enc, email_bidx, email_bidx_version) VALUES ($1, $2, 'Legacy', $3, $4, 1)`, [
      id,
      acme.id,
      crypto.encrypt(email),
      legacyIndex,
    ]);
    const lookup = async () =>
      (await http(stack, 'GET', `/api/v1/customers?email=${encodeURIComponent(email)}`, { headers: acme.headers })).body.data.map((c: any) => c.id);
    expect(await lookup()).toEqual([]); // the application looks up per-tenant indexes only

    expect(await reindexBlindIndexes(stack.admin, crypto)).toBeGreaterThanOrEqual(1);
    const { rows } = await stack.admin.query('SELECT email_bidx, email_bidx_version, version FROM customers WHERE id = $1', [id]);
    expect(rows[0]).toEqual({ email_bidx: crypto.blindIndex(acme.id, email), email_bidx_version: 2, version: 1 });
    expect(rows[0].email_bidx).not.toBe(legacyIndex);
    expect(await lookup()).toEqual([id]);
    // Idempotent: nothing is left to re-key.
    expect(await reindexBlindIndexes(stack.admin, crypto)).toBe(0);
    expect(await count(stack.admin, 'SELECT count(*)::int AS n FROM customers WHERE email_bidx_version < 2')).toBe(0);
  });
});

describe('row-level security: the second wall', () => {
  it('the application role is least-privileged: no superuser, no RLS bypass, owns nothing', async () => {
    const { rows } = await stack.pool.query(
      `SELECT current_user AS role, r.rolsuper, r.rolbypassrls, r.rolcreatedb, r.rolcreaterole,
              (SELECT count(*)::int FROM pg_tables WHERE schemaname = 'public' AND tableowner = current_user) AS owned
       FROM pg_roles r WHERE r.rolname = current_user`,
    );
    expect(rows[0]).toEqual({ role: 'deskflow_app', rolsuper: false, rolbypassrls: false, rolcreatedb: false, rolcreaterole: false, owned: 0 });
  });

  it('a connection with no tenant set sees no rows at all, in every table with row-level security', async () => {
    // Rows in the SLA tables too: a calendar, a policy, and a ticket running under it.
    const calendar = await http(stack, 'POST', '/api/v1/business-hours', { headers: acme.admin.headers, body: office });
    expect(calendar.status).toBe(201);
    const policy = await http(stack, 'POST', '/api/v1/sla-policies', {
      headers: acme.admin.headers,
      body: {
        name: 'RLS probe',
        position: 9000,
        conditions: { tags_any: ['rls-probe'] },
        targets: { normal: { resolution: 600 } },
        calendar_id: calendar.body.id,
      },
    });
    expect(policy.status).toBe(201);
    const ticket = await http(stack, 'POST', '/api/v1/tickets', {
      headers: acme.headers,
      body: { subject: 'Under a policy', description: 'rls', customer_id: acme.customerId, tags: ['rls-probe'] },
    });
    expect(ticket.status).toBe(201);
    // A policy change records the rollout it owes its tickets: a row in the outbox, whatever ran before this suite.
    const changed = await http(stack, 'PATCH', `/api/v1/sla-policies/${policy.body.id}`, { headers: acme.admin.headers, body: { name: 'RLS probe, changed' } });
    expect(changed.status).toBe(200);
    const group = await http(stack, 'POST', '/api/v1/groups', { headers: acme.admin.headers, body: { name: 'RLS probe' } });
    expect(group.status).toBe(201);
    // Webhook rows, written as the owner until the webhook API and its delivery engine write them.
    const endpointId = randomUUID();
    // Paused: its delivery is never attempted, so no dead letter (and its audit entry) appears while later tests count.
    await stack.admin.query(
      "INSERT INTO webhook_endpoints (id, tenant_id, url, secret_enc, enabled) VALUES ($1, $2, 'https://hooks.example.com/x', 'enc', false)",
      [endpointId, acme.id],
    );
    const { rows: ev } = await stack.admin.query<{ seq: string }>(
      "INSERT INTO webhook_events (id, tenant_id, type, body) VALUES ($1, $2, 'webhook.test', '{}') RETURNING seq",
      [randomUUID(), acme.id],
    );
    const deliveryId = randomUUID();
    await stack.admin.query("INSERT INTO webhook_deliveries (id, tenant_id, endpoint_id, event_seq, event_type) VALUES ($1, $2, $3, $4, 'webhook.test')", [
      deliveryId,
      acme.id,
      endpointId,
      ev[0]!.seq,
    ]);
    await stack.admin.query('INSERT INTO webhook_attempts (tenant_id, delivery_id, duration_ms, status_code) VALUES ($1, $2, 12, 200)', [acme.id, deliveryId]);
    await stack.admin.query(
      "INSERT INTO webhook_redrives (id, tenant_id, endpoint_id, since, per_second, state, requested_by_type, finished_at) VALUES ($1, $2, $3, now(), 50, 'completed', 'system', now())",
      [randomUUID(), acme.id, endpointId],
    );
    // An attachment's metadata row (an upload not yet linked to a message: no file needed for this probe).
    const attachmentId = randomUUID();
    await stack.admin.query(
      `INSERT INTO attachments (id, tenant_id, ticket_id, filename, content_type, size_bytes, sha256, storage_key, created_by_type)
       VALUES ($1, $2, $3, 'probe.txt', 'text/plain', 1, repeat('0', 64), $4, 'system')`,
      [attachmentId, acme.id, ticket.body.id, `attachments/${acme.id}/${ticket.body.id}/${attachmentId}`],
    );
    // An archive's metadata row and a legal hold (rows only: no export is needed for this probe).
    const archivedId = randomUUID();
    await stack.admin.query(
      `INSERT INTO ticket_archives (ticket_id, tenant_id, state, subject, priority, channel, customer_id, ticket_version, ticket_created_at,
         ticket_updated_at, closed_at, location, sha256, size_bytes, storage_class, message_count, attachment_count, attachment_bytes, verified_at)
       VALUES ($1, $2, 'archived', 'probe', 'normal', 'api', $3, 1, now(), now(), now(), $4, repeat('0', 64), 1, 'STANDARD', 0, 0, 0, now())`,
      [archivedId, acme.id, acme.customerId, `archive/${acme.id}/2026/01/${archivedId}/ticket.json`],
    );
    await stack.admin.query("INSERT INTO ticket_legal_holds (ticket_id, tenant_id, held, reason, changed_by_type) VALUES ($1, $2, true, 'probe', 'system')", [
      archivedId,
      acme.id,
    ]);

    // The list comes from the catalog, so a table added later is covered without anyone remembering it.
    const { rows: tables } = await stack.admin.query<{ name: string; policies: string[] }>(
      `SELECT c.relname AS name,
              array(SELECT coalesce(p.qual, '') || ' / ' || coalesce(p.with_check, '') FROM pg_policies p
                    WHERE p.schemaname = 'public' AND p.tablename = c.relname) AS policies
       FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p') AND c.relrowsecurity
       ORDER BY c.relname`,
    );
    expect(tables.map((t) => t.name)).toContain('tickets'); // the catalog query itself works
    // Every table holding tenant rows has row-level security.
    const { rows: tenantTables } = await stack.admin.query<{ name: string }>(
      `SELECT table_name AS name FROM information_schema.columns WHERE table_schema = 'public' AND column_name = 'tenant_id' ORDER BY 1`,
    );
    expect(tenantTables.map((t) => t.name).filter((name) => !tables.some((t) => t.name === name))).toEqual([]);

    const client = new pg.Client({ connectionString: stack.config.DATABASE_URL });
    await client.connect();
    try {
      expect((await client.query("SELECT current_setting('app.tenant_id', true) AS t")).rows[0].t ?? '').toBe('');
      for (const { name: table, policies } of tables) {
        const [all, visible] = [
          await count(stack.admin, `SELECT count(*)::int AS n FROM ${pg.escapeIdentifier(table)}`),
          await count(client, `SELECT count(*)::int AS n FROM ${pg.escapeIdentifier(table)}`),
        ];
        // An empty table would prove nothing: the fixture above must give every such table a row.
        expect({
          table,
          rowsExist: all > 0,
          visible,
          policyReadsTenant: policies.length > 0 && policies.every((p) => p.includes('current_tenant_id()')),
        }).toEqual({
          table,
          rowsExist: true,
          visible: 0,
          policyReadsTenant: true,
        });
      }
    } finally {
      await client.end();
    }
  });

  it('a pooled connection keeps no tenant once a tenant-scoped query is over, whatever happened in it', async () => {
    // One connection, so every step below provably runs on the same session (same backend pid).
    const pool = createPool({ ...stack.config, DATABASE_POOL_MAX: 1 });
    const afterwards = async () =>
      (
        await pool.query<{ tenant: string | null; customers: number; tickets: number; pid: number }>(
          `SELECT current_setting('app.tenant_id', true) AS tenant, (SELECT count(*)::int FROM customers) AS customers,
                  (SELECT count(*)::int FROM tickets) AS tickets, pg_backend_pid() AS pid`,
        )
      ).rows.map((row) => ({ ...row, tenant: row.tenant ?? '' }))[0]!; // never set here: null; set and reverted: ''
    try {
      const inside = await withTenant(pool, acme.id, async (db) => {
        const { rows } = await db.query(
          "SELECT current_setting('app.tenant_id', true) AS tenant, (SELECT count(*)::int FROM customers) AS customers, pg_backend_pid() AS pid",
        );
        return rows[0];
      });
      expect(inside.tenant).toBe(acme.id);
      expect(inside.customers).toBeGreaterThan(0);
      expect(await afterwards()).toEqual({ tenant: '', customers: 0, tickets: 0, pid: inside.pid });

      // A failing statement, a committed and a rolled-back transaction: nothing stays behind either.
      await expect(withTenant(pool, acme.id, (db) => db.query('SELECT 1/0'))).rejects.toThrow('division by zero');
      expect(await afterwards()).toMatchObject({ tenant: '', customers: 0, pid: inside.pid });
      await inTenantTransaction(pool, globex.id, (db) => db.query('SELECT count(*) FROM customers'));
      expect(await afterwards()).toMatchObject({ tenant: '', customers: 0, pid: inside.pid });
      await expect(inTenantTransaction(pool, globex.id, async () => Promise.reject(new Error('undo')))).rejects.toThrow('undo');
      expect(await afterwards()).toMatchObject({ tenant: '', customers: 0, pid: inside.pid });

      // Code that opens a transaction of its own and leaves it open: that connection is discarded, not reused.
      await withTenant(pool, acme.id, async (db) => {
        await db.query('BEGIN');
        await db.query('SELECT 1 FROM customers');
      });
      const fresh = await afterwards();
      expect(fresh).toMatchObject({ tenant: '', customers: 0, tickets: 0 });
      expect(fresh.pid).not.toBe(inside.pid);
    } finally {
      await pool.end();
    }
  });

  it('a prepared (named) statement reused on one connection sees the tenant of each execution, never the one it was planned for', async () => {
    const pool = createPool({ ...stack.config, DATABASE_POOL_MAX: 1 });
    // No tenant filter of its own: row-level security is the only wall here.
    const probe = { name: 'rls_probe', text: 'SELECT count(*)::int AS n, coalesce(array_agg(DISTINCT tenant_id), $1::uuid[]) AS tenants FROM tickets' };
    const run = (tenantId: string) => withTenant(pool, tenantId, async (db) => (await db.query({ ...probe, values: [[]] })).rows[0]);
    try {
      // Past PostgreSQL's five custom plans, so the cached generic plan is what runs in the later rounds.
      for (let i = 0; i < 8; i++) {
        expect(await run(globex.id)).toMatchObject({ tenants: [globex.id] });
        expect(await run(acme.id)).toMatchObject({ tenants: expect.not.arrayContaining([globex.id]) });
      }
      const prepared = await withTenant(pool, acme.id, async (db) => (await db.query('SELECT name FROM pg_prepared_statements')).rows.map((r) => r.name));
      expect(prepared).toContain('rls_probe');
      // The API's own named read (ticketStore.get) on the same connection: another tenant's ticket is not found.
      const tickets = ticketStore(pool);
      expect((await tickets.get(globex.id, globexTicketId))?.id).toBe(globexTicketId);
      expect(await tickets.get(acme.id, globexTicketId)).toBeNull();
      expect((await tickets.get(globex.id, globexTicketId))?.id).toBe(globexTicketId);
    } finally {
      await pool.end();
    }
  });

  it("with tenant A set, tenant B's rows are invisible, unchangeable and cannot be created", async () => {
    const client = await stack.pool.connect();
    try {
      await client.query("SELECT set_config('app.tenant_id', $1, false)", [acme.id]);
      // The queries name tenant B explicitly: only RLS stands in the way.
      expect(await count(client, 'SELECT count(*)::int AS n FROM tickets WHERE tenant_id = $1', [globex.id])).toBe(0);
      expect(await count(client, 'SELECT count(*)::int AS n FROM tickets WHERE id = $1', [globexTicketId])).toBe(0);
      expect(await count(client, 'SELECT count(*)::int AS n FROM customers WHERE tenant_id = $1', [globex.id])).toBe(0);
      expect(await count(client, 'SELECT count(*)::int AS n FROM users WHERE email = $1', [globex.admin.email])).toBe(0);
      expect(await count(client, 'SELECT count(*)::int AS n FROM customers WHERE tenant_id = $1', [acme.id])).toBeGreaterThan(0); // its own: yes

      expect(await pgCode(client.query("INSERT INTO customers (id, tenant_id, name) VALUES ($1, $2, 'planted')", [randomUUID(), globex.id]))).toBe('42501');
      expect(
        await pgCode(client.query("INSERT INTO audit_log (tenant_id, actor_type, action, entity_type) VALUES ($1, 'system', 'planted', 'test')", [globex.id])),
      ).toBe('42501');
      const updated = await client.query("UPDATE customers SET name = 'pwned' WHERE tenant_id = $1", [globex.id]);
      expect(updated.rowCount).toBe(0);
      // Moving one's own row into another tenant is refused too.
      expect(await pgCode(client.query('UPDATE customers SET tenant_id = $1 WHERE id = $2', [globex.id, acme.customerId]))).toBe('42501');
    } finally {
      client.release(true); // do not hand a connection with a tenant set back to the pool
    }
    expect(await count(stack.admin, "SELECT count(*)::int AS n FROM customers WHERE name IN ('planted', 'pwned')")).toBe(0);
    expect((await stack.admin.query('SELECT tenant_id FROM customers WHERE id = $1', [acme.customerId])).rows[0].tenant_id).toBe(acme.id);
  });

  it('the application role cannot delete, truncate, change the schema or switch RLS off', async () => {
    const client = await stack.pool.connect();
    try {
      await client.query("SELECT set_config('app.tenant_id', $1, false)", [globex.id]);
      expect(await pgCode(client.query('DELETE FROM tickets'))).toBe('42501');
      expect(await pgCode(client.query('DELETE FROM customers WHERE tenant_id = $1', [globex.id]))).toBe('42501');
      expect(await pgCode(client.query('TRUNCATE tickets CASCADE'))).toBe('42501');
      expect(await pgCode(client.query('CREATE TABLE exfiltrate (x text)'))).toBe('42501');
      expect(await pgCode(client.query('DROP TABLE audit_log'))).toBe('42501');
      expect(await pgCode(client.query('ALTER TABLE tickets DISABLE ROW LEVEL SECURITY'))).toBe('42501');
      expect(await pgCode(client.query('DROP POLICY tenant_isolation ON tickets'))).toBe('42501');
      await client.query('SET row_security = off'); // then any query RLS would filter is an error, not a bypass
      expect(await pgCode(client.query('SELECT count(*) FROM tickets'))).toBe('42501');
    } finally {
      client.release(true);
    }
    expect(await count(stack.admin, 'SELECT count(*)::int AS n FROM tickets WHERE id = $1', [globexTicketId])).toBe(1);
    expect(await count(stack.admin, "SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 'exfiltrate'")).toBe(0);
  });
});

describe('HTTP hardening', () => {
  it('helmet headers on every answer, no X-Powered-By', async () => {
    for (const res of [await http(stack, 'GET', '/healthz'), await http(stack, 'GET', '/api/v1/tickets'), await http(stack, 'GET', '/no/such/route')]) {
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('x-frame-options')).toBe('SAMEORIGIN');
      expect(res.headers.get('strict-transport-security')).toMatch(/max-age=\d+/);
      expect(res.headers.get('content-security-policy')).toContain("default-src 'self'");
      expect(res.headers.get('referrer-policy')).toBe('no-referrer');
      expect(res.headers.get('x-powered-by')).toBeNull();
    }
  });

  it('CORS: configured origins only', async () => {
    const cors = await startStack({ CORS_ORIGINS: 'https://agents.example' });
    try {
      const allowed = await http(cors, 'GET', '/api/v1/tickets', { headers: { ...acme.headers, Origin: 'https://agents.example' } });
      expect(allowed.status).toBe(200);
      expect(allowed.headers.get('access-control-allow-origin')).toBe('https://agents.example');
      expect(allowed.headers.get('access-control-expose-headers')).toContain('RateLimit');
      expect(allowed.headers.get('access-control-allow-credentials')).toBeNull();

      const preflight = await http(cors, 'OPTIONS', '/api/v1/tickets/x', {
        headers: {
          Origin: 'https://agents.example',
          'Access-Control-Request-Method': 'PATCH',
          'Access-Control-Request-Headers': 'authorization,content-type,if-match',
        },
      });
      expect(preflight.status).toBe(204);
      expect(preflight.headers.get('access-control-allow-origin')).toBe('https://agents.example');
      expect(preflight.headers.get('access-control-allow-methods')).toContain('PATCH');

      for (const origin of ['https://evil.example', 'https://agents.example.evil.test', 'null']) {
        const other = await http(cors, 'GET', '/api/v1/tickets', { headers: { ...acme.headers, Origin: origin } });
        expect(other.headers.get('access-control-allow-origin')).toBeNull();
        const otherPreflight = await http(cors, 'OPTIONS', '/api/v1/tickets', { headers: { Origin: origin, 'Access-Control-Request-Method': 'POST' } });
        expect(otherPreflight.headers.get('access-control-allow-origin')).toBeNull();
      }
    } finally {
      await cors.close();
    }
    // Unconfigured (the default): no origin at all.
    const res = await http(stack, 'GET', '/healthz', { headers: { Origin: 'https://agents.example' } });
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('logs never contain secrets or customer PII', () => {
  /** Does things whose secrets must stay out of the logs; returns those secrets. */
  async function secretsExchanged(target: { url: string }): Promise<string[]> {
    const secrets: string[] = [acme.agent.password];
    const session = await login(target, acme.agent.email, acme.agent.password);
    secrets.push(session.token, session.refreshToken);
    const wrong = await http(target, 'POST', '/api/v1/auth/login', { body: { email: acme.agent.email, password: 'a wrong password, logged?' } });
    expect(wrong.status).toBe(401);
    secrets.push('a wrong password, logged?');
    const refreshed = await http(target, 'POST', '/api/v1/auth/refresh', { body: { refresh_token: session.refreshToken } });
    expect(refreshed.status).toBe(200);
    secrets.push(refreshed.body.access_token, refreshed.body.refresh_token);

    const headers = { Authorization: `Bearer ${refreshed.body.access_token}` };
    const email = `logged-${randomUUID()}@example.com`;
    const phone = '+1 415 555 0142';
    secrets.push(email, phone);
    expect((await http(target, 'POST', '/api/v1/customers', { headers, body: { name: 'Log Subject', email, phone } })).status).toBe(201);
    expect((await http(target, 'GET', `/api/v1/customers?email=${encodeURIComponent(email)}`, { headers })).body.data).toHaveLength(1);
    expect((await http(target, 'POST', '/api/v1/customers', { headers, body: { name: 'Bad', email: 'not-an-email-but-private-555' } })).status).toBe(400);
    secrets.push('not-an-email-but-private-555');

    const key = await http(target, 'POST', '/api/v1/api-keys', { headers: acme.admin.headers, body: { name: 'logged key', scopes: ['tickets:read'] } });
    expect(key.status).toBe(201);
    secrets.push(key.body.token);
    expect((await http(target, 'GET', '/api/v1/tickets', { headers: { Authorization: `Bearer ${key.body.token}` } })).status).toBe(200);

    const inbound = await http(target, 'POST', '/api/v1/tenant/inbound-secret', { headers: acme.admin.headers });
    secrets.push(inbound.body.inbound_secret);
    const sender = `mailer-${randomUUID()}@example.com`;
    const raw = JSON.stringify({ message_id: `<${randomUUID()}@mail.example>`, from: { email: sender }, subject: 'Logged?', text: 'private email text 77' });
    const signature = signPayload(inbound.body.inbound_secret, raw);
    secrets.push(sender, signature.split('v1=')[1]!, 'private email text 77');
    expect((await http(target, 'POST', `/api/v1/inbound/${acme.id}/email`, { headers: { 'X-Deskflow-Signature': signature }, body: raw })).status).toBe(201);
    return secrets;
  }

  it('the application logs no secret even with an unredacted logger at trace level', async () => {
    const logs = captureLogLines();
    const api = await startExtraApi(stack, { log: pino({ level: 'trace' }, logs.destination) });
    try {
      const secrets = await secretsExchanged(api);
      const captured = logs.raw.join('\n');
      expect(captured).toContain('"path":"/api/v1/auth/login"'); // it did log the requests
      expect(captured).toContain('"path":"/api/v1/customers"');
      for (const secret of secrets) expect({ secret, found: captured.includes(secret) }).toEqual({ secret, found: false });
    } finally {
      await api.close();
    }
  });

  it('a failing request logs its error, not its content', async () => {
    const logs = captureLogLines();
    // A Temporal client whose connection is gone: creating a ticket fails inside the service.
    const temporal = await connectTemporal(stack.config);
    await temporal.connection.close();
    const api = await startExtraApi(stack, { temporal, log: pino({ level: 'trace' }, logs.destination) });
    try {
      const secret = { subject: `private subject ${randomUUID()}`, description: `private description ${randomUUID()}` };
      const res = await http(api, 'POST', '/api/v1/tickets', { headers: acme.headers, body: { ...secret, customer_id: acme.customerId } });
      expect(res.status).toBeGreaterThanOrEqual(500);
      expect(JSON.stringify(res.body)).not.toContain('at '); // no stack trace to the client
      const captured = logs.raw.join('\n');
      expect(captured).toContain('"msg":"request failed"');
      for (const value of [secret.subject, secret.description, acme.agent.token]) expect(captured).not.toContain(value);
    } finally {
      await api.close();
    }
  });

  it('a real API process at LOG_LEVEL=info logs no secret', async () => {
    const api: ApiProcess = await startApiProcess({ LOG_LEVEL: 'info' });
    let secrets: string[];
    try {
      secrets = await secretsExchanged(api);
    } finally {
      await api.stop();
    }
    const output = api.output();
    expect(output).toContain('"msg":"request"');
    expect(output).toContain('"path":"/api/v1/auth/login"');
    for (const secret of secrets) expect({ secret, found: output.includes(secret) }).toEqual({ secret, found: false });
  });
});

describe('API keys', () => {
  const FORMAT = /^dfk_[A-Za-z0-9_-]{12}_[A-Za-z0-9_-]{43}$/;

  it('are shown once, stored hashed, never listed with their secret, and usable as a bearer credential', async () => {
    const created = await http(stack, 'POST', '/api/v1/api-keys', { headers: acme.admin.headers, body: { name: 'helpdesk sync', scopes: ['tickets:read'] } });
    expect(created.status).toBe(201);
    expect(created.headers.get('cache-control')).toBe('no-store');
    const token: string = created.body.token;
    expect(token).toMatch(FORMAT);
    expect(created.body).toMatchObject({ name: 'helpdesk sync', scopes: ['tickets:read'], prefix: token.slice(0, 16), last_used_at: null, revoked_at: null });
    const secret = token.slice(17);

    const list = await http(stack, 'GET', '/api/v1/api-keys?limit=100', { headers: acme.admin.headers });
    const listed = list.body.data.find((k: any) => k.id === created.body.id);
    expect(listed).toBeDefined();
    expect(listed.token).toBeUndefined();
    const one = await http(stack, 'GET', `/api/v1/api-keys/${created.body.id}`, { headers: acme.admin.headers });
    expect(one.body.token).toBeUndefined();
    for (const body of [JSON.stringify(list.body), JSON.stringify(one.body)]) expect(body).not.toContain(secret);

    const { rows } = await stack.admin.query('SELECT * FROM api_keys WHERE id = $1', [created.body.id]);
    expect(rows[0].secret_hash).not.toBe(token);
    expect(rows[0].secret_hash).toBe(createHash('sha256').update(secret).digest('hex'));
    expect(JSON.stringify(rows[0])).not.toContain(secret);

    const used = await http(stack, 'GET', '/api/v1/tickets', { headers: { Authorization: `Bearer ${token}` } });
    expect(used.status).toBe(200);
  });

  it('carry only their scopes; nobody grants what they lack, agents grant nothing', async () => {
    const before = await count(stack.admin, 'SELECT count(*)::int AS n FROM api_keys WHERE tenant_id = $1', [acme.id]);
    const reader = await http(stack, 'POST', '/api/v1/api-keys', { headers: acme.admin.headers, body: { name: 'reader', scopes: ['tickets:read'] } });
    const asReader = { Authorization: `Bearer ${reader.body.token}` };
    expect((await http(stack, 'GET', '/api/v1/tickets', { headers: asReader })).status).toBe(200);
    for (const [method, path, body] of [
      ['POST', '/api/v1/tickets', { subject: 's', description: 'd', customer_id: acme.customerId }],
      ['GET', '/api/v1/customers', undefined],
      ['GET', '/api/v1/audit', undefined],
      ['POST', '/api/v1/api-keys', { name: 'escalate', scopes: ['tickets:read'] }],
    ] as const) {
      const res = await http(stack, method, path, { headers: asReader, body });
      expect({ path, status: res.status, code: res.body.code }).toEqual({ path, status: 403, code: 'forbidden' });
    }

    // A key that may manage keys still cannot mint one with scopes it does not hold itself.
    const manager = await http(stack, 'POST', '/api/v1/api-keys', {
      headers: acme.admin.headers,
      body: { name: 'manager', scopes: ['api_keys:manage', 'tickets:read'] },
    });
    const asManager = { Authorization: `Bearer ${manager.body.token}` };
    const escalation = await http(stack, 'POST', '/api/v1/api-keys', {
      headers: asManager,
      body: { name: 'escalated', scopes: ['tickets:read', 'audit:read'] },
    });
    expect(escalation.status).toBe(403);
    expect(escalation.body.detail).toContain('audit:read');
    const subset = await http(stack, 'POST', '/api/v1/api-keys', { headers: asManager, body: { name: 'subset', scopes: ['tickets:read'] } });
    expect(subset.status).toBe(201);

    const byAgent = await http(stack, 'POST', '/api/v1/api-keys', { headers: acme.agent.headers, body: { name: 'agent key', scopes: ['tickets:read'] } });
    expect(byAgent.status).toBe(403);
    const unknownScope = await http(stack, 'POST', '/api/v1/api-keys', { headers: acme.admin.headers, body: { name: 'root', scopes: ['root'] } });
    expect(unknownScope.status).toBe(400);
    // reader, manager and subset: nothing else was minted.
    expect(await count(stack.admin, 'SELECT count(*)::int AS n FROM api_keys WHERE tenant_id = $1', [acme.id])).toBe(before + 3);
  });

  it('revocation is immediate; last_used_at is recorded; forged keys are 401s', async () => {
    const created = await http(stack, 'POST', '/api/v1/api-keys', { headers: acme.admin.headers, body: { name: 'short-lived', scopes: ['tickets:read'] } });
    const headers = { Authorization: `Bearer ${created.body.token}` };
    expect((await http(stack, 'GET', '/api/v1/tickets', { headers })).status).toBe(200);

    // last_used_at is written asynchronously (at most once a minute): poll briefly.
    let lastUsed: string | null = null;
    for (const deadline = Date.now() + 5000; lastUsed === null && Date.now() < deadline; await new Promise((r) => setTimeout(r, 100))) {
      lastUsed = (await http(stack, 'GET', `/api/v1/api-keys/${created.body.id}`, { headers: acme.admin.headers })).body.last_used_at;
    }
    expect(lastUsed).not.toBeNull();
    expect(Date.parse(lastUsed!)).toBeGreaterThan(Date.now() - 60_000);

    expect((await http(stack, 'DELETE', `/api/v1/api-keys/${created.body.id}`, { headers: acme.admin.headers })).status).toBe(204);
    const after = await http(stack, 'GET', '/api/v1/tickets', { headers });
    expect(after.status).toBe(401);
    expect(after.headers.get('www-authenticate')).toContain('invalid_token');
    expect((await http(stack, 'GET', `/api/v1/api-keys/${created.body.id}`, { headers: acme.admin.headers })).body.revoked_at).not.toBeNull();

    const token: string = created.body.token;
    const live = await http(stack, 'POST', '/api/v1/api-keys', { headers: acme.admin.headers, body: { name: 'live', scopes: ['tickets:read'] } });
    const liveToken: string = live.body.token;
    for (const forged of [
      `${liveToken.slice(0, 17)}${'A'.repeat(43)}`, // the right key id, a wrong secret
      `${liveToken.slice(0, 17)}${token.slice(17)}`, // another key's secret
      'dfk_garbage',
      liveToken.slice(0, -1),
    ]) {
      expect((await http(stack, 'GET', '/api/v1/tickets', { headers: { Authorization: `Bearer ${forged}` } })).status).toBe(401);
    }
    // Another tenant's revoke of acme's key is a 404 and the key keeps working.
    expect((await http(stack, 'DELETE', `/api/v1/api-keys/${live.body.id}`, { headers: globex.admin.headers })).status).toBe(404);
    expect((await http(stack, 'GET', '/api/v1/tickets', { headers: { Authorization: `Bearer ${liveToken}` } })).status).toBe(200);
  });
});

describe('listings hide nothing', () => {
  /** Every id of a paginated collection, page by page. */
  async function walk(path: string, headers: Record<string, string>, limit: number): Promise<string[]> {
    const ids: string[] = [];
    let cursor: string | null = null;
    do {
      const res: HttpResult = await http(stack, 'GET', `${path}?limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { headers });
      expect(res.status).toBe(200);
      ids.push(...res.body.data.map((row: any) => row.id));
      cursor = res.body.next_cursor;
    } while (cursor);
    return ids;
  }

  it('API keys and customers created within one millisecond all appear, whatever the page size', async () => {
    const paged = await createTenant(stack, 'Paged');
    // Rows created by one transaction, or in one millisecond, share a created_at (stored in microseconds).
    const at = '2030-01-01T00:00:00.123456Z';
    const keyIds: string[] = [];
    const customerIds: string[] = [paged.customerId];
    for (let i = 0; i < 3; i++) {
      const [keyId, customerId] = [randomUUID(), randomUUID()];
      await stack.admin.query(
        `INSERT INTO api_keys (id, tenant_id, name, key_id, secret_hash, scopes, created_at) VALUES ($1, $2, $3, $4, $5, '{tickets:read}', $6)`,
        [keyId, paged.id, `same-ms ${i}`, randomUUID().replace(/-/g, '').slice(0, 12), 'f'.repeat(64), at],
      );
      await stack.admin.query('INSERT INTO customers (id, tenant_id, name, created_at) VALUES ($1, $2, $3, $4)', [customerId, paged.id, `same-ms ${i}`, at]);
      keyIds.push(keyId);
      customerIds.push(customerId);
    }
    for (const limit of [1, 2, 3]) {
      const keys = await walk('/api/v1/api-keys', paged.admin.headers, limit);
      expect({ limit, keys: [...keys].sort() }).toEqual({ limit, keys: [...keyIds].sort() });
      const customers = await walk('/api/v1/customers', paged.admin.headers, limit);
      expect({ limit, customers: [...customers].sort() }).toEqual({ limit, customers: [...customerIds].sort() });
    }
  });
});

describe('bad input persists nothing', () => {
  async function snapshot(tenantId: string) {
    const { rows } = await stack.admin.query(
      `SELECT (SELECT count(*) FROM customers WHERE tenant_id = $1)::int AS customers,
              (SELECT coalesce(sum(version), 0) FROM customers WHERE tenant_id = $1)::int AS customer_versions,
              (SELECT count(*) FROM users WHERE tenant_id = $1)::int AS users,
              (SELECT coalesce(sum(version), 0) FROM users WHERE tenant_id = $1)::int AS user_versions,
              (SELECT count(*) FROM api_keys WHERE tenant_id = $1)::int AS api_keys,
              (SELECT row(name, rate_limit_per_min)::text FROM tenants WHERE id = $1) AS tenant,
              (SELECT count(*) FROM audit_log WHERE tenant_id = $1)::int AS audit`,
      [tenantId],
    );
    return rows[0];
  }

  const big = 'x'.repeat(150 * 1024); // over BODY_LIMIT (100kb)
  const endpoints = (): [string, string, Record<string, unknown>][] => [
    ['POST', '/api/v1/customers', { name: 'Valid Name' }],
    ['PATCH', `/api/v1/customers/${acme.customerId}`, { name: 'Valid Name' }],
    ['POST', '/api/v1/users', { email: `u-${randomUUID()}@acme.test`, name: 'U', role: 'agent', password: 'long enough password' }],
    ['PATCH', `/api/v1/users/${acme.agent.id}`, { name: 'Valid Name' }],
    ['POST', '/api/v1/api-keys', { name: 'k', scopes: ['tickets:read'] }],
    ['PATCH', '/api/v1/tenant', { name: 'Valid Name' }],
  ];

  it.each([
    ['an oversized body', 413, 'payload_too_large', (body: Record<string, unknown>) => JSON.stringify({ ...body, name: big })],
    ['malformed JSON', 400, 'malformed_json', (body: Record<string, unknown>) => JSON.stringify(body).slice(0, -1)],
    ['an unknown field', 400, 'validation_failed', (body: Record<string, unknown>) => JSON.stringify({ ...body, tenant_id: globex.id })],
    ['a JSON array', 400, 'validation_failed', (body: Record<string, unknown>) => JSON.stringify([body])],
  ] as const)('%s → %i %s on every admin endpoint', async (_name, status, code, encode) => {
    for (const [method, path, body] of endpoints()) {
      const before = await snapshot(acme.id);
      const res = await http(stack, method, path, { headers: acme.admin.headers, body: encode(body) });
      expect({ method, path, status: res.status, code: res.body?.code }).toEqual({ method, path, status, code });
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(await snapshot(acme.id)).toEqual(before);
    }
  });

  it('each endpoint accepts the same body when it is valid (the refusals above were about the input)', async () => {
    for (const [method, path, body] of endpoints()) {
      const res = await http(stack, method, path, { headers: acme.admin.headers, body });
      expect({ method, path, status: res.status }).toEqual({ method, path, status: method === 'POST' ? 201 : 200 });
    }
  });

  it('mass assignment of privileged fields is refused', async () => {
    const before = await snapshot(acme.id);
    const attempts: [string, string, unknown][] = [
      [
        'POST',
        '/api/v1/users',
        { email: `x-${randomUUID()}@acme.test`, name: 'X', role: 'agent', password: 'long enough password', active: true, id: randomUUID() },
      ],
      ['PATCH', `/api/v1/users/${acme.agent.id}`, { password_hash: '$argon2id$forged' }],
      ['POST', '/api/v1/api-keys', { name: 'k', scopes: ['tickets:read'], secret_hash: 'f'.repeat(64) }],
      ['POST', '/api/v1/api-keys', { name: 'k', scopes: ['tickets:read'], tenant_id: globex.id }],
      ['PATCH', '/api/v1/tenant', { inbound_secret_enc: 'x' }],
      ['PATCH', '/api/v1/tenant', { rate_limit_per_min: 0 }],
      ['PATCH', '/api/v1/tenant', {}],
      ['POST', '/api/v1/customers', { name: 'C', email_bidx: 'x' }],
      ['PATCH', `/api/v1/customers/${acme.customerId}`, { version: 99 }],
    ];
    for (const [method, path, body] of attempts) {
      const res = await http(stack, method, path, { headers: acme.admin.headers, body });
      expect({ path, body, status: res.status }).toEqual({ path, body, status: 400 });
    }
    expect(await snapshot(acme.id)).toEqual(before);
  });

  it('a body that is not JSON is a 415', async () => {
    const before = await snapshot(acme.id);
    const res = await http(stack, 'POST', '/api/v1/customers', { headers: { ...acme.admin.headers, 'Content-Type': 'text/plain' }, body: 'name=Plain' });
    expect(res.status).toBe(415);
    expect(await snapshot(acme.id)).toEqual(before);
  });
});
