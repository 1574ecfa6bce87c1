/**
 * The restore drill: data made through the real API and worker (tickets, messages with attachments, a customer, audit
 * entries) in a stack of its own, `admin backup`, then `admin restore` into a fresh database and a fresh object
 * directory; every table and object is compared with the source by the test's own means, `verify-audit` passes on the
 * restored database and the API serves it. Then the refusals: a non-empty database or store (unless --force), a
 * damaged backup; and the backup's own honesty: no password in anything it writes, a missing object reported.
 */
import { createHash, randomUUID } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { pgConnection } from '../../platform/backup/pg-connection';
import { dropDatabase } from '../../platform/db';
import { startIsolatedStack, type IsolatedStack } from '../support/isolated-stack';
import { multipart, png } from '../support/multipart';
import { freePort, runAdmin } from '../support/processes';
import { startTemporalDevServer } from '../../platform/temporal-dev-server';
import { createTenant, http, login, startStack, type Tenant } from '../support/stack';

const SECRET = 'Backup-Pa55word-never-logged';
let source: IsolatedStack;
let tmp: string;
let tenants: Tenant[];
const targets: string[] = [];
const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

/** `npm run admin -- …`, bounded well inside each test's own timeout (a hang reports what it was waiting on). */
const admin = (args: string[], env: Record<string, string>) => runAdmin(args, env, { timeoutMs: 90_000 });

/** The source's owner URL with a password in it: trust authentication ignores it, so it shows whether anything leaks it. */
const withPassword = (url: string) => {
  const u = new URL(url);
  u.password = SECRET;
  return u.toString();
};

/** Environment of a fresh restore target: its own database (dropped at the end) and object directory. */
function target(name: string) {
  const adminUrl = new URL(source.env.DATABASE_ADMIN_URL!);
  adminUrl.pathname = `${adminUrl.pathname}_${name}`;
  const appUrl = new URL(source.env.DATABASE_URL!);
  appUrl.pathname = adminUrl.pathname;
  targets.push(adminUrl.toString());
  const objects = path.join(tmp, `objects-${name}`);
  return { objects, env: { ...source.env, DATABASE_ADMIN_URL: adminUrl.toString(), DATABASE_URL: appUrl.toString(), OBJECT_STORAGE_DIR: objects } };
}

/** Each table's row count and a digest of its rows in sorted order: computed here, independently of the tool's checksums. */
async function tableDigests(url: string): Promise<Record<string, { rows: number; md5: string }>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query("SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET extra_float_digits = 3");
    const { rows: tables } = await client.query<{ t: string }>("SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public' ORDER BY 1");
    const out: Record<string, { rows: number; md5: string }> = {};
    for (const { t } of tables) {
      const { rows } = await client.query(
        `SELECT count(*)::int AS rows, coalesce(md5(string_agg(x, E'\\n' ORDER BY x)), '') AS md5 FROM (SELECT r::text AS x FROM ${pg.escapeIdentifier(t)} r) s`,
      );
      out[t] = rows[0];
    }
    return out;
  } finally {
    await client.end();
  }
}

/** Every object file under a local store's root (hidden sidecars and temp files excluded) with its SHA-256. */
function objectFiles(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.name.startsWith('.')) continue;
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else out[path.relative(root, full)] = sha256(readFileSync(full));
    }
  };
  if (statSync(root, { throwIfNoEntry: false })) walk(root);
  return out;
}

async function seed(t: Tenant) {
  const base = source.stack;
  const files: { id: string; bytes: Buffer }[] = [];
  for (let i = 0; i < 2; i++) {
    const created = await http(base, 'POST', '/api/v1/tickets', {
      headers: t.headers,
      body: { subject: `Backup ${i} — ünïcode`, description: 'Printer on fire', customer_id: t.customerId, priority: 'high', tags: ['drill'] },
    });
    expect(created.status).toBe(201);
    const ticketId = created.body.id as string;
    const image = png(30_000);
    const text = Buffer.from(`notes for ticket ${ticketId}\n`);
    const { body, contentType } = multipart([
      { name: 'body', value: 'Two files attached' },
      { name: 'files', filename: 'screen.png', type: 'image/png', data: image },
      { name: 'files', filename: 'notes.txt', type: 'text/plain', data: text },
    ]);
    const res = await fetch(`${base.url}/api/v1/tickets/${ticketId}/messages`, {
      method: 'POST',
      headers: { ...t.headers, 'Content-Type': contentType },
      body,
    });
    expect(res.status).toBe(201);
    const message = (await res.json()) as { attachments: { id: string }[] };
    files.push({ id: message.attachments[0]!.id, bytes: image }, { id: message.attachments[1]!.id, bytes: text });
    expect(
      (await http(base, 'POST', `/api/v1/tickets/${ticketId}/messages`, { headers: t.headers, body: { body: 'Internal', visibility: 'internal' } })).status,
    ).toBe(201);
    expect((await http(base, 'PATCH', `/api/v1/tickets/${ticketId}`, { headers: t.headers, body: { status: 'pending', priority: 'urgent' } })).status).toBe(
      200,
    );
  }
  const customer = await http(base, 'POST', '/api/v1/customers', {
    headers: t.admin.headers,
    body: { name: 'Grace Hopper', email: `grace-${randomUUID()}@example.com` },
  });
  expect(customer.status).toBe(201);
  return files;
}

