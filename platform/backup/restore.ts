/**
 * `admin restore`: a backup (./backup.ts) into the configured database and object store. The whole backup is checked
 * first (manifest, dump and every object against their SHA-256), then the target: an empty database and store are
 * restored into; anything else is refused unless forced, and forcing replaces it (the database is dropped and created
 * again, every object not in the backup deleted). After the restore, every table's count and checksum and every
 * tenant's audit chain are checked against the backup's.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import pg from 'pg';
import { verifyAuditChain } from '../audit';
import { createPool, dropDatabase, ensureDatabase } from '../db';
import type { FieldCrypto } from '../field-crypto';
import { MIGRATIONS_DIR } from '../migrate';
import { LocalObjectStorage } from '../object-storage/local';
import { type ObjectStorage, StorageClass } from '../object-storage/types';
import { type BackupManifest, BackupObject, DUMP_FILE, OBJECT_LIST_FILE, OBJECTS_DIR, readManifest, sha256OfFile } from './manifest';
import { pgConnection, withDatabase } from './pg-connection';
import { runPgTool } from './pg-tools';
import { compareSummaries, summarizeTables } from './table-checksums';

export interface RestoreSettings {
  /** The owner's URL (DATABASE_ADMIN_URL): the database restored into (created if missing). */
  adminUrl: string;
  pgBinDir: string;
  /** The store the objects are restored into. */
  storage: ObjectStorage;
  /** The deployment's keys: a restore checks they decrypt the backup's encrypted fields. */
  crypto: FieldCrypto;
  progress?: (message: string) => void;
}

export interface RestoreReport {
  database: { name: string; tables: number; rows: number; migration: string | null };
  objects: { count: number; bytes: number };
  audit: { tenants: number; entries: number };
  /** Things to do or know after an otherwise good restore. */
  warnings: string[];
}

/** The target holds data and --force was not given: nothing was changed. */
export class RestoreRefusedError extends Error {}
/** The backup is incomplete or damaged: nothing was changed. */
export class BackupInvalidError extends Error {}

export async function restoreBackup(settings: RestoreSettings, dir: string, options: { force?: boolean } = {}): Promise<RestoreReport> {
  const progress = settings.progress ?? (() => undefined);
  const connection = pgConnection(settings.adminUrl);
  const backupStore = new LocalObjectStorage(path.join(dir, OBJECTS_DIR));

  progress(`checking the backup in ${dir}`);
  const manifest = await readManifest(dir);
  const objects = await checkBackup(dir, manifest, backupStore);
  const warnings = migrationWarnings(manifest, await newestKnownMigration());

  const occupied = await whatIsOccupied(settings.adminUrl, settings.storage);
  if (occupied.length && !options.force) {
    throw new RestoreRefusedError(`${occupied.join(' and ')}: restore onto an empty database and store, or pass --force to replace them`);
  }
  if (occupied.length) {
    progress(`--force: replacing ${occupied.join(' and ')}`);
    await dropDatabase(settings.adminUrl);
    await deleteEveryObject(settings.storage);
  }

  progress(`restoring the database into ${connection.display}`);
  await ensureDatabase(settings.adminUrl);
  await ensureApplicationRole(settings.adminUrl);
  await runPgTool(settings.pgBinDir, 'pg_restore', connection, [
    // Owned by the role restoring (the owner, as migrations make them), whatever the source's owner was called.
    '--no-owner',
    '--exit-on-error',
    '--single-transaction',
    '--no-password',
    path.join(dir, DUMP_FILE),
  ]);

  progress(`restoring ${objects.length} objects into the ${settings.storage.backend} store`);
  let bytes = 0;
  for (const entry of objects) {
    const object = await backupStore.get(entry.key);
    if (!object) throw new BackupInvalidError(`object ${entry.key} vanished from the backup during the restore`);
    const storageClass = StorageClass.safeParse(entry.storage_class);
    const stored = await settings.storage.put(entry.key, object.body, {
      contentType: entry.content_type,
      metadata: object.metadata,
      storageClass: storageClass.success ? storageClass.data : undefined,
    });
    if (stored.sha256 !== entry.sha256) throw new BackupInvalidError(`object ${entry.key}: the bytes stored differ from the backup's SHA-256`);
    bytes += stored.size;
  }

  progress('checking the restored database against the backup');
  const pool = createPool({ DATABASE_URL: settings.adminUrl, DATABASE_POOL_MAX: 1, DATABASE_POOL_MIN: 0 });
  try {
    const client = await pool.connect();
    let tables: Awaited<ReturnType<typeof summarizeTables>>;
    try {
      tables = await summarizeTables(client);
    } finally {
      client.release();
    }
    const problems = compareSummaries(manifest.database.tables, tables);
    const chains = await verifyAuditChain(pool);
    for (const chain of chains) for (const p of chain.problems) problems.push(`audit chain of tenant ${chain.tenant_id}: ${p}`);
    for (const head of manifest.database.audit_heads) {
      const { rows } = await pool.query<{ hash: string; last: string }>(
        'SELECT (SELECT hash FROM audit_log WHERE tenant_id = $1 AND seq = $2) AS hash, (SELECT max(seq) FROM audit_log WHERE tenant_id = $1) AS last',
        [head.tenant_id, head.seq],
      );
      if (rows[0]?.hash !== head.hash || Number(rows[0]?.last) !== head.seq)
        problems.push(`audit chain of tenant ${head.tenant_id}: does not end at entry ${head.seq} with the backup's hash`);
    }
    if (problems.length) throw new Error(`the restored database differs from the backup:\n  - ${problems.join('\n  - ')}`);
    warnings.push(...(await keyWarnings(pool, settings.crypto)));
    return {
      database: {
        name: connection.database,
        tables: Object.keys(tables).length,
        rows: Object.values(tables).reduce((n, t) => n + t.rows, 0),
        migration: manifest.database.migration,
      },
      objects: { count: objects.length, bytes },
      audit: { tenants: chains.length, entries: chains.reduce((n, c) => n + c.entries, 0) },
      warnings,
    };
  } finally {
    await pool.end();
  }
}

