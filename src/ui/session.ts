import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Request, Response } from 'express';
import type { AppContext } from '../app-context.js';
import { deleteExpiredSessions, deleteSession, insertSession, liveSessionKey } from '../db/repositories/ui-sessions.js';
import { type AuthContext, hasScope, presentedKey } from '../http/auth.js';

export const SESSION_COOKIE = 'credits_ui';
export const LOGIN_COOKIE = 'credits_ui_login';
/** A login lasts a working day; then the form asks for the key again. */
export const SESSION_TTL_MS = 8 * 60 * 60 * 1000;

const sha256 = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

/** Cookies of the request, without a parser dependency (names and values are ours: base64url). */
export function readCookie(req: Request, name: string): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) {
      const value = part.slice(eq + 1).trim();
      return /^[A-Za-z0-9_-]{1,200}$/.test(value) ? value : undefined;
    }
  }
  return undefined;
}

export interface CookieOptions {
  path: string;
  maxAgeS: number;
}

export function setCookie(req: Request, res: Response, name: string, value: string, options: CookieOptions): void {
  const parts = [
    `${name}=${value}`,
    `Path=${options.path}`,
    `Max-Age=${options.maxAgeS}`,
    'HttpOnly',
    'SameSite=Strict',
  ];
  if (req.secure) parts.push('Secure');
  res.append('set-cookie', parts.join('; '));
}

export const clearCookie = (req: Request, res: Response, name: string, path: string): void =>
  setCookie(req, res, name, '', { path, maxAgeS: 0 });

export const randomToken = (): string => randomBytes(32).toString('base64url');

/**
 * Who is looking at a page: signed in with the login form (a session), or sending an admin key
 * itself (HTTP Basic or Bearer). `secret` is what only this browser holds (the session token or
 * the key): the CSRF token is derived from it, so a form is tied to the session that rendered it.
 */
export interface Viewer {
  via: 'session' | 'key';
  keyId: string;
  secret: string;
  /** The admin key behind the page, as the routes the page's forms call see their caller. */
  auth: AuthContext;
}

/** Opens a session for an admin key: a random token in the cookie, its hash in ui_sessions. */
export async function openSession(app: AppContext, req: Request, res: Response, keyId: string): Promise<void> {
  const token = randomToken();
  const now = app.clock.now();
  // sessions past their expiry are of no use to anyone
  await deleteExpiredSessions(app.db, now);
  await insertSession(app.db, {
    token_hash: sha256(token),
    api_key_id: keyId,
    created_at: now,
    expires_at: new Date(now.getTime() + SESSION_TTL_MS),
  });
  setCookie(req, res, SESSION_COOKIE, token, { path: '/ui', maxAgeS: Math.floor(SESSION_TTL_MS / 1000) });
}

export async function closeSession(app: AppContext, req: Request, res: Response): Promise<void> {
  const token = readCookie(req, SESSION_COOKIE);
  if (token) await deleteSession(app.db, sha256(token));
  clearCookie(req, res, SESSION_COOKIE, '/ui');
}

/**
 * The session the cookie names, if it has not expired and its key is still an admin key that has
 * not been revoked (checked on every request, so revoking a key signs its sessions out).
 */
export async function sessionViewer(app: AppContext, req: Request): Promise<Viewer | undefined> {
  const token = readCookie(req, SESSION_COOKIE);
  if (!token) return undefined;
  const row = await liveSessionKey(app.db, sha256(token), app.clock.now());
  const auth: AuthContext | undefined = row ? { keyId: row.id, name: row.name, scopes: row.scopes } : undefined;
  if (!auth || !hasScope(auth, 'admin')) return undefined;
  return { via: 'session', keyId: auth.keyId, secret: token, auth };
}

/** A viewer that sends an admin key with each request (HTTP Basic or Bearer). */
export async function keyViewer(app: AppContext, req: Request): Promise<Viewer | undefined> {
  const key = presentedKey(req);
  if (!key) return undefined;
  const auth = await app.keys.verify(key, () => req.ip);
  if (!auth || !hasScope(auth, 'admin')) return undefined;
  return { via: 'key', keyId: auth.keyId, secret: key, auth };
}

/** The CSRF token of a viewer's forms: an HMAC of its secret, so it cannot be guessed from outside. */
export const csrfToken = (viewer: Pick<Viewer, 'secret'>): string =>
  createHmac('sha256', viewer.secret).update('credits-ui-csrf').digest('base64url');

export function sameToken(given: unknown, expected: string): boolean {
  if (typeof given !== 'string') return false;
  // compared as bytes: a non-ASCII string of the right length in characters is longer in bytes,
  // and timingSafeEqual throws on buffers of different lengths
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
