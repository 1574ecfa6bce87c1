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
