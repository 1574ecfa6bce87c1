/**
 * Which PostgreSQL failures are worth retrying. A write that failed because of what it carries
 * (bad encoding, a constraint, a bug in our SQL) fails the same way every time; retrying it forever
 * would wedge whatever waits for it. Only the server or the connection being unavailable is transient.
 */
import pg from 'pg';

// SQLSTATE classes: 08 connection, 40 rollback (serialization, deadlock), 53 resources, 57 operator
// intervention (shutdown, cancel), 58 system error; 55P03 lock not available.
const TRANSIENT_CLASSES = new Set(['08', '40', '53', '57', '58']);

export type DbFailureKind = 'transient' | 'rejected_data' | 'permanent';

export function classifyDbError(err: unknown): DbFailureKind {
  if (err instanceof pg.DatabaseError) {
    const code = err.code ?? '';
    if (TRANSIENT_CLASSES.has(code.slice(0, 2)) || code === '55P03') return 'transient';
    // 22 data exception (NUL, bad Unicode escape, value too long), 23 integrity constraint.
    if (code.startsWith('22') || code.startsWith('23')) return 'rejected_data';
    return 'permanent';
  }
  // A programming error in our own code repeats on every attempt.
  if (err instanceof TypeError || err instanceof RangeError || err instanceof SyntaxError || err instanceof ReferenceError) return 'permanent';
  // Anything else below the protocol (refused, reset, pool checkout timeout, terminated connection).
  return 'transient';
}
