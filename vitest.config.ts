import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/** The producer package's sources (tsconfig.json `paths` says the same for tsx and tsc). */
const producerSource = fileURLToPath(new URL('./packages/producer/src/', import.meta.url));

/**
 * The files that take longest (fuzz, a year of renewals, chaos, the CLI's processes…), measured in full
 * runs: started first, so that none of them starts last and the suite waits for it alone. A fresh
 * checkout (CI after `npm ci`) has no timing cache of vitest's, which would otherwise order by size.
 */
const LONGEST_FIRST = [
  'test/e2e/deploy-build.test.ts',
  // 88 and 115 s in the two full runs of 2026-12-04 (with reports-large, cancel-ahead and producer-package below:
  // 40–115 s each, until then left to vitest's order)
  'test/e2e/nights-walk.test.ts',
  // 72–102 s in the full runs of 2026-12-04 evening (15–30 s alone), when vitest's order started it late
  'test/e2e/as-of-property.test.ts',
  'test/e2e/fuzz.test.ts',
  'test/browser/ui-a11y.browser.test.ts',
  'test/e2e/production-start.test.ts',
  'test/e2e/reports-large.test.ts',
  'test/e2e/cancel-ahead.test.ts',
  'test/e2e/year.test.ts',
  'test/e2e/producer-package.test.ts',
  'test/e2e/archive.test.ts',
  'test/chaos/chaos.test.ts',
  'test/e2e/cli.test.ts',
  'test/e2e/consume-audit.test.ts',
  'test/e2e/money-audit.test.ts',
  'test/e2e/subscriptions-audit.test.ts',
  'test/e2e/nightly-audit.test.ts',
  'test/chaos/crash-recovery.test.ts',
  'test/e2e/lifecycle-edges.test.ts',
  // 17–28 s each in the suite of 2026-12-04 23:15, started in its last 100 s by vitest's order (no timing cache in CI):
  // the suite waited on them alone at its end
  'test/e2e/roles-observable.test.ts',
  'test/e2e/issue-15-audit.test.ts',
  'test/e2e/pgbouncer-deploy.test.ts',
  'test/e2e/cli-migrate.test.ts',
  'test/browser/ui-setup.browser.test.ts',
  'test/e2e/port-in-use.test.ts',
  'test/browser/ui-workflows.browser.test.ts',
  'test/e2e/ctrl-c.test.ts',
  'test/e2e/cli-production.test.ts',
  // 47 and 28 s in the full runs of 2026-12-06 05:00 (processes one after another), new that session
  'test/e2e/cli-arguments.test.ts',
  'test/e2e/start-leaves-no-servers.test.ts',
];

/** Files that change a process-wide setting for good (enableTracing patches pg and BullMQ): a process of their own. */
const ISOLATED = ['test/e2e/tracing.test.ts'];

class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rank = (file: TestSpecification) => {
      const index = LONGEST_FIRST.findIndex((name) => file.moduleId.endsWith(name));
      return index === -1 ? LONGEST_FIRST.length : index;
    };
    const sorted = await super.sort(files);
    // a stable sort: the rest keeps vitest's own order (failed, then longest, from its cache)
    return sorted
      .map((file, index) => ({ file, index }))
      .sort((a, b) => rank(a.file) - rank(b.file) || a.index - b.index)
      .map(({ file }) => file);
  }
}

export default defineConfig({
  resolve: {
    alias: [
      { find: /^@credits\/producer$/, replacement: `${producerSource}index.ts` },
      { find: /^@credits\/producer\/(.*)$/, replacement: `${producerSource}$1.ts` },
    ],
  },
  test: {
    globalSetup: ['test/setup/global.ts'],
    setupFiles: ['test/setup/cpu-log.ts', 'test/setup/fast-check.ts', 'test/setup/cpu-profile.ts'],
    // every file gets its own database and queue prefix, so files run in parallel safely
    pool: 'forks',
    // A worker process runs file after file without loading the modules again (each file's own set-up starts
    // its own services; the modules hold no state a file leaves behind but tracing's, which is switched on for
    // good: that file is isolated below). Loading the service's modules once per file cost ~4 s a file, and
    // the suite 591 s against 397 s without (2026-12-03, 118 files, one run each).
    isolate: false,
    projects: [
      // each project says which files are its own (an `include` of the root would be added to both)
      { extends: true, test: { name: 'shared', include: ['test/**/*.test.ts'], exclude: ISOLATED } },
      { extends: true, test: { name: 'isolated', include: ISOLATED, isolate: true } },
    ],
    sequence: { sequencer: LongestFirst },
    maxWorkers: 4,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    teardownTimeout: 30_000,
    reporters: ['default'],
  },
});
