/**
 * The local backend's listing: keys under a folder in S3's order (UTF-8 byte order of whole keys), read directory by
 * directory and lazily, so a page walks little more of the tree than it returns.
 */
import type { Dirent } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { ListedObject } from './types';

const byteOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

/** A directory sorts as its name plus `/`, so that `a-b` comes before `a/x` as in S3 (`-` < `/`). */
const sortName = (entry: Dirent) => (entry.isDirectory() ? `${entry.name}/` : entry.name);

/**
 * Objects whose keys start with `folder` (empty or ending with `/`) and sort after `after`. Hidden entries (our sidecars
 * and temp files), symlinks and anything else that is not a plain file or directory are never objects.
 */
export async function* walkObjects(root: string, folder: string, after?: string): AsyncGenerator<ListedObject> {
  let entries: Dirent[];
  try {
    entries = await readdir(path.join(root, folder), { withFileTypes: true });
  } catch (error) {
    // A folder that does not exist (or was just pruned by a delete) holds nothing.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return;
    throw error;
  }
  const visible = entries.filter((e) => !e.name.startsWith('.') && (e.isFile() || e.isDirectory()));
  visible.sort((a, b) => byteOrder(sortName(a), sortName(b)));
  for (const entry of visible) {
    const key = folder + sortName(entry);
    if (entry.isDirectory()) {
      // Every key below `key` sorts before `after` when `after` is past `key` without being inside it: skip the subtree.
      if (after !== undefined && !after.startsWith(key) && byteOrder(after, key) > 0) continue;
      yield* walkObjects(root, key, after);
      continue;
    }
    if (after !== undefined && byteOrder(key, after) <= 0) continue;
    try {
      const st = await stat(path.join(root, key));
      yield { key, size: st.size, lastModified: st.mtime };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error; // deleted meanwhile
    }
  }
}
