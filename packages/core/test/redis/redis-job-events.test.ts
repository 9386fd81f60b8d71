import { afterEach, describe, expect, it } from 'vitest';
import { RedisJobEvents } from '../../src/jobs/redis-job-events.js';
import { RedisConnection } from '../../src/redis/redis-connection.js';
import { ownRedisServer } from './own-redis-server.js';
import { sharedRedisUrl, uniqueRedisPrefix } from './shared-redis.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves when `heard()` holds, polling; fails after `timeoutMs`. */
async function until(heard: () => boolean, timeoutMs = 3000, then?: () => void): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!heard()) {
    if (Date.now() > deadline) throw new Error('not heard in time');
    then?.();
    await sleep(20);
  }
}

const opened: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const closable of opened.splice(0).reverse()) await closable.close();
});

/** An instance: its own connection and events, on a Redis and prefix. */
async function instance(url: string, prefix: string) {
  const connection = new RedisConnection({ url, prefix, breaker: { failureThreshold: 2, openMs: 100, maxOpenMs: 200 } });
  await connection.waitUntilReady();
  const events = new RedisJobEvents(connection);
  opened.push(connection, events);
  return { connection, events };
}

/** Subscribes `listener` on `to`, and waits until a publish from `from` reaches it: the SUBSCRIBE has been answered. */
async function subscribed(from: RedisJobEvents, to: RedisJobEvents, jobId: string, listener: () => void) {
  let calls = 0;
  const leave = to.subscribe(jobId, () => {
    calls += 1;
    listener();
  });
  await until(() => calls > 0, 3000, () => from.publish(jobId));
  await sleep(30);
  return leave;
}

describe('RedisJobEvents between two instances', () => {
  it('delivers a publish on one to the followers on the other within milliseconds, on the channel `${prefix}jobs`', async () => {
    const prefix = uniqueRedisPrefix();
    const a = await instance(sharedRedisUrl(), prefix);
    const b = await instance(sharedRedisUrl(), prefix);
    // What a third party (the lead's two-instance test, a debugging redis-cli) sees.
    const raw: string[] = [];
    const stopRaw = b.connection.subscribe(`${prefix}jobs`, (message) => raw.push(message));

    let heardAt = 0;
    let calls = 0;
    const leave = await subscribed(a.events, b.events, 'job-1', () => {
      heardAt = performance.now();
      calls += 1;
    });
    const latencies: number[] = [];
    for (let i = 0; i < 30; i += 1) {
      const before = calls;
      const sentAt = performance.now();
      a.events.publish('job-1');
      await until(() => calls > before, 1000);
      latencies.push(heardAt - sentAt);
    }
    latencies.sort((x, y) => x - y);
    console.log(`job event latency between instances over Redis: median ${latencies[15]!.toFixed(2)} ms, max ${latencies.at(-1)!.toFixed(2)} ms`);
    // Bounds with room for a machine busy with other tests: about 1 ms is usual.
    expect(latencies[15]!).toBeLessThan(20);
    expect(latencies.at(-1)!).toBeLessThan(250);
    expect(raw.some((message) => message.startsWith('job-1 '))).toBe(true);

    // Another job's followers hear nothing of it.
    let other = 0;
    const leaveOther = b.events.subscribe('job-2', () => (other += 1));
    a.events.publish('job-1');
    await sleep(50);
    expect(other).toBe(0);
    leaveOther();
    leave();
    stopRaw();
  });

  it('tells followers in its own process once (no echo from Redis), and stops after unsubscribe', async () => {
    const prefix = uniqueRedisPrefix();
    const a = await instance(sharedRedisUrl(), prefix);
    const b = await instance(sharedRedisUrl(), prefix);
    let own = 0;
    let remote = 0;
    const leaveOwn = a.events.subscribe('job', () => (own += 1));
    const leaveRemote = await subscribed(a.events, b.events, 'job', () => (remote += 1));
    own = 0;
    remote = 0;
    a.events.publish('job');
    await until(() => remote === 1);
    // Time enough for an echo through Redis to have come back.
    await sleep(50);
    expect(own).toBe(1);

    leaveOwn();
    leaveRemote();
    expect(a.events.listenerCount()).toBe(0);
    expect(b.events.listenerCount()).toBe(0);
    a.events.publish('job');
    await sleep(50);
    expect([own, remote]).toEqual([1, 1]);
  });
});

describe('RedisJobEvents when Redis dies', () => {
  const server = ownRedisServer();

  it('publishes without throwing or waiting while Redis is down, still tells its own process, and has followers look again once it is back', async () => {
    const prefix = uniqueRedisPrefix();
    const a = await instance(server.url, prefix);
    const b = await instance(server.url, prefix);
    let own = 0;
    let remote = 0;
    a.events.subscribe('job', () => (own += 1));
    await subscribed(a.events, b.events, 'job', () => (remote += 1));
    own = 0;
    remote = 0;

    await server.kill();
    const timings: number[] = [];
    for (let i = 0; i < 20; i += 1) {
      const started = performance.now();
      expect(() => a.events.publish('job')).not.toThrow();
      timings.push(performance.now() - started);
      await sleep(5);
    }
    // It never waits on Redis (a command timeout is 250 ms); 50 ms leaves room for a busy machine.
    expect(Math.max(...timings)).toBeLessThan(50);
    await sleep(300);
    // Every failed publish was swallowed, none reached the other instance, all reached its own.
    expect(own).toBe(20);
    expect(remote).toBe(0);

    await server.restart();
    // Back: b's followers are told to look again, with no publish at all, for what was lost.
    await until(() => remote > 0, 10_000);
    const heard = remote;
    await until(() => remote > heard, 5000, () => a.events.publish('job'));
  });
});
