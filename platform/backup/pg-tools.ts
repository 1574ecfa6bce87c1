/** pg_dump and pg_restore as child processes: the password only in their environment, their errors scrubbed of it. */
import { spawn } from 'node:child_process';
import path from 'node:path';
import type { PgConnection } from './pg-connection';

export type PgTool = 'pg_dump' | 'pg_restore';

/** The tool in PG_BIN_DIR, or on PATH when that is empty. */
export const pgToolPath = (binDir: string, tool: PgTool) => (binDir ? path.join(binDir, tool) : tool);

export class PgToolError extends Error {}

/** Runs the tool to completion; rejects with its (scrubbed) error output when it exits non-zero or cannot start. */
export function runPgTool(binDir: string, tool: PgTool, connection: PgConnection, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(pgToolPath(binDir, tool), [...args, `--dbname=${connection.dbname}`], {
      // PGPASSWORD for the URL's password; nothing prompts (no terminal): a missing password fails instead of hanging.
      env: { ...process.env, ...connection.env, PGCONNECT_TIMEOUT: process.env.PGCONNECT_TIMEOUT ?? '10', PGAPPNAME: `deskflow-${tool}` },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      if (stderr.length < 64 * 1024) stderr += chunk.toString();
    });
    child.once('error', (err: NodeJS.ErrnoException) => {
      const hint = err.code === 'ENOENT' ? ` (not found: install the PostgreSQL client tools, or set PG_BIN_DIR)` : '';
      reject(new PgToolError(`${tool} could not start${hint}: ${connection.scrub(err.message)}`));
    });
    child.once('close', (code, signal) => {
      if (code === 0) return resolve();
      const detail = connection.scrub(stderr.trim()) || `exit ${code ?? signal}`;
      reject(new PgToolError(`${tool} failed on ${connection.display}: ${detail}`));
    });
  });
}
