import { afterAll, beforeAll, beforeEach } from 'vitest';
import { startRedisServer, type RedisTestServer } from './redis-test-server.js';

/**
 * A redis-server of the calling describe block's own, for tests that kill or pause it: started
 * before the block's first test, stopped after its last. With `restartBeforeEach`, every test
 * finds it up and empty, whatever the last one did to it. Call it first in the block, so that its
 * hooks run before the block's own `beforeAll`/`beforeEach` and after its `afterAll`. The object
 * it returns stands for the server from the block's first hook on.
 */
export function ownRedisServer(options: { restartBeforeEach?: boolean } = {}): RedisTestServer {
  let server: RedisTestServer | undefined;
  const current = (): RedisTestServer => {
    if (!server) throw new Error('the redis-server starts in beforeAll: use it in a hook or a test');
    return server;
  };
  beforeAll(async () => {
    server = await startRedisServer();
  });
  afterAll(async () => {
    await server?.stop();
  });
  if (options.restartBeforeEach) {
    beforeEach(async () => {
      await current().restart();
    });
  }
  return {
    get url() {
      return current().url;
    },
    get port() {
      return current().port;
    },
    kill: () => current().kill(),
    restart: () => current().restart(),
    pause: () => current().pause(),
    resume: () => current().resume(),
    stop: () => current().stop(),
  };
}
