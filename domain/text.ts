/**
 * Text that PostgreSQL can store. A NUL character or a lone UTF-16 surrogate is refused by `text`
 * columns (and by JSON in `jsonb`), so it must be refused where input arrives, never found at write
 * time inside a ticket workflow. Every input string goes through `Text`.
 */
import { z } from 'zod';

// A NUL, a high surrogate not followed by a low one, or a low surrogate not preceded by a high one.
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding the NUL character is the point
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

export const UNSTORABLE_MESSAGE = 'contains a character that cannot be stored (NUL or an unpaired surrogate)';

export function isStorable(value: string): boolean {
  return !UNSTORABLE.test(value);
}

/** The one string type of input schemas. */
export const Text = z.string().refine(isStorable, { message: UNSTORABLE_MESSAGE, abort: true });

/**
 * The first place in a parsed JSON value (object keys included) holding unstorable text, as a path
 * like `body.tags.2`, or null. Checked before any schema, so no field and no key can slip through.
 */
export function findUnstorable(value: unknown, path: string, depth = 0): string | null {
  if (typeof value === 'string') return isStorable(value) ? null : path;
  if (depth > 64 || value === null || typeof value !== 'object') return null;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findUnstorable(value[i], `${path}.${i}`, depth + 1);
      if (found) return found;
    }
    return null;
  }
  for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
    if (!isStorable(key)) return `${path}.<key>`;
    const found = findUnstorable(item, `${path}.${key}`, depth + 1);
    if (found) return found;
  }
  return null;
}
