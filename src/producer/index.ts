// The typed producer is its own package (packages/producer): bullmq, ioredis and zod only.
export * from '@credits/producer';
