import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, REPO_ROOT, ServiceProcess } from '../../chaos/services.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { createClient, createCreditType, createPackage, subscribe } from '../helpers/fixtures.js';
import { serviceEnv } from '../helpers/service-env.js';

/**
 * Ctrl-C on `npm start`: the terminal sends SIGINT to the whole foreground process group — npm and the service —
 * and npm passes its own on to the service, so one key press reaches the service twice within milliseconds. It used
 * to take the second as "exit now" and skip the drain (in-flight requests cut, connections left to time out). A
 * signal echoed that soon is the same request; the service drains and exits 0.
 */
let app: TestApp;
const dir = path.join(REPO_ROOT, '.data', `test-ctrl-c-${randomBytes(4).toString('hex')}`);

beforeAll(async () => {
  // the child runs on the system clock: the subscription must be current for it
  app = await startTestApp({ roles: ['api'], now: new Date().toISOString() });
  mkdirSync(dir, { recursive: true });
});
afterAll(async () => {
  await app.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('one Ctrl-C, delivered twice', () => {
  // a service process of its own, started and stopped: seconds alone, much more beside the whole suite
  it('drains and exits 0, not "exiting now"', { timeout: 120_000 }, async () => {
    const sms = await createCreditType(app, { code: 'ctrl-c-sms' });
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10 }]);
    const client = await createClient(app);
    await subscribe(app, client.id, pkg.code);
    const port = await freePort();
    const logFile = path.join(dir, 'service.log');
    // an api alone: a `?wait=true` use waits for a worker that is not there, so the drain has work in flight
    // until it answers the waiter 202 (at half of SHUTDOWN_TIMEOUT_MS)
    const service = new ServiceProcess(
      'ctrl-c',
      'api',
      {
        ...serviceEnv(app, port, dir),
        SHUTDOWN_TIMEOUT_MS: '6000',
        WAIT_TIMEOUT_MS: '20000',
      },
      logFile,
    );
    try {
      await service.waitUp(60_000);
      const waiter = fetch(`http://127.0.0.1:${port}/v1/consumptions?wait=true`, {
        method: 'POST',
        headers: { authorization: `Bearer ${app.keys.write}`, 'content-type': 'application/json' },
        body: JSON.stringify({ client: client.id, credit_type: sms.code, quantity: 1, idempotency_key: 'ctrl-c' }),
      }).then((res) => res.status);
      // the signal comes once the waiter's request is recorded (it reached the service) — a fact, not a pause
      while (Number((await app.database.db('accepted_jobs').count({ n: '*' }))[0]!.n) === 0)
        await new Promise((r) => setTimeout(r, 20));
      const draining = new Promise<void>((resolve) =>
        service.child.stdout!.on('data', (chunk: Buffer) => {
          if (chunk.toString('utf8').includes('shutting down')) resolve();
        }),
      );
      service.child.kill('SIGINT'); // the terminal's
      await draining;
      service.child.kill('SIGINT'); // npm's copy, a moment later
      const exit = await service.exited;
      const log = readFileSync(logFile, 'utf8');
      expect(exit, log.split('\n').slice(-15).join('\n')).toEqual({ code: 0, signal: null });
      expect(log).toContain('still draining');
      expect(log).toContain('"msg":"stopped"');
      expect(log).not.toContain('exiting now');
      // the request in flight was answered by the drain, not cut
      expect(await waiter).toBe(202);
    } finally {
      if (service.alive) service.child.kill('SIGKILL');
    }
  });
});
