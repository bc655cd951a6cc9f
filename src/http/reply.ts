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
