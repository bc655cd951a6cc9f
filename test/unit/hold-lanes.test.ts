import { describe, expect, it } from 'vitest';
import type { JobName } from '../../src/jobs/definitions.js';
import { closingLane, forgetHold, MAX_REMEMBERED, rememberHoldClient } from '../../src/jobs/hold-lanes.js';
import { isBatched, REGISTRY } from '../../src/jobs/registry.js';

/** The lane key the worker's micro-batcher gives a job of `name` with `data`. */
function laneKey(name: JobName, data: Record<string, unknown>): string {
  const entry = REGISTRY[name];
  if (!isBatched(entry)) throw new Error(`${name} is not batched`);
  return (entry.batch.laneOf as (d: unknown) => string)(data);
}

describe('the lane of a closing (jobs/hold-lanes.ts)', () => {
  it("is its hold's client once remembered, and the hold itself before and after", () => {
    expect(closingLane('hold-a')).toBe('hold-a');
    rememberHoldClient('hold-a', 'client-1');
    rememberHoldClient('hold-b', 'client-1');
    expect(closingLane('hold-a')).toBe('client-1');
    // capture and release lane like the client's own jobs: the same key, so the same lane
    expect(laneKey('capture', { hold_id: 'hold-b' })).toBe('client-1');
    expect(laneKey('release', { hold_id: 'hold-b' })).toBe('client-1');
    expect(laneKey('hold', { client: 'client-1' })).toBe('client-1');
    forgetHold('hold-a');
    expect(closingLane('hold-a')).toBe('hold-a');
    expect(closingLane('hold-b')).toBe('client-1');
    forgetHold('hold-b');
  });

  it('forgets the oldest first when full, never more than it may hold', () => {
    for (let i = 0; i < MAX_REMEMBERED + 10; i += 1) rememberHoldClient(`h${i}`, `c${i}`);
    expect(closingLane('h0')).toBe('h0');
    expect(closingLane('h9')).toBe('h9');
    expect(closingLane('h10')).toBe('c10');
    expect(closingLane(`h${MAX_REMEMBERED + 9}`)).toBe(`c${MAX_REMEMBERED + 9}`);
    // remembering one already known forgets nothing
    rememberHoldClient('h10', 'c10');
    expect(closingLane('h11')).toBe('c11');
    for (let i = 0; i < MAX_REMEMBERED + 10; i += 1) forgetHold(`h${i}`);
  });
});
