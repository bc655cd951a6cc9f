import { clientsByIds } from '../../db/repositories/clients.js';
import { creditTypesByIds, listCreditTypes } from '../../db/repositories/credit-types.js';
import { packagesByIds } from '../../db/repositories/packages.js';
import { latestReportRuns, type ReportRunRow } from '../../db/repositories/reports.js';
import type { FieldProblem } from '../../domain/result.js';
import { isUuid } from '../../ids.js';
import {
  APPLIES,
  DEFAULT_RANGE_DAYS,
  GROUPINGS,
  REPORT_TYPES,
  type ReportType,
  type StoredParams,
} from '../../reports/params.js';
import {
  asciiDigits,
  type FieldErrors,
  fieldError,
  idemField,
  invalidAttributes,
  otherFieldMessages,
  submitRoute,
} from '../form.js';
import { code, type Html, html, path } from '../html.js';
import type { MessageKey } from '../i18n/messages/index.js';
import { badge, csrfField, notice, page, type UiContext } from '../layout.js';
import { selectOptions } from '../options.js';
import { failureSays } from '../refusals.js';
import { zoneName } from './overview.js';

const FIELDS = ['from', 'to', 'group_by', 'per', 'days_ahead', 'client', 'package', 'credit_type'] as const;
type Field = (typeof FIELDS)[number];
/** The fields the form has an input for, each showing its own message. */
const SHOWN = [...FIELDS, 'type', 'format'] as const;

export type ReportForm = Partial<Record<Field | 'type' | 'format', string>>;

/** A report the route refused: the form as sent, each field's message, and the refusal when no field says it. */
export interface RefusedReport {
  ok: false;
  form: ReportForm;
  errors: FieldProblem[];
  failure?: { code: string; detail: string };
}

/** The line of a refusal no field says, by its code. */
const REFUSED: Partial<Record<string, MessageKey>> = {
  conflict: 'commerce.refused.conflict',
  not_found: 'commerce.refused.not_found',
  idempotency_conflict: 'setup.error.resent',
  unavailable: 'commerce.refused.unavailable',
  forbidden: 'commerce.refused.forbidden',
};

/** A format's name (CSV, JSON): a technical name, the same in every language. */
const formatName = (format: string): Html => html`<abbr lang="en" dir="ltr">${format.toUpperCase()}</abbr>`;

const groupName = (ctx: UiContext, group: string): Html =>
  (GROUPINGS as readonly string[]).includes(group)
    ? ctx.t(`reports.group.${group as (typeof GROUPINGS)[number]}`)
    : code(group); // a credit type's dimension (consumption by dimension)

const triggerName = (ctx: UiContext, trigger: string): Html =>
  trigger === 'api' || trigger === 'nightly' || trigger === 'ui' ? ctx.t(`reports.trigger.${trigger}`) : code(trigger);

/** A run's params as a person reads them: days in the business zone, codes instead of ids. */
async function describeParams(ctx: UiContext, runs: readonly ReportRunRow[]): Promise<Map<string, Html>> {
  const { app, t, fmt } = ctx;
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
  return new Map(
    runs.map((r) => {
      // resolved params (a run that failed before resolving keeps what it was sent: only known fields show)
      const p = r.params as Partial<StoredParams>;
      const parts: Html[] = [];
      if (p.from && p.to) parts.push(t('word.range', { from: fmt.dateTime(p.from), to: fmt.dateTime(p.to) }));
      if (p.as_of) parts.push(t('reports.desc.as_of', { time: fmt.dateTime(p.as_of) }));
      if (p.group_by) parts.push(t('reports.desc.by', { group: groupName(ctx, p.group_by) }));
      if (p.per) parts.push(t('reports.desc.per', { per: t(`reports.per.${p.per}`) }));
      if (p.days_ahead)
        parts.push(
          t('reports.desc.days_ahead', {
            days: t('word.days', { count: p.days_ahead, days: fmt.number(p.days_ahead) }),
          }),
        );
      if (p.client)
        parts.push(t('reports.desc.client', { ref: code(clients.get(p.client)?.external_ref ?? p.client) }));
      if (p.package) parts.push(t('reports.desc.package', { code: code(packages.get(p.package) ?? p.package) }));
      if (p.credit_type)
        parts.push(
          t('reports.desc.credit_type', { code: code(creditTypes.get(p.credit_type)?.code ?? p.credit_type) }),
        );
      return [r.id, html`${parts.map((part, i) => html`${i > 0 ? ' · ' : ''}${part}`)}`];
    }),
  );
}

