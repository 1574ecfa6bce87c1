/**
 * The audit trail: who changed what, for every administrative and ticket change; readable (filtered,
 * paginated) by admins; free of customer PII and secrets; append-only for the application and the owner;
 * hash-chained so that `verify-audit` detects an edited or a deleted entry, and, given an anchor that
 * `audit-head` signed earlier, the removal of the newest entries too.
 */
import { rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { runAdmin } from '../support/processes';
import { createTenant, http, login, startStack, type Tenant, type TestStack } from '../support/stack';

let stack: TestStack;
let acme: Tenant;

beforeAll(async () => {
  stack = await startStack();
  acme = await createTenant(stack, 'Audited');
});
afterAll(() => stack.close());

interface Entry {
  seq: number;
  actor: { type: string; id: string | null };
  action: string;
  entity_type: string;
  entity_id: string | null;
  before: any;
  after: any;
  request_id: string | null;
  occurred_at: string;
  hash: string;
}

const audit = (query: Record<string, string> = {}, headers = acme.admin.headers) =>
  http(stack, 'GET', `/api/v1/audit?${new URLSearchParams(query)}`, { headers });

/** Every entry matching `query`, following the cursors. */
async function allEntries(query: Record<string, string>, headers = acme.admin.headers): Promise<Entry[]> {
  const entries: Entry[] = [];
  let cursor: string | null = null;
  do {
    const res = await audit({ ...query, limit: '100', ...(cursor ? { cursor } : {}) }, headers);
    expect(res.status).toBe(200);
    entries.push(...res.body.data);
    cursor = res.body.next_cursor;
  } while (cursor);
  return entries;
}

/** Polls (bounded) until `query` yields at least `count` entries: ticket entries are written by the worker. */
async function eventually(query: Record<string, string>, count: number, timeoutMs = 10_000): Promise<Entry[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const entries = await allEntries(query);
    if (entries.length >= count || Date.now() > deadline) return entries;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('what is audited', () => {
  it('customer create and update, with the request id and without the PII', async () => {
    const requestId = `audit-test-${randomUUID()}`;
    const pii = { email: `pii-${randomUUID()}@example.com`, phone: '+44 20 7946 0958' };
    const created = await http(stack, 'POST', '/api/v1/customers', {
      headers: { ...acme.headers, 'X-Request-Id': requestId },
      body: { name: 'Private Person', ...pii, external_id: 'crm-7' },
    });
    expect(created.status).toBe(201);
    const newPii = { email: `pii-new-${randomUUID()}@example.com`, phone: '+44 20 7946 0000' };
    const patched = await http(stack, 'PATCH', `/api/v1/customers/${created.body.id}`, { headers: acme.headers, body: { name: 'Renamed Person', ...newPii } });
    expect(patched.status).toBe(200);

    const entries = await allEntries({ entity_type: 'customer', entity_id: created.body.id });
    expect(entries.map((e) => e.action)).toEqual(['customer.updated', 'customer.created']); // newest first
    const [updated, creation] = entries as [Entry, Entry];
    expect(creation).toMatchObject({
      actor: { type: 'agent', id: acme.agent.id },
      entity_type: 'customer',
      entity_id: created.body.id,
      request_id: requestId,
      before: null,
      after: { name: 'Private Person', email: '[encrypted]', phone: '[encrypted]', external_id: 'crm-7' },
    });
    expect(updated).toMatchObject({
      before: { name: 'Private Person', email: '[encrypted]', phone: '[encrypted]' },
      after: { name: 'Renamed Person', email: '[encrypted]', phone: '[encrypted]' },
    });
    expect(updated.seq).toBeGreaterThan(creation.seq);

    // Neither the API's view nor the stored rows hold the addresses or numbers, old or new.
    const { rows } = await stack.admin.query('SELECT row_to_json(a)::text AS row FROM audit_log a WHERE tenant_id = $1', [acme.id]);
    const stored = rows.map((r) => r.row).join('\n');
    for (const value of [pii.email, pii.phone, newPii.email, newPii.phone, pii.email.split('@')[0]!, '7946']) {
      expect(JSON.stringify(entries)).not.toContain(value);
      expect(stored).not.toContain(value);
    }
  });

  it('user create and update (never the password)', async () => {
    const password = `a secret passphrase ${randomUUID()}`;
    const created = await http(stack, 'POST', '/api/v1/users', {
      headers: acme.admin.headers,
      body: { email: `new-agent-${randomUUID()}@audited.test`, name: 'New Agent', role: 'agent', password },
    });
    expect(created.status).toBe(201);
    const newPassword = `another passphrase ${randomUUID()}`;
    expect(
      (await http(stack, 'PATCH', `/api/v1/users/${created.body.id}`, { headers: acme.admin.headers, body: { name: 'Senior Agent', password: newPassword } }))
        .status,
    ).toBe(200);

    const entries = await allEntries({ entity_type: 'user', entity_id: created.body.id });
    expect(entries).toEqual([
      expect.objectContaining({
        action: 'user.updated',
        actor: { type: 'agent', id: acme.admin.id },
        before: { name: 'New Agent' },
        after: { name: 'Senior Agent', password: '[changed]' },
      }),
      expect.objectContaining({ action: 'user.created', after: { email: created.body.email, name: 'New Agent', role: 'agent' } }),
    ]);
    for (const secret of [password, newPassword, '$argon2']) expect(JSON.stringify(entries)).not.toContain(secret);
  });

  it('API key create and revoke (never the token); what a key does is attributed to it', async () => {
    const created = await http(stack, 'POST', '/api/v1/api-keys', { headers: acme.admin.headers, body: { name: 'crm sync', scopes: ['customers:write'] } });
    expect(created.status).toBe(201);
    const keyHeaders = { Authorization: `Bearer ${created.body.token}` };
    const customer = await http(stack, 'POST', '/api/v1/customers', { headers: keyHeaders, body: { name: 'Synced' } });
    expect(customer.status).toBe(201);
    expect((await http(stack, 'DELETE', `/api/v1/api-keys/${created.body.id}`, { headers: acme.admin.headers })).status).toBe(204);

    const entries = await allEntries({ entity_type: 'api_key', entity_id: created.body.id });
    expect(entries).toEqual([
      expect.objectContaining({ action: 'api_key.revoked', actor: { type: 'agent', id: acme.admin.id } }),
      expect.objectContaining({
        action: 'api_key.created',
        actor: { type: 'agent', id: acme.admin.id },
        after: { name: 'crm sync', prefix: created.body.prefix, scopes: ['customers:write'], rate_limit_per_min: null },
      }),
    ]);
    expect(JSON.stringify(entries)).not.toContain(created.body.token.slice('dfk_'.length + 13)); // the 43-char secret (it may itself contain '_')
    const byKey = await allEntries({ entity_type: 'customer', entity_id: customer.body.id });
    expect(byKey).toEqual([expect.objectContaining({ action: 'customer.created', actor: { type: 'api_key', id: created.body.id } })]);
  });

  it('tenant update and inbound secret rotation (never the secret)', async () => {
    const renamed = await http(stack, 'PATCH', '/api/v1/tenant', { headers: acme.admin.headers, body: { name: 'Audited Ltd', rate_limit_per_min: 5000 } });
    expect(renamed.status).toBe(200);
    const rotated = await http(stack, 'POST', '/api/v1/tenant/inbound-secret', { headers: acme.admin.headers });
    expect(rotated.status).toBe(200);

    const entries = await allEntries({ entity_type: 'tenant', entity_id: acme.id });
    expect(entries.slice(0, 2)).toEqual([
      expect.objectContaining({ action: 'tenant.inbound_secret_rotated', actor: { type: 'agent', id: acme.admin.id } }),
      expect.objectContaining({
        action: 'tenant.updated',
        before: { name: 'Audited', rate_limit_per_min: null },
        after: { name: 'Audited Ltd', rate_limit_per_min: 5000 },
      }),
    ]);
    expect(JSON.stringify(entries)).not.toContain(rotated.body.inbound_secret);
    const { rows } = await stack.admin.query('SELECT count(*)::int AS n FROM audit_log WHERE tenant_id = $1 AND row_to_json(audit_log)::text LIKE $2', [
      acme.id,
      `%${rotated.body.inbound_secret}%`,
    ]);
    expect(rows[0].n).toBe(0);
  });

  it('login and logout', async () => {
    const session = await login(stack, acme.agent.email, acme.agent.password);
    expect((await http(stack, 'POST', '/api/v1/auth/logout', { headers: { Authorization: `Bearer ${session.token}` } })).status).toBe(204);
    const [logout, loginEntry] = await allEntries({ entity_type: 'user', entity_id: acme.agent.id, actor_id: acme.agent.id });
    expect(logout).toMatchObject({ action: 'auth.logout', actor: { type: 'agent', id: acme.agent.id } });
    expect(loginEntry).toMatchObject({
      action: 'auth.login',
      actor: { type: 'agent', id: acme.agent.id },
      after: { session_id: expect.any(String), ip: expect.any(String) },
    });
    expect(JSON.stringify([logout, loginEntry])).not.toContain(acme.agent.password);
    expect(JSON.stringify([logout, loginEntry])).not.toContain(session.token);
  });

  it('ticket create, patch and message (written by the worker with the projection, not the message body)', async () => {
    const created = await http(stack, 'POST', '/api/v1/tickets', {
      headers: acme.headers,
      body: { subject: 'Audited ticket', description: 'first words', customer_id: acme.customerId },
    });
    expect(created.status).toBe(201);
    const id = created.body.id;
    expect((await http(stack, 'PATCH', `/api/v1/tickets/${id}`, { headers: acme.headers, body: { priority: 'urgent' } })).status).toBe(200);
    const body = `a confidential reply ${randomUUID()}`;
    expect((await http(stack, 'POST', `/api/v1/tickets/${id}/messages`, { headers: acme.headers, body: { body } })).status).toBe(201);

    const entries = await eventually({ entity_type: 'ticket', entity_id: id }, 3);
    expect(entries.map((e) => e.action)).toEqual(['ticket.message_added', 'ticket.updated', 'ticket.created']);
    const [message, patch, creation] = entries as [Entry, Entry, Entry];
    expect(creation).toMatchObject({
      actor: { type: 'agent', id: acme.agent.id },
      before: null,
      after: { subject: 'Audited ticket', status: 'new', priority: 'normal', channel: 'api', customer_id: acme.customerId, version: 1 },
    });
    expect(patch).toMatchObject({ before: { priority: 'normal' }, after: { priority: 'urgent', version: 2 } });
    expect(message).toMatchObject({ after: { status: 'open', version: 3, visibility: 'public', author_type: 'agent', message_id: expect.any(String) } });
    expect(JSON.stringify(entries)).not.toContain(body);
    expect(JSON.stringify(entries)).not.toContain('first words');
  });
});

describe('reading the trail', () => {
  it('filters by entity, action and actor', async () => {
    const byAction = await allEntries({ action: 'user.created' });
    expect(byAction.length).toBeGreaterThanOrEqual(3); // the admin, the agent, and one per user test
    expect(byAction.every((e) => e.action === 'user.created' && e.entity_type === 'user')).toBe(true);

    const byType = await allEntries({ entity_type: 'customer' });
    expect(byType.length).toBeGreaterThan(0);
    expect(byType.every((e) => e.entity_type === 'customer')).toBe(true);

    const byActor = await allEntries({ actor_id: acme.admin.id });
    expect(byActor.length).toBeGreaterThan(0);
    expect(byActor.every((e) => e.actor.id === acme.admin.id)).toBe(true);

    const one = await allEntries({ entity_type: 'customer', entity_id: acme.customerId, action: 'customer.created' });
    expect(one).toEqual([expect.objectContaining({ entity_id: acme.customerId, action: 'customer.created' })]);
    expect(await allEntries({ entity_type: 'customer', entity_id: randomUUID() })).toEqual([]);
  });

  it('filters by time', async () => {
    const all = await allEntries({});
    const middle = all[Math.floor(all.length / 2)]!;
    const from = await allEntries({ from: middle.occurred_at });
    expect(from.length).toBeGreaterThan(0);
    expect(from.every((e) => e.occurred_at >= middle.occurred_at)).toBe(true);
    const to = await allEntries({ to: middle.occurred_at });
    expect(to.every((e) => e.occurred_at < middle.occurred_at)).toBe(true);
    expect(from.length + to.length).toBe(all.length);
  });

  it('paginates newest first with opaque cursors, without gaps or repeats', async () => {
    const all = await allEntries({});
    expect(all.length).toBeGreaterThan(7);
    const seqs = all.map((e) => e.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => b - a));

    const paged: Entry[] = [];
    let cursor: string | undefined;
    let pages = 0;
    for (;;) {
      const res = await audit({ limit: '3', ...(cursor ? { cursor } : {}) });
      expect(res.status).toBe(200);
      expect(res.body.data.length).toBeLessThanOrEqual(3);
      paged.push(...res.body.data);
      pages++;
      if (!res.body.has_more) {
        expect(res.body.next_cursor).toBeNull();
        break;
      }
      cursor = res.body.next_cursor;
    }
    expect(pages).toBe(Math.ceil(all.length / 3));
    expect(paged.map((e) => e.seq)).toEqual(seqs);
  });

  it('bad queries are 400s; agents cannot read it; other tenants see none of it', async () => {
    const bad: Record<string, string>[] = [{ cursor: 'not-a-cursor' }, { limit: '101' }, { surprise: '1' }, { action: 'DROP TABLE' }, { from: 'yesterday' }];
    for (const query of bad) {
      const res = await audit(query);
      expect({ query, status: res.status }).toEqual({ query, status: 400 });
    }
    const asAgent = await audit({}, acme.agent.headers);
    expect(asAgent.status).toBe(403);
    const globex = await createTenant(stack, 'Globex');
    const theirs = await allEntries({}, globex.admin.headers);
    expect(theirs.length).toBeGreaterThan(0);
    expect(theirs.some((e) => e.entity_id === acme.id || e.entity_id === acme.customerId || e.actor.id === acme.admin.id)).toBe(false);
  });
});

describe('append-only', () => {
  const pgCode = (p: Promise<unknown>) =>
    p.then(
      () => 'succeeded',
      (err: { code?: string }) => err.code ?? 'error',
    );

  it('the application role can neither update nor delete entries, even of its own tenant', async () => {
    const before = await stack.admin.query('SELECT seq, hash, action FROM audit_log WHERE tenant_id = $1 ORDER BY seq', [acme.id]);
    const client = await stack.pool.connect();
    try {
      await client.query("SELECT set_config('app.tenant_id', $1, false)", [acme.id]);
      expect((await client.query('SELECT count(*)::int AS n FROM audit_log WHERE tenant_id = $1', [acme.id])).rows[0].n).toBe(before.rowCount);
      expect(await pgCode(client.query("UPDATE audit_log SET action = 'nothing.happened' WHERE tenant_id = $1", [acme.id]))).toBe('42501');
      expect(await pgCode(client.query('DELETE FROM audit_log WHERE tenant_id = $1', [acme.id]))).toBe('42501');
      expect(await pgCode(client.query('TRUNCATE audit_log'))).toBe('42501');
    } finally {
      client.release(true); // do not hand a connection with a tenant set back to the pool
    }
    const after = await stack.admin.query('SELECT seq, hash, action FROM audit_log WHERE tenant_id = $1 ORDER BY seq', [acme.id]);
    expect(after.rows).toEqual(before.rows);
  });

  it('an appended entry cannot forge its place, time or hash', async () => {
    const client = await stack.pool.connect();
    try {
      await client.query("SELECT set_config('app.tenant_id', $1, false)", [acme.id]);
      const last = (await client.query('SELECT max(seq)::int AS seq FROM audit_log WHERE tenant_id = $1', [acme.id])).rows[0].seq;
      await client.query(
        `INSERT INTO audit_log (tenant_id, seq, actor_type, action, entity_type, occurred_at, prev_hash, hash)
         VALUES ($1, 1, 'system', 'test.forged', 'test', '2000-01-01T00:00:00Z', 'forged', 'forged')`,
        [acme.id],
      );
      const row = (
        await client.query("SELECT seq::int, occurred_at, prev_hash, hash FROM audit_log WHERE tenant_id = $1 AND action = 'test.forged'", [acme.id])
      ).rows[0];
      expect(row.seq).toBe(last + 1);
      expect(Date.parse(row.occurred_at)).toBeGreaterThan(Date.now() - 60_000);
      expect(row.prev_hash).toMatch(/^[0-9a-f]{64}$/);
      expect(row.hash).toMatch(/^[0-9a-f]{64}$/);
    } finally {
      client.release(true);
    }
  });

  it('nor can the owner, short of disabling the trigger', async () => {
    const owner = await stack.admin.connect();
    try {
      for (const sql of ["UPDATE audit_log SET action = 'x' WHERE tenant_id = $1", 'DELETE FROM audit_log WHERE tenant_id = $1']) {
        await owner.query('BEGIN');
        await expect(owner.query(sql, [acme.id])).rejects.toThrow(/append-only/);
        await owner.query('ROLLBACK');
      }
      await owner.query('BEGIN');
      await expect(owner.query('TRUNCATE audit_log')).rejects.toThrow(/append-only/);
      await owner.query('ROLLBACK');
    } finally {
      owner.release();
    }
  });
});

describe('verify-audit', () => {
  /** `npm run admin -- <args>`, as an operator runs it (process.env carries DATABASE_ADMIN_URL and the keys). */
  const admin = async (...args: string[]) => {
    const { code, output } = await runAdmin(args, process.env, { timeoutMs: 30_000 });
    return { code, output };
  };
  const verifyAudit = (tenantId: string) => admin('verify-audit', '--tenant', tenantId);

  /** Runs `sql` as the owner with the immutability trigger off, in one transaction (no other session ever sees it off). */
  async function tamper(sql: string, params: unknown[], expectedRows = 1) {
    const owner = await stack.admin.connect();
    try {
      await owner.query('BEGIN');
      await owner.query('ALTER TABLE audit_log DISABLE TRIGGER audit_log_immutable');
      const { rowCount } = await owner.query(sql, params);
      expect(rowCount).toBe(expectedRows);
      await owner.query('ALTER TABLE audit_log ENABLE TRIGGER audit_log_immutable');
      await owner.query('COMMIT');
    } catch (err) {
      await owner.query('ROLLBACK');
      throw err;
    } finally {
      owner.release();
    }
  }

  /** A tenant of its own with a few entries, so tampering breaks no other suite's chain. */
  async function chainTenant(name: string): Promise<{ tenant: Tenant; entries: number }> {
    const tenant = await createTenant(stack, name);
    for (const n of [1, 2]) await http(stack, 'POST', '/api/v1/customers', { headers: tenant.headers, body: { name: `${name} customer ${n}` } });
    const { rows } = await stack.admin.query('SELECT count(*)::int AS n FROM audit_log WHERE tenant_id = $1', [tenant.id]);
    expect(rows[0].n).toBeGreaterThanOrEqual(6);
    return { tenant, entries: rows[0].n };
  }

  it('a projected change of several versions is audited once per version, in version order, in an intact chain', async () => {
    const tenant = await createTenant(stack, 'Multi');
    const policy = await http(stack, 'POST', '/api/v1/sla-policies', {
      headers: tenant.admin.headers,
      body: { name: 'Reply fast', position: 0, targets: { normal: { first_reply: 60 } }, calendar_id: null },
    });
    expect(policy.status).toBe(201);
    // Opening under a policy is one projection write of two versions: ticket.created, then the SLA decision.
    const created = await http(stack, 'POST', '/api/v1/tickets', {
      headers: tenant.headers,
      body: { subject: 'Two versions at once', description: 'd', customer_id: tenant.customerId },
    });
    expect(created.status).toBe(201);
    const id = created.body.id;
    const { rows: events } = await stack.admin.query('SELECT version, type FROM ticket_events WHERE ticket_id = $1 ORDER BY version', [id]);
    expect(events.length).toBeGreaterThanOrEqual(2);
    const { rows: audit } = await stack.admin.query(
      `SELECT seq::int, action, (after->>'version')::int AS version FROM audit_log
       WHERE tenant_id = $1 AND entity_type = 'ticket' AND entity_id = $2 ORDER BY seq`,
      [tenant.id, id],
    );
    expect(audit.map((a) => [a.version, a.action])).toEqual(events.map((e) => [e.version, e.type]));
    expect(audit.map((a) => a.seq)).toEqual(audit.map((_, i) => audit[0].seq + i));
    expect(await verifyAudit(tenant.id)).toMatchObject({ code: 0, output: expect.stringContaining('intact') });
  });

  it('exits 0 on an intact chain and 1 after an entry was edited', async () => {
    const { tenant, entries } = await chainTenant('Chain');
    const intact = await verifyAudit(tenant.id);
    expect(intact).toEqual({ code: 0, output: expect.stringContaining(`${tenant.id}: ${entries} entries, intact`) });

    await tamper(`UPDATE audit_log SET after = jsonb_set(after, '{name}', '"Mallory"') WHERE tenant_id = $1 AND seq = 1`, [tenant.id]);
    const broken = await verifyAudit(tenant.id);
    expect(broken.code).toBe(1);
    expect(broken.output).toContain(`${tenant.id}: ${entries} entries, BROKEN`);
    expect(broken.output).toContain('entry 1: content does not match its hash (tampered)');

    // Other tenants' chains are not affected.
    expect((await verifyAudit(acme.id)).code).toBe(0);
  });

  it('detects an edit whose hash was recomputed: the next entry no longer links to it', async () => {
    const { tenant } = await chainTenant('Rehashed');
    await tamper(
      `UPDATE audit_log a SET after = jsonb_set(a.after, '{name}', '"Mallory"'), hash = audit_entry_hash(ROW(a.tenant_id, a.seq, a.actor_type, a.actor_id,
         a.action, a.entity_type, a.entity_id, a.before, jsonb_set(a.after, '{name}', '"Mallory"'), a.request_id, a.occurred_at, a.prev_hash, a.hash, a.hash_version, a.payload_sha256, a.redacted_at)::audit_log)
       WHERE tenant_id = $1 AND seq = 1`,
      [tenant.id],
    );
    const broken = await verifyAudit(tenant.id);
    expect(broken.code).toBe(1);
    expect(broken.output).not.toContain('entry 1: content does not match');
    expect(broken.output).toContain('entry 2: prev_hash does not match the previous entry');
  });

  it("exits 1 when a tenant's whole trail is gone: nothing verified is not a pass", async () => {
    const { tenant, entries } = await chainTenant('Wiped');
    expect((await verifyAudit(tenant.id)).code).toBe(0);
    await tamper('DELETE FROM audit_log WHERE tenant_id = $1', [tenant.id], entries);
    const wiped = await verifyAudit(tenant.id);
    expect(wiped.code).toBe(1);
    expect(wiped.output).toContain(`${tenant.id}: 0 entries, BROKEN`);
  });

  it('an unknown tenant is named as such in one line, by verify-audit and audit-head alike', async () => {
    const unknown = randomUUID();
    expect(await verifyAudit(unknown)).toEqual({ code: 1, output: `${unknown}: unknown tenant\n` });
    expect(await admin('audit-head', '--tenant', unknown)).toEqual({ code: 1, output: `${unknown}: unknown tenant\n` });
    expect(await verifyAudit('acme')).toEqual({ code: 1, output: 'acme: not a tenant id\n' });
  });

  it('exits 1 after a middle entry was deleted', async () => {
    const { tenant, entries } = await chainTenant('Gap');
    expect((await verifyAudit(tenant.id)).code).toBe(0);
    await tamper('DELETE FROM audit_log WHERE tenant_id = $1 AND seq = 3', [tenant.id]);
    const broken = await verifyAudit(tenant.id);
    expect(broken.code).toBe(1);
    expect(broken.output).toContain(`${tenant.id}: ${entries - 1} entries, BROKEN`);
    expect(broken.output).toContain('entry 4: expected seq 3 (entries missing)');
    expect(broken.output).toContain('entry 4: prev_hash does not match the previous entry');
  });

  describe('anchored heads', () => {
    const headOf = async (tenantId: string) => {
      const res = await admin('audit-head', '--tenant', tenantId);
      expect(res.code).toBe(0);
      const lines = res.output.trim().split('\n');
      expect(lines).toHaveLength(1);
      return { line: lines[0]!, anchor: JSON.parse(lines[0]!) };
    };

    it('deleting the newest entries leaves a valid chain, but not the anchor taken before', async () => {
      const { tenant, entries } = await chainTenant('Anchored');
      const { line: earlier } = await headOf(tenant.id); // the same head anchored twice: a file of anchors repeats heads
      const { line, anchor } = await headOf(tenant.id);
      expect(anchor).toEqual({
        v: 1,
        tenant_id: tenant.id,
        seq: entries,
        hash: expect.stringMatching(/^[0-9a-f]{64}$/),
        taken_at: expect.any(String),
        kid: expect.any(String),
        sig: expect.any(String),
      });
      const { rows } = await stack.admin.query('SELECT hash FROM audit_log WHERE tenant_id = $1 AND seq = $2', [tenant.id, entries]);
      expect(anchor.hash).toBe(rows[0].hash);

      // Newer entries after the anchor: it still holds.
      expect((await http(stack, 'POST', '/api/v1/customers', { headers: tenant.headers, body: { name: 'Later customer' } })).status).toBe(201);
      const held = await admin('verify-audit', '--anchor', line);
      expect(held).toEqual({ code: 0, output: expect.stringContaining(`anchored head at entry ${entries}: present and unchanged`) });

      // An owner with the trigger disabled removes the newest entries, the anchored one among them.
      const total = (await stack.admin.query('SELECT max(seq)::int AS n FROM audit_log WHERE tenant_id = $1', [tenant.id])).rows[0].n;
      await tamper('DELETE FROM audit_log WHERE tenant_id = $1 AND seq >= $2', [tenant.id, entries - 1], total - entries + 2);
      // What is left is a valid chain: without the anchor nothing shows.
      expect(await verifyAudit(tenant.id)).toMatchObject({ code: 0, output: expect.stringContaining(`${tenant.id}: ${entries - 2} entries, intact`) });
      // With it, the deletion shows, whether the anchor is given inline or as a file of anchors.
      const file = path.join(os.tmpdir(), `deskflow-anchors-${randomUUID()}.jsonl`);
      await writeFile(file, `${earlier}\n${(await headOf(acme.id)).line}\n${line}\n`);
      try {
        for (const given of [line, file]) {
          const caught = await admin('verify-audit', '--anchor', given);
          expect(caught.code).toBe(1);
          expect(caught.output).toContain(`${tenant.id}: ${entries - 2} entries, BROKEN`);
          expect(caught.output).toContain(
            `anchored entry ${entries} (${anchor.taken_at}) is missing: the trail ends at entry ${entries - 2} (entries deleted)`,
          );
        }
        // Limited to one tenant, the file's other anchor is checked alone, and holds.
        expect(await admin('verify-audit', '--tenant', acme.id, '--anchor', file)).toMatchObject({ code: 0 });
      } finally {
        await rm(file, { force: true });
      }
    });

    it('a rewritten anchored entry, and an anchor that was edited, both fail', async () => {
      const { tenant, entries } = await chainTenant('Rewritten');
      const { line, anchor } = await headOf(tenant.id);
      // The last entry rewritten with its hash recomputed: the chain is valid again, the anchor is not.
      await tamper(
        `UPDATE audit_log a SET action = 'nothing.happened', hash = audit_entry_hash(ROW(a.tenant_id, a.seq, a.actor_type, a.actor_id,
           'nothing.happened', a.entity_type, a.entity_id, a.before, a.after, a.request_id, a.occurred_at, a.prev_hash, a.hash, a.hash_version, a.payload_sha256, a.redacted_at)::audit_log)
         WHERE tenant_id = $1 AND seq = $2`,
        [tenant.id, entries],
      );
      expect((await verifyAudit(tenant.id)).code).toBe(0);
      const caught = await admin('verify-audit', '--anchor', line);
      expect(caught.code).toBe(1);
      expect(caught.output).toContain(`entry ${entries}: hash differs from the anchor taken ${anchor.taken_at} (the trail was rewritten)`);

      // Whoever edits an anchor (to hide the deletion by naming an older head) cannot sign it.
      const forged = JSON.stringify({ ...anchor, seq: entries - 1 });
      const refused = await admin('verify-audit', '--anchor', forged);
      expect(refused.code).toBe(1);
      expect(refused.output).toContain('signature invalid');
      expect((await admin('verify-audit', '--anchor', '{"not":"an anchor"}')).code).toBe(1);
    });
  });
});
