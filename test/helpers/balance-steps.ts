import type { httpSteps } from './http-steps.js';

/** One balance in a client's balances answer (GET /v1/clients/{id}/balances), as the walks over HTTP read it. */
export interface BalanceLot {
  [field: string]: unknown;
  id: string;
  remaining: string;
  held: string;
  consumed: string;
  expired: string;
  expires_at: string;
  availability: string;
}
/** One credit type's row of that answer: its sums and its balances. */
export interface BalanceRow {
  [field: string]: unknown;
  granted: string;
  consumed: string;
  remaining: string;
  held: string;
  expired: string;
  unavailable: string;
  balances: BalanceLot[];
}

/** A row's sums without its balances: what a check by hand compares. */
export const rowTotals = (r: Record<string, unknown>) => ({
  granted: r.granted,
  consumed: r.consumed,
  remaining: r.remaining,
  held: r.held,
  expired: r.expired,
  unavailable: r.unavailable,
});

/**
 * The balance steps the walks of holds, freezes, as-of and forecasts take over HTTP, on the steps of their file: a
 * client's row of a credit type (live or `as_of`), a use and a hold answered with `?wait=true`, a grant by hand.
 */
export function balanceSteps({ call, ok }: Pick<ReturnType<typeof httpSteps>, 'call' | 'ok'>, reason = 'by hand') {
  const rowOf = async (ref: string, ct: string, asOf?: string): Promise<BalanceRow> => {
    const q = asOf ? `?as_of=${encodeURIComponent(asOf)}` : '';
    const body = await ok('GET', `/v1/clients/${ref}/balances${q}`);
    return body.data.find((r: { credit_type: { code: string } }) => r.credit_type.code === ct);
  };
  const consume = (ref: string, ct: string, quantity: number | string, key: string, extra: object = {}) =>
    call('POST', '/v1/consumptions?wait=true', {
      client: ref,
      credit_type: ct,
      quantity,
      idempotency_key: key,
      ...extra,
    });
  const hold = (ref: string, ct: string, quantity: number | string, key: string, extra: object = {}) =>
    call('POST', '/v1/holds?wait=true', { client: ref, credit_type: ct, quantity, idempotency_key: key, ...extra });
  const grant = async (ref: string, ct: string, units: number | string, expiresAt: string, priority = 50) =>
    (
      await ok(
        'POST',
        `/v1/clients/${ref}/grants`,
        { credit_type: ct, units, expires_at: expiresAt, priority, reason },
        201,
      )
    ).id as string;
  return { rowOf, consume, hold, grant };
}
