/**
 * A bad key or option is a programming error (keys are built by our code, never taken from a request), so it throws at
 * once with what is wrong, before anything is stored.
 */
export class ObjectStorageArgumentError extends Error {
  override name = 'ObjectStorageArgumentError';
}

export class InvalidObjectKeyError extends ObjectStorageArgumentError {
  override name = 'InvalidObjectKeyError';
}
