import type { Interceptor } from '@grpc/grpc-js';
import { Client, Connection, defaultGrpcRetryOptions, makeGrpcRetryInterceptor } from '@temporalio/client';
import { type Config, DEFAULT_TEMPORAL_ADDRESS } from './config';
import { unsampledUnlessTraced } from './tracing';

export interface TemporalClientOptions {
  /** gRPC interceptors, run after the SDK's own retry interceptor (kept: passing any replaces the default list). */
  grpc?: Interceptor[];
  /** Traced: starts, updates and signals carry the active span to the workflow (its headers), and get spans. */
  traced?: boolean;
}

export async function connectTemporal(config: Config, { grpc = [], traced = false }: TemporalClientOptions = {}): Promise<Client> {
  const connection = await Connection.connect({
    address: DEFAULT_TEMPORAL_ADDRESS(config),
    ...(grpc.length ? { interceptors: [makeGrpcRetryInterceptor(defaultGrpcRetryOptions()), ...grpc] } : {}),
  });
  return new Client({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    // Loaded only when traced (it loads OpenTelemetry's SDK packages).
    ...(traced ? { interceptors: { workflow: [unlessTracedUnsampled(new (otelClient().OpenTelemetryWorkflowClientInterceptor)())] } } : {}),
  });
}

/** Every call of the interceptor under an unsampled parent when nothing is traced (platform/tracing.ts). */
function unlessTracedUnsampled<T extends object>(interceptor: T): T {
  return new Proxy(interceptor, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? (...args: unknown[]) => unsampledUnlessTraced(() => value.apply(target, args)) : value;
    },
  });
}

const otelClient = () => require('@temporalio/interceptors-opentelemetry/lib/client') as typeof import('@temporalio/interceptors-opentelemetry/lib/client');
