import { createHmac } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import {
  decodeSecret,
  isStandardSecret,
  newSecret,
  secretKey,
  signatureHeader,
  signedHeaders,
} from '../../src/webhooks/signature.js';

const b64 = (bytes: number) => Buffer.alloc(bytes, 7).toString('base64');

describe('webhook secrets and signatures (Standard Webhooks)', () => {
  it('new secrets are whsec_ + standard base64 of 32 random bytes', () => {
    const a = newSecret();
    expect(a).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(decodeSecret(a)).toHaveLength(32);
    expect(isStandardSecret(a)).toBe(true);
    expect(newSecret()).not.toBe(a);
  });

  it('a given secret carries 24 to 64 bytes of standard base64', () => {
    expect(isStandardSecret(`whsec_${b64(24)}`)).toBe(true);
    expect(isStandardSecret(`whsec_${b64(64)}`)).toBe(true);
    expect(isStandardSecret(`whsec_${b64(23)}`)).toBe(false);
    expect(isStandardSecret(`whsec_${b64(65)}`)).toBe(false);
    expect(isStandardSecret(b64(32))).toBe(false);
    expect(isStandardSecret(`whsec_${Buffer.alloc(32, 251).toString('base64url')}`)).toBe(false);
    expect(isStandardSecret(`whsec_${b64(32).replace(/=+$/, '')}`)).toBe(false);
    expect(isStandardSecret('whsec_')).toBe(false);
    expect(isStandardSecret('whsec_test_secret_for_signatures_0123')).toBe(false);
  });

  it('an older secret that is not standard base64 keys the HMAC with its UTF-8 bytes', () => {
    const legacy = 'whsec_old-secret_made_with_base64url_chars';
    expect(secretKey(legacy)).toEqual(Buffer.from(legacy, 'utf8'));
    const headers = signedHeaders([legacy], 'msg_1', 1_800_000_000, '{}');
    const expected = createHmac('sha256', Buffer.from(legacy, 'utf8')).update('msg_1.1800000000.{}').digest('base64');
    expect(headers['webhook-signature']).toBe(`v1,${expected}`);
  });

  it('the standardwebhooks package verifies what is signed, with each of two secrets', () => {
    const now = Math.floor(Date.now() / 1000);
    const [current, old] = [newSecret(), newSecret()];
    const body = JSON.stringify({ id: 'e', type: 'invoice.paid', data: { total: 1 } });
    const headers = signedHeaders([current, old], 'e', now, body);
    expect(headers['webhook-signature']!.split(' ')).toHaveLength(2);
    expect(new Webhook(current).verify(body, headers)).toEqual(JSON.parse(body));
    expect(new Webhook(old).verify(body, headers)).toEqual(JSON.parse(body));
    expect(() => new Webhook(newSecret()).verify(body, headers)).toThrow();
    // and the package's own signature is the one computed here
    expect(new Webhook(current).sign('e', new Date(now * 1000), body)).toBe(signatureHeader([current], 'e', now, body));
  });
});
