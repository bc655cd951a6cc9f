import { describe, expect, it } from 'vitest';
import { shownFailure } from '../../src/webhooks/failure-reason.js';

const networkError = (code: string, message: string): Error => Object.assign(new Error(message), { code });

describe('shownFailure', () => {
  it.each([
    [networkError('ECONNREFUSED', 'connect ECONNREFUSED 10.0.4.7:8443'), 'the connection was refused'],
    [networkError('ECONNRESET', 'read ECONNRESET'), 'the connection was reset'],
    [networkError('ENOTFOUND', 'getaddrinfo ENOTFOUND hooks.internal.corp'), 'the host was not found'],
    [networkError('EHOSTUNREACH', 'connect EHOSTUNREACH 192.168.9.9:443'), 'the host could not be reached'],
    [
      networkError('ERR_TLS_CERT_ALTNAME_INVALID', "Host: 10.0.4.7. is not in the cert's altnames"),
      'the TLS handshake failed',
    ],
    [networkError('DEPTH_ZERO_SELF_SIGNED_CERT', 'self-signed certificate'), 'the TLS handshake failed'],
    [new Error('no answer within 10000 ms'), 'no answer within 10000 ms'],
    [networkError('EWHATEVER', 'something at 10.0.4.7'), 'a network error'],
    ['not even an Error', 'a network error'],
  ])('names %s by its kind only', (error, shown) => {
    expect(shownFailure(error)).toBe(shown);
  });
});
