/**
 * Erasure of a customer (`POST /api/v1/customers/:id/erase`) against the run's PostgreSQL, Redis, Temporal and worker,
 * with an API process of its own whose logs are read: a customer whose email, phone and name are spread through a
 * ticket's subject, description and messages, an attached file, the timeline, the audit trail, the change feed and a
 * receiver's echo of the webhooks. Refused while a ticket is open; afterwards the email is found in no table (every
 * column of every table, as text), no object and no log line, and the audit chain still verifies.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import pg from 'pg';
import { ticketWorkflowId } from '../../domain/ids';
import { createObjectStorage } from '../../platform/object-storage';
import { objectDeletionStore } from '../../stores/object-deletions';
import { type ApiProcess, startApiProcess } from '../support/api-process';
import { multipart } from '../support/multipart';
import { runAdmin } from '../support/processes';
import { createTenant, http, startStack, type Tenant, type TestStack } from '../support/stack';
import { archiveNow, keysUnder, sha256 } from '../archive/support';
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
  // The run's store, which the shared worker uses too: a restore (a workflow on that worker) reads the archives here.
  objectsDir = process.env.OBJECT_STORAGE_DIR ?? mkdtempSync(path.join(os.tmpdir(), 'deskflow-erasure-'));
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
  if (objectsDir !== process.env.OBJECT_STORAGE_DIR) rmSync(objectsDir, { recursive: true, force: true });
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

const verifyAudit = async (tenantId: string) => {
  const r = await runAdmin(['verify-audit', '--tenant', tenantId]);
  return { code: r.code, out: r.out };
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

/** Waits until every webhook delivery of the tenant is delivered (none pending or in flight). */
async function allDelivered(): Promise<void> {
  await eventually(
    async () =>
      (await stack.admin.query("SELECT count(*)::int AS n FROM webhook_deliveries WHERE tenant_id = $1 AND status <> 'delivered'", [acme.id])).rows[0].n,
    (n) => n === 0,
    30_000,
  );
}

it('only admins may erase; an open ticket of the customer refuses it and nothing changes', async () => {
  expect((await call('POST', `/api/v1/customers/${customerId}/erase`, { headers: acme.agent.headers })).status).toBe(403);
  const open = await call('POST', '/api/v1/tickets', {
    headers: acme.headers,
    body: { subject: 'Another question', description: 'About my order', customer_id: customerId },
  });
  expect(open.status).toBe(201);
  openTicketId = open.body.id;
  // The opening's webhooks delivered first: an attempt landing after the snapshot would count as a change.
  await allDelivered();
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
  await allDelivered();
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
  const verified = await verifyAudit(acme.id);
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

  it('a redacted entry may be redacted again only keeping the digest of what it first held, and only with the flag', async () => {
    const owner = await stack.admin.connect();
    try {
      await owner.query('BEGIN');
      const { rows } = await owner.query<{ seq: string }>('SELECT seq FROM audit_log WHERE tenant_id = $1 AND redacted_at IS NOT NULL ORDER BY seq LIMIT 1', [
        acme.id,
      ]);
      expect(rows).toHaveLength(1); // the erasure above redacted some
      const again = (digest: string) =>
        owner.query(`UPDATE audit_log SET after = '{"x": 1}', payload_sha256 = ${digest}, redacted_at = now() WHERE tenant_id = $1 AND seq = $2`, [
          acme.id,
          rows[0]!.seq,
        ]);
      await owner.query('SAVEPOINT s');
      await expect(again('payload_sha256')).rejects.toMatchObject({ code: '42501' }); // no flag
      await owner.query('ROLLBACK TO SAVEPOINT s');
      await owner.query("SELECT set_config('deskflow.audit_redaction', 'on', true)");
      await expect(again('audit_payload_sha256(before, after)')).rejects.toMatchObject({ code: '42501' }); // a new digest
      await owner.query('ROLLBACK TO SAVEPOINT s');
      await owner.query("SELECT set_config('deskflow.audit_redaction', 'on', true)");
      expect((await again('payload_sha256')).rowCount).toBe(1); // the first digest kept: allowed
    } finally {
      await owner.query('ROLLBACK');
      owner.release();
    }
  });

  it('an entry redacted behind the trail’s back (no erasure recorded) fails verification', async () => {
    const tenant = await createTenant(stack, 'Sneaky');
    await http(stack, 'POST', '/api/v1/customers', { headers: tenant.admin.headers, body: { name: 'Somebody' } });
    expect((await verifyAudit(tenant.id)).code).toBe(0);
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
    const broken = await verifyAudit(tenant.id);
    expect(broken.code).toBe(1);
    expect(broken.out).toMatch(/entry \d+: payload redacted without a recorded erasure/);
  });
});

