import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * STYLE.md's "shape to grow into", kept by a test rather than by memory: layers point down (http, ui,
 * cli, scheduler, workers, producer → commands/jobs → domain + db), domain rules do no I/O, and SQL
 * lives under src/db (its drivers are imported nowhere else, but for the few places named below).
 */
const srcFiles = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return srcFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });

/** Every import of every file under src/, as `src/…` paths for the project's own modules. */
const imports = srcFiles('src').map((file) => {
  const text = readFileSync(file, 'utf8');
  const targets = [...text.matchAll(/^\s*(?:import|export)\s[^;]*?from\s+'([^']+)'/gms)].map((m) => {
    const spec = m[1]!;
    return spec.startsWith('.') ? path.join(path.dirname(file), spec).replace(/\.js$/, '') : spec;
  });
  return { file, targets };
});

const PRODUCER_PURE = ['contracts', 'exact-number', 'report-types', 'storable-text', 'schemas', 'job-id'];

const under = (dirs: readonly string[]) => (p: string) => dirs.some((d) => p === d || p.startsWith(`${d}/`));
const violations = (from: (file: string) => boolean, forbidden: (target: string) => boolean): string[] =>
  imports.flatMap(({ file, targets }) =>
    from(file) ? targets.filter(forbidden).map((target) => `${file} → ${target}`) : [],
  );

describe('layers', () => {
  it('finds the imports it checks (a parser that found nothing would pass every rule)', () => {
    const all = imports.flatMap((i) => i.targets);
    expect(all.length).toBeGreaterThan(1_000);
    expect(all).toContain('src/db/knex');
  });

  it('nothing below the edge imports http/, ui/, admin/ or cli/', () => {
    const edge = under(['src/http', 'src/ui', 'src/admin', 'src/cli']);
    // the composition root builds every layer and the context that carries them (the API key cache among them)
    const root = ['src/main.ts', 'src/roles.ts', 'src/runtime.ts', 'src/app-context.ts'];
    const entry = (file: string) => edge(file) || root.includes(file);
    expect(violations((file) => !entry(file), edge)).toEqual([]);
  });

  it('domain rules import only other domain rules and pure helpers (no I/O)', () => {
    const pure = (target: string) =>
      under(['src/domain'])(target) ||
      ['src/ids', 'src/canonical-json', 'luxon', '@js-temporal/polyfill', 'node:crypto'].includes(target) ||
      // the producer package's pure modules (not its queues nor its Redis connections)
      PRODUCER_PURE.some((name) => target === `@credits/producer/${name}`);
    expect(violations(under(['src/domain']), (target) => !pure(target))).toEqual([]);
  });

  it('the database drivers are imported under src/db only (and where a process probes or traces them)', () => {
    const driver = (target: string) => ['knex', 'pg', 'pg-query-stream'].includes(target);
    // app-context holds the pool's type; infra/services probes Postgres at start; telemetry instruments pg
    const allowed = under(['src/db', 'src/app-context.ts', 'src/infra/services.ts', 'src/telemetry.ts']);
    expect(violations((file) => !allowed(file), driver)).toEqual([]);
  });

  it('the domain, the database and the jobs never import the workers, the scheduler or the API', () => {
    const upper = under(['src/workers', 'src/scheduler', 'src/http', 'src/ui']);
    expect(violations(under(['src/domain', 'src/db', 'src/jobs', 'src/commands']), upper)).toEqual([]);
  });
});
