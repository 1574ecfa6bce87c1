// Installs what `npm start` / `npm test` need on a fresh clone, so nothing has to be run before them:
// the npm dependencies, and for tests (`--test`) Debian's chromium and prometheus (promtool).
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

// Debian packages the tests need: chromium (the console tests drive it headless; never a browser download,
// `npx playwright install` is not allowed here) and prometheus, for promtool (the alert rules' checks and unit tests).
const debianPackages = [
  { binary: 'chromium', pkg: 'chromium', why: 'the console tests' },
  { binary: 'promtool', pkg: 'prometheus', why: 'the alert-rule tests (promtool)' },
].filter((p) => !onPath(p.binary));
if (process.argv.includes('--test') && debianPackages.length > 0) {
  const sudo = process.getuid && process.getuid() !== 0 ? 'sudo ' : '';
  const names = debianPackages.map((p) => p.pkg).join(' ');
  console.log(`[deskflow] installing Debian ${names} for ${debianPackages.map((p) => p.why).join(' and ')} (one time)…`);
  try {
    execSync(`${sudo}apt-get update -qq && ${sudo}env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${names}`, { stdio: 'inherit' });
  } catch {
    console.error(`[deskflow] could not install ${names} with apt-get; install them (apt-get install ${names}).`);
    process.exit(1);
  }
}