it('objects an erasure could not delete at once are deleted by the retention sweep', async () => {
  const storage = createObjectStorage({ ...stack.config, OBJECT_STORAGE: 'local', OBJECT_STORAGE_DIR: objectsDir });
  const key = `attachments/${acme.id}/${randomUUID()}/${randomUUID()}`;
  await storage.put(key, Readable.from([Buffer.from(`left behind: ${email}`)]), { contentType: 'text/plain' });
  // Pending since long ago, and swept with a cut-off only it is older than: the table is shared by every tenant, and
  // other suites of the same test database leave keys of their own pending (for their own object stores).
  await stack.admin.query("INSERT INTO pending_object_deletions (storage_key, reason, created_at) VALUES ($1, 'test', now() - interval '10 years')", [key]);
  // The application role reaches the table only through the narrow functions.
  await expect(stack.pool.query('SELECT * FROM pending_object_deletions')).rejects.toThrow(/permission denied/);
  const nineYearsAgo = new Date(Date.now() - 9 * 365 * 24 * 60 * 60 * 1000);
  expect(await objectDeletionStore(stack.pool, storage).sweep(nineYearsAgo, 100)).toEqual({ due: 1, deleted: 1 });
  expect(await storage.head(key)).toBeNull();
  expect((await stack.admin.query('SELECT count(*)::int AS n FROM pending_object_deletions WHERE storage_key = $1', [key])).rows[0].n).toBe(0);
});

