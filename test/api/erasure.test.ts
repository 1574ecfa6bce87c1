/**
 * Erasure of a customer (`POST /api/v1/customers/:id/erase`) against the run's PostgreSQL, Redis, Temporal and worker,
 * with an API process of its own whose logs are read: a customer whose email, phone and name are spread through a
 * ticket's subject, description and messages, an attached file, the timeline, the audit trail, the change feed and a
 * receiver's echo of the webhooks. Refused while a ticket is open; afterwards the email is found in no table (every
 * column of every table, as text), no object and no log line, and the audit chain still verifies.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import pg from 'pg';
import { createObjectStorage } from '../../platform/object-storage';
import { objectDeletionStore } from '../../stores/object-deletions';
import { type ApiProcess, startApiProcess } from '../support/api-process';
import { multipart } from '../support/multipart';
import { ROOT } from '../support/processes';
import { createTenant, http, startStack, type Tenant, type TestStack } from '../support/stack';
import { eventually, type Receiver, seedEndpoint, startReceiver } from '../webhooks/support';

let stack: TestStack;
let api: ApiProcess;
let objectsDir: string;
let acme: Tenant;
let echo: Receiver;
const tag = randomUUID().slice(0, 8);
const email = `grace.${tag}@erasable.example`;
const phone = `+1 555 ${tag.replace(/\D/g, '').padEnd(4, '7').slice(0, 4)} 01`;
const name = `Grace Erasable ${tag}`;
let customerId: string;
let ticketId: string;
let openTicketId: string;
let attachmentKey: string;

beforeAll(async () => {
  objectsDir = mkdtempSync(path.join(os.tmpdir(), 'deskflow-erasure-'));
  const storage = { OBJECT_STORAGE: 'local', OBJECT_STORAGE_DIR: objectsDir };
  stack = await startStack(storage);
  api = await startApiProcess({ ...storage, LOG_LEVEL: 'debug' });
  acme = await createTenant(stack, 'Erasure');
  // A receiver that answers with the payload it got: the delivery log keeps (the first KiB of) its answer.
  echo = await startReceiver(({ body }) => ({ status: 200, body }));
  await seedEndpoint(stack, acme.id, echo.url);
}, 120_000);

afterAll(async () => {
  await api?.stop();
  await echo?.close();
  await stack?.close();
  rmSync(objectsDir, { recursive: true, force: true });
});

const call = (method: string, url: string, opts: { headers?: Record<string, string>; body?: unknown } = {}) => http(api, method, url, opts);

/** Tables where `needle` appears in any column of any row (compared as text, case-insensitively), with counts. */
async function tablesContaining(needle: string): Promise<Record<string, number>> {
  const { rows: tables } = await stack.admin.query<{ t: string }>("SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public' ORDER BY 1");
  const hits: Record<string, number> = {};
  for (const { t } of tables) {
    const { rows } = await stack.admin.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${pg.escapeIdentifier(t)} r WHERE strpos(lower(r::text), lower($1)) > 0`,
      [needle],
    );
    if (rows[0]!.n > 0) hits[t] = rows[0]!.n;
  }
  return hits;
}

/** Every object file under the test's store holding `needle`. */
function objectsContaining(needle: string): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (readFileSync(full).includes(needle)) found.push(path.relative(objectsDir, full));
    }
  };
  walk(objectsDir);
  return found;
}

const verifyAudit = (tenantId: string) => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'platform/cli/admin.ts'), 'verify-audit', '--tenant', tenantId], {
    cwd: ROOT,
    env: process.env,
    encoding: 'utf8',
  });
  return { code: r.status, out: r.stdout };
};

async function closeTicket(id: string) {
  for (const status of ['solved', 'closed'])
    expect((await call('PATCH', `/api/v1/tickets/${id}`, { headers: acme.headers, body: { status } })).status).toBe(200);
}

it('a customer whose data is spread through tickets, files, the timeline, the audit trail and webhooks', async () => {
  const created = await call('POST', '/api/v1/customers', {
    headers: acme.admin.headers,
    body: { name, email, phone, external_id: `crm-${tag}` },
  });
  expect(created.status).toBe(201);
  customerId = created.body.id;
  const ticket = await call('POST', '/api/v1/tickets', {
    headers: acme.headers,
    body: { subject: `Refund for ${email}`, description: `Please call me on ${phone} or write to ${email}`, customer_id: customerId },
  });
  expect(ticket.status).toBe(201);
  ticketId = ticket.body.id;

  // The customer's reply, with a file that names them.
  const { body, contentType } = multipart([
    { name: 'body', value: `It is me, ${name} (${email}), still waiting` },
    { name: 'author_type', value: 'customer' },
    { name: 'files', filename: 'statement.txt', type: 'text/plain', data: `Statement of ${name}\nContact: ${email}\n` },
  ]);
  const reply = await fetch(`${api.url}/api/v1/tickets/${ticketId}/messages`, {
    method: 'POST',
    headers: { ...acme.headers, 'Content-Type': contentType },
    body,
  });
  expect(reply.status).toBe(201);
  const { rows } = await stack.admin.query<{ storage_key: string }>('SELECT storage_key FROM attachments WHERE ticket_id = $1', [ticketId]);
  attachmentKey = rows[0]!.storage_key;
  // Agents quote them.
  for (const m of [
    { body: `Hello ${name}, we will write to ${email} today.`, visibility: 'public' },
    { body: `Customer ${email} called from ${phone}.`, visibility: 'internal' },
  ])
    expect((await call('POST', `/api/v1/tickets/${ticketId}/messages`, { headers: acme.headers, body: m })).status).toBe(201);
  expect((await call('PATCH', `/api/v1/tickets/${ticketId}`, { headers: acme.headers, body: { subject: `Refund (${email})` } })).status).toBe(200);
  await closeTicket(ticketId);

  // The echo of at least one webhook carrying the email is in the delivery log.
  await eventually(
    () => tablesContaining(email),
    (hits) => (hits.webhook_attempts ?? 0) > 0,
    30_000,
  );
  const hits = await tablesContaining(email);
  expect(Object.keys(hits)).toEqual(expect.arrayContaining(['tickets', 'messages', 'ticket_events', 'audit_log', 'webhook_events', 'webhook_attempts']));
  expect(objectsContaining(email)).toEqual([attachmentKey]);
  expect(Object.keys(await tablesContaining(name))).toEqual(expect.arrayContaining(['customers', 'audit_log', 'messages']));
}, 90_000);

it('only admins may erase; an open ticket of the customer refuses it and nothing changes', async () => {
  expect((await call('POST', `/api/v1/customers/${customerId}/erase`, { headers: acme.agent.headers })).status).toBe(403);
  const open = await call('POST', '/api/v1/tickets', {
    headers: acme.headers,
    body: { subject: 'Another question', description: 'About my order', customer_id: customerId },
  });
  expect(open.status).toBe(201);
  openTicketId = open.body.id;
  const before = await tablesContaining(email);
  const refused = await call('POST', `/api/v1/customers/${customerId}/erase`, { headers: acme.admin.headers });
  expect(refused.status).toBe(409);
  expect(refused.body.detail).toMatch(/tickets that are not closed/);
  expect(await tablesContaining(email)).toEqual(before);
  expect((await call('GET', `/api/v1/customers/${customerId}`, { headers: acme.headers })).body.email).toBe(email);
  // Another tenant's admin finds no such customer.
  const other = await createTenant(stack, 'Elsewhere');
  expect((await call('POST', `/api/v1/customers/${customerId}/erase`, { headers: other.admin.headers })).status).toBe(404);
});

it('erasure leaves no trace of the email in any table, object or log line, and the audit chain verifies', async () => {
  await closeTicket(openTicketId);
  // Every webhook delivered first: an attempt in flight during the erasure would log an answer to what was sent before it.
  await eventually(
    async () =>
      (await stack.admin.query("SELECT count(*)::int AS n FROM webhook_deliveries WHERE tenant_id = $1 AND status <> 'delivered'", [acme.id])).rows[0].n,
    (n) => n === 0,
    30_000,
  );
  const erased = await call('POST', `/api/v1/customers/${customerId}/erase`, { headers: acme.admin.headers });
  expect(erased.status).toBe(200);
  expect(erased.body).toMatchObject({
    customer_id: customerId,
    already_erased: false,
    tickets: 2,
    messages_erased: 3, // the description opening each ticket, and the reply
    attachments_deleted: 1,
    legacy_audit_entries_kept: 0,
    objects_pending: 0,
  });
  expect(erased.body.audit_entries_redacted).toBeGreaterThan(2);

  for (const needle of [email, phone, name, `crm-${tag}`]) expect({ needle, hits: await tablesContaining(needle) }).toEqual({ needle, hits: {} });
  expect(objectsContaining(email)).toEqual([]);
  expect(objectsContaining(name)).toEqual([]);
  const logs = api.output();
  expect(logs).toContain(customerId); // the log was read: the erasure's request is in it
  expect(logs).not.toContain(email);
  expect(logs).not.toContain(phone);

  // What is left reads as erased; what others wrote stays, with the customer's identifiers replaced.
  const customer = await call('GET', `/api/v1/customers/${customerId}`, { headers: acme.headers });
  expect(customer.body).toMatchObject({ name: '[erased]', email: null, phone: null, external_id: null });
  const ticket = await call('GET', `/api/v1/tickets/${ticketId}`, { headers: acme.headers });
  expect(ticket.body).toMatchObject({ subject: '[erased]', description: '[erased]', status: 'closed' });
  const messages = await call('GET', `/api/v1/tickets/${ticketId}/messages`, { headers: acme.headers });
  expect(messages.body.data.map((m: any) => [m.author_type, m.body, m.attachments.length])).toEqual([
    ['customer', '[erased]', 0],
    ['customer', '[erased]', 0],
    ['agent', 'Hello [erased], we will write to [erased] today.', 0],
    ['agent', 'Customer [erased] called from [erased].', 0],
  ]);

  // The chain verifies; the erasure is in it, naming the entries it redacted.
  const verified = verifyAudit(acme.id);
  expect(verified).toEqual({ code: 0, out: expect.stringContaining(`${acme.id}:`) });
  expect(verified.out).toContain('intact');
  const audit = await call('GET', `/api/v1/audit?entity_type=customer&entity_id=${customerId}`, { headers: acme.admin.headers });
  expect(audit.body.data[0]).toMatchObject({ action: 'customer.erased', actor: { type: 'agent', id: acme.admin.id } });
  expect(audit.body.data[0].after.redacted_seqs).toHaveLength(erased.body.audit_entries_redacted);
}, 60_000);

it('an erased customer takes no new ticket and no edit; erasing again is harmless', async () => {
  const ticket = await call('POST', '/api/v1/tickets', { headers: acme.headers, body: { subject: 's', description: 'd', customer_id: customerId } });
  expect(ticket.status).toBe(422);
  expect(ticket.body.code).toBe('unknown_customer');
  const patched = await call('PATCH', `/api/v1/customers/${customerId}`, { headers: acme.headers, body: { email } });
  expect(patched.status).toBe(409);
  const again = await call('POST', `/api/v1/customers/${customerId}/erase`, { headers: acme.admin.headers });
  expect(again.status).toBe(200);
  expect(again.body).toMatchObject({ already_erased: true, tickets: 0, audit_entries_redacted: 0 });
  expect(await tablesContaining(email)).toEqual({});
});

describe('the audit chain around redactions', () => {
  it('refuses a redaction that does not keep the digest of what it removed, even to the owner', async () => {
    const owner = await stack.admin.connect();
    try {
      await owner.query('BEGIN');
      await owner.query("SELECT set_config('deskflow.audit_redaction', 'on', true)");
      const attempt = owner.query(
        `UPDATE audit_log SET after = '{"x": 1}', payload_sha256 = repeat('0', 64), redacted_at = now()
         WHERE tenant_id = $1 AND redacted_at IS NULL AND hash_version = 2`,
        [acme.id],
      );
      await expect(attempt).rejects.toMatchObject({ code: '42501' });
    } finally {
      await owner.query('ROLLBACK');
      owner.release();
    }
  });

  it('an entry redacted behind the trail’s back (no erasure recorded) fails verification', async () => {
    const tenant = await createTenant(stack, 'Sneaky');
    await http(stack, 'POST', '/api/v1/customers', { headers: tenant.admin.headers, body: { name: 'Somebody' } });
    expect(verifyAudit(tenant.id).code).toBe(0);
    const owner = await stack.admin.connect();
    try {
      await owner.query('BEGIN');
      await owner.query('ALTER TABLE audit_log DISABLE TRIGGER audit_log_immutable');
      const { rowCount } = await owner.query(
        `UPDATE audit_log SET after = '{"name": "[erased]"}', payload_sha256 = audit_payload_sha256(before, after), redacted_at = now()
         WHERE tenant_id = $1 AND action = 'customer.created' AND after->>'name' = 'Somebody'`,
        [tenant.id],
      );
      expect(rowCount).toBe(1);
      await owner.query('ALTER TABLE audit_log ENABLE TRIGGER audit_log_immutable');
      await owner.query('COMMIT');
    } catch (err) {
      await owner.query('ROLLBACK');
      throw err;
    } finally {
      owner.release();
    }
    const broken = verifyAudit(tenant.id);
    expect(broken.code).toBe(1);
    expect(broken.out).toMatch(/entry \d+: payload redacted without a recorded erasure/);
  });
});

it('objects an erasure could not delete at once are deleted by the retention sweep', async () => {
  const storage = createObjectStorage({ ...stack.config, OBJECT_STORAGE: 'local', OBJECT_STORAGE_DIR: objectsDir });
  const key = `attachments/${acme.id}/${randomUUID()}/${randomUUID()}`;
  await storage.put(key, Readable.from([Buffer.from(`left behind: ${email}`)]), { contentType: 'text/plain' });
  await stack.admin.query("INSERT INTO pending_object_deletions (storage_key, reason, created_at) VALUES ($1, 'test', now() - interval '1 hour')", [key]);
  // The application role reaches the table only through the narrow functions.
  await expect(stack.pool.query('SELECT * FROM pending_object_deletions')).rejects.toThrow(/permission denied/);
  expect(await objectDeletionStore(stack.pool, storage).sweep(new Date(Date.now() - 5 * 60 * 1000), 100)).toEqual({ due: 1, deleted: 1 });
  expect(await storage.head(key)).toBeNull();
  expect((await stack.admin.query('SELECT count(*)::int AS n FROM pending_object_deletions WHERE storage_key = $1', [key])).rows[0].n).toBe(0);
});
