import { randomUUID } from 'node:crypto';
import { inject } from 'vitest';
import { startRedisServer } from './redis-test-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The redis-server every test file shares; a test that kills or pauses Redis starts its own. */
    sharedRedisUrl: string;
  }
}

/**
 * Global setup: one redis-server for the whole run, on a free port, stopped after. Tests keep
 * apart by key prefix (`uniqueRedisPrefix`), never by flushing.
 */
export default async function setup(project: { provide(key: 'sharedRedisUrl', value: string): void }): Promise<() => Promise<void>> {
  const server = await startRedisServer();
  project.provide('sharedRedisUrl', server.url);
  return () => server.stop();
}

/** The shared redis-server's URL, in a test. */
export function sharedRedisUrl(): string {
  return inject('sharedRedisUrl');
}

/** A key prefix no other test uses. */
export function uniqueRedisPrefix(): string {
  return `test:${randomUUID().slice(0, 8)}:`;
}
