import type { AppContext } from '../app-context.js';
import { PG, pgCode } from '../db/knex.js';
import { type PlacedBalanceRow, placedBalanceById } from '../db/repositories/balances.js';
import { clientsOwedAnywhere, clientsOwedBySweep, type HoldRow } from '../db/repositories/holds.js';
import { type SubscriptionRow, subscriptionById } from '../db/repositories/subscriptions.js';
import { frozenPastUntil } from '../domain/freeze.js';
import { heldPastExpiry } from '../domain/hold.js';
import { holdRow } from '../services/holds.js';
import { subscriptionViews } from '../services/subscriptions.js';
import type { SubscriptionView } from '../views/subscription.js';
import { settleOwed } from './sweep-owed.js';

/**
 * DOMAIN.md has a hold end at its `expires_at` and a freeze at its `frozen_until`; the expiry sweep that records it
 * (expire.ts) only comes every few minutes. A live read of a client first does what the sweep owes it (settleOwed:
 * the sweep's own closings, ledger entries and events), so that it answers as the sweep would have left it. The
 * check is one query through the partial indexes of open holds and frozen subscriptions, on the primary (`app.sql`,
 * as the writes: a read of the replica never writes). Safe against the sweep, a worker or another read doing the
 * same meanwhile: a hold's closing queues on the balances it holds units of and, when another closed it first, runs
 * again and finds it closed (hold-closing.ts); a freeze's locks its subscription and finds it unfrozen.
 * Called before a read of the client: whatever was due when it looked is closed (by it, or by whoever held the lock
 * first) before that read. Answers whether anything was owed (and is now done).
 */
export async function settleOwedOf(app: AppContext, clientIds: readonly string[]): Promise<boolean> {
  if (clientIds.length === 0) return false;
  const now = app.clock.now();
  const owed = await clientsOwedBySweep(app.sql, clientIds, now);
  if (owed.length === 0) return false;
  for (let attempt = 1; ; attempt += 1) {
    try {
      await settleOwed(app, owed, now);
      return true;
    } catch (error) {
      // chosen as a deadlock's victim (against a worker's batch, or the sweep making its month partitions): each of
      // settleOwed's transactions rolled back whole or committed, and what is done is no longer due, so it runs again
      if (!RETRIED.has(pgCode(error) ?? '') || attempt >= SETTLE_ATTEMPTS) throw error;
    }
  }
}

const RETRIED: ReadonlySet<string> = new Set([PG.deadlockDetected, PG.serializationFailure]);
const SETTLE_ATTEMPTS = 3;

/**
 * Rounds a read settles at most. A page read again after its clients were settled may bring rows of other clients
 * the sweep owes (a list of open holds of every client: the expired ones leave the page, later ones come in); each
 * round settles every one of the page's, so only a sweep far behind (many pages of owed clients) reaches this, and
 * the page is then answered as read, the sweep's next run doing the rest.
 */
const MAX_ROUNDS = 5;

/**
 * A read whose clients are known only from what it read (a hold by id, a page of every client's): the clients
 * `clientsOf` names are settled (settleOwedOf), then it reads again if anything was owed, or if what it read looked
 * owed (`looksOwed`: a hold held past its expiry, a subscription frozen past frozen_until) — the sweep, a worker or
 * another read may have closed it between the read and the check, and the answer must not be the one from before.
 * Whatever the answer shows that the check cannot tell from it (the `held` of balances) must be read after this
 * returns. Owing nothing costs the check (or nothing, when `clientsOf` names none).
 */
export async function readAsSwept<T>(
  app: AppContext,
  read: () => Promise<T>,
  clientsOf: (answer: T, now: Date) => readonly string[],
  looksOwed: (answer: T, now: Date) => boolean,
): Promise<T> {
  let answer = await read();
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const now = app.clock.now();
    const clients = [...new Set(clientsOf(answer, now))];
    if (clients.length === 0) return answer;
    const owed = await settleOwedOf(app, clients);
    if (!owed && !looksOwed(answer, now)) return answer;
    answer = await read();
    // nothing was owed any more: the read again shows what was settled meanwhile
    if (!owed) return answer;
  }
  return answer;
}

