/**
 * The folder import rules of the design (../shared/DESIGN.md, "Parts"), checked over the source text:
 * every `import … from`, `export … from`, `import(…)` and `require(…)` of every file in the checked folders.
 * A violation is printed as `file → import`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { ROOT } from '../support/processes';

type Folder = 'domain' | 'workflows' | 'activities' | 'stores' | 'platform' | 'api' | 'workers';
const FOLDERS: Folder[] = ['domain', 'workflows', 'activities', 'stores', 'platform', 'api', 'workers'];

interface Rule {
  /** Our folders this one may import (itself included where listed). */
  folders: readonly string[];
  /** Workflow contracts (`workflows/*-contract.ts`) may be imported even where workflows/ may not. */
  contracts?: boolean;
  /** `import type` of these folders is allowed (it leaves no code behind). */
  typesFrom?: readonly string[];
  /** Packages allowed; undefined: any. Node built-ins count as packages. */
  packages?: readonly string[];
}

const RULES: Record<Folder | 'platform/cli', Rule> = {
  // Pure: schemas, time math and Temporal's shared definitions; no Node built-ins, nothing that does I/O.
  domain: { folders: ['domain'], packages: ['zod', 'luxon', '@temporalio/common'] },
  // Deterministic: the sandbox offers only the workflow API.
  workflows: { folders: ['domain', 'workflows'], typesFrom: ['activities'], packages: ['@temporalio/workflow'] },
  activities: { folders: ['domain', 'stores', 'platform', 'activities'], contracts: true },
  stores: { folders: ['domain', 'platform', 'stores'] },
  platform: { folders: ['domain', 'platform'] },
  // Operator entry points (the admin CLI): a process of their own, so they may use the stores, as the API does.
  'platform/cli': { folders: ['domain', 'platform', 'stores'] },
  // Typed starts (`WithStartWorkflowOperation<typeof ticketWorkflow>`) need a workflow's type, never its code.
  api: { folders: ['domain', 'stores', 'platform', 'api'], contracts: true, typesFrom: ['workflows'] },
  workers: { folders: ['workflows', 'activities', 'platform', 'domain', 'workers'] },
};

interface ImportRef {
  spec: string;
  typeOnly: boolean;
}

/** The module specifiers a TypeScript source imports, re-exports or requires (comments ignored). */
function importsOf(source: string): ImportRef[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const refs: ImportRef[] = [];
  // The names part stops at quotes, semicolons, parentheses and `=`, so it never spans another statement.
  const statement = /(?:^|[\n;])\s*(import|export)\s+(type\s+)?([^'";()=]*?)\s*from\s*['"]([^'"]+)['"]/g;
  for (const m of code.matchAll(statement)) {
    const names = m[3]!.trim();
    // `import { type A, type B } from …` is as type-only as `import type { A, B } from …`.
    const braced = /^\{([\s\S]*)\}$/.exec(names)?.[1];
    const allTypes =
      braced
        ?.split(',')
        .map((s) => s.trim())
        .filter(Boolean)
        .every((s) => s.startsWith('type ')) ?? false;
    refs.push({ spec: m[4]!, typeOnly: Boolean(m[2]) || allTypes });
  }
  for (const m of code.matchAll(/(?:^|[\n;])\s*import\s*['"]([^'"]+)['"]/g)) refs.push({ spec: m[1]!, typeOnly: false });
  for (const m of code.matchAll(/\b(?:require|import)\(\s*['"]([^'"]+)['"]\s*\)/g)) refs.push({ spec: m[1]!, typeOnly: false });
  return refs;
}

const BUILTINS = new Set(builtinModules);
const packageOf = (spec: string) => (spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);

/** What `file` (relative to the repository root) may not import, as `file → import` lines. */
function violationsOf(file: string, refs: ImportRef[]): string[] {
  const folder = file.startsWith('platform/cli/') ? 'platform/cli' : (file.split('/')[0] as Folder);
  const rule = RULES[folder];
  const out: string[] = [];
  for (const { spec, typeOnly } of refs) {
    if (spec.startsWith('.')) {
      const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), spec));
      const top = target.split('/')[0]!;
      if (!FOLDERS.includes(top as Folder)) {
        if (top !== 'package.json') out.push(`${file} → ${spec}`); // test/, bench/ or outside the tree
        continue;
      }
      const allowed =
        rule.folders.includes(top) || (rule.contracts && /^workflows\/[^/]+-contract(\.ts)?$/.test(target)) || (typeOnly && rule.typesFrom?.includes(top));
      if (!allowed) out.push(`${file} → ${spec}`);
    } else if (rule.packages) {
      const name = spec.startsWith('node:') || BUILTINS.has(packageOf(spec)) ? spec : packageOf(spec);
      if (!rule.packages.includes(name)) out.push(`${file} → ${spec}`);
    }
  }
  return out;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) return e.name === 'node_modules' ? [] : sourceFiles(rel);
    return e.name.endsWith('.ts') ? [rel] : [];
  });
}

