import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:net';

/**
 * More listening handles on the API's one listening socket, so that a busy process takes up several new connections
 * per event-loop iteration instead of one.
 *
 * Why: node 20's libuv (1.45 and later, libuv/libuv#3696) accepts ONE connection per readiness callback of a
 * listening handle, so a process whose iterations last a few milliseconds under load takes up a few hundred
 * connections a second, and a burst of new connections waits in the kernel's accept queue — the tail of `npm run
 * load`'s wait phase (BENCHMARKS.md, 2026-12-03 11:24–11:31: 0.3–2 s of its p99 was that queue). Each extra handle
 * holds a duplicate of the socket's descriptor and gets its own callback in the same iteration: `count` more handles
 * accept up to `count` more connections an iteration (bench/accept-per-iteration.ts shows the rate).
 *
 * How: node gives a process a duplicate of a listening socket only by passing it over IPC (as the cluster module's
 * SCHED_NONE does for its workers), so a short-lived child process is sent the server's handle and sends it back,
 * `count` times; the kernel then hands each connection to whichever handle accepts first. The raw handle (node's
 * `net.Native` kind), not the server: a child sent a server would listen on it, and take connections, until it
 * exits. The connections the extra handles take are passed to the HTTP server as its own (`'connection'`), so its
 * timeouts, keep-alive and draining apply to them alike. Where the child cannot be made, the API runs on its one
 * handle (a warning, not a failure).
 */
export async function duplicateListeners(server: Server, count: number, timeoutMs = 5_000): Promise<Server[]> {
  if (count <= 0) return [];
  // the child only echoes back what it is sent; it loads nothing of the service
  const child = spawn(process.execPath, ['-e', "process.on('message', (m, h) => process.send(m, h))"], {
    stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
  });
  const duplicates: Server[] = [];
  try {
    const failed = new Promise<never>((_, reject) => {
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`the helper process exited (${code}) before answering`)));
    });
    // node's own handle of the socket (`_handle`, what cluster and child_process pass): sent as it is, it is only
    // carried, never listened on, by the child
    const handle = (server as unknown as { _handle: object | null })._handle;
    if (!handle) throw new Error('the server is not listening');
    for (let i = 0; i < count; i += 1) {
      const back = new Promise<Server>((resolve) =>
        child.once('message', (_m, duplicate) => resolve(createServer().listen(duplicate as object))),
      );
      child.send('listener', handle as Parameters<typeof child.send>[1]);
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no answer from the helper process within ${timeoutMs} ms`)),
          timeoutMs,
        );
      });
      try {
        duplicates.push(await Promise.race([back, failed, late]));
      } finally {
        clearTimeout(timer);
      }
    }
    return duplicates;
  } catch (error) {
    for (const duplicate of duplicates) duplicate.close();
    throw error;
  } finally {
    child.removeAllListeners();
    child.kill();
  }
}
