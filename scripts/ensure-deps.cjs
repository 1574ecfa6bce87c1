// Installs npm dependencies on a fresh clone so `npm start` / `npm test` need nothing run before them.
const { existsSync } = require('node:fs');
const { execSync } = require('node:child_process');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const marker = path.join(root, 'node_modules', '.package-lock.json');
if (!existsSync(marker)) {
  console.log('[deskflow] installing npm dependencies (first run)…');
  // `npm install` rather than `npm ci`: the registry mirror here lacks some other-platform optional
  // packages (e.g. @swc/core-darwin-*), which leaves them out of the lockfile, and `npm ci` refuses that.
  execSync('npm install --no-audit --no-fund', { cwd: root, stdio: 'inherit' });
}
