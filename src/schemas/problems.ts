import type { ZodError } from 'zod';
import type { FieldProblem } from '../domain/result.js';

/**
 * A zod error as the contract's field problems (`items.0.units: allows at most 2 decimal places`).
 * Shared by the HTTP edge, the pages and the workers, which validate with the same schemas.
 */
export function zodProblems(error: ZodError, prefix?: string): FieldProblem[] {
  return error.issues.map((issue) => {
    const path = [prefix, ...issue.path.map(String)].filter((p): p is string => p !== undefined && p !== '');
    return { field: path.join('.') || '(body)', message: issue.message };
  });
}

/** The problems in one line, for a job's failure reason and a log line. */
export const problemsText = (problems: readonly FieldProblem[]): string =>
  problems.map((p) => `${p.field}: ${p.message}`).join('; ');
