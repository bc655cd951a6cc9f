import type { NextFunction, Request, Response } from 'express';
import type { AppContext } from '../app-context.js';
import { hasScope, presentedKey } from './auth.js';
import { problemBody, sendProblem } from './problem.js';

/**
 * Guards the pages a person opens in a browser (Bull Board, /ui): an admin key as the password of
 * HTTP Basic (any user name), as a Bearer token, or in the session cookie the login form sets.
 * Without one, a browser is asked for credentials.
 */
export function requireAdmin(
  app: AppContext,
  options: { cookieKey?: (req: Request) => string | undefined; loginPath?: string } = {},
) {
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    try {
      const key = presentedKey(req) ?? options.cookieKey?.(req);
      const auth = key ? await app.keys.verify(key) : null;
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