/** The dump, the object list and every object of the backup against the manifest, before anything is touched. */
async function checkBackup(dir: string, manifest: BackupManifest, backupStore: LocalObjectStorage): Promise<BackupObject[]> {
  const dump = await sha256OfFile(path.join(dir, DUMP_FILE)).catch(() => null);
  if (!dump || dump.sha256 !== manifest.database.dump.sha256) throw new BackupInvalidError(`${DUMP_FILE} is missing or differs from the manifest`);
  const list = await sha256OfFile(path.join(dir, OBJECT_LIST_FILE)).catch(() => null);
  if (!list || list.sha256 !== manifest.objects.list.sha256) throw new BackupInvalidError(`${OBJECT_LIST_FILE} is missing or differs from the manifest`);
  const entries: BackupObject[] = [];
  const lines = createInterface({ input: createReadStream(path.join(dir, OBJECT_LIST_FILE)), crlfDelay: Number.POSITIVE_INFINITY });
  for await (const line of lines) if (line.trim()) entries.push(BackupObject.parse(JSON.parse(line)));
  if (entries.length !== manifest.objects.count)
    throw new BackupInvalidError(`${OBJECT_LIST_FILE} lists ${entries.length} objects, the manifest ${manifest.objects.count}`);
  for (const entry of entries) {
    const object = await backupStore.get(entry.key);
    if (!object) throw new BackupInvalidError(`object ${entry.key} is missing from the backup`);
    const measured = await sha256OfStream(object.body);
    if (measured !== entry.sha256) throw new BackupInvalidError(`object ${entry.key} in the backup is damaged (SHA-256 differs)`);
  }
  return entries;
}

async function sha256OfStream(body: NodeJS.ReadableStream): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of body) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** What in the target already holds data (empty list: nothing). */
async function whatIsOccupied(adminUrl: string, storage: ObjectStorage): Promise<string[]> {
  const occupied: string[] = [];
  const name = pgConnection(adminUrl).database;
  const maintenance = new pg.Client({ connectionString: withDatabase(adminUrl, 'postgres') });
  await maintenance.connect();
  let exists: boolean;
  try {
    exists = ((await maintenance.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount ?? 0) > 0;
  } finally {
    await maintenance.end();
  }
  if (exists) {
    const target = new pg.Client({ connectionString: adminUrl });
    await target.connect();
    try {
      const { rows } = await target.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')`,
      );
      if (rows[0]!.n > 0) occupied.push(`database ${name} is not empty`);
    } finally {
      await target.end();
    }
  }
  if ((await storage.list('', { limit: 1 })).objects.length > 0) occupied.push(`the ${storage.backend} object store is not empty`);
  return occupied;
}

async function deleteEveryObject(storage: ObjectStorage): Promise<void> {
  for (;;) {
    // Always the first page: what it lists is deleted before the next look.
    const page = await storage.list('');
    if (page.objects.length === 0) return;
    for (const object of page.objects) await storage.delete(object.key);
  }
}

/**
 * The application's role is a cluster object, not in the dump; the dump's grants name it. Created as the migrations
 * create it, without a password: on a new cluster, give it the one DATABASE_URL uses (ALTER ROLE … PASSWORD).
 */
async function ensureApplicationRole(adminUrl: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`DO $$ BEGIN
      IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'deskflow_app') THEN
        CREATE ROLE deskflow_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
      END IF;
    END $$`);
  } finally {
    await client.end();
  }
}

async function newestKnownMigration(): Promise<string | null> {
  const files = (await readdir(MIGRATIONS_DIR)).filter((f) => f.endsWith('.sql')).sort();
  return files.at(-1)?.replace(/\.sql$/, '') ?? null;
}

/** A backup from a newer release cannot be run by this code; one from an older release needs `npm run migrate` after. */
function migrationWarnings(manifest: BackupManifest, newest: string | null): string[] {
  const taken = manifest.database.migration;
  if (taken && newest && taken > newest)
    throw new BackupInvalidError(
      `the backup was taken at migration ${taken}, newer than this release knows (${newest}): restore with that release or a later one`,
    );
  if (taken !== newest) return [`the backup is at migration ${taken ?? 'none'}; run \`npm run migrate\` before starting this release (at ${newest})`];
  return [];
}

/**
 * Encrypted fields (customers' email and phone, webhook secrets, signing keys) are only as good as the keys that
 * decrypt them, which live with the deployment's secrets, not in the backup: say so now rather than at the first login.
 */
async function keyWarnings(pool: pg.Pool, crypto: FieldCrypto): Promise<string[]> {
  const { rows } = await pool.query<{ value: string }>(
    `(SELECT private_jwk_enc AS value FROM signing_keys ORDER BY created_at DESC LIMIT 1)
     UNION ALL (SELECT email_enc FROM customers WHERE email_enc IS NOT NULL ORDER BY created_at DESC LIMIT 1)`,
  );
  for (const { value } of rows) {
    try {
      crypto.decrypt(value);
    } catch {
      return ['FIELD_ENCRYPTION_KEYS cannot decrypt the restored data: start the processes with the keys (current and retired) the backup was written under'];
    }
  }
  return [];
}
