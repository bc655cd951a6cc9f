import { request as httpRequest, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import type { VettedAddress } from './guard.js';

/**
 * POSTs a delivery to `url`, connecting to the vetted address only (the socket's lookup answers it, so a DNS
 * answer that changed since the check cannot send it elsewhere; TLS still checks the URL's host name). A redirect
 * is an answer like any other (3xx: not delivered), never followed. Answers the status code once the headers
 * arrive; throws on a network error or after `timeoutMs`.
 */
export function postTo(
  url: string,
  to: VettedAddress,
  headers: Record<string, string>,
  body: string,
  timeoutMs: number,
): Promise<number> {
  const target = new URL(url);
  const lookup: LookupFunction = (_hostname, options, callback) => {
    if ((options as { all?: boolean }).all)
      (callback as unknown as (e: null, a: Array<{ address: string; family: number }>) => void)(null, [
        { address: to.address, family: to.family },
      ]);
    else callback(null, to.address, to.family);
  };
  const options: RequestOptions = {
    method: 'POST',
    headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
    lookup,
    // a connection of its own: never one pooled for another address
    agent: false,
    family: to.family,
    timeout: timeoutMs,
  };
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    const req = send(target, options, (res) => {
      // only the status counts: the body is never read (nor trusted for its size)
      clearTimeout(timer);
      resolve(res.statusCode ?? 0);
      res.destroy();
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    req.end(body);
  });
}
