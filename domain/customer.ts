import { z } from 'zod';
import { Text } from './text';
import { Uuid } from './ids';

export const Customer = z.object({
  id: Uuid,
  tenant_id: Uuid,
  name: z.string(),
  email: z.string().nullable(),
  phone: z.string().nullable(),
  external_id: z.string().nullable(),
  version: z.number().int().positive(),
  created_at: z.string(),
  updated_at: z.string(),
});
export type Customer = z.infer<typeof Customer>;

const fields = {
  name: Text.trim().min(1).max(200),
  email: z.email().max(254).toLowerCase().nullable(),
  phone: Text.trim()
    .regex(/^\+?[0-9 ()-]{4,32}$/, 'a phone number')
    .nullable(),
  external_id: Text.trim().min(1).max(128).nullable(),
};

export const CreateCustomerInput = z
  .object({
    name: fields.name,
    email: fields.email.default(null),
    phone: fields.phone.default(null),
    external_id: fields.external_id.default(null),
  })
  .strict();
export type CreateCustomerInput = z.infer<typeof CreateCustomerInput>;

export const PatchCustomerInput = z
  .object({
    name: fields.name.optional(),
    email: fields.email.optional(),
    phone: fields.phone.optional(),
    external_id: fields.external_id.optional(),
  })
  .strict()
  .refine((patch) => Object.keys(patch).length > 0, { message: 'at least one field is required' });
export type PatchCustomerInput = z.infer<typeof PatchCustomerInput>;

/** The answer to `POST /customers/:id/erase`: what the erasure removed (never what it was). */
export const CustomerErasure = z.object({
  customer_id: Uuid,
  erased_at: z.string(),
  /** True when the customer had been erased before: nothing more was done. */
  already_erased: z.boolean(),
  /** The customer's tickets (all closed): their subjects, descriptions and the customer's messages erased. */
  tickets: z.number().int(),
  /** The customer's archived tickets (and kept archives of restored ones): their documents redacted by the same rules, their files deleted. */
  archived_tickets: z.number().int(),
  messages_erased: z.number().int(),
  /** Files of the customer's messages, rows and objects. */
  attachments_deleted: z.number().int(),
  /** Audit entries whose payload was redacted (the chain keeps verifying). */
  audit_entries_redacted: z.number().int(),
  /** Audit entries written before payload digests (migration 020) that name the customer: they cannot be redacted. */
  legacy_audit_entries_kept: z.number().int(),
  /** Objects whose deletion failed just now: the data retention schedule deletes them. */
  objects_pending: z.number().int(),
});
export type CustomerErasure = z.infer<typeof CustomerErasure>;
