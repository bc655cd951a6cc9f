import { type ApiKeyListed, apiKeyById, listApiKeysPage } from '../../db/repositories/api-keys.js';
import { SCOPES, type Scope } from '../../domain/scope.js';
import { isUuid } from '../../ids.js';
import { type FieldErrors, fieldError, idemField, invalidAttributes, queryText } from '../form.js';
import { type Html, html, name, path, query } from '../html.js';
import { badge, csrfField, nextLink, notice, page, type UiContext } from '../layout.js';
import { selectOptions } from '../options.js';

const PAGE_SIZE = 50;

/** What the form to make a key shows again after a refusal: the values sent, each field's message, why. */
export interface KeyFormState {
  values: { name?: string | undefined; scope?: string | undefined };
  errors: FieldErrors;
  /** A refusal that names no field (the form sent twice, the service unavailable). */
  problem?: Html | undefined;
}

const SCOPE_LABEL = {
  read: 'admin.keys.scope_read',
  write: 'admin.keys.scope_write',
  admin: 'admin.keys.scope_admin',
} as const satisfies Record<Scope, string>;

/** Keys to press, as a keyboard names them (the same in every language). */
const keys = (text: string): Html => html`<kbd dir="ltr">${text}</kbd>`;

/** The key's first characters, as a code never mistaken for the key. */
export const prefixCode = (prefix: string): Html => html`<code dir="ltr">${prefix}…</code>`;

const scopeCodes = (scopes: readonly string[]): Html[] =>
  scopes.map((s, i) => html`${i > 0 ? ' ' : ''}<code dir="ltr">${s}</code>`);

function keyForm(ctx: UiContext, state: KeyFormState | undefined): Html {
  const errors = state?.errors ?? new Map<string, string>();
  const chosen = state?.values.scope ?? 'read';
  const scopeError = errors.has('scopes') ? 'scopes' : 'scopes.0';
  return html`<section class="panel">
  <h2>${ctx.t('admin.keys.create_title')}</h2>
  ${state?.problem ? html`<div class="notice error" role="alert">${state.problem}</div>` : ''}
  ${state && state.errors.size > 0 ? html`<div class="notice error" role="alert">${ctx.t('form.invalid')}</div>` : ''}
  <form method="post" action="/ui/api-keys" class="form-grid" data-form="api-key">
    ${csrfField(ctx)}${idemField()}
    <label>${ctx.t('admin.keys.name')}<input name="name" value="${state?.values.name ?? ''}" maxlength="200"
      ${invalidAttributes(errors, 'name')}>${fieldError(ctx, errors, 'name')}</label>
    <label>${ctx.t('admin.keys.scope')}<select name="scope"${invalidAttributes(errors, scopeError)}>${selectOptions(
      SCOPES.map((scope) => [scope, ctx.t(SCOPE_LABEL[scope])] as const),
      chosen,
    )}</select>${fieldError(ctx, errors, scopeError)}</label>
    <div class="actions"><button type="submit">${ctx.t('admin.keys.create_submit')}</button></div>
  </form>
</section>`;
}

function keyRow(ctx: UiContext, key: ApiKeyListed): Html {
  const own = key.id === ctx.viewer.keyId;
  return html`<tr data-key="${key.id}">
  <td>${name(key.name)}${own ? html`<br><span class="muted">${ctx.t('admin.keys.yours')}</span>` : ''}</td>
  <td data-prefix>${prefixCode(key.prefix)}</td>
  <td>${scopeCodes(key.scopes)}</td>
  <td class="nowrap">${ctx.fmt.dateTime(key.created_at)}</td>
  <td class="nowrap" data-last-used>${
    key.last_used_at
      ? ctx.fmt.dateTime(key.last_used_at)
      : html`<span class="muted">${ctx.t('admin.keys.never_used')}</span>`
  }</td>
  <td>${
    key.revoked_at
      ? html`${badge(ctx, 'revoked')}<br><span
      class="muted">${ctx.t('admin.keys.revoked_on', { date: ctx.fmt.dateTime(key.revoked_at) })}</span>`
      : badge(ctx, 'active')
  }</td>
  <td>${
    key.revoked_at
      ? ''
      : html`<a class="button secondary" href="${path`/ui/api-keys/${key.id}/revoke`}" data-action="revoke">${ctx.t(
          'admin.keys.revoke',
        )}</a>`
  }</td>
</tr>`;
}

