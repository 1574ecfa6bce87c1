/**
 * A backup is a directory:
 *   manifest.json   what the backup holds (written last: a directory without it is no backup)
 *   database.dump   pg_dump's custom format of the whole database
 *   objects.jsonl   one line per object: key, size, SHA-256, content type, storage class
 *   objects/        the objects themselves, as a local object store (files with metadata sidecars)
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { z } from 'zod';

export const MANIFEST_FILE = 'manifest.json';
export const DUMP_FILE = 'database.dump';
export const OBJECT_LIST_FILE = 'objects.jsonl';
export const OBJECTS_DIR = 'objects';

const Sha256 = z.string().regex(/^[0-9a-f]{64}$/);

export const BackupObject = z.object({
  key: z.string().min(1),
  size: z.number().int().min(0),
  sha256: Sha256,
  content_type: z.string(),
  storage_class: z.string(),
});
export type BackupObject = z.infer<typeof BackupObject>;

export const BackupManifest = z.object({
  format: z.literal('deskflow-backup'),
  version: z.literal(1),
  created_at: z.iso.datetime(),
  database: z.object({
    /** The source database's name (never its URL: no credentials in a backup). */
    name: z.string(),
    server_version: z.string(),
    /** The newest migration applied: a restore runs on code that knows it. */
    migration: z.string().nullable(),
    dump: z.object({ file: z.literal(DUMP_FILE), size: z.number().int(), sha256: Sha256 }),
    tables: z.record(z.string(), z.object({ rows: z.number().int().min(0), checksum: z.string() })),
    /** Each tenant's audit-chain head in the snapshot: a restore must end each chain exactly there. */
    audit_heads: z.array(z.object({ tenant_id: z.string(), seq: z.number().int(), hash: z.string() })),
  }),
  objects: z.object({
    /** The store they were copied from. */
    backend: z.enum(['local', 's3']),
    count: z.number().int().min(0),
    bytes: z.number().int().min(0),
    list: z.object({ file: z.literal(OBJECT_LIST_FILE), sha256: Sha256 }),
    /** Keys the database referenced in the snapshot that were no longer in the store when copied (deleted meanwhile, or lost). */
    missing: z.array(z.string()),
  }),
});
export type BackupManifest = z.infer<typeof BackupManifest>;

export async function sha256OfFile(file: string): Promise<{ size: number; sha256: string }> {
  const hash = createHash('sha256');
  let size = 0;
  await pipeline(createReadStream(file), async (source: AsyncIterable<Buffer>) => {
    for await (const chunk of source) {
      hash.update(chunk);
      size += chunk.length;
    }
  });
  return { size, sha256: hash.digest('hex') };
}

export async function readManifest(dir: string): Promise<BackupManifest> {
  let text: string;
  try {
    text = await readFile(path.join(dir, MANIFEST_FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`${dir} holds no ${MANIFEST_FILE}: not a backup, or an unfinished one`);
    throw err;
  }
  const parsed = BackupManifest.safeParse(JSON.parse(text));
  if (!parsed.success) throw new Error(`${path.join(dir, MANIFEST_FILE)} is not a Deskflow backup manifest (${parsed.error.issues[0]?.path.join('.')})`);
  return parsed.data;
}
