import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { classifyAddress } from '../domain/ip-address.js';
import { fail, ok, type Result } from '../domain/result.js';

/** An address a delivery connects to: vetted once, then used as it is (no second lookup to rebind). */
export interface VettedAddress {
  address: string;
  family: 4 | 6;
}

/**
 * The SSRF guard: the URL's host is resolved once, and every address it resolves to must be public
 * (src/domain/ip-address.ts) — not loopback, private, CGNAT, link-local (the cloud metadata address), unique-local,
 * unspecified, multicast, reserved, nor an IPv4-mapped form of those — unless `allowPrivate`
 * (WEBHOOK_ALLOW_PRIVATE=true: tests and local development). Answers the address to connect to.
 */
export async function vetUrl(url: string, allowPrivate: boolean): Promise<Result<VettedAddress>>;
/**
 * With `unresolved: 'accept'` (an endpoint being created), a host that does not resolve now is let through as
 * `null`: it may resolve later, and every delivery vets it again before it connects.
 */
export async function vetUrl(
  url: string,
  allowPrivate: boolean,
  options: { unresolved: 'accept' },
): Promise<Result<VettedAddress | null>>;
export async function vetUrl(
  url: string,
  allowPrivate: boolean,
  options?: { unresolved: 'accept' },
): Promise<Result<VettedAddress | null>> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return refuse('is not a URL');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return refuse('must be an http(s) URL');
  const host = parsed.hostname.startsWith('[') ? parsed.hostname.slice(1, -1) : parsed.hostname;
  let addresses: Array<{ address: string; family: number }>;
  const literal = isIP(host);
  if (literal) addresses = [{ address: host, family: literal }];
  else {
    try {
      addresses = await lookup(host, { all: true, verbatim: true });
    } catch (error) {
      if (options?.unresolved === 'accept') return ok(null);
      const code = (error as { code?: string }).code ?? 'lookup failed';
      return refuse(`names host "${host}", which does not resolve (${code})`);
    }
  }
  if (addresses.length === 0) return refuse(`names host "${host}", which does not resolve`);
  if (!allowPrivate) {
    for (const { address } of addresses) {
      const kind = classifyAddress(address);
      if (kind !== 'public')
        return refuse(
          `names host "${host}", which resolves to ${address}, a ${kind.replace('_', '-')} address; webhooks go to ` +
            'public addresses only (WEBHOOK_ALLOW_PRIVATE=true allows others)',
        );
    }
  }
  const first = addresses[0]!;
  return ok({ address: first.address, family: first.family === 6 ? 6 : 4 });
}

const refuse = (message: string): Result<never> =>
  fail('validation_failed', `url ${message}`, { errors: [{ field: 'url', message }] });
