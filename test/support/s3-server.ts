/**
 * A real S3-protocol server for the object-storage tests, from npm (no binary download): `@20minutes/s3rver`, the
 * maintained fork of `s3rver` (whose 3.7.1 of 2021 is unmaintained), run as its own process on loopback.
 *
 * Two quirks of it, both outside the code under test:
 * - its ListObjectsV2 continuation tokens are DES-encrypted, which Node 17+'s OpenSSL 3 refuses unless the process runs
 *   with `--openssl-legacy-provider` (only this child does; without it, any truncated list is a 500);
 * - it signs bucket-level requests' canonical URI as `/bucket` where SDK v3 sends `/bucket/`, so signatures are not
 *   compared (`allowMismatchedSignatures`); the access key must still exist, and a pre-signed URL's expiry is enforced.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, stopProcess } from './processes';

export interface S3TestServer {
  endpoint: string;
  bucket: string;
  /** s3rver's built-in account. */
  accessKeyId: string;
  secretAccessKey: string;
  stop(): Promise<void>;
}

const CHILD = `
const S3rver = require('@20minutes/s3rver');
const [directory, bucket] = process.argv.slice(1);
// The parent closing our stdin (it ended or died) ends us too: no orphaned server.
process.stdin.on('end', () => process.exit(0)).resume();
new S3rver({ address: '127.0.0.1', port: 0, directory, silent: true, allowMismatchedSignatures: true, configureBuckets: [{ name: bucket }] })
  .run()
  .then(({ port }) => console.log(JSON.stringify({ port })), (error) => { console.error(error); process.exit(1); });
`;

export async function startS3Server(bucket = 'deskflow-test'): Promise<S3TestServer> {
  const directory = mkdtempSync(path.join(os.tmpdir(), 'deskflow-s3rver-'));
  const child: ChildProcess = spawn(process.execPath, ['--openssl-legacy-provider', '--no-warnings', '-e', CHILD, directory, bucket], {
    cwd: ROOT, // resolves the package from the checkout's node_modules
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let output = '';
  const port = await new Promise<number>((resolve, reject) => {
    const fail = (why: string) => reject(new Error(`the S3 test server (@20minutes/s3rver, a devDependency: run \`npm ci\`) did not start: ${why}\n${output}`));
    const timer = setTimeout(() => fail('no port within 20 s'), 20_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const line = /\{"port":(\d+)\}/.exec(output);
      if (line) {
        clearTimeout(timer);
        resolve(Number(line[1]));
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      fail(`it exited with ${code}`);
    });
  });
  return {
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    async stop() {
      await stopProcess(child);
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
