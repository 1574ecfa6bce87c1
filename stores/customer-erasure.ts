/**
 * Erasure of a customer's personal data (`POST /customers/:id/erase`). The work in PostgreSQL is one SECURITY DEFINER
 * function in the caller's tenant and transaction (migration 021 says what it erases and what it keeps); this module
 * gives it the identifiers only the application can read (the decrypted email and phone), redacts the documents of
 * the customer's archived tickets in object storage by the same rules, and deletes the customer's files (hot and
 * archived) once the rows are gone.
 *
 * Archived tickets, crash safety: the redacted documents are written (same key, read back and checked) *before* the
 * erasure's transaction commits, and their new SHA-256 and size are recorded in that transaction. A refused erasure
 * rewrites nothing; an error while rewriting puts the original bytes back before the transaction rolls back. Only a
 * crash (or a failed COMMIT) between a rewrite and the commit leaves a document whose bytes are not those on record (the archive read path then refuses it, as it refuses any mismatch); retrying the erasure
 * finishes it: a document that does not match its record is accepted when it parses as this ticket's archive (only
 * archival and erasure ever write that key) and is redacted again (idempotent) and recorded. We chose this over
 * recording pending redactions to finish after the commit because a retry after the commit would no longer know the
 * customer's identifiers (the customer row is emptied) and we keep no copy of them anywhere.
 */
import { Readable } from 'node:stream';
import type pg from 'pg';
import { ArchiveIntegrityError, putDocument } from '../platform/archive-objects';
import { ARCHIVE_FORMAT, ArchiveDocument } from '../domain/archive';
import type { CustomerErasure } from '../domain/customer';
import { DeskflowError } from '../domain/errors';
import type { Identity } from '../domain/identity';
import type { FieldCrypto } from '../platform/field-crypto';
import type { ObjectStorage, StorageClass } from '../platform/object-storage';
import { type Db, inTenantTransaction } from '../platform/tenant-db';
import { objectDeletionStore } from './object-deletions';

const ERASED = '[erased]';
const noProgress = () => {};

interface ArchivedOne {
  ticket_id: string;
  location: string;
  sha256: string;
  size_bytes: number;
  storage_class: string;
}

interface Loaded {
  row: ArchivedOne;
  doc: ArchiveDocument;
  /** The bytes as found (put back if the erasure fails after the rewrite). */
  original: Buffer;
}

/**
 * An archive document as stored, checked against its record (size, SHA-256) and its schema. A document whose bytes are
 * not those on record is accepted only as this ticket's well-formed document: a rewrite whose transaction did not
 * commit (a crash; see above), which this erasure then redacts again and records.
 */
async function loadDocument(storage: ObjectStorage, row: ArchivedOne): Promise<Loaded> {
  const object = await storage.get(row.location);
  if (!object) throw new ArchiveIntegrityError(`${row.location} is missing from object storage`);
  const chunks: Buffer[] = [];
  for await (const chunk of object.body) chunks.push(chunk as Buffer);
  const original = Buffer.concat(chunks);
  let json: unknown;
  try {
    json = JSON.parse(original.toString('utf8'));
  } catch {
    throw new ArchiveIntegrityError(`${row.location} is not JSON`);
  }
  const parsed = ArchiveDocument.safeParse(json);
  if (!parsed.success || parsed.data.format !== ARCHIVE_FORMAT || parsed.data.ticket_id !== row.ticket_id) {
    throw new ArchiveIntegrityError(`${row.location} is not this ticket's archive document`);
  }
  // Whether or not its bytes are those on record (sha256, size_bytes): it is rewritten and recorded anew either way.
  return { row, doc: parsed.data, original };
}

/** The customer's own words in an archived document: they are needles for everything else, as hot ones are. */
function customerWords(doc: ArchiveDocument): string[] {
  const words = [doc.ticket.subject, doc.ticket.description];
  for (const m of doc.messages) if (m.author_type === 'customer') words.push(m.body, m.external_id);
  return words.filter((w): w is string => typeof w === 'string' && w !== ERASED && w.length >= 3);
}

const customerMessageIds = (doc: ArchiveDocument) => new Set(doc.messages.filter((m) => m.author_type === 'customer').map((m) => m.id as string));

