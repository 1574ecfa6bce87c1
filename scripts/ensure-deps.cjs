// Installs npm dependencies on a fresh clone so `npm start` / `npm test` need nothing run before them.
const { existsSync } = require('node:fs');
const { execSync } = require('node:child_process');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const marker = path.join(root, 'node_modules', '.package-lock.json');
if (!existsSync(marker)) {
  console.log('[deskflow] installing npm dependencies (first run)…');
  execSync('npm ci --no-audit --no-fund', { cwd: root, stdio: 'inherit' });
}
