import { type Html, html } from '../html.js';
import { document } from '../layout.js';

export function loginPage(options: { csrf: string; next: string; error?: string }): Html {
  return document(
    { title: 'Sign in' },
    '',
    html`<div class="login panel">
  <h1>credits</h1>
  <p class="sub">Sign in with an admin API key.</p>
  ${options.error ? html`<div class="notice error" role="alert">${options.error}</div>` : ''}
  <form method="post" action="/ui/login">
    <input type="hidden" name="csrf" value="${options.csrf}">
    <input type="hidden" name="next" value="${options.next}">
    <label>Admin key<input type="password" name="key" autocomplete="current-password" required autofocus></label>
    <button type="submit">Sign in</button>
  </form>
  <p class="legend">No key yet? <code>npm run cli -- keys create --scope admin</code></p>
</div>`,
  );
}

export function messagePage(title: string, message: string, back = '/ui'): Html {
  return document(
    { title },
    '',
    html`<div class="login panel"><h1>${title}</h1><p>${message}</p><p><a href="${back}">Back</a></p></div>`,
  );
}
