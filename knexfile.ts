import type { Knex } from 'knex';
import { migrationSource } from './migrations/index.js';

/**
 * For the knex CLI (`npm run knex -- migrate:status`). The service itself migrates on start
 * (src/main.ts) with the same migration source.
 */
const config: Knex.Config = {
  client: 'pg',
  connection: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/credits',
  migrations: { migrationSource, tableName: 'knex_migrations' },
};

export default config;