const violations = FOLDERS.flatMap(sourceFiles).flatMap((file) => violationsOf(file, importsOf(readFileSync(path.join(ROOT, file), 'utf8'))));

describe('the checker', () => {
  it('reads every form of import, and knows which are type-only', () => {
    const source = [
      "import a from 'zod';",
      "import type { B } from './b';",
      'import {',
      '  type C,',
      '  type D,',
      "} from '../c';",
      "import { type E, f } from './e';",
      "export { g } from './g';",
      "export type { H } from './h';",
      "import './side-effect';",
      "const i = require('node:fs');",
      "const j = await import('./j');",
      "// import k from './commented-out';",
      "/* import l from './also-commented'; */",
    ].join('\n');
    expect(importsOf(source)).toEqual([
      { spec: 'zod', typeOnly: false },
      { spec: './b', typeOnly: true },
      { spec: '../c', typeOnly: true },
      { spec: './e', typeOnly: false },
      { spec: './g', typeOnly: false },
      { spec: './h', typeOnly: true },
      { spec: './side-effect', typeOnly: false },
      { spec: 'node:fs', typeOnly: false },
      { spec: './j', typeOnly: false },
    ]);
  });

  it.each([
    ['domain/x.ts', "import { readFileSync } from 'node:fs';", ['domain/x.ts → node:fs']],
    ['domain/x.ts', "import { Pool } from 'pg';", ['domain/x.ts → pg']],
    ['domain/x.ts', "import { thing } from '../platform/config';", ['domain/x.ts → ../platform/config']],
    ['workflows/w.ts', "import { createActivities } from '../activities';", ['workflows/w.ts → ../activities']],
    ['workflows/w.ts', "import type { A } from '../activities/a';", []],
    ['workflows/w.ts', "import { Client } from '@temporalio/client';", ['workflows/w.ts → @temporalio/client']],
    ['stores/s.ts', "import type { X } from '../api/request';", ['stores/s.ts → ../api/request']],
    ['stores/s.ts', "import type { X } from '../workflows/x-contract';", ['stores/s.ts → ../workflows/x-contract']],
    ['platform/p.ts', "import { ticketStore } from '../stores/tickets';", ['platform/p.ts → ../stores/tickets']],
    ['platform/cli/c.ts', "import { ticketStore } from '../../stores/tickets';", []],
    ['api/r.ts', "import { x } from '../workflows/x.workflow';", ['api/r.ts → ../workflows/x.workflow']],
    ['api/r.ts', "import { x } from '../workflows/x-contract';", []],
    ['api/r.ts', "import type { x } from '../workflows/x.workflow';", []],
    ['activities/a.ts', "import { x } from '../api/app';", ['activities/a.ts → ../api/app']],
    ['workers/m.ts', "import { x } from '../stores/tickets';", ['workers/m.ts → ../stores/tickets']],
    ['api/r.ts', "import { x } from '../test/support/stack';", ['api/r.ts → ../test/support/stack']],
  ])('%s: %s', (file, source, expected) => {
    expect(violationsOf(file, importsOf(source))).toEqual(expected);
  });
});

it('every folder imports only what the design allows', () => {
  if (violations.length) console.log(`layering violations:\n${violations.join('\n')}`);
  expect(violations).toEqual([]);
});
