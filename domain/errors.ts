/**
 * The one error type of Deskflow. Every layer throws a DeskflowError with a stable `code`;
 * the API renders it as an RFC 9457 problem, workflows carry the code as the ApplicationFailure type.
 */
export const ERROR_CATALOG = {
  validation_failed: { status: 400, title: 'Request validation failed' },
  malformed_json: { status: 400, title: 'Malformed JSON body' },
  invalid_cursor: { status: 400, title: 'Invalid pagination cursor' },
  unauthenticated: { status: 401, title: 'Authentication required' },
  forbidden: { status: 403, title: 'Not allowed' },
  not_found: { status: 404, title: 'Resource not found' },
  method_not_allowed: { status: 405, title: 'Method not allowed' },
  conflict: { status: 409, title: 'Conflict with the current state' },
  idempotency_in_progress: { status: 409, title: 'A request with this Idempotency-Key is still in progress' },
  version_mismatch: { status: 412, title: 'The resource has changed (stale If-Match)' },
  payload_too_large: { status: 413, title: 'Request body too large' },
  unsupported_media_type: { status: 415, title: 'Unsupported media type' },
  illegal_transition: { status: 422, title: 'Illegal status transition' },
  ticket_closed: { status: 422, title: 'The ticket is closed' },
  rule_violation: { status: 422, title: 'The request breaks a business rule' },
  unknown_customer: { status: 422, title: 'The customer does not exist' },
  unknown_reference: { status: 422, title: 'A referenced object does not exist' },
  unstorable_change: { status: 422, title: 'The change cannot be stored' },
  idempotency_key_reused: { status: 422, title: 'Idempotency-Key reused with a different request' },
  unsafe_url: { status: 422, title: 'The URL may not be called (scheme, credentials or address refused)' },
  tenant_required: { status: 422, title: 'Name the tenant to log in to' },
  rate_limited: { status: 429, title: 'Too many requests' },
  internal: { status: 500, title: 'Internal server error' },
  change_failed: { status: 500, title: 'The change could not be recorded; the ticket is unchanged' },
  service_unavailable: { status: 503, title: 'A dependency is unavailable' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOG;

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CATALOG, value);
}

export interface FieldIssue {
  path: string;
  message: string;
}

export class DeskflowError extends Error {
  readonly status: number;
  readonly title: string;

  constructor(
    readonly code: ErrorCode,
    detail?: string,
    readonly extra: { errors?: FieldIssue[]; [key: string]: unknown } = {},
  ) {
    super(detail ?? ERROR_CATALOG[code].title);
    this.name = 'DeskflowError';
    this.status = ERROR_CATALOG[code].status;
    this.title = ERROR_CATALOG[code].title;
  }
}

/**
 * A write that names the version it expects (`If-Match`) finds another one: the caller read a stale
 * copy. `expected` undefined means "whatever is current".
 */
export function assertExpectedVersion(current: { version: number }, expected: number | undefined): void {
  if (expected !== undefined && expected !== current.version) {
    throw new DeskflowError('version_mismatch', `expected version ${expected}, current is ${current.version}`, {
      current_version: current.version,
    });
  }
}
