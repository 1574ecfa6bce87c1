/** Development convenience: a demo tenant and customer so a fresh `npm start` can be tried at once. */
import type pg from 'pg';

export const DEMO_TENANT_ID = '00000000-0000-4000-8000-000000000001';
export const DEMO_AGENT_ID = '00000000-0000-4000-8000-0000000000a1';
export const DEMO_CUSTOMER_ID = '00000000-0000-4000-8000-0000000000c1';

export async function seedDemo(pool: pg.Pool): Promise<void> {
  await pool.query(`INSERT INTO tenants (id, name) VALUES ($1, 'Demo') ON CONFLICT (id) DO NOTHING`, [DEMO_TENANT_ID]);
  await pool.query(
    `INSERT INTO customers (id, tenant_id, name, email) VALUES ($1, $2, 'Ada Customer', 'ada@example.com') ON CONFLICT (id) DO NOTHING`,
    [DEMO_CUSTOMER_ID, DEMO_TENANT_ID],
  );
}
