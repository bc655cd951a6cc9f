import { fail, isErrorCode } from '../domain/result.js';
import type { JobResult } from '../jobs/definitions.js';
import type { Outcome, Watch } from './outcome.js';

/**
 * A waiter's watch on a use that travels in its group's carrier (a `consume-batch` job the Admitter made, whose
 * `waited` names the use): the carrier's end read for this use alone — its whole result from the carrier's
 * `answers`, or its failure from `failed` — as the end of a `consume` job of its own would tell it. One carrier's
 * end answers all the waiters of a group: the worker and Redis pay one job for them, and the API reads one event.
 *
 * A carrier that ends without an answer for the use (one not made by the Admitter) is `timeout`: the caller is
 * answered 202 and reads the use by id, as after any wait that ran out.
 */
export class CarriedWatch implements Watch<'consume'> {
  constructor(
    readonly jobId: string,
    private readonly carrier: Watch<'consume-batch'>,
    /** The use's place among the carrier's items. */
    private readonly index: number,
  ) {}

  cancel(): void {
    this.carrier.cancel();
  }

  async outcome(options?: Parameters<Watch<'consume'>['outcome']>[0]): Promise<Outcome<JobResult<'consume'>>> {
    const ended = await this.carrier.outcome(options);
    if (ended.state !== 'completed') return ended;
    const answer = ended.value.answers?.find((a) => a.index === this.index);
    if (answer) return { state: 'completed', value: answer.result };
    const failed = ended.value.failed.find((f) => f.index === this.index);
    if (!failed) return { state: 'timeout' };
    const code = isErrorCode(failed.code) ? failed.code : 'internal';
    const failure = fail(code, failed.detail, {
      ...(failed.errors ? { errors: failed.errors } : {}),
      ...(failed.extra ? { extra: failed.extra } : {}),
    });
    return { state: 'failed', failure, reason: `${failed.code}: ${failed.detail}` };
  }
}
