/**
 * Object keys are relative, slash-separated paths (`attachments/<tenant>/<id>`). The rules keep a key from escaping the
 * local backend's root and make it mean the same object on both backends.
 */
import { InvalidObjectKeyError } from './errors';

/** S3 allows 1024 bytes including S3_KEY_PREFIX; ours stay well under it, and under PATH_MAX on disk. */
export const MAX_KEY_BYTES = 512;
/** NAME_MAX is 255 bytes: room for the local backend's hidden sidecar and temp names beside an object. */
export const MAX_SEGMENT_BYTES = 200;

// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters (NUL first) is the point
const CONTROL = /[\u0000-\u001f\u007f]/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function keyProblem(key: unknown): string | null {
  if (typeof key !== 'string' || key.length === 0) return 'it is empty';
  if (Buffer.byteLength(key) > MAX_KEY_BYTES) return `it is longer than ${MAX_KEY_BYTES} bytes`;
  if (CONTROL.test(key)) return 'it contains a control character (NUL included)';
  if (LONE_SURROGATE.test(key)) return 'it is not well-formed Unicode';
  if (key.includes('\\')) return 'it contains a backslash';
  if (key.startsWith('/')) return 'it is absolute (starts with "/")';
  for (const segment of key.split('/')) {
    if (segment === '') return 'it has an empty segment (a trailing or doubled "/")';
    if (segment === '.' || segment === '..') return 'it has a "." or ".." segment';
    if (segment.startsWith('.')) return 'a segment starts with "." (reserved for the local backend\'s own files)';
    if (Buffer.byteLength(segment) > MAX_SEGMENT_BYTES) return `a segment is longer than ${MAX_SEGMENT_BYTES} bytes`;
  }
  return null;
}

const quoted = (key: unknown) => (typeof key === 'string' ? JSON.stringify(key.length > 80 ? `${key.slice(0, 80)}…` : key) : String(key));

export function assertValidKey(key: string): void {
  const problem = keyProblem(key);
  if (problem) throw new InvalidObjectKeyError(`invalid object key ${quoted(key)}: ${problem}`);
}

/** A list prefix: empty, or a valid key followed by `/` (a folder). */
export function assertValidPrefix(prefix: string): void {
  if (prefix === '') return;
  if (typeof prefix !== 'string' || !prefix.endsWith('/'))
    throw new InvalidObjectKeyError(`invalid list prefix ${quoted(prefix)}: it must be empty or end with "/" (so "tenant-1/" never matches "tenant-10/")`);
  const problem = keyProblem(prefix.slice(0, -1));
  if (problem) throw new InvalidObjectKeyError(`invalid list prefix ${quoted(prefix)}: ${problem}`);
}

/** S3_KEY_PREFIX as stored: empty, or valid segments ending with `/` (a trailing `/` is added when missing). */
export function normalizeKeyPrefix(prefix: string): string {
  if (prefix === '') return '';
  const folder = prefix.endsWith('/') ? prefix : `${prefix}/`;
  assertValidPrefix(folder);
  return folder;
}
