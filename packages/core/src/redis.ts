// `@mixtape/core/redis`: the Redis adapters, for many instances sharing limits, locks,
// revocations, the Spotify budget and job events. Everything here needs ioredis (and the rate
// limits rate-limit-redis), optional peer dependencies of @mixtape/core; the main entry point
// never imports them.

export * from './redis/redis-connection.js';
export * from './redis/redis-backends.js';
export * from './locks/redis-lock-manager.js';
export * from './jobs/redis-job-events.js';
export * from './ratelimit/redis-rate-limit-store.js';
export * from './metadata/redis-call-budget.js';
export * from './auth/redis-revocation-list.js';
