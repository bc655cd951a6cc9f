import type { AppContext } from '../../app-context.js';
import { enqueue } from '../../commands/index.js';
import { clientsByIds } from '../../db/repositories/clients.js';
import { creditTypesByIds } from '../../db/repositories/credit-types.js';
import { packagesByIds } from '../../db/repositories/packages.js';
import { latestReportRuns, type ReportRunRow } from '../../db/repositories/reports.js';
import type { FieldProblem } from '../../domain/result.js';
import { isUuid } from '../../ids.js';
import { APPLIES, GROUPINGS, REPORT_TYPES, type ReportType, type StoredParams } from '../../reports/params.js';
import { createReportRun, reportRequest } from '../../reports/service.js';
import { zodProblems } from '../../schemas/problems.js';
import { type Html, html, path } from '../html.js';
import { badge, csrfField, notice, page, type UiContext, when } from '../layout.js';

const DESCRIPTIONS: Record<ReportType, string> = {
  consumption: 'units consumed per day/week/month per credit type, optionally per client or package',
  renewals: 'new subscriptions, renewals, recharges, expirations and their revenue per period',
  top_packages: 'the most requested packages (new + renewals) in a range, with revenue',
  subscriptions: "subscriptions per status and package; each one's period, days left, depleted or not",
  balances:
    'per subscription and credit type: granted, consumed, remaining (usable now), unavailable, upcoming, ' +
    'expired, % used',
  expiring: 'balances and subscriptions expiring in the next N days, with what remains',
};

const FIELDS = ['from', 'to', 'group_by', 'per', 'days_ahead', 'client', 'package', 'credit_type'] as const;
type Field = (typeof FIELDS)[number];
export type ReportForm = Partial<Record<Field | 'type' | 'format', string>>;

const size = (bytes: bigint | null): string => {
  if (bytes === null) return '—';
  const n = Number(bytes);
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
};

/** A run's params as a person reads them: days in the business zone, codes instead of ids. */
async function describeParams(app: AppContext, runs: readonly ReportRunRow[]): Promise<Map<string, string>> {
  // a run that failed before its params were resolved keeps what it was sent: only ids are looked up
  const ids = (pick: (p: ReportRunRow['params']) => unknown) => [
    ...new Set(runs.map((r) => pick(r.params)).filter((v): v is string => typeof v === 'string' && isUuid(v))),
  ];
  const clients = await clientsByIds(
    app.db,
    ids((p) => p.client),
  );
  const creditTypes = await creditTypesByIds(
    app.db,
    ids((p) => p.credit_type),
  );
  const packageIds = ids((p) => p.package);
  const packages = new Map((await packagesByIds(app.db, packageIds)).map((p) => [p.id, p.code]));
  const tz = app.config.BUSINESS_TZ;
  return new Map(
    runs.map((r) => {
      // resolved params (a run that failed before resolving keeps what it was sent: only known fields show)
      const p = r.params as Partial<StoredParams>;
      const parts: string[] = [];
      if (p.from && p.to) parts.push(`${when(p.from, tz)} → ${when(p.to, tz)}`);
      if (p.as_of) parts.push(`as of ${when(p.as_of, tz)}`);
      if (p.group_by) parts.push(`by ${p.group_by}`);
      if (p.per) parts.push(`per ${p.per}`);
      if (p.days_ahead) parts.push(`${p.days_ahead} days ahead`);
      if (p.client) parts.push(`client ${clients.get(p.client)?.external_ref ?? p.client}`);
      if (p.package) parts.push(`package ${packages.get(p.package) ?? p.package}`);
      if (p.credit_type) parts.push(`credit type ${creditTypes.get(p.credit_type)?.code ?? p.credit_type}`);
      return [r.id, parts.join(' · ')];
    }),
  );
}

