/**
 * Finds the Temporal CLI: TEMPORAL_CLI_PATH, then PATH, then our cache; installs it into the cache
 * with `go install` once (outside the checkout, so fresh clones and CI reuse it). Never downloads
 * a prebuilt binary at run time.
 */
import { execFileSync } from 'node:child_process';
import { accessSync, constants, mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';

export const TEMPORAL_CLI_VERSION = 'v1.5.1'; // newer tags carry a `replace` directive: not go-installable

export function temporalCliCacheDir(): string {
  const cacheRoot = process.env.XDG_CACHE_HOME || path.join(homedir(), '.cache');
  return path.join(cacheRoot, 'deskflow', `temporal-cli-${TEMPORAL_CLI_VERSION.slice(1)}`);
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(binary: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && isExecutable(path.join(dir, binary))) return path.join(dir, binary);
  }
  return undefined;
}

export function resolveTemporalCli(log: (msg: string) => void = console.log): string {
  const explicit = process.env.TEMPORAL_CLI_PATH;
  if (explicit) {
    if (!isExecutable(explicit)) throw new Error(`TEMPORAL_CLI_PATH=${explicit} is not an executable file`);
    return explicit;
  }
  const found = onPath('temporal');
  if (found) return found;

  const dir = temporalCliCacheDir();
  const cached = path.join(dir, 'temporal');
  if (isExecutable(cached)) return cached;

  const go = onPath('go') ?? (isExecutable('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : undefined);
  if (!go) {
    throw new Error(
      'Temporal CLI not found (PATH, TEMPORAL_CLI_PATH) and no Go toolchain to install it. ' +
        `Install it with: go install github.com/temporalio/cli/cmd/temporal@${TEMPORAL_CLI_VERSION}`,
    );
  }
  log(`[deskflow] installing Temporal CLI ${TEMPORAL_CLI_VERSION} into ${dir} (one time, a few minutes)…`);
  mkdirSync(dir, { recursive: true });
  execFileSync(go, ['install', `github.com/temporalio/cli/cmd/temporal@${TEMPORAL_CLI_VERSION}`], {
    env: { ...process.env, GOBIN: dir },
    stdio: 'inherit',
    cwd: dir, // outside any module, so `go install pkg@version` is used as-is
  });
  if (!isExecutable(cached)) throw new Error(`go install finished but ${cached} is missing`);
  return cached;
}
