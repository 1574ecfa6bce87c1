/**
 * Erasure of a customer's personal data (`POST /customers/:id/erase`). The work in PostgreSQL is one SECURITY DEFINER
 * function in the caller's tenant and transaction (migration 021 says what it erases and what it keeps); this module
 * gives it the identifiers only the application can read (the decrypted email and phone) and deletes the customer's
 * files once the rows are gone.
 */
import type pg from 'pg';
import type { CustomerErasure } from '../domain/customer';
import { DeskflowError } from '../domain/errors';
import type { Identity } from '../domain/identity';
import type { FieldCrypto } from '../platform/field-crypto';
import type { ObjectStorage } from '../platform/object-storage';
import { inTenantTransaction } from '../platform/tenant-db';
import { objectDeletionStore } from './object-deletions';

interface Summary {
  customer_id: string;
  erased_at: string;
  already_erased: boolean;
  tickets?: number;
  messages_erased?: number;
  attachments_deleted?: number;
  redacted_seqs?: number[];
  legacy_audit_entries_kept?: number;
  storage_keys: string[];
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
        try {
          const result = await db.query<{ summary: Summary }>('SELECT erase_customer($1, $2, $3, $4, $5) AS summary', [
            customerId,
            identifiers,
            who.actor.type,
            who.actor.id,
            requestId ?? null,
          ]);
          return result.rows[0]!.summary;
        } catch (err) {
          const code = (err as { code?: string }).code;
          if (code === 'P0002') throw new DeskflowError('not_found', 'customer not found');
          if (code === 'DF409')
            throw new DeskflowError(
              'conflict',
              "the customer has tickets that are not closed: close them first (an open ticket's workflow would write what it holds again)",
            );
          throw err;
        }
      });
      // After the commit: the files go now; one that fails stays pending for the data retention schedule.
      const deleted = await deletions.deleteNow(summary.storage_keys);
      return {
        customer_id: summary.customer_id,
        erased_at: summary.erased_at,
        already_erased: summary.already_erased,
        tickets: summary.tickets ?? 0,
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
