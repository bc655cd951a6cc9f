// Lives in the producer package, which other systems install alone (packages/producer).
export * from '@credits/producer/job-id';
