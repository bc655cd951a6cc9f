import { parseArgs } from 'node:util';
import { prepareServices } from '../boot.js';
import { loadConfig } from '../config.js';
import { createDb } from '../db/knex.js';
import { migrateLatest, migrateRollbackAll } from '../db/migrate.js';
import { createApiKey, revokeApiKey, SCOPES, type Scope } from '../http/auth.js';
import { createLogger } from '../logger.js';

const USAGE = `usage: npm run cli -- <command>

  keys create --scope <admin|write|read> [--scope …] [--name <name>]
                               make an API key; the key alone is printed on the last line
  keys list                    list keys (never the keys themselves)
  keys revoke <id>             revoke a key
  migrate                      apply pending migrations
  migrate:rollback-all         undo every migration (destroys data)
`;

async function main(argv: string[]): Promise<number> {
  const [command, sub, ...rest] = argv;
  if (!command || command === 'help' || command === '--help') {
    console.log(USAGE);
    return command ? 0 : 1;
  }
  const config = loadConfig();
  const log = createLogger(process.env.LOG_LEVEL ?? 'warn');
  const services = await prepareServices(config, log);
  const db = createDb({ url: services.databaseUrl, poolMax: 2 });
  try {
    if (command === 'keys' && sub === 'create') {
      const { values } = parseArgs({ args: rest, options: { scope: { type: 'string', multiple: true }, name: { type: 'string' } } });
      const scopes = (values.scope ?? []).flatMap((s) => s.split(','));
      const bad = scopes.filter((s) => !SCOPES.includes(s as Scope));
      if (scopes.length === 0 || bad.length > 0) {
        console.error(`--scope must be one of ${SCOPES.join(', ')}${bad.length ? ` (got ${bad.join(', ')})` : ''}`);
        return 2;
      }
      const created = await createApiKey(db, { name: values.name ?? `cli ${new Date().toISOString()}`, scopes: scopes as Scope[], now: new Date() });
      console.log(`created key ${created.id} with scopes ${created.scopes.join(',')}; store it now, it is not shown again:`);
      console.log(created.key);
      return 0;
    }
    if (command === 'keys' && sub === 'list') {
      const rows = (await db('api_keys').select('id', 'name', 'prefix', 'scopes', 'created_at', 'last_used_at', 'revoked_at').orderBy('created_at')) as Array<Record<string, unknown>>;
      for (const row of rows) console.log(JSON.stringify(row));
      return 0;
    }
    if (command === 'keys' && sub === 'revoke') {
      const id = rest[0];
      if (!id) {
        console.error('keys revoke <id>');
        return 2;
      }
      const revoked = await revokeApiKey(db, id, new Date());
      console.log(revoked ? `revoked ${id}` : `no live key ${id}`);
      return revoked ? 0 : 1;
    }
    if (command === 'migrate') {
      const applied = await migrateLatest(db);
      console.log(applied.length ? `applied: ${applied.join(', ')}` : 'already up to date');
      return 0;
    }
    if (command === 'migrate:rollback-all') {
      const undone = await migrateRollbackAll(db);
      console.log(`rolled back: ${undone.join(', ') || 'nothing'}`);
      return 0;
    }
    console.error(USAGE);
    return 2;
  } finally {
    await db.destroy();
    // a Redis or Postgres the CLI started for itself is stopped again
    await services.stop();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  },
);
