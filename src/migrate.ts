import { databaseNameOf, migrateDatabase } from './boot.js';
import { ConfigError, loadConfig } from './config.js';
import { ensureDatabase, ensurePostgres, MissingServiceError, withDatabase } from './infra/services.js';
import { createLogger } from './logger.js';

/**
 * `npm run migrate`: the deploy step that brings the database to this code's schema, for services
 * run with MIGRATE=off (each process then only checks the schema). It finds the database as the
 * service does (DATABASE_DIRECT_URL when set: Postgres itself, not a pooler); in production only with
 * DATABASE_URL set.
 */
async function main(): Promise<number> {
  const config = loadConfig();
  if (config.NODE_ENV === 'production' && !config.DATABASE_URL) {
    console.error('refusing to migrate: NODE_ENV=production needs DATABASE_URL');
    return 2;
  }
  const log = createLogger(config.LOG_LEVEL);
  const adapter = { info: (m: string) => log.info(m), warn: (m: string) => log.warn(m) };
  // as the service does: behind a pooler (PGBOUNCER=true) the database is made and migrated on Postgres itself
  const server = config.DATABASE_DIRECT_URL ?? config.DATABASE_URL;
  const postgres = await ensurePostgres({ url: server, dataDir: config.DATA_DIR, log: adapter });
  try {
    const name = databaseNameOf({ DATABASE_URL: server });
    await ensureDatabase(postgres.serverUrl, name);
    const applied = await migrateDatabase(server ?? withDatabase(postgres.serverUrl, name), log);
    log.info({ applied }, applied.length > 0 ? 'migrated' : 'the schema was already current');
    return 0;
  } finally {
    await postgres.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof ConfigError || error instanceof MissingServiceError) console.error(error.message);
    else console.error(error);
    // a configuration refused exits 2, as the service's start does (a deploy script tells it from a failure)
    process.exit(error instanceof ConfigError ? 2 : 1);
  },
);
