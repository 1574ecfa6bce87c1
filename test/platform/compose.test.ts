/**
 * docker-compose.yml stays deployable as documented: pinned images, api and worker restart and report
 * health, and each waits for what it uses (including the search-attribute registration, which must fail loudly).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { searchAttributeRegistrations } from '../../domain/search-attributes';
import { ROOT } from '../support/processes';

const compose = parse(readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8')) as {
  services: Record<
    string,
    {
      image?: string;
      build?: unknown;
      restart?: string;
      healthcheck?: unknown;
      depends_on?: Record<string, unknown>;
      ports?: string[];
      environment?: Record<string, string>;
    }
  >;
};

it('pins every image to a version (no :latest, no bare name)', () => {
  const loose = Object.entries(compose.services)
    .filter(([, s]) => s.image && (!/:[^/]+$/.test(s.image) || s.image.endsWith(':latest')))
    .map(([name, s]) => `${name}: ${s.image}`);
  expect(loose).toEqual([]);
});

it.each(['api', 'worker'])('%s restarts, reports health and waits for everything it uses', (name) => {
  const s = compose.services[name]!;
  expect(s.restart).toBe('unless-stopped');
  expect(s.healthcheck).toBeDefined();
  expect(Object.keys(s.depends_on ?? {}).sort()).toEqual(['migrate', 'minio-setup', 'postgres', 'redis', 'temporal', 'temporal-setup']);
  expect(s.depends_on!['temporal-setup']).toEqual({ condition: 'service_completed_successfully' });
  expect(s.depends_on!['minio-setup']).toEqual({ condition: 'service_completed_successfully' });
});

it('points api and worker at its MinIO over the S3 API, with a bucket the stack creates', () => {
  for (const name of ['api', 'worker']) {
    expect(compose.services[name]!.environment).toMatchObject({
      OBJECT_STORAGE: 's3',
      S3_ENDPOINT: 'http://minio:9000',
      S3_FORCE_PATH_STYLE: 'true',
      S3_BUCKET: 'deskflow',
    });
  }
  const minio = compose.services.minio as { environment?: Record<string, string> };
  expect(compose.services.api!.environment!.S3_ACCESS_KEY_ID).toBe(minio.environment!.MINIO_ROOT_USER);
  expect(compose.services.api!.environment!.S3_SECRET_ACCESS_KEY).toBe(minio.environment!.MINIO_ROOT_PASSWORD);
  const setup = compose.services['minio-setup'] as { entrypoint?: string[]; depends_on?: Record<string, unknown> };
  expect(setup.entrypoint).toEqual(['mc', 'mb', '--ignore-existing', 'deskflow/deskflow']);
  expect(setup.depends_on).toEqual({ minio: { condition: 'service_healthy' } });
});

it("publishes the worker's metrics", () => {
  expect(compose.services.worker!.ports).toContain('9464:9464');
});

it('registers exactly the search attributes the code defines, without swallowing failures', () => {
  const script = readFileSync(path.join(ROOT, 'ops/temporal/setup-namespace.sh'), 'utf8');
  const names = searchAttributeRegistrations().map((r) => r.split('=')[0]);
  expect(names.length).toBeGreaterThan(0);
  for (const name of names) expect(script).toContain(name);
  expect(script).toMatch(/set -eu/);
  expect(script).not.toMatch(/search-attribute create[^\n]*\|\| true/);
});
