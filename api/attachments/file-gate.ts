/**
 * One uploaded file on its way to object storage: its first bytes decide its type (sniffed, never the client's
 * claim) before anything is stored, then every chunk is counted (size limit) and, for text, checked to be UTF-8
 * without NUL. Any refusal is thrown from inside the body the store is reading, so the store's own rule applies: a
 * body that fails leaves no object.
 */
import type { Readable } from 'node:stream';
import { NEVER_ALLOWED_TYPES } from '../../domain/attachment';
import { DeskflowError } from '../../domain/errors';
import { SNIFF_BYTES, sniffContentType, TEXT_TYPES } from '../../domain/file-sniff';

export interface FileRules {
  maxBytes: number;
  allowedTypes: ReadonlySet<string>;
}

export interface GatedFile {
  /** The type the file is stored and served as. */
  contentType: string;
  /** Every byte of the file, checked as it streams; throws (and so fails the store) on the first problem. */
  body: AsyncGenerator<Buffer>;
}

export const tooLarge = (filename: string, maxBytes: number) =>
  new DeskflowError('payload_too_large', `${filename}: larger than the attachment limit of ${maxBytes} bytes`, { max_bytes: maxBytes });

const refused = (filename: string, why: string) => new DeskflowError('unsupported_media_type', `${filename}: ${why}`);

/** Reads until SNIFF_BYTES are in hand or the file ends. */
async function readHead(reader: AsyncIterator<Buffer>): Promise<{ head: Buffer; ended: boolean }> {
  const chunks: Buffer[] = [];
  let length = 0;
  while (length < SNIFF_BYTES) {
    const next = await reader.next();
    if (next.done) return { head: Buffer.concat(chunks), ended: true };
    chunks.push(next.value);
    length += next.value.length;
  }
  return { head: Buffer.concat(chunks), ended: false };
}

/**
 * `stream` is the file part; `truncated()` says whether the parser cut it at its own limit (set one byte above
 * `maxBytes`, so a file of exactly `maxBytes` passes and any larger one is seen as such).
 */
export async function gateFile(stream: Readable, filename: string, declaredType: string, truncated: () => boolean, rules: FileRules): Promise<GatedFile> {
  const reader = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const { head, ended } = await readHead(reader);
  const declared = declaredType.split(';')[0]!.trim().toLowerCase();
  const sniffed = sniffContentType(head.subarray(0, SNIFF_BYTES));
  // Text has no signature: it is taken on the client's word only for plain text and CSV, and then checked byte by byte.
  const isText = sniffed === null && TEXT_TYPES.has(declared);
  const contentType = sniffed ?? (isText ? declared : null);
  if (contentType === null) throw refused(filename, `the content is not of a recognised type (declared ${JSON.stringify(declared)})`);
  if (NEVER_ALLOWED_TYPES.has(contentType) || !rules.allowedTypes.has(contentType)) throw refused(filename, `${contentType} is not an allowed attachment type`);

  const utf8 = isText ? new TextDecoder('utf-8', { fatal: true }) : null;
  let size = 0;
  const check = (chunk: Buffer) => {
    size += chunk.length;
    if (size > rules.maxBytes) throw tooLarge(filename, rules.maxBytes);
    if (utf8) {
      if (chunk.includes(0)) throw refused(filename, 'text must not contain NUL bytes');
      try {
        utf8.decode(chunk, { stream: true });
      } catch {
        throw refused(filename, 'text must be UTF-8');
      }
    }
  };

  async function* body(): AsyncGenerator<Buffer> {
    check(head);
    yield head;
    if (!ended) {
      for (let next = await reader.next(); !next.done; next = await reader.next()) {
        check(next.value);
        yield next.value;
      }
    }
    if (truncated()) throw tooLarge(filename, rules.maxBytes);
    if (utf8) {
      try {
        utf8.decode(); // a sequence cut off at the end
      } catch {
        throw refused(filename, 'text must be UTF-8');
      }
    }
  }
  return { contentType, body: body() };
}
