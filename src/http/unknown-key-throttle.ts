const WINDOW_MS = 60_000;
/** Addresses counted at once; past this many in a minute a new one is not counted (fails open, memory bounded). */
const MAX_ADDRESSES = 100_000;

/**
 * A key check refused because its caller's address has sent too many unknown keys this minute: the API answers 429
 * `rate_limited` (Retry-After), the pages a 429 page.
 */
export class KeyCheckThrottled extends Error {
  constructor(readonly retryAfterS: number) {
    super(`too many unknown API keys from this address: try again in ${retryAfterS} s`);
  }
}

/**
 * Per caller address (express's `req.ip`, TRUST_PROXY deciding whose), the unknown keys whose check read the
 * `api_keys` table this minute. A key the verifier remembers (valid or not) costs no read and is not counted; a
 * string that is not shaped like a key is refused before any read and not counted either. What it stops: a flood of
 * made-up keys — each a read of the database, and each an entry pushing real keys out of the verifier's cache — from
 * one address. It is per process (each API process counts its own), and a fixed minute.
 */
export class UnknownKeyThrottle {
  private readonly counts = new Map<string, number>();
  private window = -1;

  constructor(
    /** Unknown keys an address may have checked in a minute; 0 counts nothing and refuses nothing. */
    private readonly perMinute: number,
    /** Milliseconds of a monotonic clock (tests move it). */
    private readonly now: () => number,
  ) {}

  /** Seconds until the address may have a key read again, or undefined when it may now. */
  retryAfterS(address: string): number | undefined {
    if (this.perMinute === 0) return undefined;
    const at = this.now();
    if ((this.countsAt(at).get(address) ?? 0) < this.perMinute) return undefined;
    return Math.max(1, Math.ceil(((this.window + 1) * WINDOW_MS - at) / 1000));
  }

  /** A key read for this address was not a valid key. */
  unknown(address: string): void {
    if (this.perMinute === 0) return;
    const counts = this.countsAt(this.now());
    const count = counts.get(address);
    if (count === undefined && counts.size >= MAX_ADDRESSES) return;
    counts.set(address, (count ?? 0) + 1);
  }

  private countsAt(at: number): Map<string, number> {
    const window = Math.floor(at / WINDOW_MS);
    if (window !== this.window) {
      this.window = window;
      this.counts.clear();
    }
    return this.counts;
  }
}
