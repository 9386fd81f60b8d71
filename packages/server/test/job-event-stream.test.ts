import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_TRACKS } from '@mixtape/core';
import { readEventStream, type ServerSentEvent } from '@mixtape/client';
import { deterministicBytes, gate, startAudioOrigin, type AudioOrigin } from './support/origin-servers.js';
import { call, signUp, startTestServer, type TestServer } from './support/test-server.js';

/**
 * Job event streams are pushed: a change reaches an open stream as soon as it is published,
 * not at the next poll. The safety poll is 5 s, and every change here is made within a second
 * of the stream opening, so nothing below can have been seen by polling. Event ids come from
 * the job's state, and a client reconnecting with `Last-Event-ID` gets what it lacks, only that.
 */

interface TimedEvent extends ServerSentEvent {
  at: number;
}

/** An open event stream: its events as they arrive, with their arrival time, and its end. */
async function openStream(api: string, token: string, jobId: string, lastEventId?: string) {
  const response = await fetch(`${api}/downloads/${jobId}/events`, {
    headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream', ...(lastEventId === undefined ? {} : { 'last-event-id': lastEventId }) },
    signal: AbortSignal.timeout(15_000),
  });
  const events: TimedEvent[] = [];
  const ended = (async () => {
    if (!response.body) return;
    for await (const event of readEventStream(response.body)) events.push({ ...event, at: performance.now() });
  })();
  return {
    status: response.status,
    events,
    ended,
    /** The first event at index `from` or later that matches, once it has arrived. */
    async next(matches: (event: TimedEvent) => boolean, from = 0, timeoutMs = 3000): Promise<TimedEvent> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = events.slice(from).find(matches);
        if (found) return found;
        if (Date.now() > deadline) throw new Error(`no such event; got ${JSON.stringify(events)}`);
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
    },
  };
}

const status = (value: string) => (event: ServerSentEvent) => event.event === 'status' && JSON.parse(event.data).status === value;
/** The time part of an id, which only grows for a job. */
const idTime = (id: string) => Number(id.split('-')[0]);

