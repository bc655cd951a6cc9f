/** The queues of API.md's job table. */
export const QUEUE_NAMES = ['consumption', 'recharge', 'renewal', 'maintenance', 'reports', 'webhooks'] as const;
export type QueueName = (typeof QUEUE_NAMES)[number];

export const isQueueName = (name: string): name is QueueName => (QUEUE_NAMES as readonly string[]).includes(name);
