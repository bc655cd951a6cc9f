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
  return canonicalJson(name === 'consume-batch' ? request.items : request);
}