describe('job event streams, with no workers (jobs stay queued until cancelled)', () => {
  let server: TestServer;
  let token: string;
  let track = 0;

  beforeAll(async () => {
    server = await startTestServer({ MIXTAPE_WORKERS: '0', MIXTAPE_RATE_LIMITS: 'global=10000/1m,download=1000/1m' });
    token = (await signUp(server)).accessToken;
  });
  afterAll(async () => {
    await server?.stop();
  });

  const queueJob = async (): Promise<string> => {
    const job = await call(`${server.api}/downloads`, { token, body: { track: DEMO_TRACKS[track++]!.id } });
    expect(job.status, job.text).toBe(202);
    return job.body.id as string;
  };
  const cancel = async (jobId: string) => expect((await call(`${server.api}/downloads/${jobId}`, { method: 'DELETE', token })).status).toBe(204);

  it('pushes a status change to an open stream within milliseconds, each event with an id', async () => {
    const latencies: number[] = [];
    const answered: number[] = [];
    for (let i = 0; i < 5; i += 1) {
      const jobId = await queueJob();
      const stream = await openStream(server.api, token, jobId);
      expect(stream.status).toBe(200);
      const queued = await stream.next(status('queued'));
      const cancelledAt = performance.now();
      await cancel(jobId);
      const answeredAt = performance.now();
      answered.push(answeredAt - cancelledAt);
      const cancelled = await stream.next(status('cancelled'));
      latencies.push(cancelled.at - cancelledAt);
      // Heard within 100 ms of the cancel's answer (often before it), where a poll would take up to 5 s.
      expect(cancelled.at - answeredAt).toBeLessThan(100);
      await stream.ended;
      expect(stream.events.map((event) => event.event)).toEqual(['status', 'status']);
      expect(queued.id).toMatch(/^\d+-queued-0-0$/);
      expect(cancelled.id).toMatch(/^\d+-cancelled-0-0$/);
      expect(idTime(cancelled.id)).toBeGreaterThanOrEqual(idTime(queued.id));
      expect(idTime(cancelled.id)).toBe(Date.parse(JSON.parse(cancelled.data).updatedAt));
    }
    const list = (values: number[]) => values.map((ms) => ms.toFixed(1)).join(', ');
    console.log(`DELETE sent → status event read: ${list(latencies)} ms (DELETE answered after ${list(answered)} ms)`);
    // From the DELETE's request, its own time included, on a machine busy with other tests.
    expect(Math.max(...latencies)).toBeLessThan(1000);
  });

  it('sends nothing at connect to a client whose Last-Event-ID is the current state, then goes on from there', async () => {
    const jobId = await queueJob();
    const first = await openStream(server.api, token, jobId);
    const queued = await first.next(status('queued'));
    // The client goes away, and comes back (to this instance or another) with its last id.
    const again = await openStream(server.api, token, jobId, queued.id);
    expect(again.status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(again.events).toEqual([]);
    await cancel(jobId);
    const cancelled = await again.next(status('cancelled'));
    await again.ended;
    expect(again.events).toHaveLength(1);
    expect(idTime(cancelled.id)).toBeGreaterThanOrEqual(idTime(queued.id));
    expect(cancelled.id).not.toBe(queued.id);
    await first.ended;
  });

  it('sends the current status at once to a client whose id is older, unknown or absent; a client holding the final state gets 204', async () => {
    const jobId = await queueJob();
    const first = await openStream(server.api, token, jobId);
    const queued = await first.next(status('queued'));
    await cancel(jobId);
    const final = await first.next(status('cancelled'));
    await first.ended;

    for (const lastEventId of [queued.id, 'not-an-id', `${idTime(final.id) + 1}-cancelled-0-0`, undefined]) {
      const stream = await openStream(server.api, token, jobId, lastEventId);
      expect(stream.status).toBe(200);
      await stream.ended;
      expect(stream.events.map((event) => [event.event, event.id])).toEqual([['status', final.id]]);
    }
    // It has exactly the final state: nothing more will come, and an EventSource stops on 204.
    const done = await fetch(`${server.api}/downloads/${jobId}/events`, { headers: { authorization: `Bearer ${token}`, 'last-event-id': final.id } });
    expect(done.status).toBe(204);
    expect(await done.text()).toBe('');
  });
});

describe('job event streams, with a worker', () => {
  let server: TestServer;
  let origin: AudioOrigin;

  beforeAll(async () => {
    origin = await startAudioOrigin();
    server = await startTestServer({ MIXTAPE_SOURCE_URL: origin.template, MIXTAPE_WORKERS: '1' });
  });
  afterAll(async () => {
    await server?.stop();
    await origin?.close();
  });

  it("pushes the worker's progress and completion, with ids that only grow", async () => {
    const { accessToken: token } = await signUp(server);
    const track = DEMO_TRACKS[0]!.id;
    const held = gate();
    const bytes = deterministicBytes('pushed', 40 * 1024);
    // Trickled, so that progress is written while the stream watches.
    origin.serve(track, { body: bytes, gate: held.promise, trickleMs: 10 });
    const job = await call(`${server.api}/downloads`, { token, body: { track } });
    expect(job.status, job.text).toBe(202);
    for (const deadline = Date.now() + 10_000; !origin.requests.get(track); ) {
      if (Date.now() > deadline) throw new Error('the worker never asked the origin');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const stream = await openStream(server.api, token, job.body.id);
    await stream.next(status('running'));
    held.open();
    const completed = await stream.next(status('completed'), 0, 4000);
    await stream.ended;

    const progress = stream.events.filter((event) => event.event === 'progress');
    // 40 chunks 10 ms apart (about 0.4 s), at most four writes a second: a few events, all pushed.
    expect(progress.length).toBeGreaterThanOrEqual(2);
    expect(JSON.parse(progress.at(-1)!.data)).toEqual({ bytes: bytes.length, totalBytes: bytes.length });
    for (const [i, after] of progress.entries()) {
      const before = progress[i - 1];
      if (!before) continue;
      expect(JSON.parse(after.data).bytes).toBeGreaterThan(JSON.parse(before.data).bytes);
      // 250 ms apart when sent, less what delivery jitter takes; the last goes out with the final status, throttled or not.
      if (i < progress.length - 1) expect(after.at - before.at).toBeGreaterThan(150);
    }
    const ids = stream.events.map((event) => event.id);
    expect(ids.every((id) => /^\d+-(running|completed)-1-\d+$/.test(id))).toBe(true);
    for (let i = 1; i < ids.length; i += 1) expect(idTime(ids[i]!)).toBeGreaterThanOrEqual(idTime(ids[i - 1]!));
    expect(completed.id).toBe(ids.at(-1));
    expect(stream.events.at(-1)?.event).toBe('status');
  });
});
