import type { Interceptor } from '@grpc/grpc-js';
import { Client, Connection, defaultGrpcRetryOptions, makeGrpcRetryInterceptor } from '@temporalio/client';
import { type Config, DEFAULT_TEMPORAL_ADDRESS } from './config';

/** `interceptors` run after the SDK's own retry interceptor (kept: passing any replaces the default list). */
export async function connectTemporal(config: Config, interceptors: Interceptor[] = []): Promise<Client> {
  const connection = await Connection.connect({
    address: DEFAULT_TEMPORAL_ADDRESS(config),
    ...(interceptors.length ? { interceptors: [makeGrpcRetryInterceptor(defaultGrpcRetryOptions()), ...interceptors] } : {}),
  });
  return new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
}
