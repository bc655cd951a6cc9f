import { type ClientRow, findClient } from '../../db/repositories/clients.js';
import type { RouteOutcome } from '../../http/run-route.js';
import { type FormFields, textField } from '../form.js';
import { code, type Html, html, name, path } from '../html.js';
import { notice, page, type UiContext } from '../layout.js';
import { changedFields, FormView, input, postForm, textarea } from './setup-kit.js';

/**
 * A client's metadata as a person writes it: one `key=value` per line, each value a text. Undefined
 * when a line has no `=` or no key (the form then says how to write it).
 */
export function metadataFromLines(text: string): Record<string, string> | undefined {
  const metadata: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    if (line.trim() === '') continue;
    const eq = line.indexOf('=');
    const key = eq < 0 ? '' : line.slice(0, eq).trim();
    if (key === '') return undefined;
    // defined, not assigned: `__proto__=x` assigned would hit the prototype's setter and vanish, the client saved
    // without it; kept as an own key, the route refuses it beside the field as it refuses `constructor`
    Object.defineProperty(metadata, key, {
      value: line.slice(eq + 1).trim(),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return metadata;
}

/** Stored metadata as the lines the form shows (a value that is not a text as its JSON). */
export const metadataLines = (metadata: Record<string, unknown>): string =>
  Object.entries(metadata)
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
    .join('\n');

const sameLines = (a: string, b: string): boolean => {
  const lines = (text: string) =>
    text
      .split(/\r?\n/)
      .map((l) => l.trim())
      .filter((l) => l !== '')
      .join('\n');
  return lines(a) === lines(b);
};

/** What a client form posted, as the route's body, and whether its metadata lines could be read. */
export interface ClientBody {
  body: Record<string, unknown>;
  metadataProblem: boolean;
}

function metadata(fields: FormFields): { value: unknown; problem: boolean } {
  const text = textField(fields, 'metadata');
  if (text === undefined) return { value: undefined, problem: false };
  const parsed = metadataFromLines(text);
  // lines that are not key=value go on as typed: the route refuses them, and the form says how to write them
  return parsed ? { value: parsed, problem: false } : { value: text, problem: true };
}

/** POST /v1/clients from the new client's form. */
export function clientCreateBody(fields: FormFields): ClientBody {
  const meta = metadata(fields);
  const body: Record<string, unknown> = {
    external_ref: textField(fields, 'external_ref'),
    name: textField(fields, 'name'),
    email: textField(fields, 'email'),
    metadata: meta.value,
  };
  for (const key of Object.keys(body)) if (body[key] === undefined) delete body[key];
  return { body, metadataProblem: meta.problem };
}

/** PATCH /v1/clients/{id} from the edit form: what changed (metadata only when its lines changed). */
export function clientPatchBody(fields: FormFields, current: ClientRow): ClientBody {
  const text = textField(fields, 'metadata') ?? '';
  // lines as the stored metadata is shown: untouched, so not sent (a number stays a number)
  const touched = !sameLines(text, metadataLines(current.metadata));
  const meta = !touched
    ? { value: undefined, problem: false }
    : text === ''
      ? { value: {}, problem: false }
      : metadata(fields);
  const posted = {
    name: textField(fields, 'name') ?? '',
    email: textField(fields, 'email') ?? null,
    metadata: meta.value,
  };
  const body = changedFields(posted, { name: current.name, email: current.email, metadata: current.metadata });
  return { body, metadataProblem: meta.problem };
}

/** A posted client form, as the page shows it again after a refusal. */
export interface ClientPosted {
  values?: FormFields;
  outcome?: RouteOutcome;
  overrides?: ReadonlyMap<string, Html>;
  /** The client that already has this external ref (the new client's form does not overwrite it). */
  existing?: ClientRow;
}

export const metadataMessage = (ctx: UiContext): Map<string, Html> =>
  new Map([['metadata', ctx.t('setup.client.metadata_invalid', { pair: code('key=value'), equals: code('=') })]]);

function clientFields(form: FormView, client?: ClientRow): Html {
  const ref = client
    ? ''
    : input(form, 'external_ref', { label: 'setup.client.external_ref', hint: 'setup.client.external_ref_hint' });
  return html`<div class="form-grid">
${ref}
${input(form, 'name', { label: 'setup.client.name', initial: client?.name ?? '' })}
${input(form, 'email', { label: 'setup.client.email', type: 'email', dir: 'ltr', initial: client?.email ?? '' })}
</div>
${textarea(form, 'metadata', {
  label: 'setup.client.metadata',
  hint: form.ctx.t('setup.client.metadata_hint', { pair: code('key=value') }),
  dir: 'ltr',
  rows: 4,
  initial: client ? metadataLines(client.metadata) : '',
})}`;
}

/** The form that creates a client. */
export async function clientNewPage(ctx: UiContext, posted?: ClientPosted): Promise<Html> {
  const { t } = ctx;
  const form = new FormView(ctx, posted);
  const fields = clientFields(form);
  const existing = posted?.existing;
  const editExisting = existing
    ? html`<a href="${path`/ui/clients/${existing.id}/edit`}" data-existing="${existing.id}">${t(
        'setup.client.edit_existing',
        { name: name(existing.name) },
      )}</a>`
    : '';
  const banner = existing
    ? html`<div class="notice error" role="alert">${t('setup.client.ref_taken')} ${editExisting}</div>`
    : form.banner(() => undefined);
  return page(
    ctx,
    { title: t('setup.client.new_title').value, section: 'clients' },
    html`<p><a href="/ui/clients">${t('setup.client.back')}</a></p>
<h1>${t('setup.client.new_title')}</h1>
<p class="sub">${t('setup.client.new_lead')}</p>
<section class="panel">
  ${banner}
  ${postForm(form, '/ui/clients/new', fields, { creates: true, submit: 'setup.client.create', id: 'client-form' })}
</section>`,
  );
}

/** The form that changes a client's name, e-mail and metadata (its external ref is how others name it). */
export async function clientEditPage(ctx: UiContext, ref: string, posted?: ClientPosted): Promise<Html | undefined> {
  const { t } = ctx;
  const client = await findClient(ctx.app.db, ref);
  if (!client) return undefined;
  const form = new FormView(ctx, posted);
  const fields = clientFields(form, client);
  const banner = form.banner(() => undefined);
  return page(
    ctx,
    { title: client.name, section: 'clients' },
    html`<p><a href="${path`/ui/clients/${client.id}`}">${t('setup.client.back_to_client')}</a></p>
<h1 dir="auto">${name(client.name)}</h1>
<p class="sub"><code dir="ltr">${client.external_ref}</code></p>
${notice(ctx)}
<section class="panel">
  <h2>${t('setup.client.edit_title')}</h2>
  ${banner}
  ${postForm(form, path`/ui/clients/${client.id}/edit`, fields, { submit: 'word.save', id: 'client-form' })}
</section>`,
  );
}
