/**
 * A database of a suite's own beside the run's shared one (same server, name suffixed), for suites whose assertions
 * other suites' rows or workers would disturb: both connection URLs, as the run's env names them. The suite migrates
 * it (`runTs('platform/cli/migrate.ts', env)`) and drops it (`dropDatabase(DATABASE_ADMIN_URL)`).
 */
export function ownDatabaseEnv(suffix: string): { DATABASE_URL: string; DATABASE_ADMIN_URL: string } {
  const own = (url: string) => {
    const u = new URL(url);
    u.pathname = `${u.pathname}_${suffix}`;
    return u.toString();
  };
  return { DATABASE_URL: own(process.env.DATABASE_URL!), DATABASE_ADMIN_URL: own(process.env.DATABASE_ADMIN_URL!) };
}
