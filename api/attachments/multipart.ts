/**
 * A `multipart/form-data` request streamed into object storage with busboy: each file part goes through the gate
 * (api/attachments/file-gate.ts) straight into the store, one at a time, never held whole in memory; text fields are
 * collected (small, bounded). Whatever goes wrong (a limit, a refused type, a malformed body, the client going away, the
 * store failing) every object this request stored is deleted before the error is thrown: a failed upload leaves nothing.
 */
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import busboy from 'busboy';
import type { Request } from 'express';
import { sanitizeFilename } from '../../domain/attachment';
import { DeskflowError } from '../../domain/errors';
import type { ObjectStorage } from '../../platform/object-storage';
import { type FileRules, gateFile } from './file-gate';

export interface UploadRules extends FileRules {
  maxFiles: number;
  /** Text fields the form may have, with the largest value each may be (bytes). */
  fields: Record<string, number>;
  /** The name of the file field (repeatable). */
  fileField: string;
}

export interface StoredFile {
  id: string;
  filename: string;
  content_type: string;
  size: number;
  sha256: string;
  storage_key: string;
}

export interface ReceivedForm {
  fields: Record<string, string>;
  files: StoredFile[];
}

const malformed = (detail: string) => new DeskflowError('validation_failed', detail, { errors: [{ path: 'body', message: detail }] });

/** Deletes objects, each attempted even when another fails (the first failure is rethrown: an operator must see it). */
export async function deleteObjects(storage: ObjectStorage, keys: string[]): Promise<void> {
  const results = await Promise.allSettled(keys.map((key) => storage.delete(key)));
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
}

/**
 * Streams the request's files into `storage` under `keyOf(id)`. Resolves once the whole body is read and every file
 * stored; rejects with nothing left stored.
 */
export async function receiveForm(req: Request, storage: ObjectStorage, rules: UploadRules, keyOf: (id: string) => string): Promise<ReceivedForm> {
  const files: StoredFile[] = [];
  let inFlight: string | null = null;
  try {
    const fields = await parse(req, storage, rules, keyOf, files, (key) => {
      inFlight = key;
    });
    return { fields, files };
  } catch (error) {
    // The store removes a failed put itself; the key in flight is deleted too, in case the failure came after its put.
    const keys = [...files.map((f) => f.storage_key), ...(inFlight ? [inFlight] : [])];
    await deleteObjects(storage, keys);
    throw error;
  }
}

function parse(
  req: Request,
  storage: ObjectStorage,
  rules: UploadRules,
  keyOf: (id: string) => string,
  files: StoredFile[],
  starting: (key: string) => void,
): Promise<Record<string, string>> {
  return new Promise((resolve, reject) => {
    let parser: busboy.Busboy;
    try {
      parser = busboy({
        headers: req.headers,
        defParamCharset: 'utf8',
        limits: {
          // One byte over: a file of exactly the limit passes, a larger one is cut there and refused.
          fileSize: rules.maxBytes + 1,
          files: rules.maxFiles,
          fields: Object.keys(rules.fields).length,
          fieldSize: Math.max(...Object.values(rules.fields)),
          fieldNameSize: 100,
          parts: rules.maxFiles + Object.keys(rules.fields).length,
          headerPairs: 20,
        },
      });
    } catch (error) {
      reject(malformed(`not a valid multipart/form-data request: ${(error as Error).message}`));
      return;
    }
    const fields: Record<string, string> = {};
    let failure: unknown = null;
    let current: Readable | null = null;
    /** Files are stored one after another, in the order they arrive. */
    let queue: Promise<void> = Promise.resolve();

    const fail = (error: unknown) => {
      if (failure !== null) return;
      failure = error;
      req.unpipe(parser);
      current?.destroy(error as Error);
      req.resume(); // whatever is still coming is read and dropped, so the answer can be sent on this connection
      // Rejected once the file in flight has settled, so the caller deletes everything that was stored.
      void queue.then(
        () => reject(error),
        () => reject(error),
      );
    };

    parser.on('file', (name, stream, info) => {
      if (failure !== null) return void stream.resume();
      // A browser sends an empty part without a filename for a file input left empty: nothing was attached.
      if (!info.filename) return void stream.resume();
      if (name !== rules.fileField) {
        stream.resume();
        return fail(malformed(`unexpected file field ${JSON.stringify(name)}: send files as "${rules.fileField}"`));
      }
      let truncated = false;
      stream.on('limit', () => {
        truncated = true;
      });
      // The parser errors the part itself when the body breaks off: that is the client's doing (400), not the store's.
      let broken = false;
      stream.on('error', () => {
        broken = true;
      });
      queue = queue
        .then(async () => {
          if (failure !== null) return void stream.resume();
          current = stream;
          const id = randomUUID();
          const key = keyOf(id);
          const filename = sanitizeFilename(info.filename);
          starting(key);
          const gated = await gateFile(stream, filename, info.mimeType, () => truncated, rules);
          const stored = await storage.put(key, gated.body, { contentType: gated.contentType });
          files.push({ id, filename, content_type: gated.contentType, size: stored.size, sha256: stored.sha256, storage_key: key });
          current = null;
        })
        .catch((error: unknown) =>
          fail(broken && !(error instanceof DeskflowError) ? malformed(`the file part broke off: ${(error as Error).message}`) : error),
        );
    });
    parser.on('field', (name, value, info) => {
      if (failure !== null) return;
      const max = Object.hasOwn(rules.fields, name) ? rules.fields[name]! : undefined;
      if (max === undefined) return fail(malformed(`unexpected field ${JSON.stringify(name)}`));
      if (info.nameTruncated || info.valueTruncated || Buffer.byteLength(value) > max)
        return fail(new DeskflowError('payload_too_large', `field ${name} is larger than ${max} bytes`));
      if (Object.hasOwn(fields, name)) return fail(malformed(`field ${name} is given twice`));
      fields[name] = value;
    });
    parser.on('filesLimit', () => fail(new DeskflowError('payload_too_large', `at most ${rules.maxFiles} files per message`, { max_files: rules.maxFiles })));
    parser.on('fieldsLimit', () => fail(malformed('too many fields')));
    parser.on('partsLimit', () => fail(malformed('too many parts')));
    parser.on('error', (error: Error) => fail(malformed(`malformed multipart/form-data: ${error.message}`)));
    parser.on('close', () => {
      void queue.then(() => {
        if (failure === null) resolve(fields);
      });
    });
    // A client that goes away mid-upload: the file being stored fails, so does the request, and nothing is kept.
    req.on('close', () => {
      if (!req.complete) fail(malformed('the client closed the connection before the upload ended'));
    });
    req.on('error', (error) => fail(malformed(`the upload failed: ${error.message}`)));
    req.pipe(parser);
  });
}
