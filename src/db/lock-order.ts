import { BALANCE_LOCK_KEYS, type LockKey, SPENDING_KEYS } from '../domain/lock-order.js';

/** The column of each key of the domain's lock order. */
const COLUMN: Record<LockKey, string> = {
  clientId: 'client_id',
  creditTypeId: 'credit_type_id',
  priority: 'priority',
  expiresAt: 'expires_at',
  validFrom: 'valid_from',
  id: 'id',
};

const orderBy = (keys: readonly LockKey[], alias?: string): string =>
  keys.map((key) => (alias ? `${alias}.${COLUMN[key]}` : COLUMN[key])).join(', ');

/** ORDER BY of every statement that locks balances (src/domain/lock-order.ts): client, credit type, spending order. */
export const balanceLockOrder = (alias?: string): string => orderBy(BALANCE_LOCK_KEYS, alias);

/** ORDER BY of the balances of one client and credit type: the spending order alone. */
export const spendingOrder = (alias?: string): string => orderBy(SPENDING_KEYS, alias);
