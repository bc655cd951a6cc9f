import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Webhook signatures follow Standard Webhooks (https://www.standardwebhooks.com), so a receiver can verify
 * them with that project's libraries (the `standardwebhooks` npm package, Svix's):
 *
 *   webhook-id:        the event's id (the same on every retry of it: the receiver's de-duplication key)
 *   webhook-timestamp: unix seconds of this attempt
 *   webhook-signature: `v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<raw body>">`, several separated by a space
 *                      (during a secret rotation: the new secret's, then the old one's)
 *
 * The HMAC key is the base64-DECODED part of the `whsec_<base64>` secret. A secret stored before this scheme that is
 * not `whsec_` + standard base64 (they were base64url) keys the HMAC with its own UTF-8 bytes, whole: rotate it to
 * get one the libraries accept.
 */
export const WEBHOOK_ID_HEADER = 'webhook-id';
export const WEBHOOK_TIMESTAMP_HEADER = 'webhook-timestamp';
export const WEBHOOK_SIGNATURE_HEADER = 'webhook-signature';
export const DEFAULT_TOLERANCE_S = 300;

export const SECRET_PREFIX = 'whsec_';
/** Bytes of key a secret given by a caller may carry (Standard Webhooks: 24 to 64). */
export const SECRET_MIN_BYTES = 24;
export const SECRET_MAX_BYTES = 64;

const STANDARD_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** The key bytes of a `whsec_<standard base64>` secret, or undefined when it is not one. */
export function decodeSecret(secret: string): Buffer | undefined {
  if (!secret.startsWith(SECRET_PREFIX)) return undefined;
  const encoded = secret.slice(SECRET_PREFIX.length);
  if (encoded.length === 0 || !STANDARD_BASE64.test(encoded)) return undefined;
  return Buffer.from(encoded, 'base64');
}

/** A secret a caller may give: `whsec_` + standard base64 of 24 to 64 bytes. */
export function isStandardSecret(secret: string): boolean {
  const key = decodeSecret(secret);
  return key !== undefined && key.length >= SECRET_MIN_BYTES && key.length <= SECRET_MAX_BYTES;
}

/** A new secret: `whsec_` + standard base64 of 32 random bytes. */
export const newSecret = (): string => `${SECRET_PREFIX}${randomBytes(32).toString('base64')}`;

/** The HMAC key of a stored secret: its decoded bytes, or (an older, non-standard secret) its UTF-8 bytes. */
export const secretKey = (secret: string): Buffer => decodeSecret(secret) ?? Buffer.from(secret, 'utf8');

/** One signature, without its `v1,` version. */
export const signature = (secret: string, id: string, timestampS: number, body: string): string =>
  createHmac('sha256', secretKey(secret)).update(`${id}.${timestampS}.${body}`, 'utf8').digest('base64');

/** The `webhook-signature` header: one `v1,<signature>` per secret, separated by spaces. */
export const signatureHeader = (secrets: readonly string[], id: string, timestampS: number, body: string): string =>
  secrets.map((secret) => `v1,${signature(secret, id, timestampS, body)}`).join(' ');

/** The three Standard Webhooks headers of one attempt. */
export function signedHeaders(
  secrets: readonly string[],
  id: string,
  timestampS: number,
  body: string,
): Record<string, string> {
  return {
    [WEBHOOK_ID_HEADER]: id,
    [WEBHOOK_TIMESTAMP_HEADER]: String(timestampS),
    [WEBHOOK_SIGNATURE_HEADER]: signatureHeader(secrets, id, timestampS, body),
  };
}

export type SignatureCheck =
  | { ok: true; timestamp: number }
  | { ok: false; reason: 'malformed' | 'timestamp_out_of_tolerance' | 'mismatch' };

/**
 * What a receiver runs on each delivery (the same checks as the `standardwebhooks` package): the headers are
 * there, the timestamp is within `toleranceS` of now, and one of the `v1` signatures matches, compared in
 * constant time.
 */
export function verifySignature(
  secret: string,
  headers: { id?: string | undefined; timestamp?: string | undefined; signature?: string | undefined },
  body: string,
  nowS = Math.floor(Date.now() / 1000),
  toleranceS = DEFAULT_TOLERANCE_S,
): SignatureCheck {
  const { id, timestamp, signature: header } = headers;
  if (!id || !timestamp || !header || !/^\d{1,12}$/.test(timestamp)) return { ok: false, reason: 'malformed' };
  const given = header
    .split(' ')
    .map((part) => part.split(','))
    .filter(([version, value]) => version === 'v1' && value)
    .map(([, value]) => Buffer.from(value!, 'utf8'));
  if (given.length === 0) return { ok: false, reason: 'malformed' };
  const seconds = Number(timestamp);
  if (Math.abs(nowS - seconds) > toleranceS) return { ok: false, reason: 'timestamp_out_of_tolerance' };
  const expected = Buffer.from(signature(secret, id, seconds, body), 'utf8');
  const match = given.some((s) => s.length === expected.length && timingSafeEqual(s, expected));
  return match ? { ok: true, timestamp: seconds } : { ok: false, reason: 'mismatch' };
}