export async function reportsPage(
  ctx: UiContext,
  state: { form?: ReportForm; errors?: FieldProblem[]; detail?: string } = {},
): Promise<Html> {
  const { app } = ctx;
  const runs = await latestReportRuns(app.db, 30);
  const described = await describeParams(app, runs);
  const busy = runs.some((r) => r.status === 'queued' || r.status === 'running');
  const tz = app.config.BUSINESS_TZ;
  const form = state.form ?? {};
  const errorOf = (field: string) =>
    state.errors?.find((e) => e.field === field || e.field === `params.${field}`)?.message;
  const problem = (field: string) => (errorOf(field) ? html`<span class="notice error">${errorOf(field)}</span>` : '');
  const input = (field: Field, label: string, type: string, placeholder = '') => {
    const dir = type === 'text' ? html` dir="auto"` : '';
    return html`<label>${label}<input type="${type}" name="${field}" value="${form[field] ?? ''}"
      placeholder="${placeholder}"${dir}>${problem(field)}</label>`;
  };
  const select = (field: Field | 'type' | 'format', label: string, options: readonly string[], blank?: string) => {
    const none = blank !== undefined ? html`<option value="">${blank}</option>` : '';
    const choices = options.map(
      (o) => html`<option value="${o}"${form[field] === o ? html` selected` : ''}>${o}</option>`,
    );
    return html`<label>${label}<select name="${field}">${none}${choices}</select>${problem(field)}</label>`;
  };
  const intro =
    'Run a report in the background, then download it as CSV or JSON. ' +
    `Days are those of ${tz}; the range defaults to the last 30 days.`;

  return page(
    ctx,
    { title: 'Reports', section: 'reports', ...(busy ? { refreshS: 2 } : {}) },
    html`${busy ? notice(ctx.req) : ''}
<h1>Reports</h1>
<p class="sub">${intro}</p>
<section class="panel" aria-labelledby="run-h">
  <h2 id="run-h">Run a report</h2>
  ${state.detail ? html`<div class="notice error" role="alert">${state.detail}</div>` : ''}
  <form method="post" action="/ui/reports">
    ${csrfField(ctx)}
    <div class="form-grid">
      ${select('type', 'Report', REPORT_TYPES)}
      ${select('format', 'Format', ['csv', 'json'])}
      ${input('from', 'From (day)', 'date')}
      ${input('to', 'To (day, included)', 'date')}
      ${select('group_by', 'Group by', GROUPINGS, 'day')}
      ${select('per', 'Per', ['client', 'package'], '—')}
      ${input('days_ahead', 'Days ahead', 'number', String(app.config.EXPIRING_SOON_DAYS))}
      ${input('client', 'Client', 'text', 'id or external ref')}
      ${input('package', 'Package', 'text', 'id or code')}
      ${input('credit_type', 'Credit type', 'text', 'id or code')}
      <div><button type="submit">Run report</button></div>
    </div>
  </form>
  <table class="legend">
    <tbody>${REPORT_TYPES.map(
      (t) => html`<tr>
      <td><strong>${t}</strong></td>
      <td>${DESCRIPTIONS[t]}</td>
      <td class="muted">takes ${APPLIES[t].join(', ')}</td>
    </tr>`,
    )}</tbody>
  </table>
</section>
<section class="panel" aria-labelledby="runs-h">
  <h2 id="runs-h">Latest runs</h2>
  ${
    runs.length === 0
      ? html`<p class="empty">No report has been run yet.</p>`
      : html`<div class="scroll"><table>
    <thead><tr>
      <th>Asked</th><th>Report</th><th>Params</th><th>Format</th><th>By</th><th>Status</th>
      <th class="num">Rows</th><th class="num">Size</th><th></th>
    </tr></thead>
    <tbody>${runs.map((r) => {
      const download =
        r.status === 'done'
          ? html`<a class="download" href="${path`/ui/reports/${r.id}/download`}" download>Download</a>`
          : '';
      return html`<tr data-report="${r.id}">
      <td class="nowrap">${when(r.created_at, tz)}</td><td><strong>${r.type}</strong></td>
      <td class="muted">${described.get(r.id) ?? ''}</td><td>${r.format}</td><td>${r.trigger}</td>
      <td>${badge(r.status)}${r.status === 'failed' && r.error ? html` <span class="muted">${r.error}</span>` : ''}</td>
      <td class="num">${r.row_count ?? '—'}</td><td class="num">${size(r.byte_size)}</td>
      <td>${download}</td>
    </tr>`;
    })}</tbody>
  </table></div>`
  }
</section>`,
  );
}

const formValue = (body: Record<string, unknown>, key: string): string | undefined => {
  const value = body[key];
  return typeof value === 'string' && value.trim() !== '' ? value.trim().slice(0, 200) : undefined;
};

/**
 * The form posted: only the fields that apply to the chosen report are sent on (the form shows
 * them all), through the same checks and service as POST /v1/reports.
 */
export async function runReportFromForm(
  ctx: UiContext,
  body: Record<string, unknown>,
): Promise<{ ok: true } | { ok: false; form: ReportForm; errors: FieldProblem[]; detail: string }> {
  const form: ReportForm = {};
  for (const key of [...FIELDS, 'type', 'format'] as const) {
    const value = formValue(body, key);
    if (value !== undefined) form[key] = value;
  }
  const type = (REPORT_TYPES as readonly string[]).includes(form.type ?? '') ? (form.type as ReportType) : undefined;
  const params: Record<string, string> = {};
  if (type)
    for (const field of FIELDS)
      if (form[field] !== undefined && (APPLIES[type] as readonly string[]).includes(field))
        params[field] = form[field]!;
  const parsed = reportRequest.safeParse({ type: form.type, format: form.format ?? 'csv', params });
  if (!parsed.success) {
    const errors = zodProblems(parsed.error);
    return { ok: false, form, errors, detail: errors.map((e) => `${e.field}: ${e.message}`).join('; ') };
  }
  const created = await createReportRun(ctx.app.db, ctx.app, parsed.data, { trigger: 'ui' });
  if (!created.ok) return { ok: false, form, errors: created.errors ?? [], detail: created.detail };
  await enqueue(ctx.app, [created.value.job]);
  return { ok: true };
}
