import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

/**
 * PGBOUNCER=true: DATABASE_URL is a PgBouncer in transaction pooling, and what needs Postgres itself (creating
 * the database, migrations, the schema check, LISTEN) goes to DATABASE_DIRECT_URL. Without it all of that went to
 * the pooler, and the process died at start with a pg stack trace ("no such database: postgres", or "unsupported
 * startup parameter: statement_timeout"); the start now names the variable, as for any bad setting.
 */
describe('PGBOUNCER', () => {
  const pooled = 'postgres://app@pgbouncer:6432/credits';
  it('true needs DATABASE_DIRECT_URL, named in the refusal', () => {
    expect(() => loadConfig({ PGBOUNCER: 'true', DATABASE_URL: pooled })).toThrow(ConfigError);
    expect(() => loadConfig({ PGBOUNCER: 'true', DATABASE_URL: pooled })).toThrow(
      /DATABASE_DIRECT_URL: PGBOUNCER=true needs it/,
    );
  });
  it('true with DATABASE_DIRECT_URL, or false without it, is accepted', () => {
    const direct = 'postgres://app@db:5432/credits';
    expect(loadConfig({ PGBOUNCER: 'true', DATABASE_URL: pooled, DATABASE_DIRECT_URL: direct })).toMatchObject({
      PGBOUNCER: true,
      DATABASE_DIRECT_URL: direct,
    });
    expect(loadConfig({ DATABASE_URL: pooled }).PGBOUNCER).toBe(false);
  });
});

/**
 * BullMQ's scripts touch several keys of a queue at once; a Redis Cluster runs them only when every key hashes to
 * one slot, which the prefix's hash tag (`{…}`) ensures. Without one every job failed with CROSSSLOT at runtime.
 */
describe('BULL_PREFIX with REDIS_CLUSTER_NODES', () => {
  const nodes = '10.0.0.1:6379,10.0.0.2:6379';
  it('needs a hash tag, named in the refusal', () => {
    for (const prefix of ['credits', 'credits{', '{}credits', 'credits}{x'])
      expect(() => loadConfig({ REDIS_CLUSTER_NODES: nodes, BULL_PREFIX: prefix }), prefix).toThrow(
        /BULL_PREFIX: a Redis Cluster needs a hash tag/,
      );
  });
  it('accepts a prefix with one, and any prefix on a single Redis', () => {
    expect(loadConfig({ REDIS_CLUSTER_NODES: nodes }).BULL_PREFIX).toBe('{credits}');
    expect(loadConfig({ REDIS_CLUSTER_NODES: nodes, BULL_PREFIX: 'app:{credits}' }).BULL_PREFIX).toBe('app:{credits}');
    expect(loadConfig({ BULL_PREFIX: 'credits' }).BULL_PREFIX).toBe('credits');
  });
});

/** NIGHTLY_REPORTS: which report types the nightly run makes; a misspelt type stops the start, named. */
describe('NIGHTLY_REPORTS', () => {
  it('is every type by default or with all, none with none, and a list in the types’ own order', () => {
    const every = ['subscriptions', 'balances', 'consumption', 'renewals', 'top_packages', 'expiring'];
    expect(loadConfig({}).NIGHTLY_REPORTS).toEqual(every);
    expect(loadConfig({ NIGHTLY_REPORTS: ' all ' }).NIGHTLY_REPORTS).toEqual(every);
    expect(loadConfig({ NIGHTLY_REPORTS: 'none' }).NIGHTLY_REPORTS).toEqual([]);
    expect(loadConfig({ NIGHTLY_REPORTS: 'consumption, balances' }).NIGHTLY_REPORTS).toEqual([
      'balances',
      'consumption',
    ]);
  });
  it('refuses a type it does not know, naming it', () => {
    expect(() => loadConfig({ NIGHTLY_REPORTS: 'balances,balance' })).toThrow(
      /NIGHTLY_REPORTS: all, none, or report types separated by commas .*; not "balance"/,
    );
    expect(() => loadConfig({ NIGHTLY_REPORTS: '' })).toThrow(/NIGHTLY_REPORTS/);
  });
});

/**
 * The connection URLs: `z.url()` alone took any scheme, so `REDIS_URL=redis-host:6379` (scheme `redis-host:`, no
 * host) started and connected to the Redis on 127.0.0.1, `DATABASE_URL=db:5432/credits` failed at the first query
 * with a confusing error, and `redis://host/abc` failed every command (`SELECT NaN`). The start now names the variable.
 */
