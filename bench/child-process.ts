import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';

/** A port free on loopback now, for a process the load tool starts. */
export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** Every process started here: killed when the tool exits, also when it fails halfway. */
const started = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

/**
 * Starts `node --import tsx <script>` and resolves once it prints `ready` on stdout (the service logs
 * "credits is up"; the bare route prints "bare route is up"). Its stderr is the tool's; its stdout is
 * read and dropped afterwards, so that its log never blocks it. `LOAD_CPU_PROF=<dir>` writes a V8 CPU
 * profile of the process when it stops, under `<dir>/<label>`; `LOAD_NODE_ARGS` adds node options to
 * every process started (`--max-semi-space-size=32`, `--trace-gc`: its stdout is dropped, see above).
 */
export async function startProcess(
  script: string,
  env: NodeJS.ProcessEnv,
  ready: RegExp,
  label: string,
  /** Where it runs (another checkout, for a side-by-side run): its own tsconfig and sources. */
  cwd?: string,
): Promise<ChildProcess> {
  const profile = process.env.LOAD_CPU_PROF
    ? ['--cpu-prof', `--cpu-prof-dir=${process.env.LOAD_CPU_PROF}/${label}`]
    : [];
  const extra = process.env.LOAD_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
  const child = spawn(process.execPath, [...profile, ...extra, '--import', 'tsx', script], {
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
    ...(cwd ? { cwd } : {}),
  });
  started.add(child);
  await new Promise<void>((resolve, reject) => {
    let seen = '';
    const onExit = (code: number | null) => reject(new Error(`${label} exited with ${code} before it was up`));
    child.once('exit', onExit);
    child.stdout!.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      if (ready.test(seen)) {
        child.off('exit', onExit);
        seen = '';
        resolve();
      }
    });
  });
  child.stdout!.removeAllListeners('data');
  child.stdout!.resume();
  return child;
}

/** SIGTERM, and wait until it has exited (the service drains first). */
export async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  await once(child, 'exit');
}
