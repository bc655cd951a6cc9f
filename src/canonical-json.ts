import { createHash } from 'node:crypto';
import { canonicalJson } from '@credits/producer/canonical-json';

export { canonicalJson };

/** The sha256 of a payload's canonical JSON: what a request's idempotency compares. */
export const fingerprint = (value: unknown): string =>
  createHash('sha256').update(canonicalJson(value)).digest('base64url');
