/** The configuration schema is the one place settings are defined; the README's table must list every one. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigSchema, loadConfig } from '../../platform/config';

const readme = readFileSync(path.join(__dirname, '../../README.md'), 'utf8');
const documented = new Set([...readme.matchAll(/^\| `([A-Z][A-Z0-9_]*)` \|/gm)].map((m) => m[1]!));

it.each(Object.keys(ConfigSchema.shape))('README documents %s', (key) => {
  expect(documented).toContain(key);
});

// Read before any configuration is loaded (where `npm start` finds or installs the Temporal CLI), or by the C runtime
// when a process starts (platform/runtime-env.ts).
const OUTSIDE_THE_SCHEMA = ['XDG_CACHE_HOME', 'MALLOC_MMAP_THRESHOLD_'];

it('the README documents no setting the schema does not have', () => {
  expect([...documented].filter((key) => !(key in ConfigSchema.shape) && !OUTSIDE_THE_SCHEMA.includes(key))).toEqual([]);
});

it('durations parse from human strings; a bad one is refused with its name', () => {
  expect(loadConfig({ WORKER_STICKY_QUEUE_TIMEOUT: '60s' }).WORKER_STICKY_QUEUE_TIMEOUT).toBe(60_000);
  expect(loadConfig({}).WORKER_STICKY_QUEUE_TIMEOUT).toBe(10_000);
  expect(() => loadConfig({ WORKER_STICKY_QUEUE_TIMEOUT: 'soon' })).toThrow(/WORKER_STICKY_QUEUE_TIMEOUT/);
});

it('BACKUP_LOCK_WAIT is bounded: 0 (which PostgreSQL reads as no limit), below a second or above an hour is refused', () => {
  expect(loadConfig({ BACKUP_LOCK_WAIT: '2s' }).BACKUP_LOCK_WAIT).toBe(2000);
  for (const value of ['0', '0s', '500ms', '2h', '1.5ms', '-5s'])
    expect(() => loadConfig({ BACKUP_LOCK_WAIT: value })).toThrow(/BACKUP_LOCK_WAIT: 1 second to 1 hour/);
});
