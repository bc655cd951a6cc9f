import { afterAll, afterEach } from 'vitest';
import { NO_NIGHTLY_REPORTS, startTestApp, type TestApp } from './app.js';
import { recyclingDatabase } from './database.js';
import { closeVerified, expectEventsMatchSchemas } from './http-steps.js';

/**
 * A service of its own for each test (api and worker, no nightly reports unless asked), on one database per file
 * emptied between tests (recyclingDatabase): after each test the verify route must find no violation, then the
 * service stops; with `eventsMatchSchemas`, every event the test recorded must first match its published schema.
 * Call it at the top of a test file: it registers the file's afterEach and afterAll.
 */
export function appPerTest(options: { eventsMatchSchemas?: boolean } = {}): {
  /** Starts this test's service at `now`, with `env` over the defaults. */
  start(now: string, env?: Record<string, string>): Promise<void>;
  /** This test's service (throws before `start`). */
  current(): TestApp;
} {
  let app: TestApp | undefined;
  const databases = recyclingDatabase();
  afterAll(() => databases.drop());
  afterEach(async () => {
    const closing = app;
    app = undefined;
    if (!closing) return;
    if (options.eventsMatchSchemas) await expectEventsMatchSchemas(closing);
    await closeVerified(closing);
  });
  return {
    start: async (now, env = {}) => {
      app = await startTestApp({
        database: await databases.next(),
        roles: ['api', 'worker'],
        now,
        env: { ...NO_NIGHTLY_REPORTS, ...env },
      });
    },
    current: () => {
      if (!app) throw new Error('no app started');
      return app;
    },
  };
}
