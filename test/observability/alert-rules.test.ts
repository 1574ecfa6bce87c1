/**
 * The alert rules (ops/prometheus/alerts.yml) parse, and each fires on the trouble it names and not below it
 * (ops/prometheus/alerts.test.yml), checked by Prometheus's own promtool (Debian's prometheus package, installed by
 * `npm test`'s pretest step).
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { ROOT } from '../support/processes';

const dir = path.join(ROOT, 'ops/prometheus');

function promtool(...args: string[]) {
  const result = spawnSync('promtool', args, { cwd: dir, encoding: 'utf8' });
  if (result.error) throw new Error(`promtool is required (apt-get install prometheus): ${result.error.message}`);
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

test('promtool check rules accepts the alert rules', () => {
  const { status, output } = promtool('check', 'rules', 'alerts.yml');
  expect(output).toMatch(/SUCCESS: \d+ rules found/);
  expect(status).toBe(0);
});

test('promtool test rules: every alert fires when it should and stays quiet when it should', () => {
  const { status, output } = promtool('test', 'rules', 'alerts.test.yml');
  expect(output).toContain('SUCCESS');
  expect(output).not.toContain('FAILED');
  expect(status).toBe(0);
});

test('every alert has a unit test', () => {
  const { output } = promtool('check', 'rules', 'alerts.yml');
  const count = Number(/SUCCESS: (\d+) rules found/.exec(output)?.[1]);
  const rules = require('node:fs').readFileSync(path.join(dir, 'alerts.yml'), 'utf8') as string;
  const tests = require('node:fs').readFileSync(path.join(dir, 'alerts.test.yml'), 'utf8') as string;
  const alerts = [...rules.matchAll(/- alert: (\w+)/g)].map((m) => m[1]!);
  expect(alerts).toHaveLength(count);
  for (const alert of alerts) expect(tests).toContain(`alertname: ${alert}`);
});

test("every alert's runbook link names a section of docs/runbook.md (GitHub's heading anchors)", () => {
  const fs = require('node:fs') as typeof import('node:fs');
  const rules = fs.readFileSync(path.join(dir, 'alerts.yml'), 'utf8');
  const runbook = fs.readFileSync(path.join(ROOT, 'docs/runbook.md'), 'utf8');
  // GitHub's anchor: lower case, punctuation dropped (hyphens kept), spaces to hyphens.
  const anchors = new Set(
    [...runbook.matchAll(/^#{1,6} (.+)$/gm)].map((m) =>
      m[1]!
        .trim()
        .toLowerCase()
        .replace(/[^\p{L}\p{N} _-]/gu, '')
        .replace(/ /g, '-'),
    ),
  );
  const links = [...rules.matchAll(/runbook: "docs\/runbook\.md#([^"]+)"/g)].map((m) => m[1]!);
  const alerts = [...rules.matchAll(/- alert: (\w+)/g)];
  expect(links).toHaveLength(alerts.length); // every alert has one
  expect(links.filter((a) => !anchors.has(a))).toEqual([]);
});
