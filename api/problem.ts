/** RFC 9457 problem responses: every error leaves the API as application/problem+json with a stable `code`. */
import type { ErrorRequestHandler, Request, RequestHandler, Response } from 'express';
import { ZodError } from 'zod';
import { DeskflowError } from '../domain/errors';
import type { Logger } from '../platform/logger';

export const PROBLEM_BASE = 'https://deskflow.dev/problems/';

export function sendProblem(req: Request, res: Response, err: DeskflowError): void {
  if (typeof err.extra.retry_after === 'number') {
    res.setHeader('Retry-After', String(err.extra.retry_after));
  }
  res
    .status(err.status)
    .type('application/problem+json')
    .json({
      type: PROBLEM_BASE + err.code,
      title: err.title,
      status: err.status,
      detail: err.message,
      code: err.code,
      instance: req.originalUrl,
      request_id: req.requestId,
      ...err.extra,
    });
}

export function zodToProblem(err: ZodError, where: string): DeskflowError {
  const errors = err.issues.map((i) => ({ path: [where, ...i.path.map(String)].join('.'), message: i.message }));
  return new DeskflowError('validation_failed', errors.map((e) => `${e.path}: ${e.message}`).join('; '), { errors });
}

/** Turns body-parser and unknown errors into problems; logs only what is not the client's fault. */
export function problemHandler(log: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const problem = toDeskflowError(err);
    if (problem.status >= 500) log.error({ err, requestId: req.requestId, path: req.path }, 'request failed');
    if (res.headersSent) return;
    sendProblem(req, res, problem);
  };
}

function toDeskflowError(err: unknown): DeskflowError {
  if (err instanceof DeskflowError) return err;
  if (err instanceof ZodError) return zodToProblem(err, 'body');
  const e = err as { type?: string; status?: number };
  if (e?.type === 'entity.too.large') return new DeskflowError('payload_too_large');
  if (e?.type === 'entity.parse.failed') return new DeskflowError('malformed_json', 'the request body is not valid JSON');
  if (e?.type === 'encoding.unsupported' || e?.type === 'charset.unsupported') return new DeskflowError('unsupported_media_type');
  if (typeof e?.status === 'number' && e.status >= 400 && e.status < 500) return new DeskflowError('validation_failed', String((err as Error).message));
  return new DeskflowError('internal', 'an unexpected error occurred');
}

export const notFoundHandler: RequestHandler = (req) => {
  throw new DeskflowError('not_found', `no route for ${req.method} ${req.path}`);
};
