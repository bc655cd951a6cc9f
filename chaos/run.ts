import { parseArgs } from 'node:util';
import { DEFAULT_OPTIONS, formatReport, runChaos, stopEverything } from './harness.js';

/**
 * `npm run chaos -- [--requests 4000] [--seed 1] [--keep] [--clients 20] [--seconds 60]`
 *
 * Runs the service as separate processes (one api, two workers) on a Redis and a Postgres of its
 * own, sends a bounded stream through the API and the producer while it kills a worker mid-batch,
 * restarts Redis, restarts Postgres, stalls the webhook receiver and makes Redis lose its data;
 * then proves nothing accepted was lost or applied twice. Exits 1 when a proof fails.
 */
const { values: args } = parseArgs({
  options: {
    requests: { type: 'string', default: String(DEFAULT_OPTIONS.requests) },
    seed: { type: 'string', default: String(DEFAULT_OPTIONS.seed) },
    keep: { type: 'boolean', default: false },
    clients: { type: 'string', default: String(DEFAULT_OPTIONS.clients) },
    seconds: { type: 'string', default: String(DEFAULT_OPTIONS.trafficSeconds) },
  },
});

const positive = (name: string, value: string | undefined): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`--${name} must be a positive integer`);
    process.exit(2);
  }
  return n;
};

let interrupted = false;
const interrupt = () => {
  if (interrupted) process.exit(130);
  interrupted = true;
  console.error('interrupted: stopping the processes and services this run started');
  void stopEverything().finally(() => process.exit(130));
};
process.on('SIGINT', interrupt);
process.on('SIGTERM', interrupt);
process.on('unhandledRejection', (reason) => console.error('unhandled rejection:', reason));

try {
  const report = await runChaos({
    requests: positive('requests', args.requests),
    seed: positive('seed', args.seed),
    keep: args.keep ?? false,
    clients: positive('clients', args.clients),
    trafficSeconds: positive('seconds', args.seconds),
  });
  console.log(formatReport(report));
  process.exit(report.ok ? 0 : 1);
} catch (error) {
  console.error(error);
  await stopEverything();
  process.exit(1);
}
