import { z } from 'zod';
import type { Executor } from '../db/knex.js';
import { findClient } from '../db/repositories/clients.js';
import { findCreditType } from '../db/repositories/credit-types.js';
import { type UsageGrouping, usageRows } from '../db/repositories/usage.js';
import { toCreditTypeBrief } from '../domain/credit-type-brief.js';
import { formatQuantity } from '../domain/quantity.js';
import { type FieldProblem, fail, ok, type Result } from '../domain/result.js';
import type { WeekStart } from '../domain/week.js';
import { defaultFrom, GROUPINGS, MAX_RANGE_DAYS, parseBound } from '../reports/params.js';
import { creditTypeBrief } from '../views/credit-type.js';

export const usageView = z
  .object({
    credit_type: creditTypeBrief,
    group_by: z.string(),
    from: z.string(),
    to: z.string(),
    data: z.array(
      z.object({
        key: z.string().meta({
          description:
            'The first day of the bucket (YYYY-MM-DD, BUSINESS_TZ) for day/week/month; the value for a dimension, ' +
            '"(none)" for the uses that gave none.',
        }),
        quantity: z.string().meta({ description: "Consumed − reversed, in the credit type's decimals." }),
      }),
    ),
  })
  .meta({ id: 'Usage' });
export type UsageView = z.infer<typeof usageView>;

export interface UsageRequest {
  client: string;
  credit_type: string;
  from?: string | undefined;
  to?: string | undefined;
  group_by?: string | undefined;
}

const problem = (field: string, message: string): FieldProblem => ({ field: `query.${field}`, message });

/**
 * GET /v1/clients/{id}/usage (DOMAIN.md "Dimensions"): net use of one credit type per day, week or
 * month, or per value of one of the credit type's dimensions. The range is as a report's: both ends
 * included, a day as `to` meaning its end, by default the last 30 days up to now. Every grouping of
 * the same range sums to the same total.
 */
export async function clientUsage(
  db: Executor,
  request: UsageRequest,
  context: { now: Date; timeZone: string; weekStart: WeekStart },
): Promise<Result<UsageView>> {
  const client = await findClient(db, request.client);
  if (!client) return fail('not_found', `no client "${request.client}"`);
  const creditType = await findCreditType(db, request.credit_type);
  if (!creditType) return fail('not_found', `no credit type "${request.credit_type}"`);

  const problems: FieldProblem[] = [];
  const groupBy = request.group_by ?? 'day';
  let grouping: UsageGrouping | undefined;
  if ((GROUPINGS as readonly string[]).includes(groupBy)) grouping = { calendar: groupBy as 'day' | 'week' | 'month' };
  else if (creditType.dimensions.includes(groupBy)) grouping = { dimension: groupBy };
  else {
    const dims = creditType.dimensions.length > 0 ? `, or a dimension: ${creditType.dimensions.join(', ')}` : '';
    problems.push(problem('group_by', `must be day, week or month${dims}`));
  }
  const to = request.to === undefined ? context.now : parseBound(request.to, context.timeZone, true);
  if (!to) problems.push(problem('to', 'must be a day (YYYY-MM-DD) or an RFC 3339 time with its offset'));
  const from =
    request.from === undefined
      ? to && defaultFrom(to, request.to, context.timeZone)
      : parseBound(request.from, context.timeZone, false);
  if (!from) problems.push(problem('from', 'must be a day (YYYY-MM-DD) or an RFC 3339 time with its offset'));
  if (from && to && from.getTime() > to.getTime()) problems.push(problem('from', 'must not be after `to`'));
  if (from && to && to.getTime() - from.getTime() > MAX_RANGE_DAYS * 86_400_000)
    problems.push(problem('from', `the range may span at most ${MAX_RANGE_DAYS} days`));
  if (problems.length > 0 || !grouping || !from || !to)
    return fail('validation_failed', problems.map((p) => `${p.field}: ${p.message}`).join('; '), { errors: problems });

  const rows = await usageRows(db, {
    clientId: client.id,
    creditTypeId: creditType.id,
    from,
    to,
    timeZone: context.timeZone,
    weekStart: context.weekStart,
    grouping,
  });
  return ok({
    credit_type: toCreditTypeBrief(creditType),
    group_by: groupBy,
    from: from.toISOString(),
    to: to.toISOString(),
    data: rows.map((r) => ({ key: r.key, quantity: formatQuantity(r.quantity, creditType.decimals) })),
  });
}
