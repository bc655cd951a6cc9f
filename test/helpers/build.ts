import { execFile } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../../chaos/services.js';

/**
 * The compiled service (`npm run build`: dist/, and the producer package's dist/), which the tests' processes run.
 *
 * A process a test starts — the CLI as an operator runs it, a service a chaos test kills — runs the compiled
 * JavaScript, as the image and `npm run start:prod` do, not `node --import tsx`: tsx's loader hooks cost every such
 * start ~0.9 CPU-s more (`--help`: 1.6 against 0.7 CPU-s), and the suite starts ~60 of them on two cores. The global
 * set-up builds once when any source is newer than the build (`npm install` has just built it, through `prepare`,
 * in CI and in a fresh clone), so what they run is the tree under test. `npm start` and `npm run cli` (tsx) keep
 * tests of their own: production-start, ctrl-c, service-process-groups, port-in-use, cli.test.ts.
 */

/** What `npm run build` compiles, and what it makes: stale when any source is newer than an output. */
const BUILD_SOURCES = ['src', 'migrations', 'packages/producer/src', 'knexfile.ts', 'package.json', 'tsconfig.json'];
const BUILD_SOURCE_FILES = ['tsconfig.build.json', 'packages/producer/package.json', 'packages/producer/tsconfig.json'];
const BUILD_OUTPUTS = ['dist/src/main.js', 'dist/src/migrate.js', 'packages/producer/dist/index.js'];

export function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    return entry.isDirectory() ? filesUnder(full) : [full];
  });
}

export function buildIsStale(): boolean {
  const mtime = (file: string) => statSync(path.join(REPO_ROOT, file)).mtimeMs;
  const outputs = BUILD_OUTPUTS.map((f) => (existsSync(path.join(REPO_ROOT, f)) ? mtime(f) : 0));
  const oldestOutput = Math.min(...outputs);
  const sources = [
    ...BUILD_SOURCES.flatMap((entry) =>
      statSync(path.join(REPO_ROOT, entry)).isDirectory()
        ? filesUnder(path.join(REPO_ROOT, entry)).map((f) => path.relative(REPO_ROOT, f))
        : [entry],
    ),
    ...BUILD_SOURCE_FILES,
  ];
  return sources.some((f) => mtime(f) > oldestOutput);
}

/** `npm run build`, exactly as package.json says it, when the build is older than a source. Answers whether it ran. */
export async function buildWhenStale(): Promise<boolean> {
  if (!buildIsStale()) return false;
  await promisify(execFile)('npm', ['run', '-s', 'build'], { cwd: REPO_ROOT });
  return true;
}

/**
 * The arguments of `node` that run a TypeScript entry of the tree compiled (`src/cli/main.ts` →
 * `dist/src/cli/main.js`), to spawn from REPO_ROOT.
 */
export function compiledEntry(entry: string): string[] {
  if (!/^src\/.+\.ts$/.test(entry)) throw new Error(`not an entry the build compiles: ${entry}`);
  return [path.join('dist', entry.replace(/\.ts$/, '.js'))];
}