const files: { tenant: Tenant; id: string; bytes: Buffer }[] = [];

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'deskflow-backup-'));
  source = await startIsolatedStack('backup', { OBJECT_STORAGE: 'local', OBJECT_STORAGE_DIR: path.join(tmp, 'objects-source') });
  tenants = [await createTenant(source.stack, 'Drill'), await createTenant(source.stack, 'Other')];
  for (const t of tenants) files.push(...(await seed(t)).map((f) => ({ tenant: t, ...f })));
}, 180_000);

afterAll(async () => {
  await source?.close();
  for (const url of targets) await dropDatabase(url).catch(() => undefined);
  rmSync(tmp, { recursive: true, force: true });
});

describe('the database URL', () => {
  it('reaches pg_dump without its password on the command line, and messages show it masked', () => {
    const c = pgConnection(`postgres://owner:${encodeURIComponent('p@ss:w/rd')}@db.example:5433/deskflow?sslmode=require`);
    expect(c.dbname).toBe('postgres://owner@db.example:5433/deskflow?sslmode=require');
    expect(c.env).toEqual({ PGPASSWORD: 'p@ss:w/rd' });
    expect(c.display).toBe('postgres://owner:***@db.example:5433/deskflow?sslmode=require');
    expect(c.database).toBe('deskflow');
    expect(c.scrub('FATAL: bad p@ss:w/rd and p%40ss%3Aw%2Frd')).toBe('FATAL: bad *** and ***');
    expect(pgConnection('postgres://owner@db/deskflow').env).toEqual({});
  });
});

