/**
 * `GET /api/v1/attachments/:id`: the file of a message. The local backend streams it; on S3 the answer is a 302 to a
 * short-lived pre-signed URL (the bytes never pass through the API). Either way the file is offered as a download
 * (`Content-Disposition: attachment`, never `inline`), under its sniffed type, so nothing uploaded runs in our origin.
 */
import { pipeline } from 'node:stream/promises';
import { contentDisposition } from '../../domain/attachment';
import { DeskflowError } from '../../domain/errors';
import { TEXT_TYPES } from '../../domain/file-sniff';
import type { ObjectStorage } from '../../platform/object-storage';
import type { AttachmentStore } from '../../stores/attachments';
import type { RouteSpec } from '../http/route';
import { IdParams } from '../http/schemas';
import { identityOf, idParam, notModified } from '../request';

export function attachmentRoutes(deps: { attachments: AttachmentStore; storage: ObjectStorage; urlTtlMs: number }): RouteSpec[] {
  const { attachments, storage, urlTtlMs } = deps;
  return [
    {
      method: 'get',
      path: '/api/v1/attachments/:id',
      tag: 'Attachments',
      summary: "Download a message's attachment",
      auth: 'bearer',
      scope: 'tickets:read',
      conditional: ['If-None-Match'],
      request: { params: IdParams },
      responses: {
        200: {
          description:
            'The file (local object storage), with its sniffed `Content-Type`, `X-Content-Type-Options: nosniff` and ' +
            "`Content-Disposition: attachment` (an ASCII `filename` and the exact name as `filename*`). Internal notes' files " +
            'are served to users (agents, admins) only, as live events are; to an API key they are a 404.',
          headers: ['ETag', 'Content-Disposition', 'Content-Length'],
        },
        302: {
          description: 'S3 object storage: a pre-signed URL valid for `ATTACHMENT_URL_TTL` that answers with the same disposition',
          headers: ['Location'],
        },
        304: { description: 'Not modified (the ETag is the SHA-256 of the file)' },
      },
      handler: async (req, res) => {
        const who = identityOf(req);
        const attachment = await attachments.get(who.tenantId, idParam(req, 'id'));
        // An internal note is for those who work the ticket: the same rule as live events (api/live/visibility.ts).
        if (!attachment || (attachment.visibility === 'internal' && who.credential.kind !== 'user')) {
          throw new DeskflowError('not_found', 'attachment not found');
        }
        const etag = `"${attachment.sha256}"`;
        const disposition = contentDisposition(attachment.filename);
        res.setHeader('ETag', etag);
        if (notModified(req, etag)) return void res.status(304).end();

        const url = await storage.presignedGetUrl(attachment.storage_key, {
          expiresInSeconds: Math.max(1, Math.round(urlTtlMs / 1000)),
          contentDisposition: disposition,
        });
        if (url) return void res.redirect(302, url);

        const object = await storage.get(attachment.storage_key);
        if (!object) throw new DeskflowError('internal', 'the attachment is recorded but its file is missing from object storage');
        res.status(200).set({
          'Content-Type': TEXT_TYPES.has(attachment.content_type) ? `${attachment.content_type}; charset=utf-8` : attachment.content_type,
          'Content-Length': String(attachment.size),
          'Content-Disposition': disposition,
          'X-Content-Type-Options': 'nosniff',
          // Should a browser render it after all (an old one ignoring the disposition): no script, no origin.
          'Content-Security-Policy': "default-src 'none'; sandbox",
          'Cross-Origin-Resource-Policy': 'same-origin',
        });
        try {
          await pipeline(object.body, res);
        } catch {
          // The client went away mid-download (or the store failed after the headers went): nothing more to answer.
          object.body.destroy();
          res.destroy();
        }
      },
    },
  ];
}
