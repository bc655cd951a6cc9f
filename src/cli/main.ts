import { userInfo } from 'node:os';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { prepareServices } from '../boot.js';
import { directDatabaseUrl, loadConfig, productionProblems } from '../config.js';
import { createDb, type Executor } from '../db/knex.js';
import { listApiKeys } from '../db/repositories/api-keys.js';
import { insertAuditEvent } from '../db/repositories/audit.js';
import { archivedMonths, livePartitions } from '../db/repositories/history.js';
import { auditedRequest } from '../domain/audit-request.js';
import { monthOfPartition } from '../domain/history.js';
import { parseInstant } from '../domain/period.js';
import { createApiKey, revokeApiKey, SCOPES, type Scope } from '../http/auth.js';
import { isUuid } from '../ids.js';
import { createLogger } from '../logger.js';
import { nameSchema } from '../schemas/common.js';

/**
 * What only some commands need is imported by them (below, `await import`): the queues, workers and scheduler
 * cost `run-nightly` alone, and loading every module took any command 2–3 s of CPU before its first query.
 */
const USAGE = `usage: npm run cli -- <command>

  keys create --scope <admin|write|read> [--scope …] [--name <name>]
                               make an API key; the key alone is printed on the last line
  keys list                    list keys (never the keys themselves)
  keys revoke <id>             revoke a key
  migrate                      apply pending migrations
  migrate:rollback-all         undo every migration (destroys data)
  verify                       check every invariant of DOMAIN.md; exit 1 when any is violated
  run-nightly [--as-of <time>] [--no-workers]
                               run the nightly sweep (renewals, expiry, events, reports, verify) as of
                               a time (YYYY-MM-DD is midnight in BUSINESS_TZ; default now), with
                               workers in this process unless --no-workers, and wait for it
  archive-month <YYYY-MM>      archive a month of history (UTC; the oldest live one, ended): record each
                               balance's closing sums, detach the month's partitions of ledger_entries and
                               consumption_allocations (kept as tables for export; see README "Archiving")
  history                      list the live partitions and the archived months
  forget-completed-jobs        remove the completed jobs BullMQ keeps (an hour at most) from every queue:
                               after Postgres is restored from a backup, so that jobs sent again run (see
                               README "Restoring Postgres from a backup")
`;

/** The account the process runs as, when no USER says it (a container's `USER node` sets none). */
function systemUser(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}

/**
 * A key made or revoked here is in the audit trail like one made through the API (origin `cli`): no key
 * acted, so the actor is the operating-system user who ran the command.
 */
async function recordCli(tx: Executor, action: string, target: string, request: unknown, status: number) {
  await insertAuditEvent(tx, {
    at: new Date(),
    actor_key_id: null,
    actor_name: `cli:${process.env.USER || process.env.USERNAME || systemUser()}`,
    origin: 'cli',
    action,
    target_id: target.slice(0, 200),
    request: auditedRequest(request),
    status,
    request_id: null,
  });
}