describe('backup and restore', () => {
  let backupDir: string;
  let report: any;

  it('backup writes the dump, every object and a manifest, and no password anywhere', async () => {
    backupDir = path.join(tmp, 'backup-1');
    const r = await admin(['backup', '--out', backupDir], { ...source.env, DATABASE_ADMIN_URL: withPassword(source.env.DATABASE_ADMIN_URL!) });
    expect({ code: r.code, err: r.err }).toEqual({ code: 0, err: expect.any(String) });
    report = JSON.parse(r.out);
    expect(r.out + r.err).not.toContain(SECRET);
    expect(readFileSync(path.join(backupDir, 'manifest.json'), 'utf8')).not.toContain(SECRET);
    expect(readFileSync(path.join(backupDir, 'database.dump')).includes(SECRET)).toBe(false);

    const manifest = JSON.parse(readFileSync(path.join(backupDir, 'manifest.json'), 'utf8'));
    const live = await tableDigests(source.env.DATABASE_ADMIN_URL!);
    // The source is quiet (no SLA policies, no webhooks): the snapshot's counts are today's.
    expect(Object.fromEntries(Object.entries(manifest.database.tables).map(([t, s]: [string, any]) => [t, s.rows]))).toEqual(
      Object.fromEntries(Object.entries(live).map(([t, s]) => [t, s.rows])),
    );
    expect(live.attachments!.rows).toBe(files.length);
    expect(live.audit_log!.rows).toBeGreaterThan(10);
    expect(manifest.objects).toMatchObject({ backend: 'local', count: files.length, missing: [] });
    expect(report.objects).toEqual({ count: files.length, bytes: files.reduce((n, f) => n + f.bytes.length, 0), missing: [] });

    // The object list: every attachment's key with the SHA-256 of the bytes uploaded.
    const listed = readFileSync(path.join(backupDir, 'objects.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const { rows } = await source.stack.admin.query<{ id: string; storage_key: string; sha256: string; size_bytes: string }>(
      'SELECT id, storage_key, sha256, size_bytes FROM attachments',
    );
    for (const f of files) {
      const row = rows.find((x) => x.id === f.id)!;
      expect(row.sha256).toBe(sha256(f.bytes));
      expect(listed).toContainEqual(expect.objectContaining({ key: row.storage_key, sha256: sha256(f.bytes), size: f.bytes.length }));
    }
    expect(manifest.database.audit_heads).toHaveLength(tenants.length);
  }, 120_000);

  let first: ReturnType<typeof target>;

  it('restore into a fresh database and object directory gives back the same rows, objects and audit chain', async () => {
    const t = target('rst1');
    first = t;
    const r = await admin(['restore', '--from', backupDir], t.env);
    expect({ code: r.code, err: r.err }).toEqual({ code: 0, err: expect.any(String) });
    const restored = JSON.parse(r.out);
    expect(restored).toMatchObject({ objects: { count: files.length }, audit: { tenants: tenants.length }, warnings: [] });

    expect(await tableDigests(t.env.DATABASE_ADMIN_URL)).toEqual(await tableDigests(source.env.DATABASE_ADMIN_URL!));
    expect(objectFiles(t.objects)).toEqual(objectFiles(path.join(tmp, 'objects-source')));
    expect(Object.keys(objectFiles(t.objects))).toHaveLength(files.length);

    const verify = await admin(['verify-audit'], t.env);
    expect(verify.code).toBe(0);
    for (const tenant of tenants) expect(verify.out).toMatch(new RegExp(`${tenant.id}: \\d+ entries, intact`));

    // The application role's grants and row-level security came back: the API serves the restored data.
    const api = await startStack({ ...t.env, REDIS_KEY_PREFIX: `${source.env.REDIS_KEY_PREFIX}rst1:` });
    try {
      for (const f of files.slice(0, 3)) {
        const { token } = await login(api, f.tenant.agent.email, f.tenant.agent.password);
        const res = await fetch(`${api.url}/api/v1/attachments/${f.id}`, { headers: { Authorization: `Bearer ${token}` } });
        expect(res.status).toBe(200);
        expect(sha256(Buffer.from(await res.arrayBuffer()))).toBe(sha256(f.bytes));
      }
      const other = files.find((f) => f.tenant !== tenants[0])!;
      const { token } = await login(api, tenants[0]!.agent.email, tenants[0]!.agent.password);
      expect((await fetch(`${api.url}/api/v1/attachments/${other.id}`, { headers: { Authorization: `Bearer ${token}` } })).status).toBe(404);
      const list = await http(api, 'GET', '/api/v1/tickets', { headers: { Authorization: `Bearer ${token}` } });
      expect(list.body.data).toHaveLength(2);
    } finally {
      await api.close();
    }
  }, 120_000);

  it("without Temporal's own state (a fresh server) open tickets read but refuse writes until their workflows are re-created", async () => {
    const temporal = await startTemporalDevServer({ port: await freePort() });
    const api = await startStack({ ...first.env, TEMPORAL_ADDRESS: temporal.address, REDIS_KEY_PREFIX: `${source.env.REDIS_KEY_PREFIX}rst1b:` });
    try {
      const { token } = await login(api, tenants[0]!.agent.email, tenants[0]!.agent.password);
      const headers = { Authorization: `Bearer ${token}` };
      const [ticket] = (await http(api, 'GET', '/api/v1/tickets', { headers })).body.data;
      expect(ticket.status).toBe('pending');
      expect((await http(api, 'GET', `/api/v1/tickets/${ticket.id}`, { headers })).status).toBe(200);
      // What docs/backup.md describes: the projection is back, the ticket's workflow is not.
      expect((await http(api, 'PATCH', `/api/v1/tickets/${ticket.id}`, { headers, body: { status: 'open' } })).status).toBe(404);
      expect((await http(api, 'POST', `/api/v1/tickets/${ticket.id}/messages`, { headers, body: { body: 'hello?' } })).status).toBe(404);
    } finally {
      await api.close();
      await temporal.stop();
    }
  }, 120_000);

  it('refuses a database that is not empty, changing nothing, unless forced; forcing replaces it', async () => {
    const t = target('rst2');
    expect((await admin(['restore', '--from', backupDir], t.env)).code).toBe(0);
    // Something the backup does not hold, in the database and in the store.
    const db = new pg.Client({ connectionString: t.env.DATABASE_ADMIN_URL });
    await db.connect();
    try {
      await db.query("INSERT INTO tenants (id, name) VALUES ($1, 'Arrived later')", [randomUUID()]);
      writeFileSync(path.join(t.objects, 'stray-object'), 'not from the backup');
      const before = await tableDigests(t.env.DATABASE_ADMIN_URL);

      const refused = await admin(['restore', '--from', backupDir], t.env);
      expect(refused.code).toBe(1);
      expect(refused.err).toMatch(/database \S+_rst2 is not empty and the local object store is not empty: .*--force/);
      expect(await tableDigests(t.env.DATABASE_ADMIN_URL)).toEqual(before);
      expect(readFileSync(path.join(t.objects, 'stray-object'), 'utf8')).toBe('not from the backup');
    } finally {
      await db.end();
    }

    const forced = await admin(['restore', '--from', backupDir, '--force'], t.env);
    expect({ code: forced.code, err: forced.err }).toEqual({ code: 0, err: expect.stringContaining('--force: replacing') });
    expect(await tableDigests(t.env.DATABASE_ADMIN_URL)).toEqual(await tableDigests(source.env.DATABASE_ADMIN_URL!));
    expect(objectFiles(t.objects)).toEqual(objectFiles(path.join(tmp, 'objects-source')));
  }, 120_000);

  it('refuses an object store that is not empty even when the database is', async () => {
    const t = target('rst3');
    mkdirSync(t.objects, { recursive: true });
    writeFileSync(path.join(t.objects, 'someone-elses'), 'x');
    const refused = await admin(['restore', '--from', backupDir], t.env);
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/the local object store is not empty/);
    expect(refused.err).not.toMatch(/database \S+ is not empty/);
    expect(await databaseExists(t.env.DATABASE_ADMIN_URL)).toBe(false);
  }, 60_000);

  it('a damaged backup is refused before anything is touched', async () => {
    const damaged = path.join(tmp, 'backup-damaged');
    cpSync(backupDir, damaged, { recursive: true });
    const listed = readFileSync(path.join(damaged, 'objects.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const victim = path.join(damaged, 'objects', listed[0].key);
    const bytes = readFileSync(victim);
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 1) ^ 0xff, bytes.length - 1);
    writeFileSync(victim, bytes);
    const t = target('rst4');
    const r = await admin(['restore', '--from', damaged], t.env);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`error: object ${listed[0].key} in the backup is damaged (SHA-256 differs)`);
    expect(await databaseExists(t.env.DATABASE_ADMIN_URL)).toBe(false);
    expect(objectFiles(t.objects)).toEqual({});

    rmSync(path.join(damaged, 'manifest.json'));
    const unfinished = await admin(['restore', '--from', damaged], t.env);
    expect(unfinished.code).toBe(1);
    expect(unfinished.err).toMatch(/holds no manifest\.json: not a backup, or an unfinished one/);
  }, 60_000);

  it('a table held by another session (a migration) fails the backup within BACKUP_LOCK_WAIT, naming it, instead of waiting', async () => {
    const migration = new pg.Client({ connectionString: source.env.DATABASE_ADMIN_URL });
    await migration.connect();
    const dir = path.join(tmp, 'backup-locked');
    try {
      await migration.query('BEGIN');
      await migration.query('LOCK TABLE tickets IN ACCESS EXCLUSIVE MODE');
      const r = await admin(['backup', '--out', dir], { ...source.env, BACKUP_LOCK_WAIT: '2s' });
      expect({ code: r.code, err: r.err }).toEqual({
        code: 1,
        err: expect.stringContaining('error: table tickets stayed locked by another session (a migration or other DDL?) for 2 s (BACKUP_LOCK_WAIT)'),
      });
      expect(readdirSync(dir)).toEqual([]);
    } finally {
      await migration.query('ROLLBACK');
      await migration.end();
    }
    // Once the lock is gone the same directory takes a backup.
    expect((await admin(['backup', '--out', dir], source.env)).code).toBe(0);
  }, 90_000);

  it('backup goes only into a new or empty directory', async () => {
    const r = await admin(['backup', '--out', backupDir], source.env);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/is not empty: a backup goes into a new \(or empty\) directory/);
  });

  it('an object the database references but the store lost is reported by name', async () => {
    const { rows } = await source.stack.admin.query<{ storage_key: string }>('SELECT storage_key FROM attachments ORDER BY id LIMIT 1');
    const key = rows[0]!.storage_key;
    rmSync(path.join(tmp, 'objects-source', key));
    const dir = path.join(tmp, 'backup-2');
    const r = await admin(['backup', '--out', dir], source.env);
    expect(r.code).toBe(0);
    expect(r.err).toContain(`warning: object ${key} is referenced by the database but was not in the store when copied`);
    expect(JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')).objects).toMatchObject({ count: files.length - 1, missing: [key] });
  }, 60_000);
});

async function databaseExists(url: string): Promise<boolean> {
  const maintenance = new URL(url);
  const name = maintenance.pathname.slice(1);
  maintenance.pathname = '/postgres';
  const client = new pg.Client({ connectionString: maintenance.toString() });
  await client.connect();
  try {
    return ((await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount ?? 0) > 0;
  } finally {
    await client.end();
  }
}
