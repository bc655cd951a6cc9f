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

/**
 * Whether every string and key in a parsed JSON value is storable: the walk of `unstorablePath` without
 * the paths (a string each, for every field of every request), which are built only for a value that
 * holds unstorable text. Iterative, like it.
 */
export function allStorable(value: unknown): boolean {
  if (typeof value === 'string') return isStorableText(value);
  if (value === null || typeof value !== 'object') return true;
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const current = stack.pop();
    if (typeof current === 'string') {
      if (!isStorableText(current)) return false;
    } else if (Array.isArray(current)) {
      for (const item of current)
        if (item !== null && (typeof item === 'object' || typeof item === 'string')) stack.push(item);
    } else if (current !== null && typeof current === 'object') {
      for (const key in current) {
        if (!Object.hasOwn(current, key)) continue;
        if (!isStorableText(key)) return false;
        const item = (current as Record<string, unknown>)[key];
        if (item !== null && (typeof item === 'object' || typeof item === 'string')) stack.push(item);
      }
    }
  }
  return true;
}

function decodedPath(req: Request): string {
  const path = req.path;
  // nothing percent-encoded: the path is its own decoding
  if (!path.includes('%')) return path;
  try {
    return decodeURIComponent(path);
  } catch {
    // not valid percent-encoding of UTF-8: no route matches it anyway
    return path;
  }
}

/**
 * Refuses, once for every route, text that would fail a statement (or be changed by it) after the
 * request had been taken for valid: 422 `validation_failed` naming where it was, nothing written.
 * Runs after authentication, so that an anonymous caller still gets 401.
 */
export function refuseUnstorableText(req: Request, res: Response, next: NextFunction): void {
  const path = decodedPath(req);
  if (isStorableText(path) && allStorable(req.query) && allStorable(req.body)) {
    next();
    return;
  }
  const where = !isStorableText(path)
    ? '(path)'
    : (unstorablePath(req.query, 'query') ?? unstorablePath(req.body) ?? '(body)');
  req.log?.info({ field: where }, 'request refused: unstorable text');
  sendProblem(
    res,
    problemBody('validation_failed', `${where} ${UNSTORABLE_MESSAGE}`, [{ field: where, message: UNSTORABLE_MESSAGE }]),
  );
}
