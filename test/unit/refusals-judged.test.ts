import { describe, expect, it } from 'vitest';
import { judgeRefusals, type UseReport } from '../../src/domain/consumption-request.js';
import { consumptionId } from '../../src/ids.js';

/**
 * DOMAIN.md consumption rule 4 for the uses a batch refuses for good (`judgeRefusals`): one (client, key) is one use
 * whether the worker accepts it or refuses it. The first refused use under a free key is recorded, the same payload
 * again repeats it, another payload is a conflict, and so is a refused use under a key a use applied before it took.
 */
const clients = new Map([
  ['crm-1', { id: 'c1', externalRef: 'crm-1' }],
  ['c1', { id: 'c1', externalRef: 'crm-1' }],
]);
const creditTypes = new Map([['sms', { id: 't1', code: 'sms', unit: 'message', decimals: 0 }]]);
const use = (key: string, extra: Partial<UseReport> = {}): UseReport => ({
  client: 'crm-1',
  credit_type: 'sms',
  quantity: 1,
  idempotency_key: key,
  ...extra,
});
const judge = (reports: UseReport[], accepted: Array<[string, number]> = [], indexes?: number[]) =>
  judgeRefusals(
    reports.map((report, i) => ({ index: indexes?.[i] ?? i, report })),
    { clients, creditTypes, accepted: new Map(accepted.map(([key, index]) => [consumptionId('c1', key), index])) },
  );

describe('uses refused in one batch, under one (client, key)', () => {
  it.each([
    ['one alone is recorded', [use('k', { credit_type: 'gold' })], [{ kind: 'record' }]],
    [
      'the same payload, written otherwise, repeats the first',
      [use('k', { credit_type: 'gold' }), use('k', { credit_type: 'gold', client: 'c1', quantity: '1.0' })],
      [{ kind: 'record' }, { kind: 'repeat', of: 0 }],
    ],
    [
      'another payload is a conflict, refused for another reason or not',
      [
        use('k', { credit_type: 'gold' }),
        use('k', { quantity: '0.5' }),
        use('k', { credit_type: 'gold', quantity: 2 }),
      ],
      [{ kind: 'record' }, { kind: 'conflict' }, { kind: 'conflict' }],
    ],
    [
      'other keys are other uses',
      [use('k', { credit_type: 'gold' }), use('j', { quantity: '0.5' })],
      [{ kind: 'record' }, { kind: 'record' }],
    ],
    ['a hold capture’s key: its own failure, never recorded', [use('hold:x')], [{ kind: 'own' }]],
  ] as const)('%s', (_, reports, verdicts) => {
    expect(judge([...reports])).toEqual(verdicts);
  });
});

describe('a refused use and a use the batch applies, under one (client, key)', () => {
  it('applied first: the refused one after it is a conflict', () => {
    expect(judge([use('k', { quantity: '0.5' })], [['k', 0]], [1])).toEqual([{ kind: 'conflict' }]);
  });

  it('refused first: it failed while the key was free, its own failure, not recorded (the consumption is read)', () => {
    expect(judge([use('k', { quantity: '0.5' }), use('k', { quantity: '0.5' })], [['k', 2]], [0, 1])).toEqual([
      { kind: 'own' },
      { kind: 'repeat', of: 0 },
    ]);
  });
});
