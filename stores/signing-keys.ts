/** The access-token signing keys every API process shares: public JWK and encrypted private JWK per `kid`. */
import type { JWK } from 'jose';
import type pg from 'pg';

export interface StoredSigningKey {
  kid: string;
  alg: string;
  public_jwk: JWK;
  private_jwk_enc: string;
  created_at: string;
}

export function signingKeyStore(pool: pg.Pool) {
  return {
    /**
     * Adds the key `make` builds unless a key younger than `rotationMs` exists. Serialised across processes
     * by an advisory lock, so processes starting together create one key, not one each.
     */
    async addIfDue(rotationMs: number, make: () => Promise<Omit<StoredSigningKey, 'created_at'>>): Promise<void> {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        await client.query("SELECT pg_advisory_xact_lock(hashtext('deskflow:signing-keys'))");
        const { rows } = await client.query<{ created_at: string }>('SELECT created_at FROM signing_keys ORDER BY created_at DESC LIMIT 1');
        const newest = rows[0] ? Date.parse(rows[0].created_at) : 0;
        if (Date.now() - newest >= rotationMs) {
          const key = await make();
          await client.query('INSERT INTO signing_keys (kid, alg, public_jwk, private_jwk_enc) VALUES ($1, $2, $3, $4)', [
            key.kid,
            key.alg,
            JSON.stringify(key.public_jwk),
            key.private_jwk_enc,
          ]);
        }
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      } finally {
        client.release();
      }
    },

    /** Keys created within the last `maxAgeMs`, newest first. */
    async recent(maxAgeMs: number): Promise<StoredSigningKey[]> {
      const { rows } = await pool.query<StoredSigningKey>(
        `SELECT kid, alg, public_jwk, private_jwk_enc, created_at FROM signing_keys
         WHERE created_at > now() - make_interval(secs => $1) ORDER BY created_at DESC`,
        [maxAgeMs / 1000],
      );
      return rows;
    },
  };
}
export type SigningKeyStore = ReturnType<typeof signingKeyStore>;
