/**
 * ES256 signing keys for access tokens, shared by every API process through PostgreSQL.
 * The newest key signs; a new one is created when it is older than SIGNING_KEY_ROTATION, and older
 * keys keep verifying (and stay in the JWKS) for one more rotation period.
 */
import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, importJWK, type JWK, type KeyLike } from 'jose';
import type pg from 'pg';
import type { FieldCrypto } from '../../platform/field-crypto';

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

  constructor(
    private readonly pool: pg.Pool,
    private readonly crypto: FieldCrypto,
    private readonly rotationMs: number,
    private readonly refreshMs = 60_000,
  ) {}

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

  /** Creates a new signing key (serialised across processes by an advisory lock). */
  async rotate(): Promise<void> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query("SELECT pg_advisory_xact_lock(hashtext('deskflow:signing-keys'))");
      const { rows } = await client.query<{ created_at: string }>('SELECT created_at FROM signing_keys ORDER BY created_at DESC LIMIT 1');
      const newest = rows[0] ? Date.parse(rows[0].created_at) : 0;
      if (Date.now() - newest >= this.rotationMs) {
        const { publicKey, privateKey } = await generateKeyPair(ALG, { extractable: true });
        const kid = randomUUID();
        await client.query('INSERT INTO signing_keys (kid, alg, public_jwk, private_jwk_enc) VALUES ($1, $2, $3, $4)', [
          kid,
          ALG,
          JSON.stringify(await exportJWK(publicKey)),
          this.crypto.encrypt(JSON.stringify(await exportJWK(privateKey))),
        ]);
      }
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
    await this.reload();
  }

  private async fresh(): Promise<void> {
    if (Date.now() - this.loadedAt > this.refreshMs) await this.reload();
  }

  private reload(): Promise<void> {
    this.loading ??= (async () => {
      try {
        // Keys older than two rotation periods can no longer have live tokens: drop them from the ring.
        const { rows } = await this.pool.query<{ kid: string; public_jwk: JWK; private_jwk_enc: string; created_at: string }>(
          `SELECT kid, public_jwk, private_jwk_enc, created_at FROM signing_keys
           WHERE created_at > now() - make_interval(secs => $1) ORDER BY created_at DESC`,
          [(2 * this.rotationMs) / 1000],
        );
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
