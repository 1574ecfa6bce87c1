/** Object storage: one small interface (./types), a local-directory and an S3 backend, chosen by createObjectStorage. */
export { InvalidObjectKeyError, ObjectStorageArgumentError } from './errors';
export { createObjectStorage, localObjectStorageRoot, type ObjectStorageConfig } from './factory';
export { assertValidKey, assertValidPrefix } from './keys';
export * from './types';
