/**
 * The options callers pass, checked the same way on both backends. What `put` is told about an object travels as HTTP
 * headers on S3 (Content-Type, `x-amz-meta-*`): refuse what could not (or should not) be a header.
 */
import { ObjectStorageArgumentError } from './errors';
import { LIST_LIMIT_MAX, PRESIGN_DEFAULT_SECONDS, PRESIGN_MAX_SECONDS, type PresignOptions, StorageClass, type PutOptions } from './types';

/** S3's limit on user-defined metadata (names and values together). */
export const MAX_METADATA_BYTES = 2048;

const MIME_TYPE = /^[a-z0-9][a-z0-9!#$&^_.+-]*\/[a-z0-9][a-z0-9!#$&^_.+-]*(\s*;\s*[a-z0-9!#$&^_.+-]+=("[\x20\x21\x23-\x7e]*"|[a-z0-9!#$&^_.+-]+))*$/i;
const METADATA_NAME = /^[a-z0-9][a-z0-9-]{0,63}$/;
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

export function assertValidPutOptions(options: PutOptions): void {
  if (typeof options?.contentType !== 'string' || options.contentType.length > 255 || !MIME_TYPE.test(options.contentType))
    throw new ObjectStorageArgumentError(`invalid content type ${JSON.stringify(options?.contentType)}: expected a MIME type such as "application/pdf"`);
  if (options.storageClass !== undefined && !StorageClass.safeParse(options.storageClass).success)
    throw new ObjectStorageArgumentError(`invalid storage class ${JSON.stringify(options.storageClass)}: one of ${StorageClass.options.join(', ')}`);
  let bytes = 0;
  for (const [name, value] of Object.entries(options.metadata ?? {})) {
    if (!METADATA_NAME.test(name)) throw new ObjectStorageArgumentError(`invalid metadata name ${JSON.stringify(name)}: lower-case letters, digits and "-"`);
    if (typeof value !== 'string' || !PRINTABLE_ASCII.test(value))
      throw new ObjectStorageArgumentError(`invalid metadata value for ${name}: printable ASCII only (S3 sends it as a header)`);
    bytes += name.length + value.length;
  }
  if (bytes > MAX_METADATA_BYTES) throw new ObjectStorageArgumentError(`metadata too large: ${bytes} bytes (at most ${MAX_METADATA_BYTES})`);
}

/** Header values we pass on (Content-Disposition of a pre-signed URL): one printable line. */
export function assertHeaderValue(name: string, value: string): void {
  if (typeof value !== 'string' || value.length > 1024 || !PRINTABLE_ASCII.test(value))
    throw new ObjectStorageArgumentError(`invalid ${name}: at most 1024 printable ASCII characters`);
}

export function listLimit(limit: number | undefined): number {
  if (limit === undefined) return LIST_LIMIT_MAX;
  if (!Number.isInteger(limit) || limit < 1 || limit > LIST_LIMIT_MAX)
    throw new ObjectStorageArgumentError(`list limit must be 1 to ${LIST_LIMIT_MAX}, not ${limit}`);
  return limit;
}

/** The URL's lifetime in seconds (short by default: it cannot be revoked once handed out). */
export function presignSeconds(options: PresignOptions): number {
  const seconds = options.expiresInSeconds ?? PRESIGN_DEFAULT_SECONDS;
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > PRESIGN_MAX_SECONDS)
    throw new ObjectStorageArgumentError(`pre-signed URL lifetime must be 1 to ${PRESIGN_MAX_SECONDS} seconds, not ${seconds}`);
  if (options.contentDisposition !== undefined) assertHeaderValue('Content-Disposition', options.contentDisposition);
  return seconds;
}
