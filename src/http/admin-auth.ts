import type { NextFunction, Request, Response } from 'express';
import type { AppContext } from '../app-context.js';
import { hasScope, presentedKey } from './auth.js';
import { problemBody, sendProblem } from './problem.js';

/**
 * Guards the pages a person opens in a browser (Bull Board, /ui): an admin key as the password of HTTP Basic (any
 * user name) or as a Bearer token. The pages under /ui look for their session cookie first (src/ui/index.ts) and
 * come here without one; Bull Board takes no cookie at all: its JSON actions (retry, remove, clean) carry no CSRF
 * token, so a cookie there would let another site drive them. Without a key, a browser is asked for credentials, or
 * sent to `loginPath`.
 */
export function requireAdmin(app: AppContext, options: { loginPath?: string } = {}) {
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    try {
      const key = presentedKey(req);
      const auth = key ? await app.keys.verify(key, () => req.ip) : null;
      if (auth && hasScope(auth, 'admin')) {
        next();
        return;
      }
      if (options.loginPath && req.method === 'GET' && (req.get('accept') ?? '').includes('text/html') && !key) {
        res.redirect(303, `${options.loginPath}?next=${encodeURIComponent(req.originalUrl)}`);
        return;
      }
      const code = auth ? 'forbidden' : 'unauthorized';
      sendProblem(
        res,
        problemBody(
          code,
          auth ? 'an admin key is required' : 'an admin key is required: HTTP Basic with the key as the password',
        ),
        auth ? {} : { 'www-authenticate': 'Basic realm="credits admin", charset="UTF-8"' },
      );
    } catch (error) {
      next(error);
    }
  };
}
