/**
 * Environment every Deskflow process is started with (npm start's children, the benches; the Dockerfile sets the
 * same): settings the C runtime reads at exec, which no code can apply afterwards. An operator's value wins.
 */
export const RUNTIME_ENV: Readonly<Record<string, string>> = {
  // argon2 (password hashing) mallocs 19 MiB per hash. glibc's sliding mmap threshold then serves such blocks from
  // the heap and keeps them after free: an API node held ~80 MiB more after its first few logins. A fixed threshold
  // returns every block of 128 KiB or more to the system at once (large allocations pay one mmap each: rare here).
  MALLOC_MMAP_THRESHOLD_: '131072',
};

export function withRuntimeEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return { ...RUNTIME_ENV, ...env };
}
