import type { Job } from 'bullmq';
import type { AppContext } from '../app-context.js';
import type { QueueName } from '../queue/names.js';
import { permanentError } from '../jobs/job-error.js';
import { jobHandler, type Processor } from '../jobs/handler.js';
import { cleanup } from '../jobs/cleanup.js';
import { deliverData, maintenanceData, rechargeData, renewData } from '../jobs/definitions.js';
import { deliverWebhook } from '../jobs/deliver-webhook.js';
import { expireDue } from '../jobs/expire.js';
import { notifyBalances } from '../jobs/notify.js';
import { rechargeSubscription } from '../jobs/recharge.js';
import { renewSubscription } from '../jobs/renew.js';
import { verifyJob } from '../jobs/verify.js';
import { generateReportProcessor } from '../jobs/generate-report.js';

/**
 * The job registry of every queue but `consumption` (which batches): queue → job name → handler.
 * Each handler lives in src/jobs, one module per job.
 */
export const PROCESSORS: Partial<Record<Exclude<QueueName, 'consumption'>, Record<string, Processor>>> = {
  renewal: { renew: jobHandler(renewData, (data, run) => renewSubscription(run.app, data, run.jobId)) },
  recharge: { recharge: jobHandler(rechargeData, (data, run) => rechargeSubscription(run.app, data, run.jobId)) },
  maintenance: {
    expire: jobHandler(maintenanceData, (data, run) => expireDue(run.app, new Date(data.as_of))),
    notify: jobHandler(maintenanceData, (data, run) => notifyBalances(run.app, new Date(data.as_of))),
    verify: jobHandler(maintenanceData, (data, run) => verifyJob(run.app, new Date(data.as_of))),
    cleanup: jobHandler(maintenanceData, (data, run) => cleanup(run.app, new Date(data.as_of))),
  },
  webhooks: { deliver: jobHandler(deliverData, (data, run) => deliverWebhook(run.app, data, run.job)) },
  reports: { generate: generateReportProcessor },
};

export function otherProcessors(app: AppContext): Partial<Record<Exclude<QueueName, 'consumption'>, (job: Job) => Promise<unknown>>> {
  const out: Partial<Record<Exclude<QueueName, 'consumption'>, (job: Job) => Promise<unknown>>> = {};
  for (const [queue, handlers] of Object.entries(PROCESSORS) as Array<[Exclude<QueueName, 'consumption'>, Record<string, Processor>]>) {
    out[queue] = async (job: Job) => {
      const handler = handlers[job.name];
      if (!handler) throw permanentError({ code: 'validation_failed', detail: `unknown job name "${job.name}" on the ${queue} queue` });
      return handler(app, job);
    };
  }
  return out;
}
