import { Writable } from 'node:stream';

/** A pino destination that keeps every JSON line written to it: parsed (`lines`) and as written (`raw`). */
export function captureLogLines() {
  const lines: Record<string, any>[] = [];
  const raw: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) {
        raw.push(line);
        lines.push(JSON.parse(line));
      }
      done();
    },
  });
  return { lines, raw, destination };
}
