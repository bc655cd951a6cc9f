import { type Html, html } from '../html.js';
import type { MessageKey } from '../i18n/messages/index.js';
import { csrfField, document, type PageLocale } from '../layout.js';

export function loginPage(where: PageLocale, options: { csrf: string; next: string; error?: MessageKey }): Html {
  const { t } = where;
  const other = where.locale === 'ar' ? 'en' : 'ar';
  return document(
    where,
    { title: t('login.title').value },
    '',
    html`<div class="login panel">
  <p class="switches"><a href="/ui/login?lang=${other}" lang="${other}" hreflang="${other}"
    data-lang-switch="${other}">${t(other === 'ar' ? 'lang.ar' : 'lang.en')}</a></p>
  <h1>${t('app.name')}</h1>
  <p class="sub">${t('login.lead')}</p>
  ${options.error ? html`<div class="notice error" role="alert">${t(options.error)}</div>` : ''}
  <form method="post" action="/ui/login">
    ${csrfField(options)}
    <input type="hidden" name="next" value="${options.next}">
    <label>${t('login.key')}<input type="password" name="key" autocomplete="current-password" required autofocus
      dir="ltr"></label>
    <button type="submit">${t('login.submit')}</button>
  </form>
  <p class="legend">${t('login.no_key')} <code dir="ltr">npm run cli -- keys create --scope admin</code></p>
</div>`,
  );
}

/** A page that only says something (not found, form expired, unavailable), in the viewer's language. */
export function messagePage(where: PageLocale, title: MessageKey, message: Html | MessageKey, back = '/ui'): Html {
  const { t } = where;
  const text = typeof message === 'string' ? t(message) : message;
  return document(
    where,
    { title: t(title).value },
    '',
    html`<div class="login panel"><h1>${t(title)}</h1><p>${text}</p><p><a href="${back}">${t(
      'word.back',
    )}</a></p></div>`,
  );
}
