/** Picks the backend from the configuration. The AWS SDK is loaded only when S3 is chosen: the local default does not pay its start-up. */
import path from 'node:path';
import type { Config } from '../config';
import { ROOT } from '../paths';
import { LocalObjectStorage } from './local';
import type { ObjectStorage } from './types';

export type ObjectStorageConfig = Pick<
  Config,
  | 'OBJECT_STORAGE'
  | 'OBJECT_STORAGE_DIR'
  | 'DATA_DIR'
  | 'S3_BUCKET'
  | 'S3_REGION'
  | 'S3_ENDPOINT'
  | 'S3_FORCE_PATH_STYLE'
  | 'S3_ACCESS_KEY_ID'
  | 'S3_SECRET_ACCESS_KEY'
  | 'S3_KEY_PREFIX'
>;

/** The local backend's root: OBJECT_STORAGE_DIR, or `objects` in the data directory `npm start` uses. */
// Relative paths resolve from the checkout, as `npm start` resolves DATA_DIR, whatever the working directory.
export function localObjectStorageRoot(config: Pick<Config, 'OBJECT_STORAGE_DIR' | 'DATA_DIR'>): string {
  return path.resolve(ROOT, config.OBJECT_STORAGE_DIR ?? path.join(config.DATA_DIR, 'objects'));
}

export function createObjectStorage(config: ObjectStorageConfig): ObjectStorage {
  if (config.OBJECT_STORAGE === 'local') return new LocalObjectStorage(localObjectStorageRoot(config));
  const { S3ObjectStorage } = require('./s3') as typeof import('./s3');
  return new S3ObjectStorage({
    bucket: config.S3_BUCKET,
    region: config.S3_REGION,
    endpoint: config.S3_ENDPOINT,
    forcePathStyle: config.S3_FORCE_PATH_STYLE,
    // The schema allows both or neither; neither: the SDK's default chain (environment, web identity, instance role).
    credentials:
      config.S3_ACCESS_KEY_ID && config.S3_SECRET_ACCESS_KEY
        ? { accessKeyId: config.S3_ACCESS_KEY_ID, secretAccessKey: config.S3_SECRET_ACCESS_KEY }
        : undefined,
    keyPrefix: config.S3_KEY_PREFIX,
  });
}
