import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Webhook signatures: `Credits-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`,
 * keyed with the endpoint's secret. The timestamp is signed too, so a captured delivery cannot be
 * replayed later than the receiver's tolerance.
 */
export const SIGNATURE_HEADER = 'credits-signature';
export const DEFAULT_TOLERANCE_S = 300;

export function sign(secret: string, body: string, timestampS: number): string {
  const mac = createHmac('sha256', secret).update(`${timestampS}.${body}`, 'utf8').digest('hex');
  return `t=${timestampS},v1=${mac}`;
}

export type SignatureCheck =
  | { ok: true; timestamp: number }
  | { ok: false; reason: 'malformed' | 'timestamp_out_of_tolerance' | 'mismatch' };

/**
 * What a receiver runs on each delivery: the header parses, its time is within `toleranceS` of now,
 * and one of its v1 signatures matches (several are accepted during a secret rotation), compared in
 * constant time.
 */
export function verifySignature(
  secret: string,
  header: string | undefined,
  body: string,
  nowS = Math.floor(Date.now() / 1000),
  toleranceS = DEFAULT_TOLERANCE_S,
): SignatureCheck {
  if (!header) return { ok: false, reason: 'malformed' };
  let timestamp: number | undefined;
  const signatures: string[] = [];
  for (const part of header.split(',')) {
    const [key, value] = part.trim().split('=', 2);
    if (key === 't' && value && /^\d{1,12}$/.test(value)) timestamp = Number(value);
    if (key === 'v1' && value && /^[0-9a-f]{64}$/.test(value)) signatures.push(value);
  }
  if (timestamp === undefined || signatures.length === 0) return { ok: false, reason: 'malformed' };
  if (Math.abs(nowS - timestamp) > toleranceS) return { ok: false, reason: 'timestamp_out_of_tolerance' };
  const expected = Buffer.from(
    createHmac('sha256', secret).update(`${timestamp}.${body}`, 'utf8').digest('hex'),
    'utf8',
  );
  const match = signatures.some((s) => {
    const given = Buffer.from(s, 'utf8');
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
  return match ? { ok: true, timestamp } : { ok: false, reason: 'mismatch' };
}