/** Clients settled per round by settleOwedAnywhere: a round is one check and the clients' settling. */
const ANYWHERE_PER_ROUND = 200;

/**
 * Before a list of every client filtered by the status an owed row moves into (`GET /v1/holds?status=expired`,
 * `GET /v1/subscriptions?status=active`): a hold past its expiry is still `held` in the table, so no page of
 * `expired` holds can bring its client to be settled, as readAsSwept does for the clients of a page. What the sweep
 * owes anyone is done first instead, the oldest first, at most MAX_ROUNDS rounds of ANYWHERE_PER_ROUND clients: a
 * sweep further behind than that is left to its next run. Owing nothing costs one query through the partial indexes.
 * The same before a page that counts every client's subscriptions by status (the overview, a package's page): a
 * freeze past its frozen_until would be counted `frozen`, and no page of rows names the clients to settle.
 */
export async function settleOwedAnywhere(app: AppContext): Promise<void> {
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const owed = await clientsOwedAnywhere(app.sql, app.clock.now(), ANYWHERE_PER_ROUND);
    if (owed.length === 0) return;
    await settleOwedOf(app, owed);
    if (owed.length < ANYWHERE_PER_ROUND) return;
  }
}

/** A subscription by id as the sweep leaves it: its client settled first; its view (balances) is read after. */
const subscriptionAsSwept = (app: AppContext, id: string): Promise<SubscriptionRow | undefined> =>
  readAsSwept(
    app,
    () => subscriptionById(app.db, id),
    (row) => (row ? [row.client_id] : []),
    (row, now) => !!row && frozenPastUntil({ status: row.status, frozenUntil: row.frozen_until }, now),
  );

/**
 * Before a change of a subscription (PATCH, renew, recharge): a freeze of it past its `frozen_until` ended then
 * (DOMAIN.md), so what the sweep owes its client is done first, as a read does it — the change meets the subscription
 * as every read shows it (active, its period pushed), not as a freeze that has ended ("a frozen subscription cannot
 * …"). One read by key when it is not frozen past its frozen_until.
 */
export async function settleFreezeOwed(app: AppContext, id: string): Promise<void> {
  const row = await subscriptionById(app.db, id);
  if (row && frozenPastUntil({ status: row.status, frozenUntil: row.frozen_until }, app.clock.now()))
    await settleOwedOf(app, [row.client_id]);
}

/** GET /v1/subscriptions/{id} and the subscription page: the view (balances included) as the sweep leaves it. */
export async function subscriptionViewAsSwept(app: AppContext, id: string): Promise<SubscriptionView | undefined> {
  const row = await subscriptionAsSwept(app, id);
  return row ? (await subscriptionViews(app.db, [row], { withBalances: true }))[0] : undefined;
}

/**
 * GET /v1/balances/{id} and the balance page: a balance as the sweep leaves it — a hold of its client past its
 * expires_at holds nothing of it, a freeze past its frozen_until no longer keeps it (read again after the check if it
 * held units or was frozen: either may have been settled meanwhile).
 */
export const placedBalanceAsSwept = (app: AppContext, id: string): Promise<PlacedBalanceRow | undefined> =>
  readAsSwept(
    app,
    () => placedBalanceById(app.db, id),
    (b) => (b ? [b.client_id] : []),
    (b) => !!b && (b.held > 0n || b.subscription_status === 'frozen'),
  );

/**
 * A hold as the sweep leaves it (the capture and release pages, asking first): one held past its expires_at is closed
 * first (its client settled), as GET /v1/holds/{id} answers it; any other costs nothing more.
 */
export const holdRowAsSwept = (app: AppContext, id: string): Promise<HoldRow | undefined> =>
  readAsSwept(
    app,
    () => holdRow(app, id),
    (row, now) =>
      row && heldPastExpiry({ status: row.status, expiresAt: row.expires_at }, now) ? [row.client_id] : [],
    () => true,
  );
