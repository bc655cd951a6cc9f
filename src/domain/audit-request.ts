/**
 * What the audit trail keeps of a request: its body with every secret replaced, and no more than a
 * screenful. A field is a secret by its name (anything naming a secret, key, password, token or
 * credential — a webhook's `secret`, a key's `key`) or by its value (an API key `crd_…`, a webhook
 * secret `whsec_…`, a URL carrying a user and password). `idempotency_key` is the one `*key*` kept: it
 * names a request, it opens nothing, and it is how a person finds the call behind a consumption.
 */

export const REDACTED = '[redacted]';

/** Beyond this many characters of JSON the body is summarised by its top-level fields only. */
export const MAX_REQUEST_CHARS = 8_000;

const SECRET_NAME = /secret|key|passw(or)?d|token|credential|authori[sz]ation/i;
const KEPT_NAMES = new Set(['idempotency_key']);
const SECRET_VALUE = /^(crd_|whsec_)/;
const URL_USER = /^([a-z][a-z0-9+.-]*:\/\/)[^/?#@\s]*@/i;

const isSecretName = (name: string): boolean => SECRET_NAME.test(name) && !KEPT_NAMES.has(name);

function redact(value: unknown, depth: number): unknown {
  if (typeof value === 'string') {
    if (SECRET_VALUE.test(value)) return REDACTED;
    return URL_USER.test(value) ? value.replace(URL_USER, `$1${REDACTED}@`) : value;
  }
  if (typeof value === 'bigint') return value.toString();
  if (value === null || typeof value !== 'object') return value;
  // deeper than any body of this API: kept as a marker, not walked
  if (depth > 20) return REDACTED;
  if (Array.isArray(value)) return value.map((item) => redact(item, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [name, inner] of Object.entries(value as Record<string, unknown>)) {
    out[name] = isSecretName(name) ? REDACTED : redact(inner, depth + 1);
  }
  return out;
}

/** The body as the trail keeps it: secrets redacted, a large body (a batch) cut down to its shape. */
export function auditedRequest(body: unknown): unknown {
  if (body === undefined) return null;
  const redacted = redact(body, 0);
  const text = JSON.stringify(redacted) ?? 'null';
  if (text.length <= MAX_REQUEST_CHARS) return redacted;
  const fields =
    redacted !== null && typeof redacted === 'object' && !Array.isArray(redacted)
      ? Object.keys(redacted as object).slice(0, 50)
      : [];
  return { truncated: true, chars: text.length, fields };
}
