import { hash } from 'node:crypto';
import { CAPTURE_KEY_PREFIX, MAX_FUTURE_SKEW_MS } from '@credits/producer/contracts';
import { canonicalJson } from '../canonical-json.js';
import { consumptionId } from '../ids.js';
import type { UseMode } from './allocate.js';
import { canonicalQuantity, parseQuantity } from './quantity.js';
import { type Failure, fail } from './result.js';

/** A client as a use names it, resolved. */
export interface UseClient {
  id: string;
  externalRef: string;
}

/** A credit type as a use names it, resolved: its precision decides what a quantity may be. */
export interface UseCreditType {
  id: string;
  code: string;
  unit: string;
  decimals: number;
}

/** A use as reported (the fields of a `consume` job that the rules read). */
export interface UseReport {
  client: string;
  credit_type: string;
  quantity: number | string;
  idempotency_key: string;
  occurred_at?: string | undefined;
  accepted_at?: string | undefined;
  reference?: string | undefined;
  metadata?: Record<string, unknown> | undefined;
  mode?: UseMode | undefined;
}

/** A use checked against what the schema cannot know, ready for the burn-down. */
export interface PreparedUse<R extends UseReport = UseReport> {
  /** Its position in the batch. */
  index: number;
  /** UUID v5 of (client, idempotency key): every part of the system names it the same way. */
  id: string;
  client: UseClient;
  creditType: UseCreditType;
  /** Scaled units. */
  quantity: bigint;
  occurredAt: Date;
  mode: UseMode;
  /** The payload's fingerprint (`consumptionFingerprint`). */
  hash: string;
  report: R;
  jobId: string;
}

/**
 * The payload fingerprint: the same key with another payload is `idempotency_conflict`. Built as one
 * string (this runs for every consumption): the fields in a fixed order, metadata as canonical JSON.
 * `occurredAt` is the time given by the caller, if any — a default taken at acceptance is not part of
 * the payload.
 */
export function consumptionFingerprint(p: {
  clientId: string;
  creditTypeId: string;
  /** Scaled units; or, for a use refused before it was scaled, its `canonicalQuantity`. */
  quantity: bigint | string;
  occurredAt: string | null;
  mode: UseMode;
  reference: string | null;
  metadata: unknown;
}): string {
  const text = [
    p.clientId,
    p.creditTypeId,
    p.quantity.toString(),
    p.occurredAt ?? '',
    p.mode,
    p.reference ?? '',
    p.metadata ? canonicalJson(p.metadata) : '',
  ].join('\u0000');
  return hash('sha256', text, 'base64url');
}

/** What checking a use makes of it, before it is named (`prepareUse` names a consumption, `prepareHold` a hold). */
export type CheckedUse<R extends UseReport = UseReport> = Omit<PreparedUse<R>, 'id' | 'hash'> & {
  /** occurred_at as the caller gave it, if it did (part of a consumption's fingerprint; a default is not). */
  given: Date | undefined;
};

/** Where a use is checked: its place in the batch, its job, the clock, and the references resolved. */
export interface UseContext {
  index: number;
  jobId: string;
  enqueuedAt: Date;
  now: Date;
  clients: ReadonlyMap<string, UseClient>;
  creditTypes: ReadonlyMap<string, UseCreditType>;
}

/**
 * Checks a use for what its schema cannot (DOMAIN.md "Quantities" and consumption rule 4): its
 * references exist, its quantity fits the credit type's precision, its time is not in the future;
 * and dates it (default occurred_at: accepted_at, else when it was enqueued). Naming it is the
 * caller's: a hold checks the same way and is named otherwise (each name is a hash worth not computing twice).
 */
export function checkUse<R extends UseReport>(report: R, context: UseContext): CheckedUse<R> | Failure {
  const client = context.clients.get(report.client);
  if (!client)
    return fail('not_found', `no client "${report.client}"`, { errors: [{ field: 'client', message: 'not found' }] });
  const creditType = context.creditTypes.get(report.credit_type);
  if (!creditType) {
    return fail('not_found', `no credit type "${report.credit_type}"`, {
      errors: [{ field: 'credit_type', message: 'not found' }],
    });
  }
  const quantity = parseQuantity(report.quantity, creditType.decimals);
  if (!quantity.ok) {
    return fail('validation_failed', `quantity ${quantity.detail}`, {
      errors: [{ field: 'quantity', message: quantity.detail }],
    });
  }
  const given = report.occurred_at ? new Date(report.occurred_at) : undefined;
  if (given && given.getTime() > context.now.getTime() + MAX_FUTURE_SKEW_MS) {
    return fail('validation_failed', 'occurred_at is in the future', {
      errors: [{ field: 'occurred_at', message: 'is in the future' }],
    });
  }
  return {
    index: context.index,
    client,
    creditType,
    quantity: quantity.value,
    occurredAt: given ?? (report.accepted_at ? new Date(report.accepted_at) : context.enqueuedAt),
    given,
    mode: report.mode ?? 'reject',
    report,
    jobId: context.jobId,
  };
}

/**
 * The idempotency keys of the consumptions hold captures make (`hold:<hold id>`, domain/hold.ts `captureKey`):
 * a use reported under one would take the consumption's name — (client, key) is unique — and its capture could
 * never be written. Such a key is refused to a use (the job schema refuses it first: the producer checks it too).
 */
