import type { httpSteps } from './http-steps.js';

type Ok = ReturnType<typeof httpSteps>['ok'];

/**
 * The catalog a money scenario over HTTP starts from: credit types `sms` (0 decimals) and `min` (1 decimal), a
 * client `c1`, monthly packages of 100 sms and 7.5 min at 19.99 USD (`pack`), bought by `c1` (`buy`), and its
 * invoices in number order (`invoices`; a subscription's: `invoicesOf`). `creditTypes` alone: the two types, for a
 * file whose tests each make their own client.
 */
export function commerceScene(ok: Ok) {
  const creditTypes = async () => {
    await ok('POST', '/v1/credit-types', { code: 'sms', name: 'SMS', unit: 'message' }, 201);
    await ok('POST', '/v1/credit-types', { code: 'min', name: 'Minutes', unit: 'minute', decimals: 1 }, 201);
  };
  const catalog = async () => {
    await creditTypes();
    await ok('POST', '/v1/clients', { external_ref: 'c1', name: 'Client one' }, 201);
  };
  const pack = (code: string, extra: Record<string, unknown> = {}) =>
    ok(
      'POST',
      '/v1/packages',
      {
        code,
        name: code,
        price: 1999,
        currency: 'USD',
        validity: { count: 1, unit: 'month' },
        items: [
          { credit_type: 'sms', units: 100 },
          { credit_type: 'min', units: '7.5' },
        ],
        ...extra,
      },
      201,
    );
  const buy = (pkg: string, extra: Record<string, unknown> = {}) =>
    ok('POST', '/v1/subscriptions', { client: 'c1', package: pkg, ...extra }, 201);
  const byNumber = <T extends { number: string }>(rows: T[]): T[] =>
    rows.sort((a, b) => (a.number < b.number ? -1 : 1));
  const invoices = async <T extends { number: string }>(): Promise<T[]> =>
    byNumber<T>((await ok('GET', '/v1/invoices?client=c1&limit=500')).data);
  const invoicesOf = async <T extends { number: string }>(subscription: string): Promise<T[]> =>
    byNumber<T>((await ok('GET', `/v1/invoices?subscription=${subscription}&limit=500`)).data);
  return { creditTypes, catalog, pack, buy, invoices, invoicesOf };
}