describe('legal holds and archived tickets', () => {
  const t2 = randomUUID().slice(0, 8);
  const email2 = `ada.${t2}@erasable.example`;
  const phone2 = `+1 555 ${t2.replace(/\D/g, '').padEnd(4, '3').slice(0, 4)} 02`;
  const name2 = `Ada Archived ${t2}`;
  let customer2: string;
  let archivedId: string;
  let hotId: string;
  let folder: string;
  let agentFileKey: string;
  const storage = () => createObjectStorage(stack.config);

  async function newCustomer(n: string, e: string, p: string): Promise<string> {
    const created = await call('POST', '/api/v1/customers', { headers: acme.admin.headers, body: { name: n, email: e, phone: p } });
    expect(created.status).toBe(201);
    return created.body.id;
  }

  async function closedTicketOf(customer: string, subject: string, description: string, parts: { customer: string; agent: string; file: string }) {
    const ticket = await call('POST', '/api/v1/tickets', { headers: acme.headers, body: { subject, description, customer_id: customer } });
    expect(ticket.status).toBe(201);
    const id: string = ticket.body.id;
    for (const [author, body, file] of [
      ['customer', parts.customer, parts.file],
      ['agent', parts.agent, 'Your receipt, no names in it.\n'],
    ] as const) {
      const form = multipart([
        { name: 'body', value: body },
        ...(author === 'customer' ? [{ name: 'author_type', value: 'customer' }] : []),
        { name: 'files', filename: `${author}.txt`, type: 'text/plain', data: file },
      ]);
      const res = await fetch(`${api.url}/api/v1/tickets/${id}/messages`, {
        method: 'POST',
        headers: { ...acme.headers, 'Content-Type': form.contentType },
        body: form.body,
      });
      expect(res.status).toBe(201);
    }
    await closeTicket(id);
    await stack.temporal.workflow.getHandle(ticketWorkflowId(id)).result();
    return id;
  }

  it('a legal hold on a hot ticket of the customer refuses the erasure (409) and nothing changes', async () => {
    const t3 = randomUUID().slice(0, 8);
    const heldEmail = `held.${t3}@erasable.example`;
    const held = await newCustomer(`Held Person ${t3}`, heldEmail, '+1 555 0000 03');
    const id = await closedTicketOf(held, `Contract of ${heldEmail}`, 'Keep this', { customer: `Signed, ${heldEmail}`, agent: 'Noted.', file: heldEmail });
    expect((await call('PUT', `/api/v1/tickets/${id}/legal-hold`, { headers: acme.admin.headers, body: { reason: 'Case 2026-9' } })).status).toBe(200);
    await allDelivered();
    const before = await tablesContaining(heldEmail);
    expect(Object.keys(before)).toEqual(expect.arrayContaining(['tickets', 'messages', 'audit_log'])); // (the customer row holds it encrypted)
    const refused = await call('POST', `/api/v1/customers/${held}/erase`, { headers: acme.admin.headers });
    expect(refused.status).toBe(409);
    expect(refused.body.detail).toMatch(/legal hold keeps tickets of the customer/);
    expect(refused.body.detail).toMatch(/17\(3\)\(e\)/);
    expect(await tablesContaining(heldEmail)).toEqual(before);
    expect((await call('GET', `/api/v1/customers/${held}`, { headers: acme.headers })).body.email).toBe(heldEmail);
    expect(objectsContaining(heldEmail)).toHaveLength(1);
  }, 60_000);

  it('an archived ticket under a hold refuses it too; once lifted, the archive is redacted, still verifies and restores', async () => {
    customer2 = await newCustomer(name2, email2, phone2);
    archivedId = await closedTicketOf(customer2, `Invoice for ${email2}`, `Call ${phone2}, ask for ${name2}`, {
      customer: `This is ${name2}, reach me at ${email2}`,
      agent: `Dear ${name2}, we wrote to ${email2}.`,
      file: `Statement of ${name2}\nPhone ${phone2}\n`,
    });
    hotId = await closedTicketOf(customer2, 'A later question', 'Nothing personal', { customer: 'Fine', agent: 'Good.', file: 'plain' });
    expect(await archiveNow(stack, storage(), acme.id, archivedId)).toBe('archived');
    const meta = await call('GET', `/api/v1/tickets/${archivedId}`, { headers: acme.headers });
    expect(meta.body.archived_at).toEqual(expect.any(String));
    folder = meta.body.archive.location.replace(/ticket\.json$/, '');
    const archivedKeys = await keysUnder(storage(), folder);
    expect(archivedKeys).toHaveLength(3); // the document and two files
    expect(objectsContaining(email2).length).toBeGreaterThan(0);
    const doc0 = await call('GET', `/api/v1/tickets/${archivedId}/archive`, { headers: acme.headers });
    const agentMessage = doc0.body.messages.find((m: any) => m.author_type === 'agent' && m.body.startsWith('Dear'));
    agentFileKey = doc0.body.attachments.find((a: any) => a.message_id === agentMessage.id).archive_key;

    // Held while archived: refused, nothing changes (not the archive either).
    expect((await call('PUT', `/api/v1/tickets/${archivedId}/legal-hold`, { headers: acme.admin.headers, body: { reason: 'Case 2026-10' } })).status).toBe(200);
    await allDelivered();
    const before = await tablesContaining(email2);
    const objectsBefore = objectsContaining(email2);
    const refused = await call('POST', `/api/v1/customers/${customer2}/erase`, { headers: acme.admin.headers });
    expect(refused.status).toBe(409);
    expect(refused.body.detail).toMatch(/legal hold/);
    expect(await tablesContaining(email2)).toEqual(before);
    expect(objectsContaining(email2)).toEqual(objectsBefore);
    expect((await call('GET', `/api/v1/customers/${customer2}`, { headers: acme.headers })).body.email).toBe(email2);
    expect((await call('DELETE', `/api/v1/tickets/${archivedId}/legal-hold`, { headers: acme.admin.headers })).status).toBe(204);

    await allDelivered();
    const erased = await call('POST', `/api/v1/customers/${customer2}/erase`, { headers: acme.admin.headers });
    expect(erased.status).toBe(200);
    expect(erased.body).toMatchObject({ tickets: 1, archived_tickets: 1, attachments_deleted: 2, objects_pending: 0 });

    // No trace anywhere: tables, every object under the archive's folder (and the whole store).
    for (const needle of [email2, phone2, name2]) {
      expect({ needle, hits: await tablesContaining(needle) }).toEqual({ needle, hits: {} });
      expect({ needle, objects: objectsContaining(needle) }).toEqual({ needle, objects: [] });
    }
    const left = await keysUnder(storage(), folder);
    expect(left.sort()).toEqual([`${folder}ticket.json`, agentFileKey].sort());
    for (const key of left) {
      const object = await storage().get(key);
      const chunks: Buffer[] = [];
      for await (const chunk of object!.body) chunks.push(chunk as Buffer);
      const text = Buffer.concat(chunks).toString('utf8');
      for (const needle of [email2, phone2, name2]) expect({ key, found: text.toLowerCase().includes(needle.toLowerCase()) }).toEqual({ key, found: false });
    }

    // The read path streams a document that verifies against the recorded SHA-256.
    const after = await call('GET', `/api/v1/tickets/${archivedId}`, { headers: acme.headers });
    expect(after.body).toMatchObject({ subject: '[erased]', archive: { attachments: 1 } });
    const res = await fetch(`${api.url}/api/v1/tickets/${archivedId}/archive`, { headers: acme.headers });
    expect(res.status).toBe(200);
    const bytes = Buffer.from(await res.arrayBuffer());
    expect(sha256(bytes)).toBe(after.body.archive.sha256);
    expect(res.headers.get('etag')).toBe(`"${after.body.archive.sha256}"`);
    const doc = JSON.parse(bytes.toString('utf8'));
    expect(doc.ticket).toMatchObject({ subject: '[erased]', description: '[erased]' });
    expect(doc.messages.map((m: any) => [m.author_type, m.body])).toEqual([
      ['customer', '[erased]'],
      ['customer', '[erased]'],
      ['agent', 'Dear [erased], we wrote to [erased].'],
    ]);
    expect(doc.attachments.map((a: any) => a.archive_key)).toEqual([agentFileKey]);
    expect(await verifyAudit(acme.id)).toMatchObject({ code: 0 });

    // Restore brings the redacted ticket back, the agent's file with it.
    const restored = await call('POST', `/api/v1/tickets/${archivedId}/restore`, { headers: acme.admin.headers });
    expect(restored.status).toBe(200);
    expect(restored.body).toMatchObject({ id: archivedId, subject: '[erased]', description: '[erased]', status: 'closed' });
    const messages = await call('GET', `/api/v1/tickets/${archivedId}/messages`, { headers: acme.headers });
    expect(messages.body.data.map((m: any) => [m.author_type, m.body, m.attachments.length])).toEqual([
      ['customer', '[erased]', 0],
      ['customer', '[erased]', 0],
      ['agent', 'Dear [erased], we wrote to [erased].', 1],
    ]);
    for (const needle of [email2, phone2, name2]) expect({ needle, hits: await tablesContaining(needle) }).toEqual({ needle, hits: {} });
    expect(hotId).toEqual(expect.any(String));
  }, 120_000);

  it('a document a crash left rewritten but not recorded is finished by the retried erasure', async () => {
    const t4 = randomUUID().slice(0, 8);
    const email4 = `crash.${t4}@erasable.example`;
    const name4 = `Crash Person ${t4}`;
    const customer4 = await newCustomer(name4, email4, '+1 555 0000 04');
    const id = await closedTicketOf(customer4, `Order of ${email4}`, 'Where is it?', {
      customer: `Regards, ${name4}`,
      agent: `Hello ${name4}, sent to ${email4}.`,
      file: `${name4}\n`,
    });
    expect(await archiveNow(stack, storage(), acme.id, id)).toBe('archived');
    const meta = await call('GET', `/api/v1/tickets/${id}`, { headers: acme.headers });
    // What a crash between the rewrite and the commit leaves: the document changed (here, half redacted), the record not.
    const key: string = meta.body.archive.location;
    const object = await storage().get(key);
    const chunks: Buffer[] = [];
    for await (const chunk of object!.body) chunks.push(chunk as Buffer);
    const doc = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    doc.ticket.subject = '[erased]';
    await storage().put(key, Readable.from([Buffer.from(JSON.stringify(doc))]), { contentType: 'application/json' });

    await allDelivered();
    const erased = await call('POST', `/api/v1/customers/${customer4}/erase`, { headers: acme.admin.headers });
    expect(erased.status).toBe(200);
    expect(erased.body).toMatchObject({ archived_tickets: 1, objects_pending: 0 });
    for (const needle of [email4, name4]) {
      expect({ needle, hits: await tablesContaining(needle) }).toEqual({ needle, hits: {} });
      expect({ needle, objects: objectsContaining(needle) }).toEqual({ needle, objects: [] });
    }
    const after = await call('GET', `/api/v1/tickets/${id}`, { headers: acme.headers });
    const res = await fetch(`${api.url}/api/v1/tickets/${id}/archive`, { headers: acme.headers });
    expect(res.status).toBe(200);
    expect(sha256(Buffer.from(await res.arrayBuffer()))).toBe(after.body.archive.sha256);
  }, 120_000);

  it('an archival run that exported before an erasure cannot remove the redacted ticket (its export is stale)', async () => {
    const t5 = randomUUID().slice(0, 8);
    const email5 = `race.${t5}@erasable.example`;
    const customer5 = await newCustomer(`Race Person ${t5}`, email5, '+1 555 0000 05');
    const id = await closedTicketOf(customer5, `Parcel for ${email5}`, 'Lost', { customer: 'Hello', agent: 'Hi', file: 'x' });
    const { rows } = await stack.admin.query('SELECT subject, version, closed_at, created_at, updated_at FROM tickets WHERE id = $1', [id]);
    const exported = rows[0];
    await allDelivered();
    expect((await call('POST', `/api/v1/customers/${customer5}/erase`, { headers: acme.admin.headers })).status).toBe(200);
    // The archival transaction as a run that exported before the erasure would make it, rolled back either way.
    const attempt = async (subject: string) => {
      const client = await stack.pool.connect();
      try {
        await client.query('BEGIN');
        await client.query("SELECT set_config('app.tenant_id', $1, true)", [acme.id]);
        await client.query(
          `INSERT INTO ticket_archives (ticket_id, tenant_id, state, subject, priority, channel, customer_id, ticket_version, ticket_created_at,
                                        ticket_updated_at, closed_at, location, sha256, size_bytes, storage_class, message_count, attachment_count,
                                        attachment_bytes, verified_at)
           VALUES ($1, $2, 'archived', $3, 'normal', 'web', $4, $5, $6, $7, $8, 'archive/x/ticket.json', repeat('0', 64), 1, 'STANDARD', 0, 0, 0, now())`,
          [id, acme.id, subject, customer5, exported.version, exported.created_at, exported.updated_at, exported.closed_at],
        );
        return (await client.query('SELECT archive_remove_hot_ticket($1) AS outcome', [id])).rows[0].outcome;
      } finally {
        await client.query('ROLLBACK');
        client.release();
      }
    };
    expect(await attempt(exported.subject)).toBe('not_verified');
    expect(await attempt('[erased]')).toBe('removed');
    expect((await stack.admin.query('SELECT count(*)::int AS n FROM tickets WHERE id = $1', [id])).rows[0].n).toBe(1);
  }, 60_000);
});
