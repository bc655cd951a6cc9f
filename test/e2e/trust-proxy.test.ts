import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { signInToUi } from '../helpers/ui-session.js';

/**
 * Behind a proxy that ends TLS, the pages learn the browser's scheme from X-Forwarded-Proto — from the proxies
 * TRUST_PROXY names only. A proxy on another machine (an ingress) had no way in: the session cookie lost `Secure`
 * and every form's origin check (https://… against http://…) refused the form.
 */
let trusting: TestApp;
let refusing: TestApp;
beforeAll(async () => {
  [trusting, refusing] = await Promise.all([
    startTestApp({ roles: ['api'], env: { TRUST_PROXY: '127.0.0.0/8, ::1' } }),
    startTestApp({ roles: ['api'], env: { TRUST_PROXY: 'false' } }),
  ]);
});
afterAll(async () => {
  await Promise.all([trusting?.close(), refusing?.close()]);
});

const forwarded = { 'x-forwarded-proto': 'https', accept: 'text/html' };

/** Posts the sign-out form of a signed-in page as a browser behind the proxy does: its https origin. */
async function signOutThroughProxy(app: TestApp): Promise<number> {
  const session = await signInToUi(app.baseUrl, app.keys.admin);
  const page = await (await fetch(`${app.baseUrl}/ui`, { headers: { ...forwarded, cookie: session } })).text();
  const csrf = /action="\/ui\/logout".*?name="csrf" value="([^"]+)"/s.exec(page)?.[1];
  expect(csrf, 'the sign-out form').toBeDefined();
  const res = await fetch(`${app.baseUrl}/ui/logout`, {
    method: 'POST',
    redirect: 'manual',
    headers: {
      ...forwarded,
      'content-type': 'application/x-www-form-urlencoded',
      cookie: session,
      origin: `https://${new URL(app.baseUrl).host}`,
    },
    body: new URLSearchParams({ csrf: csrf! }).toString(),
  });
  return res.status;
}

describe('TRUST_PROXY', () => {
  it('a proxy it names: the cookie is Secure and an https form is from the same origin', async () => {
    const login = await fetch(`${trusting.baseUrl}/ui/login`, { headers: forwarded });
    expect(login.headers.getSetCookie().join('\n')).toMatch(/credits_ui_login=[^\n]*; Secure/);
    expect(await signOutThroughProxy(trusting)).toBe(303);
  });

  it('false: X-Forwarded-Proto from anyone is ignored (no Secure, an https origin is another site)', async () => {
    const login = await fetch(`${refusing.baseUrl}/ui/login`, { headers: forwarded });
    expect(login.headers.getSetCookie().join('\n')).not.toContain('Secure');
    expect(await signOutThroughProxy(refusing)).toBe(403);
  });

  it('reads a hop count, true/false, and a list of addresses and ranges; refuses what is neither', () => {
    const read = (value: string) => loadConfig({ TRUST_PROXY: value }).TRUST_PROXY;
    expect(loadConfig({}).TRUST_PROXY).toEqual(['loopback']);
    expect(read('2')).toBe(2);
    expect(read('true')).toBe(true);
    expect(read('false')).toBe(false);
    expect(read('loopback, 10.0.0.0/8,fd00::/8 ,192.168.1.7')).toEqual([
      'loopback',
      '10.0.0.0/8',
      'fd00::/8',
      '192.168.1.7',
    ]);
    for (const bad of ['', 'proxy.example.com', '10.0.0.0/33', '300.1.1.1', 'loopback,,', '-1']) {
      expect(() => read(bad), bad).toThrow(/TRUST_PROXY/);
    }
  });
});
