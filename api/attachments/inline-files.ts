/**
 * Files that arrive inside a JSON body as base64 (an inbound email's attachments, as email providers post them):
 * each is decoded, put through the same gate as an upload (sniffed type, allowlist, size, UTF-8 text) and stored.
 * They are in memory already (the whole body is, to verify its signature), so the gate reads one chunk. Whatever goes
 * wrong, every object this call stored is deleted before the error is thrown.
 */
import { Readable } from 'node:stream';
import { sanitizeFilename } from '../../domain/attachment';
import type { ObjectStorage } from '../../platform/object-storage';
import { type FileRules, gateFile, tooLarge } from './file-gate';
import { deleteObjects, type StoredFile } from './multipart';

export interface InlineFile {
  filename: string;
  content_type: string;
  /** The bytes, base64 (validated as such at the edge). */
  content: string;
}

/** Stores `files` in order, the n-th under `keyOf(idOf(n))`; resolves with all of them stored, or rejects with none. */
export async function storeInlineFiles(
  storage: ObjectStorage,
  files: readonly InlineFile[],
  rules: FileRules,
  idOf: (index: number) => string,
  keyOf: (id: string) => string,
): Promise<StoredFile[]> {
  const stored: StoredFile[] = [];
  let inFlight: string | null = null;
  try {
    for (const [index, file] of files.entries()) {
      const id = idOf(index);
      const key = keyOf(id);
      const filename = sanitizeFilename(file.filename);
      // Checked before decoding: base64 is 4 characters for 3 bytes, so a too-long string is refused unread.
      if (Math.floor((file.content.length * 3) / 4) - 2 > rules.maxBytes) throw tooLarge(filename, rules.maxBytes);
      const bytes = Buffer.from(file.content, 'base64');
      inFlight = key;
      const gated = await gateFile(Readable.from([bytes]), filename, file.content_type, () => false, rules);
      const put = await storage.put(key, gated.body, { contentType: gated.contentType });
      stored.push({ id, filename, content_type: gated.contentType, size: put.size, sha256: put.sha256, storage_key: key });
      inFlight = null;
    }
    return stored;
  } catch (error) {
    await deleteObjects(storage, [...stored.map((f) => f.storage_key), ...(inFlight ? [inFlight] : [])]);
    throw error;
  }
}
