/**
 * Field-level encryption of PII (AES-256-GCM, authenticated) with a key id in every value, so keys
 * rotate without a flag day: the first key encrypts, every listed key decrypts.
 * A blind index (HMAC-SHA256 of the normalised value) allows exact lookups without decrypting. Its key
 * is derived per tenant (HKDF from BLIND_INDEX_KEY and the tenant id), so equal values in two tenants
 * have unrelated indexes and cannot be correlated across tenants.
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';

/** Stored with each blind index (customers.email_bidx_version): 1 was one key for all tenants, 2 is per tenant. */
export const BLIND_INDEX_VERSION = 2;

export interface FieldCrypto {
  encrypt(plain: string): string;
  decrypt(stored: string): string;
  encryptNullable(plain: string | null): string | null;
  decryptNullable(stored: string | null): string | null;
  /** The tenant's blind index of `value` (trimmed, case-insensitive). */
  blindIndex(tenantId: string, value: string): string;
}

export function parseKeyring(spec: string): Map<string, Buffer> {
  const keys = new Map<string, Buffer>();
  for (const entry of spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const [kid, b64] = entry.split(':');
    const key = Buffer.from(b64 ?? '', 'base64');
    if (!kid || !/^[\w-]{1,32}$/.test(kid) || key.length !== 32) {
      throw new Error('FIELD_ENCRYPTION_KEYS entries must be kid:base64(32 bytes)');
    }
    keys.set(kid, key);
  }
  if (keys.size === 0) throw new Error('FIELD_ENCRYPTION_KEYS is empty');
  return keys;
}

export function createFieldCrypto(config: { FIELD_ENCRYPTION_KEYS: string; BLIND_INDEX_KEY: string }): FieldCrypto {
  const keys = parseKeyring(config.FIELD_ENCRYPTION_KEYS);
  const [currentKid, currentKey] = [...keys.entries()][0]!;
  const indexKey = Buffer.from(config.BLIND_INDEX_KEY, 'base64');
  if (indexKey.length !== 32) throw new Error('BLIND_INDEX_KEY must be base64 of 32 bytes');
  const tenantKeys = new Map<string, Buffer>();
  const tenantKey = (tenantId: string) => {
    let key = tenantKeys.get(tenantId);
    if (!key) {
      key = Buffer.from(hkdfSync('sha256', indexKey, Buffer.alloc(0), `deskflow blind index v2 tenant ${tenantId.toLowerCase()}`, 32));
      if (tenantKeys.size >= 10_000) tenantKeys.clear(); // a bound, not an LRU: re-deriving is cheap
      tenantKeys.set(tenantId, key);
    }
    return key;
  };

  const api: FieldCrypto = {
    encrypt(plain) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', currentKey, iv);
      const ct = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
      return ['v1', currentKid, iv.toString('base64url'), ct.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.');
    },
    decrypt(stored) {
      const [version, kid, iv, ct, tag] = stored.split('.');
      const key = kid ? keys.get(kid) : undefined;
      if (version !== 'v1' || !key || iv === undefined || ct === undefined || tag === undefined) {
        throw new Error(`cannot decrypt field (unknown format or key id ${kid})`);
      }
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(ct, 'base64url')), decipher.final()]).toString('utf8');
    },
    encryptNullable: (plain) => (plain === null ? null : api.encrypt(plain)),
    decryptNullable: (stored) => (stored === null ? null : api.decrypt(stored)),
    blindIndex: (tenantId, value) => createHmac('sha256', tenantKey(tenantId)).update(value.trim().toLowerCase()).digest('base64url'),
  };
  return api;
}
