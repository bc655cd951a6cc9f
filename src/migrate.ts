import { databaseNameOf, migrateDatabase } from './boot.js';
import { ConfigError, loadConfig } from './config.js';
import { ensureDatabase, ensurePostgres, MissingServiceError, withDatabase } from './infra/services.js';
import { createLogger } from './logger.js';

/**
 * `npm run migrate`: the deploy step that brings the database to this code's schema, for services
 * run with MIGRATE=off (each process then only checks the schema). It finds the database as the
 * service does; in production only through DATABASE_URL.
 */
async function main(): Promise<number> {
  const config = loadConfig();
  if (config.NODE_ENV === 'production' && !config.DATABASE_URL) {
    console.error('refusing to migrate: NODE_ENV=production needs DATABASE_URL');
    return 2;
  }
  const log = createLogger(config.LOG_LEVEL);
  const adapter = { info: (m: string) => log.info(m), warn: (m: string) => log.warn(m) };
  const postgres = await ensurePostgres({ url: config.DATABASE_URL, dataDir: config.DATA_DIR, log: adapter });
  try {
    const name = databaseNameOf(config);
    await ensureDatabase(postgres.serverUrl, name);
    const applied = await migrateDatabase(config.DATABASE_URL ?? withDatabase(postgres.serverUrl, name), log);
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
    process.exit(1);
  },
);
