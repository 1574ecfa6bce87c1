/**
 * Attachments: what a message lists, how a client's filename is made safe to keep and to send back, and the
 * Content-Disposition built from it. Pure: the streaming and storing live in api/attachments/.
 */
import { z } from 'zod';
import { Uuid } from './ids';

/** What every message lists per attachment, and what the ticket workflow carries (never the bytes). */
export const AttachmentSummary = z.object({
  id: Uuid,
  filename: z.string(),
  content_type: z.string(),
  size: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
});
export type AttachmentSummary = z.infer<typeof AttachmentSummary>;

/**
 * Where a message's file is kept in object storage. One place: the API stores files under it and the projection
 * records it for files whose rows it inserts (an email's, whose ticket did not exist when they were stored).
 */
export const attachmentStorageKey = (tenantId: string, ticketId: string, id: string) => `attachments/${tenantId}/${ticketId}/${id}`;

/**
 * How long files stored ahead of a write whose outcome is unknown (a 503: the Workflow Update may still apply) wait for
 * it before the data retention schedule deletes them: longer than any worker outage we expect the update to outlive.
 */
export const UNCONFIRMED_UPLOAD_HOLD_MS = 24 * 60 * 60 * 1000;

/** A message may carry at most this many attachments, whatever ATTACHMENT_MAX_FILES says (bounds workflow payloads). */
export const MAX_ATTACHMENTS_PER_MESSAGE = 20;

/** Characters (code points) kept of a filename; the column allows 255. */
export const MAX_FILENAME_LENGTH = 200;

// biome-ignore lint/suspicious/noControlCharactersInRegex: stripping control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;
/** Bidi overrides and zero-width characters: they make `exe.pdf` read as `fdp.exe` and the like. */
const INVISIBLE = /[\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]/g;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * The name an attachment is kept and offered under: the last path segment of what the client sent (no folders, either
 * slash), without control, bidi and zero-width characters or quotes, trimmed of dots and spaces, at most
 * MAX_FILENAME_LENGTH characters (the extension kept); `attachment` when nothing is left.
 */
export function sanitizeFilename(raw: string | undefined | null): string {
  let name = (raw ?? '').normalize('NFC').replace(LONE_SURROGATE, '').replace(CONTROL, '').replace(INVISIBLE, '');
  name = name.split(/[/\\]/).pop() ?? '';
  name = name
    .replace(/["*:<>?|]/g, '_')
    .replace(/\s+/g, ' ')
    .replace(/^[\s.]+|[\s.]+$/g, '');
  const chars = [...name];
  if (chars.length > MAX_FILENAME_LENGTH) {
    const dot = name.lastIndexOf('.');
    const ext = dot > 0 ? [...name.slice(dot)] : [];
    const keep = ext.length > 0 && ext.length <= 16 ? ext : [];
    name = chars.slice(0, MAX_FILENAME_LENGTH - keep.length).join('') + keep.join('');
  }
  return name || 'attachment';
}

/** RFC 5987 `attr-char`: what may appear unencoded in `filename*`. */
const encodeRfc5987 = (value: string) => encodeURIComponent(value).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/**
 * `attachment; filename="<ascii>"; filename*=UTF-8''<encoded>` (RFC 6266): always `attachment`, never `inline`, so no
 * file (HTML, SVG) is ever rendered in the API's origin. The ASCII fallback keeps printable ASCII minus `"`, `\`, `%`
 * and `;`; the filename is sanitised again here, so a row written by anything else still cannot inject a header.
 */
export function contentDisposition(filename: string): string {
  let chars = [...sanitizeFilename(filename)];
  // Percent-encoding grows a non-ASCII name up to 12-fold: shorten it (from the front of the extension) to stay a
  // header every proxy and S3's pre-signed `response-content-disposition` accept.
  for (;;) {
    const safe = chars.join('');
    const ascii = safe.replace(/[^\x20-\x7e]/g, '_').replace(/["\\%;]/g, '_');
    const header = `attachment; filename="${ascii}"; filename*=UTF-8''${encodeRfc5987(safe)}`;
    if (header.length <= MAX_DISPOSITION_LENGTH || chars.length <= 1) return header;
    const dot = safe.lastIndexOf('.');
    const cut = dot > 0 && safe.length - dot <= 16 ? [...safe.slice(0, dot)].length - 1 : chars.length - 1;
    chars = [...chars.slice(0, cut), ...chars.slice(cut + 1)];
  }
}

/** Well under S3's and common proxies' header limits (and the object store's 1024 for pre-signed URLs). */
export const MAX_DISPOSITION_LENGTH = 900;

/**
 * The default allowlist: images (no SVG: it is a document that runs script), PDF, plain text, CSV, office documents
 * (OOXML and OpenDocument), ZIP. Legacy .doc/.xls/.ppt (`application/x-cfb`) are not in it: their container is the one
 * Windows installers (.msi) use, and bytes cannot tell them apart; add it to ATTACHMENT_ALLOWED_TYPES to accept them.
 */
export const DEFAULT_ALLOWED_TYPES = [
  'image/png',
  'image/jpeg',
  'image/gif',
  'image/webp',
  'image/bmp',
  'image/tiff',
  'application/pdf',
  'text/plain',
  'text/csv',
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  'application/vnd.openxmlformats-officedocument.presentationml.presentation',
  'application/vnd.oasis.opendocument.text',
  'application/vnd.oasis.opendocument.spreadsheet',
  'application/vnd.oasis.opendocument.presentation',
  'application/zip',
] as const;

/** Types never allowed whatever the configuration says: they run in a browser or on a desktop. */
export const NEVER_ALLOWED_TYPES = new Set([
  'text/html',
  'image/svg+xml',
  'application/xhtml+xml',
  'application/xml',
  'application/x-msdownload',
  'application/x-elf',
]);
