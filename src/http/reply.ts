import type { ServerResponse } from 'node:http';
import type { Failure, Result } from '../domain/result.js';
import type { JsonReply } from './route.js';

/** Maps a service result to a reply: the value through `view` with `status`, a failure as it is. */
export async function replyWith<T>(
  result: Result<T>,
  status: number,
  view: (value: T) => unknown | Promise<unknown>,
): Promise<JsonReply | Failure> {
  if (!result.ok) return result;
  return { status, body: await view(result.value) };
}

export const page = <T>(data: T[], nextCursor: string | null): { data: T[]; next_cursor: string | null } => ({
  data,
  next_cursor: nextCursor,
});

const bigintAsText = (_key: string, value: unknown): unknown => (typeof value === 'bigint' ? value.toString() : value);

/**
 * JSON text of an answer: JSON.stringify without a replacer (a replacer function is called for every
 * key), and only when the body holds a bigint — JSON.stringify then throws — once more writing each
 * bigint as its decimal text, as the app's `json replacer` did for express's res.json.
 */
export function jsonText(body: unknown): string {
  try {
    return JSON.stringify(body) ?? 'null';
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
    return JSON.stringify(body, bigintAsText) ?? 'null';
  }
}

/**
 * Writes a JSON answer with one JSON.stringify and one res.end (node sets Content-Length and sends the
 * head and the body in one write), where express's res.json/res.send go through content-type lookup,
 * charset handling, a Buffer copy of the body and ETag/freshness checks. The same answer: `content-type:
 * <type>; charset=utf-8` unless a header given sets it, no body for a 204, nor for a HEAD request.
 */
export function writeJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers?: Readonly<Record<string, string>>,
  type = 'application/json; charset=utf-8',
): void {
  if (headers) for (const name in headers) res.setHeader(name, headers[name]!);
  res.statusCode = status;
  if (status === 204 || status === 304 || body === undefined) {
    // what express's res.end() for these leaves: no body, no type
    res.end();
    return;
  }
  if (!headers || !hasHeader(headers, 'content-type')) res.setHeader('content-type', type);
  res.end(jsonText(body));
}

const hasHeader = (headers: Readonly<Record<string, string>>, name: string): boolean => {
  for (const key in headers) if (key.toLowerCase() === name) return true;
  return false;
};
