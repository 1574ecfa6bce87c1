/**
 * Hand-built multipart/form-data bodies: unlike FormData, they can carry what an attacker would send (raw header
 * parameters such as `filename*=` with encoded CR/LF, a lying Content-Type, fields after files).
 */
import { randomBytes } from 'node:crypto';

export type Part =
  | { name: string; value: string }
  | {
      name: string;
      /** The whole Content-Disposition parameter list after `name`, when a test needs it raw; else from `filename`. */
      dispositionParams?: string;
      filename?: string;
      type: string;
      data: Buffer | string;
    };

export function multipart(parts: Part[]): { body: Buffer; contentType: string } {
  const boundary = `----deskflow-test-${randomBytes(8).toString('hex')}`;
  const chunks: Buffer[] = [];
  for (const part of parts) {
    chunks.push(Buffer.from(`--${boundary}\r\n`));
    if ('value' in part) {
      chunks.push(Buffer.from(`Content-Disposition: form-data; name="${part.name}"\r\n\r\n`), Buffer.from(part.value), Buffer.from('\r\n'));
    } else {
      const params = part.dispositionParams ?? `filename="${part.filename ?? 'file'}"`;
      chunks.push(Buffer.from(`Content-Disposition: form-data; name="${part.name}"; ${params}\r\nContent-Type: ${part.type}\r\n\r\n`));
      chunks.push(typeof part.data === 'string' ? Buffer.from(part.data) : part.data, Buffer.from('\r\n'));
    }
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), contentType: `multipart/form-data; boundary=${boundary}` };
}

/** A minimal valid-looking PNG (signature, then noise): enough for sniffing, and unique per call. */
export const png = (bytes = 2048) => Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), randomBytes(bytes)]);
