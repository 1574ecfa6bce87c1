/**
 * ES256 signing keys for access tokens, shared by every API process through PostgreSQL.
 * The newest key signs; a new one is created when it is older than SIGNING_KEY_ROTATION, and older
 * keys keep verifying (and stay in the JWKS) for one more rotation period.
 */
import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, importJWK, type JWK, type KeyLike } from 'jose';
import type pg from 'pg';
import type { FieldCrypto } from '../../platform/field-crypto';
import { type SigningKeyStore, signingKeyStore } from '../../stores/signing-keys';

const ALG = 'ES256';

interface LoadedKey {
  kid: string;
  createdAt: number;
  publicJwk: JWK;
  publicKey: KeyLike | Uint8Array;
  privateKey: KeyLike | Uint8Array;
}

export class SigningKeyRing {
  private keys: LoadedKey[] = [];
  private loadedAt = 0;
  private loading: Promise<void> | undefined;

  private readonly store: SigningKeyStore;

  constructor(
    pool: pg.Pool,
    private readonly crypto: FieldCrypto,
    private readonly rotationMs: number,
    private readonly refreshMs = 60_000,
  ) {
    this.store = signingKeyStore(pool);
  }

  /** The key to sign with, rotating first if it is due. */
  async current(): Promise<LoadedKey> {
    await this.fresh();
    const newest = this.keys[0];
    if (!newest || Date.now() - newest.createdAt >= this.rotationMs) {
      await this.rotate();
      return this.keys[0]!;
    }
    return newest;
  }

  /** The verification key for `kid`; an unknown kid triggers one reload (another process may have rotated). */
  async verificationKey(kid: string | undefined): Promise<KeyLike | Uint8Array | undefined> {
    if (!kid) return undefined;
    await this.fresh();
    let key = this.keys.find((k) => k.kid === kid);
    if (!key && Date.now() - this.loadedAt > 1000) {
      await this.reload();
      key = this.keys.find((k) => k.kid === kid);
    }
    return key?.publicKey;
  }

  async jwks(): Promise<{ keys: JWK[] }> {
    await this.fresh();
    if (this.keys.length === 0) await this.current();
    return { keys: this.keys.map((k) => ({ ...k.publicJwk, kid: k.kid, alg: ALG, use: 'sig' })) };
  }

  /** Creates a new signing key if the newest is due (once across processes), then reloads. */
  async rotate(): Promise<void> {
    await this.store.addIfDue(this.rotationMs, async () => {
      const { publicKey, privateKey } = await generateKeyPair(ALG, { extractable: true });
      return {
        kid: randomUUID(),
        alg: ALG,
        public_jwk: await exportJWK(publicKey),
        private_jwk_enc: this.crypto.encrypt(JSON.stringify(await exportJWK(privateKey))),
      };
    });
    await this.reload();
  }

  private async fresh(): Promise<void> {
    if (Date.now() - this.loadedAt > this.refreshMs) await this.reload();
  }

  private reload(): Promise<void> {
    this.loading ??= (async () => {
      try {
        // Keys older than two rotation periods can no longer have live tokens: drop them from the ring.
        const rows = await this.store.recent(2 * this.rotationMs);
        this.keys = await Promise.all(
          rows.map(async (r) => ({
            kid: r.kid,
            createdAt: Date.parse(r.created_at),
            publicJwk: r.public_jwk,
            publicKey: await importJWK(r.public_jwk, ALG),
            privateKey: await importJWK(JSON.parse(this.crypto.decrypt(r.private_jwk_enc)) as JWK, ALG),
          })),
        );
        this.loadedAt = Date.now();
      } finally {
        this.loading = undefined;
      }
    })();
    return this.loading;
  }
}
