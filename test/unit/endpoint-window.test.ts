import { describe, expect, it } from 'vitest';
import { type EndpointWindow, endpointReceives } from '../../src/domain/endpoint-window.js';

const endpoint = (over: Partial<EndpointWindow> = {}): EndpointWindow => ({
  id: 'e',
  events: ['*'],
  afterSeq: 10n,
  pauses: [],
  ...over,
});
const event = (seq: bigint, type = 'subscription.created') => ({ seq, type });

describe('endpointReceives', () => {
  it('only the events after the endpoint was made', () => {
    expect(endpointReceives(endpoint(), event(10n))).toBe(false);
    expect(endpointReceives(endpoint(), event(11n))).toBe(true);
  });

  it('only the types it subscribes to, or every type for *', () => {
    const some = endpoint({ events: ['balance.low'] });
    expect(endpointReceives(some, event(11n, 'balance.low'))).toBe(true);
    expect(endpointReceives(some, event(11n, 'subscription.created'))).toBe(false);
  });

  it('none inside a span it was disabled for, (from, to]: the outbox at the disable, at the enable', () => {
    const paused = endpoint({ pauses: [{ fromSeq: 20n, toSeq: 30n }] });
    expect([20n, 21n, 30n, 31n].map((seq) => endpointReceives(paused, event(seq)))).toEqual([true, false, false, true]);
  });

  it('none after an open span (disabled still), each of several spans shut', () => {
    const twice = endpoint({
      pauses: [
        { fromSeq: 20n, toSeq: 30n },
        { fromSeq: 40n, toSeq: null },
      ],
    });
    const seqs = [15n, 25n, 35n, 40n, 41n, 1_000n];
    expect(seqs.map((seq) => endpointReceives(twice, event(seq)))).toEqual([true, false, true, true, false, false]);
  });

  it('a span with no event in it (disabled and enabled with nothing between) shuts nothing', () => {
    const empty = endpoint({ pauses: [{ fromSeq: 20n, toSeq: 20n }] });
    expect(endpointReceives(empty, event(20n))).toBe(true);
    expect(endpointReceives(empty, event(21n))).toBe(true);
  });
});