/** The keys: a form to make one, and every key by its prefix (never the key), with a way to revoke it. */
export async function apiKeysPage(ctx: UiContext, state?: KeyFormState): Promise<Html> {
  const result = await listApiKeysPage(ctx.app.db, { limit: PAGE_SIZE, cursor: queryText(ctx.req.query.cursor) });
  return page(
    ctx,
    { title: ctx.t('admin.keys.title').value, section: 'api-keys' },
    html`<h1>${ctx.t('admin.keys.title')}</h1>
<p class="sub">${ctx.t('admin.keys.lead')}</p>
${notice(ctx)}
${keyForm(ctx, state)}
<section class="panel">
  <h2>${ctx.t('admin.keys.list_title')}</h2>
  ${
    result.data.length === 0
      ? html`<p class="empty">${ctx.t('admin.keys.empty')}</p>`
      : html`<div class="scroll"><table>
    <thead><tr>
      <th>${ctx.t('admin.keys.col_name')}</th><th>${ctx.t('admin.keys.col_prefix')}</th>
      <th>${ctx.t('admin.keys.col_scopes')}</th><th>${ctx.t('admin.keys.col_created')}</th>
      <th>${ctx.t('admin.keys.col_last_used')}</th>
      <th>${ctx.t('admin.keys.col_status')}</th><th>${ctx.t('admin.keys.col_actions')}</th>
    </tr></thead>
    <tbody>${result.data.map((key) => keyRow(ctx, key))}</tbody>
  </table></div>`
  }
  ${result.nextCursor ? nextLink(ctx, `/ui/api-keys${query({ cursor: result.nextCursor })}`) : ''}
</section>`,
  );
}

/**
 * The answer to the form that made a key: the key itself, this once. The page is not cached (no-store)
 * and is never shown again: a reload sends the form again, which the route answers "sent already".
 */
export function keyMadePage(
  ctx: UiContext,
  made: { id: string; name: string; scopes: readonly string[]; created_at: string; key: string },
): Html {
  return page(
    ctx,
    { title: ctx.t('admin.keys.made_title').value, section: 'api-keys' },
    html`<h1>${ctx.t('admin.keys.made_title')}</h1>
<section class="panel" data-key="${made.id}">
  <div class="notice" role="status">${ctx.t('admin.keys.made_lead')}</div>
  <label>${ctx.t('admin.keys.made_key')}<input type="text" readonly value="${made.key}" dir="ltr" spellcheck="false"
    autocomplete="off" autofocus data-new-key aria-describedby="copy-hint"></label>
  <p class="legend" id="copy-hint">${ctx.t('admin.keys.made_copy', {
    select_all: keys('Ctrl+A'),
    select_all_mac: keys('⌘A'),
    copy: keys('Ctrl+C'),
    copy_mac: keys('⌘C'),
  })}</p>
  <p>${ctx.t('admin.keys.made_details', {
    name: name(made.name),
    scopes: scopeCodes(made.scopes),
    date: ctx.fmt.dateTime(made.created_at),
  })}</p>
  <p><a class="button" href="/ui/api-keys">${ctx.t('admin.keys.made_back')}</a></p>
</section>`,
  );
}

/** The key a revoke link names, or undefined (not a key id, no such key). */
export async function keyToRevoke(ctx: UiContext, id: string): Promise<ApiKeyListed | undefined> {
  return isUuid(id) ? apiKeyById(ctx.app.db, id) : undefined;
}

/** "Revoke this key?": the one form that revokes, behind a page that says what it does. */
export function revokeConfirmPage(ctx: UiContext, key: ApiKeyListed, problem?: Html): Html {
  return page(
    ctx,
    { title: ctx.t('admin.keys.confirm_title').value, section: 'api-keys' },
    html`<h1>${ctx.t('admin.keys.confirm_title')}</h1>
<section class="panel" data-key="${key.id}">
  ${problem ? html`<div class="notice error" role="alert">${problem}</div>` : ''}
  <p>${ctx.t('admin.keys.confirm_lead', { name: name(key.name), prefix: prefixCode(key.prefix) })}</p>
  ${key.id === ctx.viewer.keyId ? html`<p><strong>${ctx.t('admin.keys.confirm_own')}</strong></p>` : ''}
  <form method="post" action="${path`/ui/api-keys/${key.id}/revoke`}" class="actions">
    ${csrfField(ctx)}
    <a class="button secondary" href="/ui/api-keys">${ctx.t('word.cancel')}</a>
    <button type="submit" data-action="confirm-revoke">${ctx.t('admin.keys.confirm_submit')}</button>
  </form>
</section>`,
  );
}
