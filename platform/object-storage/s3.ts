/**
 * The S3 API through the official AWS SDK v3: AWS itself, or an S3-compatible store (MinIO, s3rver) through an endpoint
 * override and path-style URLs. Uploads stream as multipart (`@aws-sdk/lib-storage`), at most `PART_SIZE × QUEUE_SIZE`
 * bytes in memory whatever the object's size; the SHA-256 and size are computed on the way (a Transform), not taken
 * from the store. A failed upload is aborted (its parts removed), so it leaves no object.
 */
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { HashingCounter } from './hashing';
import { assertValidKey, assertValidPrefix, normalizeKeyPrefix } from './keys';
import { assertValidPutOptions, listLimit, presignSeconds } from './options';
import type { ListOptions, ListPage, ObjectBody, ObjectDownload, ObjectInfo, ObjectStorage, PresignOptions, PutOptions, StoredObject } from './types';

/** 8 MiB parts, two in flight: ~16 MiB per upload at most, and a 25 MB attachment in 4 parts. */
const PART_SIZE = 8 * 1024 * 1024;
const QUEUE_SIZE = 2;

export interface S3StorageOptions {
  bucket: string;
  region: string;
  /** An S3-compatible store's URL; unset: AWS's endpoint for the region. */
  endpoint?: string;
  forcePathStyle: boolean;
  /** Unset: the SDK's default chain (environment, web identity, instance or task role). */
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** Every key is stored under it (one bucket shared by several deployments). */
  keyPrefix: string;
}

/** What the SDK says for a key that is not there (HeadObject has no body, hence no code: just NotFound). */
const isMissing = (error: unknown) => {
  const name = (error as { name?: string }).name;
  return name === 'NoSuchKey' || name === 'NotFound';
};

export class S3ObjectStorage implements ObjectStorage {
  readonly backend = 's3' as const;
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;

  constructor(options: S3StorageOptions) {
    if (!options.bucket) throw new Error('S3 object storage needs a bucket (S3_BUCKET)');
    this.bucket = options.bucket;
    this.prefix = normalizeKeyPrefix(options.keyPrefix);
    this.client = new S3Client({
      region: options.region,
      endpoint: options.endpoint,
      forcePathStyle: options.forcePathStyle,
      credentials: options.credentials,
    });
  }

  async put(key: string, body: ObjectBody, options: PutOptions): Promise<StoredObject> {
    assertValidKey(key);
    assertValidPutOptions(options);
    const hasher = new HashingCounter();
    // The source's failure destroys the hasher, which fails the upload (and aborts its multipart upload).
    const feeding = pipeline(body, hasher);
    const upload = new Upload({
      client: this.client,
      params: {
        Bucket: this.bucket,
        Key: this.prefix + key,
        Body: hasher,
        ContentType: options.contentType,
        Metadata: options.metadata,
        StorageClass: options.storageClass,
      },
      partSize: PART_SIZE,
      queueSize: QUEUE_SIZE,
      leavePartsOnError: false,
    });
    // An upload failure stops the source too, so nothing is left reading it.
    const uploading = upload.done().catch((error: unknown) => {
      hasher.destroy(error as Error);
      throw error;
    });
    const [fed, uploaded] = await Promise.allSettled([feeding, uploading]);
    // The source's own error explains best why nothing was stored (the abort that follows may fail on its own).
    if (fed.status === 'rejected') throw fed.reason;
    if (uploaded.status === 'rejected') throw uploaded.reason;
    return { key, ...hasher.result() };
  }

  async get(key: string): Promise<ObjectDownload | null> {
    assertValidKey(key);
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.prefix + key }));
      if (!(out.Body instanceof Readable)) throw new Error('S3 GetObject answered without a Node stream');
      return {
        key,
        size: out.ContentLength ?? 0,
        contentType: out.ContentType ?? 'application/octet-stream',
        metadata: out.Metadata ?? {},
        lastModified: out.LastModified ?? new Date(0),
        storageClass: out.StorageClass ?? 'STANDARD',
        body: out.Body,
      };
    } catch (error) {
      if (isMissing(error)) return null;
      throw error;
    }
  }

  async head(key: string): Promise<ObjectInfo | null> {
    assertValidKey(key);
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.prefix + key }));
      return {
        key,
        size: out.ContentLength ?? 0,
        contentType: out.ContentType ?? 'application/octet-stream',
        metadata: out.Metadata ?? {},
        lastModified: out.LastModified ?? new Date(0),
        storageClass: out.StorageClass ?? 'STANDARD',
      };
    } catch (error) {
      if (isMissing(error)) return null;
      throw error;
    }
  }

  async delete(key: string): Promise<void> {
    assertValidKey(key);
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.prefix + key }));
  }

  async list(prefix: string, options: ListOptions = {}): Promise<ListPage> {
    assertValidPrefix(prefix);
    const out = await this.client.send(
      new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix + prefix, MaxKeys: listLimit(options.limit), ContinuationToken: options.cursor }),
    );
    const objects = (out.Contents ?? []).map((o) => ({
      key: o.Key!.slice(this.prefix.length),
      size: o.Size ?? 0,
      lastModified: o.LastModified ?? new Date(0),
    }));
    return { objects, nextCursor: out.IsTruncated && out.NextContinuationToken ? out.NextContinuationToken : null };
  }

  async presignedGetUrl(key: string, options: PresignOptions = {}): Promise<string | null> {
    assertValidKey(key);
    const expiresIn = presignSeconds(options);
    const command = new GetObjectCommand({ Bucket: this.bucket, Key: this.prefix + key, ResponseContentDisposition: options.contentDisposition });
    return getSignedUrl(this.client, command, { expiresIn });
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}
