/**
 * How pg_dump / pg_restore are pointed at a database without the password ever reaching a command line (visible to
 * every user in `ps`) or a log line: libpq takes the URL without it, and the password through PGPASSWORD.
 */
export interface PgConnection {
  /** The URL without its password: what `--dbname` gets. */
  dbname: string;
  /** Environment additions for the child process (PGPASSWORD when the URL had one). */
  env: Record<string, string>;
  /** For messages: the URL with its password replaced by `***`. */
  display: string;
  /** The database's name. */
  database: string;
  /** Replaces the password wherever it appears in `text` (a tool's error output, to be safe). */
  scrub(text: string): string;
}

export function pgConnection(url: string): PgConnection {
  const parsed = new URL(url);
  const password = decodeURIComponent(parsed.password);
  const withoutPassword = new URL(url);
  withoutPassword.password = '';
  const display = new URL(url);
  if (password) display.password = '***';
  const raw = parsed.password;
  return {
    dbname: withoutPassword.toString(),
    env: password ? { PGPASSWORD: password } : {},
    display: display.toString(),
    database: decodeURIComponent(parsed.pathname.slice(1)),
    scrub: (text) => (password ? text.split(password).join('***').split(raw).join('***') : text),
  };
}

/** The same server, another database (the maintenance database `postgres`, or a restore target). */
export function withDatabase(url: string, database: string): string {
  const other = new URL(url);
  other.pathname = `/${encodeURIComponent(database)}`;
  return other.toString();
}
