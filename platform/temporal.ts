import { Client, Connection } from '@temporalio/client';
import { type Config, DEFAULT_TEMPORAL_ADDRESS } from './config';

export async function connectTemporal(config: Config): Promise<Client> {
  const connection = await Connection.connect({ address: DEFAULT_TEMPORAL_ADDRESS(config) });
  return new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
}
