/**
 * JSON with object keys sorted, so that two equal payloads have one text (and one hash): how the producer tells a
 * repeat of a request from another payload under its key, and how the service fingerprints requests.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v === 'bigint') return v.toString();
    if (v && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date)) {
      return Object.fromEntries(
        Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
      );
    }
    return v;
  });
}

/**
 * What makes two jobs of one id the same request: their payload as canonical JSON, without what is stamped at each
 * call (`accepted_at`) — and of a batch, its uses (its key is its id). The producer and the API compare with it what
 * Redis holds under a job id with what they just added there.
 */
export function requestOf(name: string, data: unknown): string {
  if (typeof data !== 'object' || data === null) return canonicalJson(data);
  const { accepted_at: _stamp, ...request } = data as Record<string, unknown>;
  const items = name === 'consume-batch' && Array.isArray(request.items) ? request.items : undefined;
  return canonicalJson(items ? items.map(withPlainNumbers) : withPlainNumbers(request));
}

/**
 * A number as one text whichever way it was written, where the service reads it so: a use's quantity (3, "3.00",
 * " +03 ": the same use is not another payload), and a recharge's fee as its fingerprint reads it (`String(price)`:
 * 1250 and "1250"). A recharge's item units are compared as written, as its fingerprint takes them
 * (src/jobs/recharge.ts). Only the writing is made one; whether the value suits its credit type is the worker's to say.
 */
function withPlainNumbers(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  const plain: Record<string, unknown> = { ...value };
  if ('quantity' in plain) plain.quantity = plainDecimal(plain.quantity);
  if (typeof plain.price === 'number' || typeof plain.price === 'string') plain.price = String(plain.price);
  return plain;
}

export function plainDecimal(quantity: unknown): unknown {
  const text = typeof quantity === 'number' ? String(quantity) : typeof quantity === 'string' ? quantity.trim() : '';
  const parts = /^([+-]?)(\d*)(?:\.(\d*))?$/.exec(text);
  if (!parts || (parts[2] === '' && (parts[3] ?? '') === '')) return quantity;
  const whole = parts[2]!.replace(/^0+(?=\d)/, '') || '0';
  const fraction = (parts[3] ?? '').replace(/0+$/, '');
  const digits = fraction === '' ? whole : `${whole}.${fraction}`;
  return parts[1] === '-' && /[1-9]/.test(digits) ? `-${digits}` : digits;
}
