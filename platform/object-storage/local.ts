/**
 * The embedded default: objects are files under one root directory, so `npm start` needs nothing more. Each object
 * `<root>/<key>` has its metadata in a hidden sidecar beside it (`.<name>.meta.json`; keys cannot start a segment with
 * `.`, so neither can collide with an object). Both are written to a temp file in the same directory, fsynced and
 * renamed into place: an upload that fails or is aborted leaves no object and no temp file.
 *
 * An object exists when its data file does; the sidecar is renamed first, so a new object is never seen without its
 * metadata (overwriting a key is not atomic across the two files: our keys are written once). A key and a "folder" of
 * the same name (`a` and `a/b`) cannot both exist here, unlike on S3; our key layouts never need both.
 */
import { randomBytes } from 'node:crypto';
import { constants, createWriteStream } from 'node:fs';
import { mkdir, open, readFile, rename, rmdir, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { ObjectStorageArgumentError } from './errors';
import { HashingCounter } from './hashing';
import { assertValidKey, assertValidPrefix } from './keys';
import { walkObjects } from './local-walk';
import { assertValidPutOptions, listLimit, presignSeconds } from './options';
import type { ListOptions, ListPage, ObjectBody, ObjectDownload, ObjectInfo, ObjectStorage, PresignOptions, PutOptions, StoredObject } from './types';

interface Sidecar {
  contentType: string;
  metadata: Record<string, string>;
  storageClass: string;
  size: number;
  sha256: string;
}

const errno = (error: unknown) => (error as NodeJS.ErrnoException).code;
const ignore =
  (...codes: string[]) =>
  (error: unknown) => {
    if (!codes.includes(errno(error) ?? '')) throw error;
  };

export class LocalObjectStorage implements ObjectStorage {
  readonly backend = 'local' as const;
  readonly root: string;

  constructor(root: string) {
    this.root = path.resolve(root);
  }

  async put(key: string, body: ObjectBody, options: PutOptions): Promise<StoredObject> {
    assertValidKey(key);
    assertValidPutOptions(options);
    const file = this.pathOf(key);
    const dir = path.dirname(file);
    const name = path.basename(file);
    const token = randomBytes(6).toString('hex');
    const tmpData = path.join(dir, `.${name}.${token}.tmp`);
    const tmpMeta = path.join(dir, `.${name}.${token}.meta.tmp`);
    const metaFile = this.sidecarOf(file);
    const hasher = new HashingCounter();
    let sidecarPlaced = false;
    try {
      // The stream owns the handle and closes it; `flush` fsyncs first, so the rename below publishes durable bytes.
      await pipeline(body, hasher, createWriteStream('', { fd: await this.createExclusive(dir, tmpData), flush: true }));
      const { size, sha256 } = hasher.result();
      const sidecar: Sidecar = {
        contentType: options.contentType,
        metadata: { ...options.metadata },
        storageClass: options.storageClass ?? 'STANDARD',
        size,
        sha256,
      };
      await writeDurably(tmpMeta, JSON.stringify(sidecar));
      await rename(tmpMeta, metaFile);
      sidecarPlaced = true;
      await rename(tmpData, file).catch((error) => {
        if (errno(error) === 'EISDIR' || errno(error) === 'ENOTEMPTY')
          throw new ObjectStorageArgumentError(`object key ${JSON.stringify(key)} is a folder of other objects in the local backend`);
        throw error;
      });
      await syncDirectory(dir);
      return { key, size, sha256 };
    } catch (error) {
      await unlink(tmpData).catch(ignore('ENOENT', 'ENOTDIR'));
      await unlink(tmpMeta).catch(ignore('ENOENT', 'ENOTDIR'));
      // A sidecar without its object would be an orphan: remove it unless an older object of this key is still there.
      if (sidecarPlaced && !(await isFile(file))) await unlink(metaFile).catch(ignore('ENOENT'));
      throw error;
    }
  }

  async get(key: string): Promise<ObjectDownload | null> {
    assertValidKey(key);
    const file = this.pathOf(key);
    let handle: Awaited<ReturnType<typeof open>>;
    try {
      // Opened before anything else is read: a delete racing this read cannot pull the bytes from under the stream.
      handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (error) {
      if (['ENOENT', 'ENOTDIR', 'ELOOP'].includes(errno(error) ?? '')) return null;
      throw error;
    }
    try {
      const st = await handle.stat();
      if (!st.isFile()) {
        await handle.close();
        return null;
      }
      const info = await this.infoOf(key, file, st);
      return { ...info, body: handle.createReadStream() };
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  async head(key: string): Promise<ObjectInfo | null> {
    assertValidKey(key);
    const file = this.pathOf(key);
    const st = await stat(file).catch((error) => {
      if (errno(error) === 'ENOENT' || errno(error) === 'ENOTDIR') return null;
      throw error;
    });
    return st?.isFile() ? this.infoOf(key, file, st) : null;
  }

  async delete(key: string): Promise<void> {
    assertValidKey(key);
    const file = this.pathOf(key);
    await unlink(file).catch(ignore('ENOENT', 'ENOTDIR', 'EISDIR'));
    await unlink(this.sidecarOf(file)).catch(ignore('ENOENT', 'ENOTDIR'));
    // Prune folders left empty, so deleted tenants' trees do not linger; a concurrent put re-creates its folder.
    for (let dir = path.dirname(file); dir !== this.root; dir = path.dirname(dir)) {
      try {
        await rmdir(dir);
      } catch {
        break; // not empty (or already gone)
      }
    }
  }

  async list(prefix: string, options: ListOptions = {}): Promise<ListPage> {
    assertValidPrefix(prefix);
    const limit = listLimit(options.limit);
    const after = options.cursor === undefined ? undefined : decodeCursor(options.cursor);
    const objects: ListPage['objects'] = [];
    let more = false;
    for await (const object of walkObjects(this.root, prefix, after)) {
      if (objects.length === limit) {
        more = true;
        break; // ends the walk
      }
      objects.push(object);
    }
    return { objects, nextCursor: more ? encodeCursor(objects.at(-1)!.key) : null };
  }

  async presignedGetUrl(key: string, options: PresignOptions = {}): Promise<string | null> {
    assertValidKey(key);
    presignSeconds(options); // the same mistakes fail on both backends
    return null; // no server of its own: the API streams local objects itself
  }

  async close(): Promise<void> {}

  /** The key's file; validation already rules out escaping the root, and this check makes sure of it. */
  private pathOf(key: string): string {
    const file = path.resolve(this.root, key);
    if (!file.startsWith(this.root + path.sep)) throw new ObjectStorageArgumentError(`object key ${JSON.stringify(key)} resolves outside the storage root`);
    return file;
  }

  private sidecarOf(file: string): string {
    return path.join(path.dirname(file), `.${path.basename(file)}.meta.json`);
  }

  /** Creates the folder and the temp file; retried because a delete may prune the new folder in between. */
  private async createExclusive(dir: string, file: string) {
    for (let attempt = 1; ; attempt++) {
      await mkdir(dir, { recursive: true }).catch((error) => {
        if (errno(error) === 'EEXIST' || errno(error) === 'ENOTDIR')
          throw new ObjectStorageArgumentError(`cannot create folder ${path.relative(this.root, dir)}: an object of that name is in the way`);
        throw error;
      });
      try {
        return await open(file, 'wx');
      } catch (error) {
        if (errno(error) !== 'ENOENT' || attempt === 3) throw error;
      }
    }
  }

  private async infoOf(key: string, file: string, st: { size: number; mtime: Date }): Promise<ObjectInfo> {
    const sidecar = await readFile(this.sidecarOf(file), 'utf8')
      .then((text) => JSON.parse(text) as Sidecar)
      .catch(() => null); // missing (placed by hand, or deleted meanwhile): the object's bytes are still its own
    return {
      key,
      size: st.size,
      contentType: sidecar?.contentType ?? 'application/octet-stream',
      metadata: sidecar?.metadata ?? {},
      lastModified: st.mtime,
      storageClass: sidecar?.storageClass ?? 'STANDARD',
    };
  }
}

const encodeCursor = (key: string) => Buffer.from(key).toString('base64url');

function decodeCursor(cursor: string): string {
  const key = Buffer.from(cursor, 'base64url').toString();
  try {
    assertValidKey(key);
  } catch {
    throw new ObjectStorageArgumentError(`invalid list cursor ${JSON.stringify(cursor)}`);
  }
  return key;
}

async function writeDurably(file: string, text: string): Promise<void> {
  const handle = await open(file, 'wx');
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Makes the renames themselves survive a power cut. */
async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function isFile(file: string): Promise<boolean> {
  return stat(file).then(
    (st) => st.isFile(),
    () => false,
  );
}
