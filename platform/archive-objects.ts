/**
 * Moving bytes between object-storage keys with proof: every copy is hashed as it streams, compared with the SHA-256 on
 * record, and read back before anything relies on it. Archival copies hot → archive; a restore copies archive → hot.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { ARCHIVE_FORMAT, ArchiveDocument } from '../domain/archive';
import type { ObjectStorage, StorageClass } from './object-storage';

/** What retrying cannot mend (an object missing or not what was recorded): the ticket is left as it is. */
export class ArchiveIntegrityError extends Error {
  override name = 'ArchiveIntegrityError';
}

export interface Expected {
  sha256: string;
  size: number;
}

/** Called on every chunk that streams: the activity's heartbeat (the SDK throttles it). */
export type Progress = () => void;

async function* tapped(body: AsyncIterable<Buffer>, progress: Progress): AsyncIterable<Buffer> {
  for await (const chunk of body) {
    progress();
    yield chunk;
  }
}

/** The SHA-256 and size of an object, read whole; null when there is no such object. */
export async function hashObject(storage: ObjectStorage, key: string, progress: Progress): Promise<Expected | null> {
  const object = await storage.get(key);
  if (!object) return null;
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of tapped(object.body, progress)) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { sha256: hash.digest('hex'), size };
}

const same = (a: Expected | null, b: Expected) => a !== null && a.sha256 === b.sha256 && a.size === b.size;
const describe = (e: Expected) => `${e.size} bytes, SHA-256 ${e.sha256}`;

/**
 * Copies `from` to `to` and reads the copy back. A source that is gone is fine when `to` already holds exactly the
 * expected bytes (a run that copied it and died); otherwise, and when the bytes differ from the record, it is an
 * integrity failure (a copy with the wrong bytes is deleted again).
 */
export async function copyVerified(
  storage: ObjectStorage,
  from: string,
  to: string,
  expected: Expected,
  options: { contentType: string; storageClass?: StorageClass; progress: Progress },
): Promise<void> {
  const source = await storage.get(from);
  if (!source) {
    if (same(await hashObject(storage, to, options.progress), expected)) return;
    throw new ArchiveIntegrityError(`${from} is missing from object storage`);
  }
  let stored: Expected;
  try {
    stored = await storage.put(to, tapped(source.body, options.progress), {
      contentType: options.contentType,
      storageClass: options.storageClass,
      metadata: { sha256: expected.sha256 },
    });
  } finally {
    source.body.destroy();
  }
  if (!same(stored, expected)) {
    await storage.delete(to);
    throw new ArchiveIntegrityError(`${from} is not the file on record: ${describe(stored)}, recorded ${describe(expected)}`);
  }
  const back = await hashObject(storage, to, options.progress);
  if (!same(back, expected)) throw new ArchiveIntegrityError(`${to} reads back as ${back ? describe(back) : 'nothing'}, wrote ${describe(expected)}`);
}

/** Stores a document, then reads it back (size, SHA-256, schema): its size and hash, and the document as read. */
export async function putDocument(
  storage: ObjectStorage,
  key: string,
  bytes: Buffer,
  storageClass: StorageClass,
  progress: Progress,
): Promise<{ stored: Expected; readBack: ArchiveDocument }> {
  const expected = { sha256: createHash('sha256').update(bytes).digest('hex'), size: bytes.length };
  const stored = await storage.put(key, Readable.from([bytes]), { contentType: 'application/json', storageClass, metadata: { sha256: expected.sha256 } });
  if (!same(stored, expected)) throw new ArchiveIntegrityError(`${key} stored as ${describe(stored)}, sent ${describe(expected)}`);
  return { stored: expected, readBack: await readDocument(storage, key, expected, progress) };
}

/**
 * An archive document read whole, checked against the record (size, SHA-256), parsed and checked against its schema.
 * A document that fails any of these is never used.
 */
export async function readDocument(storage: ObjectStorage, key: string, expected: Expected, progress: Progress): Promise<ArchiveDocument> {
  const object = await storage.get(key);
  if (!object) throw new ArchiveIntegrityError(`${key} is missing from object storage`);
  const chunks: Buffer[] = [];
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of tapped(object.body, progress)) {
    hash.update(chunk);
    size += chunk.length;
    chunks.push(chunk);
  }
  const read = { sha256: hash.digest('hex'), size };
  if (!same(read, expected)) throw new ArchiveIntegrityError(`${key} reads as ${describe(read)}, recorded ${describe(expected)}`);
  let json: unknown;
  try {
    json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new ArchiveIntegrityError(`${key} is not JSON`);
  }
  const parsed = ArchiveDocument.safeParse(json);
  if (!parsed.success) throw new ArchiveIntegrityError(`${key} is not a ${ARCHIVE_FORMAT} document: ${parsed.error.issues[0]?.message ?? 'shape'}`);
  return parsed.data;
}

/** Deletes the objects (a missing one is no error). */
export async function deleteObjects(storage: ObjectStorage, keys: string[]): Promise<void> {
  for (const key of keys) await storage.delete(key);
}
