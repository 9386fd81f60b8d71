import { describe, expect, it } from 'vitest';
import { InProcessJobEvents } from '../../src/jobs/in-process-job-events.js';

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('InProcessJobEvents', () => {
  it("tells each follower of the job, only that job's, after publish has returned", async () => {
    const events = new InProcessJobEvents();
    const heard: string[] = [];
    events.subscribe('a', () => heard.push('a1'));
    events.subscribe('a', () => heard.push('a2'));
    events.subscribe('b', () => heard.push('b'));
    events.publish('a');
    // Never inside the publisher's call.
    expect(heard).toEqual([]);
    await tick();
    expect(heard.sort()).toEqual(['a1', 'a2']);
    events.publish('c');
    await tick();
    expect(heard).toHaveLength(2);
    await events.close();
  });

  it('forgets a job once its last follower leaves, so streams that come and go leak nothing', async () => {
    const events = new InProcessJobEvents();
    const listener = () => undefined;
    for (let i = 0; i < 1000; i += 1) {
      const first = events.subscribe(`job-${i % 10}`, listener);
      // The same function twice is two subscriptions, each left on its own.
      const second = events.subscribe(`job-${i % 10}`, listener);
      expect(events.listenerCount(`job-${i % 10}`)).toBe(2);
      first();
      first();
      expect(events.listenerCount(`job-${i % 10}`)).toBe(1);
      second();
    }
    expect(events.listenerCount()).toBe(0);
    let calls = 0;
    const leave = events.subscribe('x', () => (calls += 1));
    leave();
    events.publish('x');
    await tick();
    expect(calls).toBe(0);
    await events.close();
  });

  it("keeps a follower's fault from the others and from the publisher", async () => {
    const events = new InProcessJobEvents();
    let calls = 0;
    events.subscribe('a', () => {
      throw new Error('follower broke');
    });
    events.subscribe('a', () => (calls += 1));
    expect(() => events.publish('a')).not.toThrow();
    await tick();
    expect(calls).toBe(1);
    await events.close();
  });

  it('tells every follower to look again with publishAll, and nothing once closed (twice is safe)', async () => {
    const events = new InProcessJobEvents();
    const heard: string[] = [];
    events.subscribe('a', () => heard.push('a'));
    events.subscribe('b', () => heard.push('b'));
    events.publishAll();
    await tick();
    expect(heard.sort()).toEqual(['a', 'b']);
    await events.close();
    await events.close();
    events.publish('a');
    const late = events.subscribe('a', () => heard.push('late'));
    events.publish('a');
    await tick();
    late();
    expect(heard).toHaveLength(2);
    expect(events.listenerCount()).toBe(0);
  });
});