/**
 * The document with the rules erase_customer applies to hot rows: the customer's subject, description, message bodies
 * and email ids and files go; what others wrote, the timeline and the copied audit entries are redacted (in
 * PostgreSQL, by the same redact_text/redact_jsonb, so the rules cannot drift).
 */
async function redactDocument(db: Db, doc: ArchiveDocument, needles: string[]): Promise<ArchiveDocument> {
  const theirs = customerMessageIds(doc);
  const { rows } = await db.query<{
    others: unknown[];
    timeline: Array<{ changes: unknown; data: unknown }>;
    audit: Array<{ before: unknown; after: unknown; payload_sha256: string; changed: boolean }>;
  }>(
    `SELECT redact_jsonb($1::jsonb, $4) AS others, redact_jsonb($2::jsonb, $4) AS timeline,
       coalesce((SELECT jsonb_agg(jsonb_build_object('before', b, 'after', a, 'payload_sha256', audit_payload_sha256(b, a),
                                                     'changed', b IS DISTINCT FROM e->'before' OR a IS DISTINCT FROM e->'after') ORDER BY i)
                 FROM (SELECT e, i, redact_jsonb(e->'before', $4) AS b, redact_jsonb(e->'after', $4) AS a
                       FROM jsonb_array_elements($3::jsonb) WITH ORDINALITY AS x(e, i)) s), '[]') AS audit`,
    [
      JSON.stringify(doc.messages.map((m) => (theirs.has(m.id as string) ? null : m.body))),
      JSON.stringify(doc.timeline.map((e) => ({ changes: e.changes ?? null, data: e.data ?? null }))),
      JSON.stringify(doc.audit.map((l) => ({ before: l.before ?? null, after: l.after ?? null }))),
      needles,
    ],
  );
  const r = rows[0]!;
  const now = new Date().toISOString();
  return {
    ...doc,
    ticket: { ...doc.ticket, subject: ERASED, description: ERASED },
    messages: doc.messages.map((m, i) => (theirs.has(m.id as string) ? { ...m, body: ERASED, external_id: null } : { ...m, body: r.others[i] })),
    timeline: doc.timeline.map((e, i) => ({ ...e, changes: r.timeline[i]!.changes, data: r.timeline[i]!.data })),
    attachments: doc.attachments.filter((a) => !a.message_id || !theirs.has(a.message_id)),
    audit: doc.audit.map((l, i) => {
      const red = r.audit[i]!;
      if (!red.changed) return l;
      const entry: Record<string, unknown> = { ...l, before: red.before, after: red.after, redacted_at: l.redacted_at ?? now };
      if (l.hash_version === 2) entry.payload_sha256 = red.payload_sha256;
      return entry;
    }),
  };
}

interface Summary {
  customer_id: string;
  erased_at: string;
  already_erased: boolean;
  tickets?: number;
  messages_erased?: number;
  attachments_deleted?: number;
  redacted_seqs?: number[];
  legacy_audit_entries_kept?: number;
  archived_tickets?: number;
  storage_keys: string[];
  needles?: string[];
}

