/**
 * `admin backup`: the database (pg_dump, custom format) and every object of the store (attachments, archives), into a
 * new directory (layout: ./manifest.ts). The dump runs in a snapshot exported by a transaction of ours, so the row
 * counts, checksums, audit heads and the object keys the database references are read from exactly the data dumped.
 * Objects are copied after it: one deleted in between (a discarded upload, an archived or erased ticket's files) is
 * reported as missing; one added in between is copied with nothing referencing it (harmless).
 */
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { LocalObjectStorage } from '../object-storage/local';
import { type ObjectStorage, StorageClass } from '../object-storage/types';
import { type BackupManifest, type BackupObject, DUMP_FILE, MANIFEST_FILE, OBJECT_LIST_FILE, OBJECTS_DIR, sha256OfFile } from './manifest';
import { pgConnection } from './pg-connection';
import { runPgTool } from './pg-tools';
import { summarizeTables, tableNames } from './table-checksums';

export interface BackupSettings {
  /** The owner's URL (DATABASE_ADMIN_URL): it reads every tenant's rows. */
  adminUrl: string;
  /** Where pg_dump is; empty: PATH. */
  pgBinDir: string;
  /** How long the snapshot's reads and pg_dump wait for a table lock before the backup fails (BACKUP_LOCK_WAIT). */
  lockWaitMs: number;
  /** The store whose objects are copied. */
  storage: ObjectStorage;
  progress?: (message: string) => void;
}

export interface BackupReport {
  dir: string;
  database: { name: string; tables: number; rows: number; dump_bytes: number; migration: string | null };
  objects: { count: number; bytes: number; missing: string[] };
  /** Objects whose bytes differ from the SHA-256 the database recorded for them (corrupted in the store). */
  problems: string[];
}

/** Objects copied at once (S3 round trips dominate; a few in flight hide them without flooding the store). */
const COPY_CONCURRENCY = 4;

export async function createBackup(settings: BackupSettings, dir: string): Promise<BackupReport> {
  const progress = settings.progress ?? (() => undefined);
  await prepareEmptyDirectory(dir);
  const connection = pgConnection(settings.adminUrl);
  const client = new pg.Client({ connectionString: settings.adminUrl, application_name: 'deskflow-backup' });
  await client.connect();
  let snapshotFacts: Awaited<ReturnType<typeof readSnapshot>>;
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY');
    const { rows } = await client.query<{ id: string }>('SELECT pg_export_snapshot() AS id');
    await lockTables(client, settings.lockWaitMs);
    progress(`dumping ${connection.display}`);
    // The dump and our reads share the snapshot; it lives as long as this transaction, so commit only after the dump.
    const dump = runPgTool(settings.pgBinDir, 'pg_dump', connection, [
      '--format=custom',
      `--file=${path.join(dir, DUMP_FILE)}`,
      `--snapshot=${rows[0]!.id}`,
      // Bounded as our own locks are (lockTables): a migration queued between them and pg_dump's fails the dump.
      `--lock-wait-timeout=${settings.lockWaitMs}`,
      '--no-password',
    ]);
    const [facts] = await Promise.all([readSnapshot(client), dump]);
    snapshotFacts = facts;
    await client.query('COMMIT');
  } finally {
    await client.end().catch(() => undefined);
  }
  const dumpFile = await sha256OfFile(path.join(dir, DUMP_FILE));

  progress(`copying objects from the ${settings.storage.backend} store`);
  const copied = await copyObjects(settings.storage, new LocalObjectStorage(path.join(dir, OBJECTS_DIR)), path.join(dir, OBJECT_LIST_FILE));
  const missing: string[] = [];
  const problems: string[] = [];
  for (const [key, sha256] of snapshotFacts.referenced) {
    const got = copied.sha256s.get(key);
    if (got === undefined) missing.push(key);
    else if (sha256 !== null && got !== sha256) problems.push(`object ${key}: its bytes differ from the SHA-256 the database recorded`);
  }
  const list = await sha256OfFile(path.join(dir, OBJECT_LIST_FILE));

  const manifest: BackupManifest = {
    format: 'deskflow-backup',
    version: 1,
    created_at: snapshotFacts.takenAt,
    database: {
      name: connection.database,
      server_version: snapshotFacts.serverVersion,
      migration: snapshotFacts.migration,
      dump: { file: DUMP_FILE, size: dumpFile.size, sha256: dumpFile.sha256 },
      tables: snapshotFacts.tables,
      audit_heads: snapshotFacts.auditHeads,
    },
    objects: {
      backend: settings.storage.backend,
      count: copied.count,
      bytes: copied.bytes,
      list: { file: OBJECT_LIST_FILE, sha256: list.sha256 },
      missing,
    },
  };
  // Written last, atomically: a directory without a manifest is an unfinished backup, and restore says so.
  const tmp = path.join(dir, `.${MANIFEST_FILE}.tmp`);
  await writeFile(tmp, `${JSON.stringify(manifest, null, 2)}\n`, { flag: 'wx' });
  await rename(tmp, path.join(dir, MANIFEST_FILE));
  return {
    dir,
    database: {
      name: connection.database,
      tables: Object.keys(snapshotFacts.tables).length,
      rows: Object.values(snapshotFacts.tables).reduce((n, t) => n + t.rows, 0),
      dump_bytes: dumpFile.size,
      migration: snapshotFacts.migration,
    },
    objects: { count: copied.count, bytes: copied.bytes, missing },
    problems,
  };
}

