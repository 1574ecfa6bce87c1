/**
 * Size and SHA-256 of what was stored, computed from the bytes as they stream through: no store's checksum is trusted,
 * and S3's ETag of a multipart upload is not a hash of the object anyway.
 */
import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

export class HashingCounter extends Transform {
  private readonly hash = createHash('sha256');
  private bytes = 0;
  private sha256: string | undefined;

  override _transform(chunk: Buffer | string, _encoding: BufferEncoding, callback: TransformCallback): void {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    this.hash.update(bytes);
    this.bytes += bytes.length;
    callback(null, bytes);
  }

  override _flush(callback: TransformCallback): void {
    this.sha256 = this.hash.digest('hex');
    callback();
  }

  /** Only once the stream has ended. */
  result(): { size: number; sha256: string } {
    if (this.sha256 === undefined) throw new Error('HashingCounter.result() before the stream ended');
    return { size: this.bytes, sha256: this.sha256 };
  }
}
