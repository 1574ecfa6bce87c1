/**
 * With tracing on, the request context rides in OpenTelemetry's context instead of a storage of its own (one
 * AsyncLocalStorage for the process, not two): lines logged deep inside a request still name it, and nothing leaks
 * out of it. Its own file: the switch is for the life of the process, as in the API.
 */
import { context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { createLogger } from '../../platform/logger';
import { requestContext } from '../../platform/request-context';
import { captureLogLines } from '../support/log-capture';

const manager = new AsyncLocalStorageContextManager().enable();
beforeAll(() => {
  expect(context.setGlobalContextManager(manager)).toBe(true);
  requestContext.carryInTracingContext();
});
afterAll(() => {
  context.disable();
});

test('a line logged deep in a request names it, and concurrent requests keep their own', async () => {
  const { lines, destination } = captureLogLines();
  const log = createLogger({ LOG_LEVEL: 'info' }, 'tracing-context-test', destination);
  const request = (id: string, tenant: string, delayMs: number) =>
    requestContext.run({ requestId: id }, async () => {
      requestContext.identify(tenant, { type: 'agent', id: `a-${id}` });
      await new Promise((r) => setTimeout(r, delayMs));
      await Promise.resolve().then(() => log.warn(`deep inside ${id}`));
    });
  await Promise.all([request('r-1', '7d0c6c1e-1c1a-4a53-9f0e-2a3b4c5d6e7f', 10), request('r-2', '0b7c4a52-3f0e-4d1e-9a55-5d6e7f7d0c6c', 1)]);
  log.info('outside');
  expect(lines.find((l) => l.msg === 'deep inside r-1')).toMatchObject({
    requestId: 'r-1',
    tenantId: '7d0c6c1e-1c1a-4a53-9f0e-2a3b4c5d6e7f',
    actor: 'agent:a-r-1',
  });
  expect(lines.find((l) => l.msg === 'deep inside r-2')).toMatchObject({
    requestId: 'r-2',
    tenantId: '0b7c4a52-3f0e-4d1e-9a55-5d6e7f7d0c6c',
    actor: 'agent:a-r-2',
  });
  expect(lines.find((l) => l.msg === 'outside')!.requestId).toBeUndefined();
  expect(requestContext.current()).toBeUndefined();
});