/**
 * ACCESS SHARE on every table for the snapshot's transaction, each waited for at most `waitMs`. The transaction keeps
 * them until the dump ends, so a migration queued behind them would queue pg_dump behind itself, a wait PostgreSQL
 * does not detect; bounded, a table a migration holds fails the backup, naming it, before pg_dump starts.
 */
async function lockTables(db: pg.Client, waitMs: number): Promise<void> {
  await db.query("SELECT set_config('lock_timeout', $1, true)", [`${waitMs}ms`]);
  for (const name of await tableNames(db)) {
    try {
      await db.query(`LOCK TABLE ${pg.escapeIdentifier(name)} IN ACCESS SHARE MODE`);
    } catch (error) {
      if ((error as { code?: string }).code !== '55P03') throw error;
      throw new Error(
        `table ${name} stayed locked by another session (a migration or other DDL?) for ${waitMs / 1000} s (BACKUP_LOCK_WAIT): nothing was backed up; try again once it is done`,
      );
    }
  }
}

async function prepareEmptyDirectory(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const entries = await readdir(dir);
  if (entries.length > 0) throw new Error(`${dir} is not empty: a backup goes into a new (or empty) directory`);
}

/** Everything the manifest states about the database, read in the dump's snapshot. */
async function readSnapshot(db: pg.Client) {
  const { rows: meta } = await db.query<{ taken_at: string; server_version: string }>(
    // The snapshot's moment: the transaction's start (now() is fixed for it).
    "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS taken_at, current_setting('server_version') AS server_version",
  );
  // A failed statement would abort the snapshot's transaction: look for the table rather than try it.
  const { rows: hasMigrations } = await db.query<{ found: boolean }>("SELECT to_regclass('public.pgmigrations') IS NOT NULL AS found");
  const { rows: migrations } = hasMigrations[0]!.found
    ? await db.query<{ name: string }>('SELECT name FROM pgmigrations ORDER BY name DESC LIMIT 1')
    : { rows: [] as { name: string }[] };
  const tables = await summarizeTables(db);
  const { rows: heads } = await db.query<{ tenant_id: string; seq: string; hash: string }>(
    'SELECT DISTINCT ON (tenant_id) tenant_id, seq, hash FROM audit_log ORDER BY tenant_id, seq DESC',
  );
  return {
    takenAt: meta[0]!.taken_at,
    serverVersion: meta[0]!.server_version,
    migration: migrations[0]?.name ?? null,
    tables,
    auditHeads: heads.map((h) => ({ tenant_id: h.tenant_id, seq: Number(h.seq), hash: h.hash })),
    referenced: await referencedObjects(db),
  };
}

/**
 * The object keys the database points at, with the SHA-256 it recorded where it keeps one: every `storage_key` column
 * of every table (attachments today, archives as they come), so a new table of objects is covered without a change here.
 */
async function referencedObjects(db: pg.Client): Promise<Map<string, string | null>> {
  const { rows: tables } = await db.query<{ table_name: string; has_sha256: boolean }>(
    `SELECT c.table_name, EXISTS (SELECT 1 FROM information_schema.columns s
                                  WHERE s.table_schema = 'public' AND s.table_name = c.table_name AND s.column_name = 'sha256') AS has_sha256
     FROM information_schema.columns c JOIN pg_tables t ON t.schemaname = 'public' AND t.tablename = c.table_name
     WHERE c.table_schema = 'public' AND c.column_name = 'storage_key' ORDER BY c.table_name`,
  );
  const referenced = new Map<string, string | null>();
  for (const { table_name, has_sha256 } of tables) {
    const { rows } = await db.query<{ key: string; sha256: string | null }>(
      `SELECT storage_key AS key, ${has_sha256 ? 'sha256' : 'NULL'} AS sha256 FROM ${pg.escapeIdentifier(table_name)} WHERE storage_key IS NOT NULL`,
    );
    for (const row of rows) referenced.set(row.key, row.sha256);
  }
  return referenced;
}

/** Copies every object of `source` into `target`, listing each (key, size, SHA-256 as measured while copying) in `listFile`. */
async function copyObjects(source: ObjectStorage, target: ObjectStorage, listFile: string) {
  const out = createWriteStream(listFile, { flags: 'wx' });
  const sha256s = new Map<string, string>();
  let bytes = 0;
  const copyOne = async (key: string): Promise<BackupObject | null> => {
    const object = await source.get(key);
    if (!object) return null; // deleted since it was listed
    const storageClass = StorageClass.safeParse(object.storageClass);
    const stored = await target.put(key, object.body, {
      contentType: object.contentType,
      metadata: object.metadata,
      storageClass: storageClass.success ? storageClass.data : undefined,
    });
    return { key, size: stored.size, sha256: stored.sha256, content_type: object.contentType, storage_class: object.storageClass };
  };
  try {
    let cursor: string | undefined;
    do {
      const page = await source.list('', { cursor });
      for (let i = 0; i < page.objects.length; i += COPY_CONCURRENCY) {
        const batch = await Promise.all(page.objects.slice(i, i + COPY_CONCURRENCY).map((o) => copyOne(o.key)));
        for (const entry of batch) {
          if (!entry) continue;
          sha256s.set(entry.key, entry.sha256);
          bytes += entry.size;
          if (!out.write(`${JSON.stringify(entry)}\n`)) await once(out, 'drain');
        }
      }
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
  } finally {
    out.end();
    await once(out, 'close');
  }
  return { count: sha256s.size, bytes, sha256s };
}