/** Why a run cannot be downloaded yet (the download link's 409 page), in the viewer's language. */
export function notReady(where: Pick<UiContext, 't'>, run: Pick<ReportRunRow, 'status' | 'error'>): Html | undefined {
  if (run.status === 'done') return undefined;
  if (run.status === 'failed')
    return where.t('reports.download_failed', {
      error: html`<span lang="en" dir="ltr">${run.error ?? 'unknown error'}</span>`,
    });
  return where.t('reports.download_not_ready', { status: badge(where, run.status) });
}

export async function reportsPage(
  ctx: UiContext,
  state: { form?: ReportForm; errors?: FieldProblem[]; failure?: RefusedReport['failure'] } = {},
): Promise<Html> {
  const { app, t, fmt } = ctx;
  const runs = await latestReportRuns(app.db, 30);
  // consumption by a dimension (issue 15): the keys the live credit types name, each once
  const creditTypes = await listCreditTypes(app.db, { limit: 200 }, { archived: false });
  const dimensions = [...new Set(creditTypes.data.flatMap((c) => c.dimensions ?? []))].sort();
  const described = await describeParams(ctx, runs);
  const busy = runs.some((r) => r.status === 'queued' || r.status === 'running');
  const tz = app.config.BUSINESS_TZ;
  const form = state.form ?? {};
  // the service names a param `params.from`; the form's field is `from`
  const errors: FieldErrors = new Map(
    (state.errors ?? []).map((e) => [e.field.replace(/^params\./, ''), e.message] as const).reverse(),
  );
  const input = (field: Field, type: string, placeholder?: Html) => {
    const dir = type === 'text' ? html` dir="auto"` : type === 'number' ? html` inputmode="numeric" dir="ltr"` : '';
    const hint = placeholder ? html` placeholder="${placeholder}"` : '';
    // a whole number is typed in a text control: Chromium's type="number" drops Arabic-Indic digits
    const control = type === 'number' ? 'text' : type;
    const value = form[field] ?? '';
    return html`<label>${t(`reports.field.${field}`)}<input type="${control}" name="${field}" value="${value}"
      ${hint}${dir}${invalidAttributes(errors, field)}>${fieldError(ctx, errors, field)}</label>`;
  };
  const select = (field: Field | 'type' | 'format', options: ReadonlyArray<readonly [string, Html]>, blank?: Html) => {
    const choices = selectOptions(blank !== undefined ? [['', blank], ...options] : options, form[field]);
    return html`<label>${t(`reports.field.${field}`)}<select name="${field}"${invalidAttributes(
      errors,
      field,
    )}>${choices}</select>${fieldError(ctx, errors, field)}</label>`;
  };
  const typeName = (type: ReportType) => t(`reports.type.${type}`);
  const paramName = (param: string) =>
    (FIELDS as readonly string[]).includes(param) ? t(`reports.param.${param as Field}`) : code(param);
  // the fields' messages are beside them; the banner says so, and lists (without the service's `params.`
  // path) any message of a field the form has no input for; a refusal with no field at all (the queue down, the
  // form sent again with other values): its line, and its reason in the page's language when refusals.ts reads it
  const unshown = [...errors].filter(([field]) => !(SHOWN as readonly string[]).includes(field));
  const list = otherFieldMessages(ctx, unshown);
  const failure = errors.size > 0 ? undefined : state.failure;
  const said = failure ? failureSays(ctx, failure) : undefined;
  const reason = !failure
    ? ''
    : said
      ? html`${said.value === '' ? '' : ' '}${said}`
      : ctx.locale === 'en'
        ? html` ${failure.detail}`
        : html` <span lang="en" dir="ltr">${failure.detail}</span>`;
  const detail =
    errors.size > 0 || failure
      ? html`<div class="notice error" role="alert">${
          failure ? t(REFUSED[failure.code] ?? 'commerce.refused.other') : t('form.invalid')
        }${reason}${list}</div>`
      : '';

  return page(
    ctx,
    { title: t('reports.title'), section: 'reports', ...(busy ? { refreshS: 2 } : {}) },
    html`${busy ? notice(ctx) : ''}
<h1>${t('reports.title')}</h1>
<p class="sub">${t('reports.lead', {
      csv: formatName('csv'),
      json: formatName('json'),
      zone: zoneName(tz),
      last: t('word.last_days', { count: DEFAULT_RANGE_DAYS, days: fmt.number(DEFAULT_RANGE_DAYS) }),
    })}</p>
<section class="panel" aria-labelledby="run-h">
  <h2 id="run-h">${t('reports.run_h')}</h2>
  ${detail}
  <form method="post" action="/ui/reports">
    ${csrfField(ctx)}
    ${idemField()}
    <div class="form-grid">
      ${select(
        'type',
        REPORT_TYPES.map((type) => [type, typeName(type)] as const),
      )}
      ${select(
        'format',
        ['csv', 'json'].map((format) => [format, formatName(format)] as const),
      )}
      ${input('from', 'date')}
      ${input('to', 'date')}
      ${select(
        'group_by',
        [
          ...GROUPINGS.map((group) => [group, t(`reports.group.${group}`)] as const),
          ...dimensions.map((key) => [key, t('reports.group.dimension', { name: code(key) })] as const),
        ],
        t('reports.group.default'),
      )}
      ${select(
        'per',
        (['client', 'package'] as const).map((per) => [per, t(`reports.per.${per}`)] as const),
        t('word.none'),
      )}
      ${input('days_ahead', 'number', html`${fmt.number(app.config.EXPIRING_SOON_DAYS)}`)}
      ${input('client', 'text', t('reports.hint.client'))}
      ${input('package', 'text', t('reports.hint.code'))}
      ${input('credit_type', 'text', t('reports.hint.code'))}
      <div><button type="submit">${t('reports.submit')}</button></div>
    </div>
  </form>
  <div class="scroll"><table class="legend">
    <caption class="visually-hidden">${t('reports.kinds_caption')}</caption>
    <tbody>${REPORT_TYPES.map(
      (type) => html`<tr>
      <th scope="row">${typeName(type)}</th>
      <td>${t(`reports.describe.${type}`)}</td>
      <td class="muted">${t('reports.takes', { params: fmt.list(APPLIES[type].map(paramName)) })}</td>
    </tr>`,
    )}</tbody>
  </table></div>
</section>
<section class="panel" aria-labelledby="runs-h">
  <h2 id="runs-h">${t('reports.runs_h')}</h2>
  ${
    runs.length === 0
      ? html`<p class="empty">${t('reports.no_runs')}</p>`
      : html`<div class="scroll"><table>
    <thead><tr>
      <th>${t('reports.col_asked')}</th><th>${t('reports.col_report')}</th><th>${t('reports.col_params')}</th>
      <th>${t('reports.field.format')}</th><th>${t('reports.col_by')}</th><th>${t('col.status')}</th>
      <th class="num">${t('reports.col_rows')}</th><th class="num">${t('reports.col_size')}</th>
      <th><span class="visually-hidden">${t('col.actions')}</span></th>
    </tr></thead>
    <tbody>${runs.map((r) => {
      const download =
        r.status === 'done'
          ? html`<a class="download" href="${path`/ui/reports/${r.id}/download`}" download>${t('reports.download')}</a>`
          : '';
      const error =
        r.status === 'failed' && r.error ? html` <span class="muted" lang="en" dir="ltr">${r.error}</span>` : '';
      return html`<tr data-report="${r.id}">
      <td class="nowrap">${fmt.dateTime(r.created_at)}</td><td><strong>${typeName(r.type)}</strong></td>
      <td class="muted">${described.get(r.id) ?? ''}</td><td>${formatName(r.format)}</td>
      <td>${triggerName(ctx, r.trigger)}</td>
      <td>${badge(ctx, r.status)}${error}</td>
      <td class="num">${r.row_count === null ? t('word.none') : fmt.number(r.row_count)}</td>
      <td class="num">${r.byte_size === null ? t('word.none') : fmt.bytes(r.byte_size)}</td>
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
): Promise<{ ok: true } | RefusedReport> {
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
        params[field] = field === 'days_ahead' ? asciiDigits(form[field]!) : form[field]!;
  // the API's own route runs the report (schemas, run row, enqueue after commit, audit), as from `POST /v1/reports`
  const idem = formValue(body, 'idem');
  const outcome = await submitRoute(ctx, 'post', '/v1/reports', {
    body: { type: form.type, format: form.format ?? 'csv', params },
    ...(idem ? { idem } : {}),
  });
  if (outcome.kind === 'reply') return { ok: true };
  const errors =
    outcome.kind === 'invalid' ? outcome.problems : outcome.kind === 'failure' ? (outcome.failure.errors ?? []) : [];
  return { ok: false, form, errors, ...(outcome.kind === 'failure' ? { failure: outcome.failure } : {}) };
}
