import { expect } from 'vitest';

const cookieOf = (res: Response, name: string): string | undefined =>
  res.headers
    .getSetCookie()
    .find((c) => c.startsWith(`${name}=`))
    ?.split(';')[0];

/** Signs in to the pages through the login form, as a person does; answers the session's cookie header. */
export async function signInToUi(baseUrl: string, key: string): Promise<string> {
  const form = await fetch(`${baseUrl}/ui/login`, { headers: { accept: 'text/html' } });
  const loginCookie = cookieOf(form, 'credits_ui_login');
  expect(loginCookie, 'the login form sets its cookie').toBeDefined();
  const csrf = /name="csrf" value="([^"]+)"/.exec(await form.text())?.[1] ?? '';
  const signedIn = await fetch(`${baseUrl}/ui/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: loginCookie! },
    body: new URLSearchParams({ csrf, key, next: '/ui' }).toString(),
  });
  expect(signedIn.status).toBe(303);
  const session = cookieOf(signedIn, 'credits_ui');
  expect(session, 'signing in sets the session cookie').toBeDefined();
  return session!;
}

/** A page as a signed-in person gets it: status and HTML. */
export async function uiPage(
  baseUrl: string,
  session: string,
  path: string,
): Promise<{ status: number; html: string }> {
  const res = await fetch(`${baseUrl}${path}`, { headers: { accept: 'text/html', cookie: session } });
  return { status: res.status, html: await res.text() };
}

/** What the pages answered a form: status, HTML, where it redirects, the cookies it sets. */
export interface UiAnswer {
  status: number;
  text: string;
  location: string | null;
  cookies: string[];
}

const answerOf = async (res: Response): Promise<UiAnswer> => ({
  status: res.status,
  text: await res.text(),
  location: res.headers.get('location'),
  cookies: res.headers.getSetCookie(),
});

/** A page as a signed-in person's browser asks for it, the redirect not followed: status, HTML, where to, cookies. */
export async function uiGet(
  baseUrl: string,
  session: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<UiAnswer> {
  return answerOf(
    await fetch(`${baseUrl}${path}`, {
      headers: { accept: 'text/html', cookie: session, ...headers },
      redirect: 'manual',
    }),
  );
}

/** A form sent as a signed-in person's browser sends it: urlencoded, same origin, the redirect not followed. */
export async function uiPost(
  baseUrl: string,
  session: string,
  path: string,
  form: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<UiAnswer> {
  const res = await fetch(`${baseUrl}${path}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'text/html',
      cookie: session,
      origin: baseUrl,
      ...headers,
    },
    body: new URLSearchParams(form).toString(),
    redirect: 'manual',
  });
  return answerOf(res);
}
