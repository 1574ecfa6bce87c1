/** Request helpers shared by every route: validation at the edge, identity, conditional headers. */
import type { Request } from 'express';
import type { z } from 'zod';
import { DeskflowError } from '../domain/errors';
import { isUuid } from '../domain/ids';
import { findUnstorable, UNSTORABLE_MESSAGE } from '../domain/text';
import type { Identity } from '../domain/identity';
import { zodToProblem } from './problem';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      requestId: string;
      identity?: Identity;
      /** Set by the idempotency middleware on creating POSTs: the id of the object this request creates. */
      resourceId?: string;
    }
  }
}

export function identityOf(req: Request): Identity {
  if (!req.identity) throw new DeskflowError('unauthenticated');
  return req.identity;
}

export function parseBody<S extends z.ZodType>(schema: S, req: Request): z.infer<S> {
  if (req.body === undefined) {
    const hasBody = Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
    if (hasBody) throw new DeskflowError('unsupported_media_type', 'send the body as application/json');
    throw new DeskflowError('validation_failed', 'a JSON body is required', { errors: [{ path: 'body', message: 'required' }] });
  }
  refuseUnstorable(req.body, 'body');
  const result = schema.safeParse(req.body);
  if (!result.success) throw zodToProblem(result.error, 'body');
  return result.data;
}

export function parseQuery<S extends z.ZodType>(schema: S, req: Request): z.infer<S> {
  refuseUnstorable(req.query, 'query');
  const result = schema.safeParse(req.query);
  if (!result.success) throw zodToProblem(result.error, 'query');
  return result.data;
}

/** Belt and braces to `Text` in every schema: no key or field of any input may carry unstorable text. */
function refuseUnstorable(input: unknown, where: 'body' | 'query'): void {
  const path = findUnstorable(input, where);
  if (path) throw new DeskflowError('validation_failed', `${path}: ${UNSTORABLE_MESSAGE}`, { errors: [{ path, message: UNSTORABLE_MESSAGE }] });
}

/** A malformed id can never name an object: 404, like an id of another tenant. */
export function idParam(req: Request, name: string): string {
  const value = req.params[name];
  if (!isUuid(value)) throw new DeskflowError('not_found');
  return value as string;
}

export const etagOf = (version: number) => `"${version}"`;

/** `If-Match: "3"` (or `3`, or `W/"3"`) → 3; absent → undefined; anything else is a 400. */
export function ifMatchVersion(req: Request): number | undefined {
  const header = req.headers['if-match'];
  if (header === undefined || header === '*') return undefined;
  const match = /^\s*(?:W\/)?"?(\d{1,9})"?\s*$/.exec(header);
  if (!match) throw new DeskflowError('validation_failed', 'If-Match must be an ETag returned by this API');
  return Number(match[1]);
}

export function notModified(req: Request, etag: string): boolean {
  const header = req.headers['if-none-match'];
  if (!header) return false;
  return header.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag || tag.trim() === '*');
}
