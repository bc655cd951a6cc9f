/**
 * Whether a step on a BullMQ job read a moment before (its removal, its retry) was done: false when it threw, the job
 * no longer as read — another relay process or a worker took it meanwhile. The sweeps that take such steps look at
 * the job again next time rather than end their pass there.
 */
export async function stepDone(step: Promise<unknown> | undefined): Promise<boolean> {
  try {
    await step;
    return true;
  } catch {
    return false;
  }
}
