import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleChildProgram, type ChildProgram } from '../sqlite/child-processes.js';
import { ownRedisServer } from './own-redis-server.js';

/**
 * Closing the connection ends a process at once, whatever Redis is doing: a `mixtape` command
 * with MIXTAPE_REDIS_URL exits when its work is done, not 2 s later when a timer of ioredis's
 * gives up on a socket that a dead or paused Redis never closes.
 */
describe('RedisConnection.close in a process of its own', () => {
  const server = ownRedisServer({ restartBeforeEach: true });
  let program: ChildProgram;

  beforeAll(async () => {
    // ioredis stays outside the bundle: it is CommonJS.
    program = await bundleChildProgram('../redis/redis-close-child.ts', { external: [/^[^./]/] });
  }, 60_000);
  afterAll(() => program?.remove());

  /** Starts the child, does `fault` to Redis once it is connected, then asks it to close: how long until it exited. */
  const closeAfter = async (fault: () => Promise<void> | void) => {
    const child = spawn(process.execPath, [program.path, server.url], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = once(child, 'exit');
    try {
      for (const deadline = Date.now() + 10_000; !stdout.includes('"ready"'); await sleep(10)) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`the child did not connect: ${stderr}`);
      }
      await fault();
      // Long enough for ioredis to notice, and to be between reconnection attempts.
      await sleep(300);
      const askedAt = performance.now();
      child.stdin.write('close\n');
      const [code] = (await Promise.race([exited, sleep(10_000).then(() => ['timeout'])])) as [number | string];
      const exitMs = performance.now() - askedAt;
      const closed = stdout.split('\n').filter((line) => line.includes('closedMs')).map((line) => JSON.parse(line) as { closedMs: number })[0];
      if (process.env.MIXTAPE_TEST_REPORT) console.log(`closed in ${closed?.closedMs} ms, exited ${Math.round(exitMs)} ms after close was asked`);
      return { code, exitMs, closed };
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  };

  it('exits at once with Redis up', async () => {
    const { code, exitMs, closed } = await closeAfter(() => undefined);
    expect(code).toBe(0);
    expect(closed?.closedMs).toBeLessThan(250);
    expect(exitMs).toBeLessThan(300);
  });

  it('exits at once with Redis killed', async () => {
    const { code, exitMs, closed } = await closeAfter(() => server.kill());
    expect(code).toBe(0);
    expect(closed?.closedMs).toBeLessThan(250);
    expect(exitMs).toBeLessThan(300);
  });

  it('exits within the QUIT wait with Redis paused', async () => {
    const { code, exitMs, closed } = await closeAfter(() => server.pause());
    server.resume();
    expect(code).toBe(0);
    expect(closed?.closedMs).toBeLessThan(250);
    expect(exitMs).toBeLessThan(600);
  });
});
