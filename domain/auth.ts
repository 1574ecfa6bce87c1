import { z } from 'zod';
import { Text } from './text';
import { WebhookRetrySchedule } from './webhook-retry';

export const Role = z.enum(['admin', 'agent']);
export type Role = z.infer<typeof Role>;

/** What a credential may do. Users get their role's scopes; API keys the scopes they were minted with. */
export const SCOPES = [
  'tickets:read',
  'tickets:write',
  /** Admin acts on tickets outside their lifecycle: legal holds, restoring archived tickets. */
  'tickets:manage',
  'customers:read',
  'customers:write',
  'users:manage',
  'api_keys:manage',
  'tenant:manage',
  'audit:read',
  'webhooks:manage',
  'sla:manage',
  'reports:read',
] as const;
export const Scope = z.enum(SCOPES);
export type Scope = z.infer<typeof Scope>;

export const ROLE_SCOPES: Readonly<Record<Role, readonly Scope[]>> = {
  admin: SCOPES,
  agent: ['tickets:read', 'tickets:write', 'customers:read', 'customers:write'],
};

const Email = z.email().max(254).toLowerCase();
/** Long passphrases welcome; 12 characters at least (NIST 800-63B allows 8, we ask a little more). */
const Password = Text.min(12).max(256);

/** `tenant_id` is needed only when the email and password fit accounts in more than one tenant. */
export const LoginInput = z.object({ email: Text.max(254), password: Text.max(256), tenant_id: z.uuid().optional() }).strict();
export const RefreshInput = z.object({ refresh_token: Text.min(1).max(512) }).strict();

export const User = z.object({
  id: z.uuid(),
  tenant_id: z.uuid(),
  email: z.string(),
  name: z.string(),
  role: Role,
  active: z.boolean(),
  version: z.number().int(),
  created_at: z.string(),
  updated_at: z.string(),
});
export type User = z.infer<typeof User>;

export const CreateUserInput = z.object({ email: Email, name: Text.trim().min(1).max(200), role: Role, password: Password }).strict();
export type CreateUserInput = z.infer<typeof CreateUserInput>;

export const PatchUserInput = z
  .object({ name: Text.trim().min(1).max(200).optional(), role: Role.optional(), active: z.boolean().optional(), password: Password.optional() })
  .strict()
  .refine((p) => Object.keys(p).length > 0, { message: 'at least one field is required' });
export type PatchUserInput = z.infer<typeof PatchUserInput>;

export const ApiKey = z.object({
  id: z.uuid(),
  tenant_id: z.uuid(),
  name: z.string(),
  prefix: z.string(),
  scopes: z.array(Scope),
  rate_limit_per_min: z.number().int().nullable(),
  created_by: z.string().nullable(),
  created_at: z.string(),
  last_used_at: z.string().nullable(),
  revoked_at: z.string().nullable(),
});
export type ApiKey = z.infer<typeof ApiKey>;

export const CreateApiKeyInput = z
  .object({
    name: Text.trim().min(1).max(100),
    scopes: z
      .array(Scope)
      .min(1)
      .transform((s) => [...new Set(s)].sort()),
    rate_limit_per_min: z.number().int().min(1).max(100_000).nullable().default(null),
  })
  .strict();
export type CreateApiKeyInput = z.infer<typeof CreateApiKeyInput>;

export const TenantSettings = z.object({
  id: z.uuid(),
  name: z.string(),
  rate_limit_per_min: z.number().int().nullable(),
  inbound_secret_set: z.boolean(),
  webhook_retry_schedule: WebhookRetrySchedule,
  /** When the tenant's webhook delivery was paused (an incident switch); null: delivering. */
  webhooks_paused_at: z.string().nullable(),
  /** Closed tickets older than this many days are archived; null: the deployment's ARCHIVE_AFTER_DAYS. */
  archive_after_days: z.number().int().nullable(),
  /** Archived tickets are deleted (document, files, metadata) this many years after they closed; null: kept forever. */
  archive_delete_after_years: z.number().int().nullable(),
  created_at: z.string(),
});
export type TenantSettings = z.infer<typeof TenantSettings>;
export const PatchTenantInput = z
  .object({
    name: Text.trim().min(1).max(200).optional(),
    rate_limit_per_min: z.number().int().min(1).max(100_000).nullable().optional(),
    /** Applies to deliveries whose backoff starts after the change; running ones keep their schedule. */
    webhook_retry_schedule: WebhookRetrySchedule.optional(),
    /** Pause (true) or resume (false) every webhook delivery of the tenant: paused ones wait, nothing is dropped. */
    webhooks_paused: z.boolean().optional(),
    /** Days after closing before a ticket is archived (1 to 36,500); null: the deployment's default (ARCHIVE_AFTER_DAYS). */
    archive_after_days: z.number().int().min(1).max(36_500).nullable().optional(),
    /**
     * Years after closing before an archived ticket is deleted for good, document, files and metadata (1 to 100); null:
     * archives are kept forever (the default). A ticket under a legal hold is never deleted; a hot one neither.
     */
    archive_delete_after_years: z.number().int().min(1).max(100).nullable().optional(),
  })
  .strict()
  .refine((p) => Object.keys(p).length > 0, { message: 'at least one field is required' });
export type PatchTenantInput = z.infer<typeof PatchTenantInput>;