export { CAPTURE_KEY_PREFIX };

/**
 * Checks a use (`checkUse`) and names it as a consumption: id from (client, key), payload fingerprint. The
 * prepared use is made field by field, not copied from the checked one (this runs for every use of a batch).
 */
export function prepareUse<R extends UseReport>(report: R, context: UseContext): PreparedUse<R> | Failure {
  if (report.idempotency_key.startsWith(CAPTURE_KEY_PREFIX)) {
    const message = `must not start with "${CAPTURE_KEY_PREFIX}": those keys name the consumptions of hold captures`;
    return fail('validation_failed', `idempotency_key ${message}`, {
      errors: [{ field: 'idempotency_key', message }],
    });
  }
  const use = checkUse(report, context);
  if (isRefused(use)) return use;
  return {
    index: use.index,
    id: consumptionId(use.client.id, report.idempotency_key),
    client: use.client,
    creditType: use.creditType,
    quantity: use.quantity,
    occurredAt: use.occurredAt,
    mode: use.mode,
    hash: consumptionFingerprint({
      clientId: use.client.id,
      creditTypeId: use.creditType.id,
      quantity: use.quantity,
      occurredAt: use.given ? use.given.toISOString() : null,
      mode: use.mode,
      reference: report.reference ?? null,
      metadata: report.metadata ?? null,
    }),
    report,
    jobId: use.jobId,
  };
}

/**
 * The id a use refused by `prepareUse` is known by, the one its consumption would have had: uuid v5 of its client's
 * id — or of the client as the use named it, when there is no such client — and its key.
 */
export const refusedUseId = (report: UseReport, clients: UseContext['clients']): string =>
  consumptionId(clients.get(report.client)?.id ?? report.client, report.idempotency_key);

/**
 * The fingerprint of a use `prepareUse` refused, so that two refused uses under one (client, key) are compared as
 * two accepted ones are (`consumptionFingerprint`), not by how their JSON is written: each reference by the id it
 * resolves to (as named when it resolves to none), the quantity as the number it is (1, "1" and "1.0" alike:
 * `canonicalQuantity`, as no credit type may have scaled it), occurred_at as the instant it names, the default mode
 * spelled out, metadata as canonical JSON.
 */
export function refusedUseFingerprint(report: UseReport, context: Pick<UseContext, 'clients' | 'creditTypes'>): string {
  const given = report.occurred_at ? new Date(report.occurred_at) : undefined;
  return consumptionFingerprint({
    clientId: context.clients.get(report.client)?.id ?? report.client,
    creditTypeId: context.creditTypes.get(report.credit_type)?.id ?? report.credit_type,
    quantity: canonicalQuantity(report.quantity),
    occurredAt: given && !Number.isNaN(given.getTime()) ? given.toISOString() : (report.occurred_at ?? null),
    mode: report.mode ?? 'reject',
    reference: report.reference ?? null,
    metadata: report.metadata ?? null,
  });
}

/** Whether `checkUse` (or `prepareUse`, `prepareHold`) refused the use. */
export const isRefused = <T extends object>(p: T | Failure): p is Failure => 'ok' in p;

/**
 * What becomes of each use a batch refused for good (`prepareUse`'s failures), as consumption rule 4 has it for the
 * uses it accepts, in the batch's order: the first refused use under a (client, key) that is still free is `record`ed
 * (its failure, readable by id); a later one of the same payload (`refusedUseFingerprint`) is a `repeat` of that one;
 * one of another payload, or one under a key a use applied earlier in the batch took, is a `conflict` (a key reused
 * with another payload). A refused use the batch applies another use after, under its key, failed while the key was
 * free: its `own` failure answers it, and nothing is recorded (the consumption is read by that id). A use under a
 * hold capture's key is answered its own failure and never recorded: that id is the capture's consumption.
 */
export type RefusalVerdict = { kind: 'record' | 'own' | 'conflict' } | { kind: 'repeat'; of: number };

export function judgeRefusals(
  refusals: ReadonlyArray<{ index: number; report: UseReport }>,
  context: Pick<UseContext, 'clients' | 'creditTypes'> & {
    /** The id of each use the batch applies (or answers from before), with the place of its first item. */
    accepted: ReadonlyMap<string, number>;
  },
): RefusalVerdict[] {
  const first = new Map<string, { position: number; fingerprint: string }>();
  return refusals.map(({ index, report }, position): RefusalVerdict => {
    if (report.idempotency_key.startsWith(CAPTURE_KEY_PREFIX)) return { kind: 'own' };
    const id = refusedUseId(report, context.clients);
    const acceptedAt = context.accepted.get(id);
    if (acceptedAt !== undefined && acceptedAt < index) return { kind: 'conflict' };
    const fingerprint = refusedUseFingerprint(report, context);
    const earlier = first.get(id);
    if (earlier)
      return earlier.fingerprint === fingerprint ? { kind: 'repeat', of: earlier.position } : { kind: 'conflict' };
    first.set(id, { position, fingerprint });
    return { kind: acceptedAt === undefined ? 'record' : 'own' };
  });
}
