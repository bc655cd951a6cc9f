import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

/** The producer package's sources (tsconfig.json `paths` says the same for tsx and tsc). */
const producerSource = fileURLToPath(new URL('./packages/producer/src/', import.meta.url));

export default defineConfig({
  resolve: {
    alias: [
      { find: /^@credits\/producer$/, replacement: `${producerSource}index.ts` },
      { find: /^@credits\/producer\/(.*)$/, replacement: `${producerSource}$1.ts` },
    ],
  },
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/setup/global.ts'],
    setupFiles: ['test/setup/fast-check.ts'],
    // every file gets its own database and queue prefix, so files run in parallel safely
    pool: 'forks',
    maxWorkers: 4,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    teardownTimeout: 30_000,
    reporters: ['default'],
  },
});
