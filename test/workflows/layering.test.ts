/**
 * The workflow layer's import rules: workflow code imports only domain/ and @temporalio/workflow
 * (it runs in the deterministic sandbox), and everything outside reaches a workflow through its
 * contract; a type-only import of the workflow function (for typed starts) is the one exception.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.join(__dirname, '..', '..');

function sources(dir: string): string[] {
  if (!existsSync(path.join(ROOT, dir))) return [];
  return readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? sources(path.join(dir, d.name)) : d.name.endsWith('.ts') ? [path.join(dir, d.name)] : [],
  );
}

/** Every `import … from '…'` / `export … from '…'` of a file, resolved against the repository root. */
function importsOf(file: string): { target: string; typeOnly: boolean }[] {
  const text = readFileSync(path.join(ROOT, file), 'utf8');
  return [...text.matchAll(/^(?:import|export)\s+(type\s+)?[^;]*?from\s+'([^']+)'/gms)].map(([, type, spec]) => ({
    target: spec!.startsWith('.') ? path.join(path.dirname(file), spec!) : spec!,
    typeOnly: Boolean(type),
  }));
}

it('workflow code imports only domain/, other workflow code and @temporalio/workflow', () => {
  const offending = sources('workflows').flatMap((file) =>
    importsOf(file)
      .filter(({ target }) => !(target === '@temporalio/workflow' || target.startsWith('domain/') || target.startsWith('workflows/')))
      .map(({ target }) => `${file} → ${target}`),
  );
  expect(offending).toEqual([]);
});

it('the API, activities and workers reach workflows through their contracts (type-only for the workflow function)', () => {
  const outside = ['api', 'activities', 'workers', 'platform', 'stores'].flatMap(sources);
  const offending = outside.flatMap((file) =>
    importsOf(file)
      .filter(({ target }) => target.startsWith('workflows/'))
      .filter(({ target, typeOnly }) => !target.endsWith('-contract') && !(typeOnly && target.endsWith('.workflow')))
      .map(({ target }) => `${file} → ${target}`),
  );
  expect(offending).toEqual([]);
  // Sanity: the rule sees the imports it is about.
  expect(importsOf('api/routes/sla.ts').map((i) => i.target)).toContain('workflows/sla-rollout-contract');
});
