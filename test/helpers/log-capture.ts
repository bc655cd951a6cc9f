import { Writable } from 'node:stream';

/**
 * Where a test app's log goes when the test reads it (`startTestApp({ logTo: log.stream })`): the raw text as
 * written (`chunks`), and each JSON line parsed (`entries()`). `clear()` forgets what was written so far.
 */
export function logCapture() {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString('utf8'));
      done();
    },
  });
  const entries = (): Array<Record<string, any>> =>
    chunks
      .join('')
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as Record<string, any>);
  const clear = () => {
    chunks.length = 0;
  };
  return { stream, chunks, entries, clear };
}
