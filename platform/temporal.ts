import type { Interceptor } from '@grpc/grpc-js';
import { Client, Connection, defaultGrpcRetryOptions, makeGrpcRetryInterceptor } from '@temporalio/client';
import { type Config, DEFAULT_TEMPORAL_ADDRESS } from './config';

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
    ...(traced ? { interceptors: { workflow: [new (otelClient().OpenTelemetryWorkflowClientInterceptor)()] } } : {}),
  });
}

const otelClient = () => require('@temporalio/interceptors-opentelemetry/lib/client') as typeof import('@temporalio/interceptors-opentelemetry/lib/client');
