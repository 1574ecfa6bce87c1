/**
 * The one small interface every object store implements (attachments, archives, backups). Two backends: a local
 * directory (the embedded default) and the S3 API (AWS, MinIO, any S3-compatible store).
 */
import type { Readable } from 'node:stream';
import { z } from 'zod';

/**
 * Storage classes an object may be written with (S3's names; the local backend records them). Only classes readable
 * without a restore: archives are read back to verify them and served through the API, which GLACIER and DEEP_ARCHIVE
 * objects cannot be.
 */
export const StorageClass = z.enum(['STANDARD', 'STANDARD_IA', 'ONEZONE_IA', 'INTELLIGENT_TIERING', 'GLACIER_IR']);
export type StorageClass = z.infer<typeof StorageClass>;

/** What `put` accepts: a Node stream or any async iterable of bytes (read once, never buffered whole). */
export type ObjectBody = Readable | AsyncIterable<Uint8Array>;

export interface PutOptions {
  /** A MIME type, e.g. `application/pdf`; it is sent back as the object's Content-Type. */
  contentType: string;
  /** Small user metadata (`x-amz-meta-*` on S3): lower-case names, printable ASCII values, 2 KiB in all. */
  metadata?: Record<string, string>;
  /** Default STANDARD. */
  storageClass?: StorageClass;
}

/** A stored object, as measured while it streamed through (never as the store reports it). */
export interface StoredObject {
  key: string;
  size: number;
  /** Lower-case hex SHA-256 of the bytes stored. */
  sha256: string;
}

export interface ObjectInfo {
  key: string;
  size: number;
  contentType: string;
  metadata: Record<string, string>;
  lastModified: Date;
  /** What the store reports; STANDARD when it reports nothing. */
  storageClass: string;
}

/** The body must be consumed or destroyed: it holds a file handle or a connection until then. */
export interface ObjectDownload extends ObjectInfo {
  body: Readable;
}

export interface ListedObject {
  key: string;
  size: number;
  lastModified: Date;
}

export interface ListOptions {
  /** 1 to 1000, default 1000 (S3's page size). */
  limit?: number;
  /** `nextCursor` of the previous page. */
  cursor?: string;
}

export interface ListPage {
  /** In UTF-8 byte order of their keys, as S3 lists them. */
  objects: ListedObject[];
  /** Null on the last page. */
  nextCursor: string | null;
}

export interface PresignOptions {
  /** 1 s to 7 days (SigV4's limit), default 5 minutes. */
  expiresInSeconds?: number;
  /** Content-Disposition the store answers with (e.g. `attachment; filename="…"`). */
  contentDisposition?: string;
}

export const LIST_LIMIT_MAX = 1000;
export const PRESIGN_DEFAULT_SECONDS = 5 * 60;
export const PRESIGN_MAX_SECONDS = 7 * 24 * 60 * 60;

export interface ObjectStorage {
  readonly backend: 'local' | 's3';
  /** Stores the whole stream under `key` or nothing: a body that errors, or a failed upload, leaves no object. */
  put(key: string, body: ObjectBody, options: PutOptions): Promise<StoredObject>;
  /** Null when there is no such object. */
  get(key: string): Promise<ObjectDownload | null>;
  head(key: string): Promise<ObjectInfo | null>;
  /** Deleting a missing object is not an error (as on S3). */
  delete(key: string): Promise<void>;
  /** `prefix` is empty or a folder (ends with `/`), so `tenant-1/` never lists `tenant-10/…`. */
  list(prefix: string, options?: ListOptions): Promise<ListPage>;
  /** A short-lived URL a browser can GET the object from; null where the backend has none (local). */
  presignedGetUrl(key: string, options?: PresignOptions): Promise<string | null>;
  /** Frees sockets and timers (S3); the instance is unusable after. */
  close(): Promise<void>;
}
