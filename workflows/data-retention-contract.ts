/**
 * The data retention workflow's contract: run by a Temporal schedule (created by the worker at start), it keeps
 * short-lived records to their retention. Today these live in Redis: idempotency records and web sessions (with their
 * refresh tokens), each written with its time to live; the sweep is the backstop that makes the limits hold for keys
 * whose TTL is missing or longer than the limit now configured (written before the limit was lowered). It also
 * deletes objects an erasure listed for deletion whose deletion did not happen right after it (a crash, a store outage),
 * an upload's files whose write never applied (an inbound email's held keys, a multipart upload's unlinked rows) once
 * their hold has passed, unless a row points at them,
 * and archived tickets past their tenant's `archive_delete_after_years` (never one under a legal hold).
 */
export const DATA_RETENTION_WORKFLOW_TYPE = 'dataRetentionWorkflow';

/** One schedule per ticket task queue (the deployment that owns the queue owns its schedule), as for webhook retention. */
export const dataRetentionScheduleId = (taskQueue: string) => `deskflow-data-retention-${taskQueue}`;

export interface RedisRetentionLimits {
  /** IDEMPOTENCY_TTL: no idempotency record outlives this. */
  idempotency_ms: number;
  /** SESSION_TTL: no session outlives this, nor its own `expires_at`. */
  session_ms: number;
  /** REFRESH_TOKEN_TTL: no refresh token outlives this, nor its session. */
  refresh_token_ms: number;
}

export interface DataRetentionInput {
  redis: RedisRetentionLimits;
  /** Keys one activity call looks at (SCAN's COUNT hint, summed over its pages). */
  scan_batch: number;
  /** Objects pending deletion longer than `grace_ms` (the API deletes its own at once), `batch` per activity call. */
  object_deletions: { grace_ms: number; batch: number };
  /** Archived tickets looked at per activity call. Absent (a schedule written before this step existed): none deleted. */
  archive_deletions?: { batch: number };
  /**
   * Uploads whose message never came (rows still `stored`) older than `hold_ms` are handed to the object deletions,
   * `batch` rows per activity call. Absent (a schedule written before this step existed): left to `sweep-attachments`.
   */
  unlinked_uploads?: { hold_ms: number; batch: number };
}

/** Where a run's walk over due archives got to: the last ticket looked at (oldest closed first). */
export interface ArchiveDeletionCursor {
  /** ISO 8601 to the microsecond: names the exact row. */
  closed_at: string;
  ticket_id: string;
}

export interface ArchiveDeletionStep {
  /** Due archives looked at; fewer than the batch: none left after `after`. */
  examined: number;
  deleted: number;
  /** Changed since they were listed (restored, archived again, held, the tenant's setting changed): left as they are. */
  skipped: number;
  /** Refused by the database (a malformed row): left as they are, logged. */
  failed: number;
  /** The last archive looked at; null when none was. */
  after: ArchiveDeletionCursor | null;
}

export interface DataRetentionResult {
  examined: number;
  deleted: number;
  capped: number;
  objects_deleted: number;
  /** Archived tickets deleted for their age (absent in results of runs before this step existed). */
  archives_deleted?: number;
  archives_skipped?: number;
  archives_failed?: number;
  /** Unlinked uploads handed to the object deletions (absent in results of runs before this step existed). */
  uploads_expired?: number;
}

export interface RedisSweepResult {
  /** `0` once the whole keyspace has been walked. */
  cursor: string;
  examined: number;
  /** Keys deleted: no TTL (idempotency), expired or unreadable sessions, refresh tokens whose session is gone. */
  deleted: number;
  /** Keys whose time to live was cut to the limit. */
  capped: number;
}

export interface DataRetentionActivities {
  /** Walks (part of) the keyspace from `cursor`, bringing every key of the families above within its limit. */
  sweepRedisRetention(input: { cursor: string; limits: RedisRetentionLimits; batch: number }): Promise<RedisSweepResult>;
  /** Deletes up to `limit` objects pending deletion for longer than `grace_ms`; `due`: how many were found. */
  purgeObjectDeletions(input: { grace_ms: number; limit: number }): Promise<{ due: number; deleted: number }>;
  /**
   * Deletes up to `limit` archived tickets past their tenant's deletion age after `after` (rows and objects);
   * heartbeats after each, and a retry resumes after the last one it finished.
   */
  deleteExpiredArchives(input: { after: ArchiveDeletionCursor | null; limit: number }): Promise<ArchiveDeletionStep>;
  /** Removes up to `limit` upload rows never linked and older than `hold_ms`, listing their objects for deletion. */
  expireUnlinkedUploads(input: { hold_ms: number; limit: number }): Promise<{ expired: number }>;
}
