/**
 * What waking a process costs on this machine (issue 14's `?wait=true` phase): two node processes play
 * TCP ping-pong over loopback (100 bytes each way), back to back and then with a pause of 1, 5 and 10 ms
 * between round trips, and each side's CPU per round trip is read (process.cpuUsage, /proc for the child).
 * A waited request crosses the load tool, the api, Postgres, Redis and the worker about ten times; when each
 * process sleeps between messages, every crossing pays a wake-up — so a request costs more CPU at a low rate
 * than at a high one (BENCHMARKS.md, 2026-12-04).
 *
 *   npx tsx bench/wakeup-cost.ts
 */
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { TICKS_PER_SECOND } from './proc-cpu.js';

if (process.argv[2] === 'echo') {
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    socket.on('data', (data) => socket.write(data));
  });
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    if (address && typeof address === 'object') process.send?.(address.port);
  });
} else {
  const child = fork(new URL(import.meta.url).pathname, ['echo'], { execArgv: ['--import', 'tsx'] });
  const port = await new Promise<number>((resolve) => child.once('message', (m) => resolve(Number(m))));
  const socket = net.connect(port, '127.0.0.1');
  socket.setNoDelay(true);
  await new Promise((resolve) => socket.once('connect', resolve));
  let answered: () => void = () => undefined;
  socket.on('data', () => answered());
  const roundTrip = () =>
    new Promise<void>((resolve) => {
      answered = resolve;
      socket.write('x'.repeat(100));
    });
  /** The child's CPU time so far, in µs (utime + stime of /proc/<pid>/stat). */
  const childCpu = (): number => {
    const fields = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / TICKS_PER_SECOND;
  };
  const rows: Array<Record<string, number>> = [];
  for (const pauseMs of [0, 1, 5, 10]) {
    const count = pauseMs === 0 ? 20_000 : Math.round(5_000 / pauseMs);
    const ownFrom = process.cpuUsage();
    const childFrom = childCpu();
    for (let i = 0; i < count; i += 1) {
      await roundTrip();
      if (pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs));
    }
    const own = process.cpuUsage(ownFrom);
    rows.push({
      pause_ms: pauseMs,
      round_trips: count,
      client_us_per_round_trip: Math.round((own.user + own.system) / count),
      server_us_per_round_trip: Math.round((childCpu() - childFrom) / count),
    });
  }
  socket.destroy();
  child.kill();
  console.log(JSON.stringify({ bench: 'wakeup-cost', at: new Date().toISOString(), rows }));
}
