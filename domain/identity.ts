import type { Role, Scope } from './auth';
import type { Actor } from './ticket';

/**
 * The caller, resolved from its credential (api/auth/authenticate.ts) or stated by a trusted process
 * (the admin CLI, inbound email). Every store takes it so the tenant comes from the credential, never the input.
 */
export interface Identity {
  tenantId: string;
  actor: Actor;
  scopes: ReadonlySet<Scope>;
  credential:
    | { kind: 'user'; userId: string; role: Role; sessionId: string; jti: string; exp: number }
    | { kind: 'api_key'; keyId: string; rateLimitPerMin: number | null }
    | { kind: 'inbound' }
    | { kind: 'system' };
}
