/**
 * ops/k8s/deskflow.yaml is valid Kubernetes: every document validated against the Kubernetes JSON schemas of its
 * kind (kubernetes-models; kubectl is not installable here), and wired the way docs/deploy.md says (probes on the
 * API's health routes, disruption budgets for both Deployments, the command of each process).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigMap, Namespace, Service } from 'kubernetes-models/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { Job } from 'kubernetes-models/batch/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { parseAllDocuments } from 'yaml';
import { ROOT } from '../support/processes';

const MODELS: Record<string, new (data: any) => { validate(): void }> = {
  'v1/Namespace': Namespace,
  'v1/ConfigMap': ConfigMap,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'batch/v1/Job': Job,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
};

const documents = parseAllDocuments(readFileSync(path.join(ROOT, 'ops/k8s/deskflow.yaml'), 'utf8')).map((d) => {
  if (d.errors.length) throw new Error(`ops/k8s/deskflow.yaml does not parse: ${d.errors.map((e) => e.message).join('; ')}`);
  return d.toJS() as { apiVersion: string; kind: string; metadata: { name: string }; spec?: any; data?: Record<string, unknown> };
});
const find = (kind: string, name: string) => documents.find((d) => d.kind === kind && d.metadata.name === name);

test('every document is a known kind that validates against its schema', () => {
  expect(documents.length).toBeGreaterThanOrEqual(8);
  for (const doc of documents) {
    const Model = MODELS[`${doc.apiVersion}/${doc.kind}`];
    expect({ doc: `${doc.kind}/${doc.metadata.name}`, known: Boolean(Model) }).toEqual({ doc: `${doc.kind}/${doc.metadata.name}`, known: true });
    expect(() => new Model!(doc).validate()).not.toThrow();
  }
});

test('the validation can fail: a wrong type or shape is refused', () => {
  const api = structuredClone(find('Deployment', 'deskflow-api')!);
  api.spec.replicas = 'two';
  expect(() => new Deployment(api as never).validate()).toThrow();
  const probe = structuredClone(find('Deployment', 'deskflow-api')!);
  probe.spec.template.spec.containers[0].readinessProbe.httpGet.port = { name: 'http' };
  expect(() => new Deployment(probe as never).validate()).toThrow();
});

test('the API and worker Deployments run the right processes, probe the health routes and have disruption budgets', () => {
  const api = find('Deployment', 'deskflow-api')!.spec.template.spec.containers[0];
  expect(api.command).toEqual(['node', 'dist/api/main.js']); // compiled by the image's build stage (build.test.ts)
  expect(api.readinessProbe.httpGet.path).toBe('/readyz');
  expect(api.livenessProbe.httpGet.path).toBe('/healthz');
  const worker = find('Deployment', 'deskflow-worker')!.spec.template.spec.containers[0];
  expect(worker.command).toEqual(['node', 'dist/workers/main.js']);
  expect(find('Job', 'deskflow-migrate')!.spec.template.spec.containers[0].command).toEqual(['node', 'dist/platform/cli/migrate.js']);
  for (const component of ['api', 'worker']) {
    const pdb = find('PodDisruptionBudget', `deskflow-${component}`)!;
    expect(pdb.spec.selector.matchLabels['app.kubernetes.io/component']).toBe(component);
  }
  // Metrics listen on the pod network there: production refuses that without a token.
  expect(find('ConfigMap', 'deskflow')!.data!.API_METRICS_ADDRESS).toBe('0.0.0.0:9465');
  expect(find('ConfigMap', 'deskflow')!.data!.NODE_ENV).toBe('production');
});
