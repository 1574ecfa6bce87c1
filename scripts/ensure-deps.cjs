// Installs what `npm start` / `npm test` need on a fresh clone, so nothing has to be run before them:
// the npm dependencies, and for tests (`--test`) Debian's chromium, which the console tests drive headless.
const { existsSync } = require('node:fs');
const { execSync } = require('node:child_process');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const pkg = require(path.join(root, 'package.json'));
const wanted = Object.keys({ ...pkg.dependencies, ...pkg.devDependencies });
const missing = wanted.filter((name) => !existsSync(path.join(root, 'node_modules', name, 'package.json')));
if (missing.length > 0) {
  console.log(`[deskflow] installing npm dependencies (missing: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', …' : ''})…`);
  // `npm install` rather than `npm ci`: the registry mirror here lacks some other-platform optional
  // packages (e.g. @swc/core-darwin-*), which leaves them out of the lockfile, and `npm ci` refuses that.
  execSync('npm install --no-audit --no-fund', { cwd: root, stdio: 'inherit' });
}

function onPath(binary) {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && existsSync(path.join(dir, binary))) return path.join(dir, binary);
  }
  return undefined;
}

if (process.argv.includes('--test') && !onPath('chromium')) {
  // Debian's package, never a browser download (`npx playwright install` is not allowed here).
  const sudo = process.getuid && process.getuid() !== 0 ? 'sudo ' : '';
  console.log('[deskflow] installing Debian chromium for the console tests (one time)…');
  try {
    execSync(`${sudo}apt-get update -qq && ${sudo}env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium`, { stdio: 'inherit' });
  } catch {
    console.error('[deskflow] could not install chromium with apt-get; install it (apt-get install chromium).');
    process.exit(1);
  }
}
