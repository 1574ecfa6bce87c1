/**
 * Content sniffing: the type of a file from its first bytes (magic numbers), never from its name or the client's
 * Content-Type. Covers what the attachment allowlist can name, plus what must be recognised to be refused (executables,
 * HTML, SVG, XML). A hand-written table rather than the `file-type` package: that package is ESM-only, which this
 * CommonJS project (and its jest runner) cannot load without a loader, and the table below is all we need of it.
 */

/** How many leading bytes sniffing looks at (OOXML is told from plain ZIP by entry names near the start). */
export const SNIFF_BYTES = 8192;

export const OOXML = {
  word: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  xl: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  ppt: 'application/vnd.openxmlformats-officedocument.presentationml.presentation',
} as const;

const ascii = (bytes: Uint8Array, from: number, to: number) => String.fromCharCode(...bytes.subarray(from, Math.min(to, bytes.length)));
const startsWith = (bytes: Uint8Array, signature: number[], offset = 0) => signature.every((b, i) => bytes[offset + i] === b);

/** A ZIP: an OpenDocument (its first entry is an uncompressed `mimetype`), an OOXML document, or just a ZIP. */
function zipType(head: Uint8Array): string {
  const nameLength = (head[26] ?? 0) | ((head[27] ?? 0) << 8);
  const extraLength = (head[28] ?? 0) | ((head[29] ?? 0) << 8);
  if (ascii(head, 30, 30 + nameLength) === 'mimetype') {
    const start = 30 + nameLength + extraLength;
    const declared = ascii(head, start, start + 80).match(/^application\/vnd\.oasis\.opendocument\.(text|spreadsheet|presentation)/);
    if (declared) return declared[0];
  }
  const text = ascii(head, 0, head.length);
  if (text.includes('[Content_Types].xml')) {
    for (const [folder, type] of Object.entries(OOXML)) if (text.includes(`${folder}/`)) return type;
  }
  return 'application/zip';
}

/** Markup a browser would render (WHATWG MIME sniffing's patterns, case-insensitive, after whitespace or a BOM). */
function markupType(head: Uint8Array): string | null {
  const text = ascii(head, 0, 512)
    .replace(/^\xef\xbb\xbf/, '')
    .replace(/^[\t\n\f\r ]+/, '')
    .toLowerCase();
  if (/^<(!doctype html|html|head|body|script|iframe|h1|div|font|table|a|style|title|b|br|p|!--)[\s>]/.test(text)) return 'text/html';
  if (text.startsWith('<svg') || (text.startsWith('<?xml') && text.includes('<svg'))) return 'image/svg+xml';
  if (text.startsWith('<?xml')) return 'application/xml';
  return null;
}

/**
 * The type the leading bytes show, or null when they show none (plain text, or something unknown: the caller decides
 * whether it is acceptable text).
 */
export function sniffContentType(head: Uint8Array): string | null {
  if (startsWith(head, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'image/png';
  if (startsWith(head, [0xff, 0xd8, 0xff])) return 'image/jpeg';
  if (ascii(head, 0, 6) === 'GIF87a' || ascii(head, 0, 6) === 'GIF89a') return 'image/gif';
  if (ascii(head, 0, 4) === 'RIFF' && ascii(head, 8, 12) === 'WEBP') return 'image/webp';
  // "BM" alone would catch text starting with those letters: the header's reserved word must be zero too.
  if (ascii(head, 0, 2) === 'BM' && head.length >= 14 && head[6] === 0 && head[7] === 0 && head[8] === 0 && head[9] === 0) return 'image/bmp';
  if (startsWith(head, [0x49, 0x49, 0x2a, 0x00]) || startsWith(head, [0x4d, 0x4d, 0x00, 0x2a])) return 'image/tiff';
  if (ascii(head, 0, 5) === '%PDF-') return 'application/pdf';
  if (startsWith(head, [0x50, 0x4b, 0x03, 0x04])) return zipType(head);
  if (startsWith(head, [0x50, 0x4b, 0x05, 0x06])) return 'application/zip'; // an empty archive
  if (startsWith(head, [0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1])) return 'application/x-cfb';
  if (ascii(head, 0, 2) === 'MZ') return 'application/x-msdownload';
  if (startsWith(head, [0x7f, 0x45, 0x4c, 0x46])) return 'application/x-elf';
  if (startsWith(head, [0xcf, 0xfa, 0xed, 0xfe]) || startsWith(head, [0xfe, 0xed, 0xfa, 0xcf])) return 'application/x-mach-binary';
  if (ascii(head, 0, 2) === '#!') return 'text/x-shellscript';
  return markupType(head);
}

/** Types that may be taken on the client's word when no signature matched, provided the bytes are UTF-8 text. */
export const TEXT_TYPES = new Set(['text/plain', 'text/csv']);
