import { inject } from 'vitest';
import type { TestApp } from './app.js';

/**
 * The environment of a service process (chaos/services.ts ServiceProcess: from its sources as `npm start` runs it,
 * or compiled as the image does) on the test app's database and queues, listening on `port` of loopback, logging at
 * info to the harness, its data under `dataDir`. A test adds what it is about.
 */
export const serviceEnv = (app: TestApp, port: number, dataDir: string): Record<string, string> => ({
  DATABASE_URL: app.database.url,
  REDIS_URL: inject('redisUrl'),
  BULL_PREFIX: app.prefix,
  HOST: '127.0.0.1',
  PORT: String(port),
  LOG_LEVEL: 'info',
  DATA_DIR: dataDir,
});