describe('DATABASE_URL, DATABASE_DIRECT_URL, REPORTS_DATABASE_URL, REDIS_URL', () => {
  it('refuses a URL without its scheme, or another service’s', () => {
    for (const name of ['DATABASE_URL', 'DATABASE_DIRECT_URL', 'REPORTS_DATABASE_URL'])
      for (const value of ['db-host:5432/credits', 'localhost:5432', 'mysql://app@db/credits', 'redis://db:5432'])
        expect(() => loadConfig({ [name]: value }), `${name}=${value}`).toThrow(
          new RegExp(`${name}: not a Postgres URL: it must start with postgres:// or postgresql://`),
        );
    for (const value of ['redis-host:6379', 'localhost:6379', 'http://redis:6379', 'postgres://redis:6379'])
      expect(() => loadConfig({ REDIS_URL: value }), value).toThrow(/REDIS_URL: not a Redis URL/);
  });
  it('refuses a Redis database that is not a number, without echoing the credentials', () => {
    const refused = () => loadConfig({ REDIS_URL: 'redis://:s3cret@redis:6379/credits' });
    expect(refused).toThrow(/REDIS_URL: the path names the database by its number \(e\.g\. \/0\), not \/credits/);
    expect(refused).not.toThrow(/s3cret/);
  });
  it('accepts the URLs the clients read', () => {
    for (const value of ['postgres://app:pw@db:5432/credits', 'postgresql://db/credits', 'postgres:///credits'])
      expect(loadConfig({ DATABASE_URL: value }).DATABASE_URL).toBe(value);
    for (const value of ['redis://redis:6379', 'redis://redis:6379/', 'redis://:pw@redis/2', 'rediss://redis:6380/15'])
      expect(loadConfig({ REDIS_URL: value }).REDIS_URL).toBe(value);
  });
});

/**
 * A number set but empty (`PORT=` in an env file, compose's `PORT: ${PORT}` with nothing behind it) was coerced to
 * 0: the API listened on a random port while the probes knocked at 3000, `?wait=true` never waited, and a
 * SHUTDOWN_TIMEOUT_MS of 0 was refused as "too small" — far from the cause. Empty is now refused, named.
 */
describe('numeric settings', () => {
  it('refuse an empty or blank value, naming the variable', () => {
    for (const name of ['PORT', 'WAIT_TIMEOUT_MS', 'ACCEPT_BATCH_WAIT_MS', 'API_KEY_CACHE_MS'])
      for (const value of ['', '  '])
        expect(() => loadConfig({ [name]: value }), `${name}=${JSON.stringify(value)}`).toThrow(
          new RegExp(`${name}: empty: give a whole number, or unset it for the default`),
        );
  });
  it('take a number, or the default when unset', () => {
    expect(loadConfig({}).PORT).toBe(3000);
    expect(loadConfig({ PORT: '0' }).PORT).toBe(0);
    expect(loadConfig({ PORT: ' 8080 ' }).PORT).toBe(8080);
    expect(loadConfig({ WAIT_TIMEOUT_MS: '0' }).WAIT_TIMEOUT_MS).toBe(0);
    expect(() => loadConfig({ PORT: '80.5' })).toThrow(/PORT/);
    expect(() => loadConfig({ PORT: 'http' })).toThrow(/PORT/);
  });
});

/**
 * BODY_LIMIT went to body-parser unchecked: "2m" (for 2 MB) was read as 2 bytes, so every API call with a body was
 * answered 413, and a word ("lots") stopped the start with a TypeError stack trace after the migrations had run.
 */
describe('BODY_LIMIT', () => {
  it('refuses what is not a size above 0, naming the variable', () => {
    for (const value of ['2m', '2 megabytes', 'lots', '0', '0kb', '-1mb', '1tb', ''])
      expect(() => loadConfig({ BODY_LIMIT: value }), JSON.stringify(value)).toThrow(
        /BODY_LIMIT: a size in bytes, kb, mb or gb above 0/,
      );
  });
  it('takes bytes, kb, mb and gb, 2mb when unset', () => {
    expect(loadConfig({}).BODY_LIMIT).toBe('2mb');
    for (const value of ['2mb', '512kb', '100', '512b', '1.5MB', '1gb'])
      expect(loadConfig({ BODY_LIMIT: value }).BODY_LIMIT, value).toBe(value);
    expect(loadConfig({ BODY_LIMIT: ' 64kb ' }).BODY_LIMIT).toBe('64kb');
  });
});
