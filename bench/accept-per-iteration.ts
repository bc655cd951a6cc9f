/**
 * How many connections node takes up per event-loop iteration (BENCHMARKS.md, 2026-12-03 12:00, the
 * wait phase's tail): a server whose every loop iteration is kept busy `busy` ms (a setImmediate that
 * spins, as a loaded api's callbacks do), and 200 connections opened at once. Since libuv 1.45
 * (libuv/libuv#3696; node 20 ships 1.46) a listening socket is accept()ed ONCE per iteration, so the
 * 200 wait in the kernel's accept queue for 200 iterations: 200 × `busy` ms.
 *
 *   npx tsx bench/accept-per-iteration.ts [busy ms ...]     (default: 0 1 3)
 */
import net from 'node:net';

async function run(busyMs: number, connections = 200) {
  let iteration = 0;
  let spinning = true;
  const perIteration = new Map<number, number>();
  let first: number | undefined;
  let last = 0;
  let taken = 0;
  let allTaken!: () => void;
  const done = new Promise<void>((resolve) => {
    allTaken = resolve;
  });
  const server = net.createServer((socket) => {
    const now = performance.now();
    first ??= now;
    last = now;
    perIteration.set(iteration, (perIteration.get(iteration) ?? 0) + 1);
    socket.destroy();
    taken += 1;
    if (taken === connections) allTaken();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  const spin = () => {
    const start = performance.now();
    while (performance.now() - start < busyMs);
    iteration += 1;
    if (spinning) setImmediate(spin);
  };
  setImmediate(spin);
  // the handshakes complete in the kernel at once; each connection then waits for the server's accept()
  for (let i = 0; i < connections; i += 1) net.connect(port, '127.0.0.1').on('error', () => {});
  await done;
  spinning = false;
  server.close();
  const counts = [...perIteration.values()];
  return {
    busy_ms: busyMs,
    connections: taken,
    iterations_that_accepted: counts.length,
    most_in_one_iteration: Math.max(...counts),
    first_to_last_accept_ms: Math.round(last - (first ?? last)),
  };
}

const busy = process.argv.slice(2).map(Number);
for (const ms of busy.length > 0 ? busy : [0, 1, 3]) console.log(JSON.stringify(await run(ms)));
console.log(JSON.stringify({ node: process.version, libuv: process.versions.uv }));