export function customerErasureStore(pool: pg.Pool, crypto: FieldCrypto, storage: ObjectStorage) {
  const deletions = objectDeletionStore(pool, storage);
  return {
    async erase(who: Identity, customerId: string, requestId?: string): Promise<CustomerErasure> {
      const summary = await inTenantTransaction(pool, who.tenantId, async (db) => {
        const { rows } = await db.query<{ email_enc: string | null; phone_enc: string | null }>(
          'SELECT email_enc, phone_enc FROM customers WHERE tenant_id = $1 AND id = $2',
          [who.tenantId, customerId],
        );
        if (!rows[0]) throw new DeskflowError('not_found', 'customer not found');
        const identifiers = [crypto.decryptNullable(rows[0].email_enc), crypto.decryptNullable(rows[0].phone_enc)].filter((v): v is string => !!v);
        // The customer's archived tickets (and kept archives of restored ones), locked: no restore or hold crosses us.
        // Nothing to read for an erased customer (already done) or one under a legal hold (the function refuses).
        const { rows: archived } = await db.query<ArchivedOne>(
          `SELECT a.ticket_id, a.location, a.sha256, a.size_bytes::float8 AS size_bytes, a.storage_class FROM ticket_archives a
           JOIN customers c ON c.tenant_id = a.tenant_id AND c.id = a.customer_id AND c.erased_at IS NULL
           WHERE a.tenant_id = $1 AND a.customer_id = $2
             AND NOT EXISTS (SELECT 1 FROM ticket_legal_holds h JOIN ticket_archives o ON o.tenant_id = h.tenant_id AND o.ticket_id = h.ticket_id
                             WHERE h.tenant_id = $1 AND h.held AND o.customer_id = $2)
           ORDER BY a.ticket_id FOR UPDATE OF a`,
          [who.tenantId, customerId],
        );
        const loaded: Loaded[] = [];
        for (const row of archived) loaded.push(await loadDocument(storage, row));
        const words = loaded.flatMap((l) => customerWords(l.doc));
        const archiveKeys = loaded.flatMap((l) => {
          const theirs = customerMessageIds(l.doc);
          return l.doc.attachments.filter((a) => a.message_id && theirs.has(a.message_id)).map((a) => a.archive_key);
        });
        let summary: Summary;
        try {
          const result = await db.query<{ summary: Summary }>('SELECT erase_customer($1, $2, $3, $4, $5, $6) AS summary', [
            customerId,
            [...identifiers, ...words],
            who.actor.type,
            who.actor.id,
            requestId ?? null,
            archiveKeys,
          ]);
          summary = result.rows[0]!.summary;
        } catch (err) {
          const code = (err as { code?: string }).code;
          if (code === 'P0002') throw new DeskflowError('not_found', 'customer not found');
          if (code === 'DF409')
            throw new DeskflowError(
              'conflict',
              "the customer has tickets that are not closed: close them first (an open ticket's workflow would write what it holds again)",
            );
          if (code === 'DF423')
            throw new DeskflowError(
              'conflict',
              'a legal hold keeps tickets of the customer: their data cannot be erased while it is held (GDPR art. 17(3)(e)); lift the hold first',
            );
          throw err;
        }
        if (summary.already_erased) return summary;
        // The archives, rewritten before the commit (see above); on any failure, the original bytes go back.
        const rewritten: Loaded[] = [];
        try {
          for (const l of loaded) {
            const redacted = await redactDocument(db, l.doc, summary.needles ?? []);
            rewritten.push(l);
            const { stored } = await putDocument(
              storage,
              l.row.location,
              Buffer.from(JSON.stringify(redacted)),
              l.row.storage_class as StorageClass,
              noProgress,
            );
            await db.query(
              'UPDATE ticket_archives SET sha256 = $3, size_bytes = $4, attachment_count = $5, attachment_bytes = $6 WHERE tenant_id = $1 AND ticket_id = $2',
              [
                who.tenantId,
                l.row.ticket_id,
                stored.sha256,
                stored.size,
                redacted.attachments.length,
                redacted.attachments.reduce((n, a) => n + a.size_bytes, 0),
              ],
            );
          }
        } catch (err) {
          for (const l of rewritten) {
            await storage
              .put(l.row.location, Readable.from([l.original]), { contentType: 'application/json', storageClass: l.row.storage_class as StorageClass })
              .catch(() => undefined);
          }
          throw err;
        }
        return summary;
      });
      // After the commit: the files go now; one that fails stays pending for the data retention schedule.
      const deleted = await deletions.deleteNow(summary.storage_keys);
      return {
        customer_id: summary.customer_id,
        erased_at: summary.erased_at,
        already_erased: summary.already_erased,
        tickets: summary.tickets ?? 0,
        archived_tickets: summary.archived_tickets ?? 0,
        messages_erased: summary.messages_erased ?? 0,
        attachments_deleted: summary.attachments_deleted ?? 0,
        audit_entries_redacted: summary.redacted_seqs?.length ?? 0,
        legacy_audit_entries_kept: summary.legacy_audit_entries_kept ?? 0,
        objects_pending: summary.storage_keys.length - deleted,
      };
    },
  };
}
export type CustomerErasureStore = ReturnType<typeof customerErasureStore>;
