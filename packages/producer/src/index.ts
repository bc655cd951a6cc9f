/**
 * @credits/producer: what another system installs to push jobs straight into the service's queues —
 * the typed producer, the job contracts it validates with (the workers use the same ones), and the
 * Redis settings it connects with. Its dependencies are bullmq, ioredis and zod only.
 */
export * from './contracts.js';
export * from './job-id.js';
export * from './job-options.js';
export * from './producer.js';
export * from './queue-names.js';
export * from './redis.js';