/** What node:util's parseArgs throws for arguments it cannot read (its codes ERR_PARSE_ARGS_…). */
const isArgumentError = (error: unknown): error is Error =>
  error instanceof Error && String((error as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS_');

async function main(argv: string[]): Promise<number> {
  const [command, sub, ...rest] = argv;
  if (!command || command === 'help' || command === '--help') {
    console.log(USAGE);
    return command ? 0 : 1;
  }
  const config = loadConfig();
  // as the service refuses (src/main.ts): a missing URL would make the key or run the sweep somewhere else
  const refused = productionProblems(config);
  if (refused.length > 0) {
    for (const line of refused) console.error(`refusing to run: ${line}`);
    return 2;
  }
  // stdout is the command's answer (a key, JSON lines, the nightly's JSON) for scripts to read; logs go to stderr
  const log = createLogger(process.env.LOG_LEVEL ?? 'warn', 'credits', pino.destination({ fd: 2, sync: true }));
  // `migrate` is run to bring the schema: not refused for being behind (MIGRATE=off), nor migrated before it
  // looks (MIGRATE=on), which made it answer "already up to date" after applying everything
  const migrating = command === 'migrate' || command === 'migrate:rollback-all';
  const services = await prepareServices(config, log, migrating ? 'leave' : 'as-configured');
  // behind PgBouncer (PGBOUNCER=true) no statement_timeout startup parameter: it refuses the connection
  const db = createDb({
    url: services.databaseUrl,
    poolMax: 2,
    ...(config.PGBOUNCER ? { statementTimeoutMs: null } : {}),
  });
  // migrations take a session of their own (knex's lock, DDL): Postgres itself, not a transaction pooler
  const direct = () => createDb({ url: directDatabaseUrl(config, services.databaseUrl), poolMax: 1 });
  try {
    if (command === 'keys' && sub === 'create') {
      const { values } = parseArgs({
        args: rest,
        options: { scope: { type: 'string', multiple: true }, name: { type: 'string' } },
      });
      const scopes = (values.scope ?? []).flatMap((s) => s.split(','));
      const bad = scopes.filter((s) => !SCOPES.includes(s as Scope));
      if (scopes.length === 0 || bad.length > 0) {
        console.error(`--scope must be one of ${SCOPES.join(', ')}${bad.length ? ` (got ${bad.join(', ')})` : ''}`);
        return 2;
      }
      // what POST /v1/api-keys refuses, refused here too: a key named "" or past 200 characters, a scope twice
      if (new Set(scopes).size !== scopes.length) {
        console.error(`--scope: each scope once (got ${scopes.join(', ')})`);
        return 2;
      }
      const name = nameSchema.safeParse(values.name ?? `cli ${new Date().toISOString()}`);
      if (!name.success) {
        console.error(`--name ${name.error.issues[0]?.message ?? 'is not a name'} (1–200 characters)`);
        return 2;
      }
      const input = { name: name.data, scopes: scopes as Scope[] };
      // the key and its line in the audit trail are one transaction
      const created = await db.transaction(async (tx) => {
        const made = await createApiKey(tx, { ...input, now: new Date() });
        await recordCli(tx, 'keys create', made.id, input, 201);
        return made;
      });
      console.log(
        `created key ${created.id} with scopes ${created.scopes.join(',')}; store it now, it is not shown again:`,
      );
      console.log(created.key);
      return 0;
    }
    if (command === 'keys' && sub === 'list') {
      const rows = await listApiKeys(db);
      for (const row of rows) console.log(JSON.stringify(row));
      return 0;
    }
    if (command === 'keys' && sub === 'revoke') {
      const id = rest[0];
      if (!id) {
        console.error('keys revoke <id>');
        return 2;
      }
      const revoked = await db.transaction(async (tx) => {
        const done = isUuid(id) && (await revokeApiKey(tx, id, new Date()));
        await recordCli(tx, 'keys revoke', id, {}, done ? 200 : 404);
        return done;
      });
      console.log(revoked ? `revoked ${id}` : `no live key ${id}`);
      return revoked ? 0 : 1;
    }
    if (command === 'migrate') {
      const { migrateLatest } = await import('../db/migrate.js');
      const migrations = direct();
      const applied = await migrateLatest(migrations).finally(() => migrations.destroy());
      console.log(applied.length ? `applied: ${applied.join(', ')}` : 'already up to date');
      return 0;
    }
    if (command === 'migrate:rollback-all') {
      const { migrateRollbackAll } = await import('../db/migrate.js');
      const migrations = direct();
      const undone = await migrateRollbackAll(migrations).finally(() => migrations.destroy());
      console.log(`rolled back: ${undone.join(', ') || 'nothing'}`);
      return 0;
    }
    if (command === 'verify') {
      const { verifyInvariants } = await import('../services/verify.js');
      const report = await verifyInvariants(db);
      console.log(
        `checked ${report.checked.balances} balances, ${report.checked.consumptions} consumptions, ` +
          `${report.checked.invoices} invoices`,
      );
      for (const v of report.violations) console.log(`VIOLATION ${v.invariant} — ${v.subject}: ${v.detail}`);
      if (report.violationCount > report.violations.length)
        console.log(`… and ${report.violationCount - report.violations.length} more`);
      console.log(report.ok ? 'ok: every invariant holds' : `FAILED: ${report.violationCount} violation(s)`);
      return report.ok ? 0 : 1;
    }
    if (command === 'archive-month') {
      if (!sub) {
        console.error('archive-month <YYYY-MM>');
        return 2;
      }
      const { archiveMonth } = await import('../services/archive.js');
      const archived = await archiveMonth(db, sub, new Date());
      if (!archived.ok) {
        console.error(`not archived (${archived.code}): ${archived.detail}`);
        return archived.code === 'validation_failed' ? 2 : 1;
      }
      const a = archived.value;
      console.log(
        `archived ${a.month}: ${a.ledger_entries} ledger entries in table ${a.ledger_table}, ${a.allocations} ` +
          `allocations in table ${a.allocations_table} (detached: export them, then drop them when you wish), ` +
          `${a.checkpoints} balance checkpoints recorded`,
      );
      return 0;
    }
    if (command === 'history') {
      // one calendar, oldest first: the archived months, then the live ones (archiving goes oldest first), each
      // table's DEFAULT partition (no month) last
      const lines = [
        ...(await archivedMonths(db)).map((a) => ({
          at: a.month.getTime(),
          line:
            `archived  ${a.month.toISOString().slice(0, 7)}: ${a.ledger_table} (${a.ledger_entries} entries), ` +
            `${a.allocations_table} (${a.allocations} allocations), at ${a.archived_at.toISOString()}`,
        })),
        ...(await livePartitions(db)).map((p) => ({
          at: monthOfPartition(p.partition)?.start.getTime() ?? Number.POSITIVE_INFINITY,
          line: `live      ${p.table}: ${p.partition}`,
        })),
      ];
      // a stable sort: the live partitions of one month keep their order (the ledger's first)
      for (const { line } of lines.sort((a, b) => a.at - b.at)) console.log(line);
      return 0;
    }
    if (command === 'forget-completed-jobs') {
      const [{ createRedis }, { closeQueues, createQueues }, { QUEUE_NAMES }] = await Promise.all([
        import('../queue/redis.js'),
        import('../queue/queues.js'),
        import('../queue/names.js'),
      ]);
      const redis = createRedis({ url: services.redisUrl, clusterNodes: config.REDIS_CLUSTER_NODES }, 'producer');
      const queues = createQueues(redis, config.BULL_PREFIX);
      try {
        for (const name of QUEUE_NAMES) {
          let removed = 0;
          // a thousand at a time: one call over a large set would hold Redis for as long
          for (;;) {
            const batch = await queues[name].clean(0, 1_000, 'completed');
            removed += batch.length;
            if (batch.length < 1_000) break;
          }
          console.log(`${name}: ${removed} completed job(s) removed`);
        }
        await recordCli(db, 'forget-completed-jobs', config.BULL_PREFIX, {}, 200);
        return 0;
      } finally {
        await closeQueues(queues);
        redis.disconnect();
      }
    }
    if (command === 'run-nightly') {
      const { values } = parseArgs({
        args: [sub, ...rest].filter((a): a is string => a !== undefined),
        options: { 'as-of': { type: 'string' }, 'no-workers': { type: 'boolean' } },
      });
      // `--as-of=` (empty) is a time given wrong, not none: refused, never run as of now
      const asOf = values['as-of'] !== undefined ? parseInstant(values['as-of'], config.BUSINESS_TZ) : new Date();
      if (!asOf) {
        console.error('--as-of must be YYYY-MM-DD or an RFC 3339 time with an offset');
        return 2;
      }
      const [
        { ManualClock, systemClock },
        { openOutcomeListeners },
        { createRuntime },
        { runNightly },
        { startWorkers },
        { untilReady },
      ] = await Promise.all([
        import('../clock.js'),
        import('../commands/index.js'),
        import('../runtime.js'),
        import('../scheduler/nightly.js'),
        import('../workers/index.js'),
        import('../queue/redis.js'),
      ]);
      const runtime = createRuntime({
        config,
        databaseUrl: services.databaseUrl,
        redisUrl: services.redisUrl,
        log,
        clock: values['as-of'] !== undefined ? new ManualClock(asOf) : systemClock,
      });
      // the sweep enqueues on a producer connection, which fails a command while it is still connecting (no offline
      // queue): waited for, as a service waits before it starts its roles (src/roles.ts) — without it
      // `--no-workers`, which starts nothing first, failed at once ("Stream isn't writeable")
      await untilReady(runtime.ctx.redis, 5_000);
      const workers = values['no-workers'] ? undefined : await startWorkers(runtime.ctx);
      try {
        await openOutcomeListeners(runtime.ctx, ['renewal', 'maintenance', 'reports']);
        const report = await runNightly(runtime.ctx, asOf);
        console.log(JSON.stringify(report, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2));
        const failed = report.phases.some((p) => p.failed.length > 0);
        const verify = report.verify as { ok?: boolean } | undefined;
        return failed || verify?.ok === false ? 1 : 0;
      } finally {
        await workers?.close();
        await runtime.close();
      }
    }
    console.error(USAGE);
    return 2;
  } catch (error) {
    // an unknown option, an option without its value, an argument where none is taken: a usage error (exit 2, as a
    // bad --scope or --as-of is), not exit 1, which `verify` and `run-nightly` answer when they find a problem
    if (isArgumentError(error)) {
      console.error(`${error.message}\n\n${USAGE}`);
      return 2;
    }
    throw error;
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
