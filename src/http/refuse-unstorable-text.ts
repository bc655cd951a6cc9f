import type { NextFunction, Request, Response } from 'express';
import { isStorableText, UNSTORABLE_MESSAGE } from '../domain/storable-text.js';
import { problemBody, sendProblem } from './problem.js';

/**
 * Where in a parsed JSON value a string or key is not storable, as a field path
 * ("items.0.client"), or undefined. Iterative: a hostile body may nest deeply (the schemas bound
 * depth later; this runs before them).
 */
export function unstorablePath(value: unknown, root = ''): string | undefined {
  const stack: Array<{ value: unknown; path: string }> = [{ value, path: root }];
  while (stack.length > 0) {
    const { value: current, path } = stack.pop()!;
    if (typeof current === 'string') {
      if (!isStorableText(current)) return path || '(body)';
    } else if (Array.isArray(current)) {
      current.forEach((item, i) => {
        stack.push({ value: item, path: path ? `${path}.${i}` : String(i) });
      });
    } else if (current !== null && typeof current === 'object') {
      for (const [key, item] of Object.entries(current)) {
        const at = path ? `${path}.${key}` : key;
        if (!isStorableText(key)) return at;
        stack.push({ value: item, path: at });
      }
    }
  }
  return undefined;
}

function decodedPath(req: Request): string {
  try {
    return decodeURIComponent(req.path);
  } catch {
    // not valid percent-encoding of UTF-8: no route matches it anyway
    return req.path;
  }
}

/**
 * Refuses, once for every route, text that would fail a statement (or be changed by it) after the
 * request had been taken for valid: 422 `validation_failed` naming where it was, nothing written.
 * Runs after authentication, so that an anonymous caller still gets 401.
 */
export function refuseUnstorableText(req: Request, res: Response, next: NextFunction): void {
  const where = !isStorableText(decodedPath(req))
    ? '(path)'
    : (unstorablePath(req.query, 'query') ?? unstorablePath(req.body));
  if (where === undefined) {
    next();
    return;
  }
  req.log?.info({ field: where }, 'request refused: unstorable text');
  sendProblem(
    res,
    problemBody('validation_failed', `${where} ${UNSTORABLE_MESSAGE}`, [{ field: where, message: UNSTORABLE_MESSAGE }]),
  );
}
