import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterStatus } from '../../core/test/elasticsearch/local-elasticsearch.js';
import { sharedElasticsearchProcess, sharedElasticsearchUrl, uniqueIndexName } from '../../core/test/elasticsearch/shared-elasticsearch.js';
import { deterministicBytes, originEnv, startAudioOrigin, startSpotifyStub, trackId, type AudioOrigin, type SpotifyStub, type StubTrack } from './support/origin-servers.js';
import {
  download,
  eventually,
  firstAnswer,
  health,
  indexedDocument,
  metric,
  readinessProbe,
  search,
  searchLoad,
  searchUntil,
  stopProbes,
  UNLIMITED_SEARCH,
} from './support/search-probes.js';
import { signUp, startTestServer, type TestServer } from './support/test-server.js';

/**
 * Faults of the shared Elasticsearch node itself, not of a proxy: a serial file, run alone after
 * every other. Paused with SIGSTOP (its connections stay open and nothing answers, as in a long
 * GC pause), search is degraded within 2 s, downloads go on and readiness holds; resumed, it
 * is no longer degraded. Killed while tracks are downloaded, the outbox grows; started again,
 * the index catches up by itself. Whatever happens, the node is left running for the files
 * after this one and for the teardown that deletes the run's indices.
 */

function stubTrack(label: string): StubTrack {
  return { id: trackId(`es-faults-${label}`), name: `Fault Line ${label}`, artists: ['Node Weather'], album: 'Signals', durationMs: 180_000 };
}

const BEFORE = stubTrack('before');
const DURING_PAUSE = stubTrack('during-pause');
const WHILE_DEAD = [stubTrack('dead-1'), stubTrack('dead-2'), stubTrack('dead-3')];
const ALL = [BEFORE, DURING_PAUSE, ...WHILE_DEAD];
const QUERY = 'node weather';
const FIRST_DEGRADED_WITHIN_MS = 2000;
/** The breaker probes after 1 s at first, doubling with each failed probe. */
const RESUMED_WITHIN_MS = 10_000;
/** The breaker's next probe (up to 15 s after the last), then the relay's pause (up to 10 s), on a machine busy with the node's start. */
const CAUGHT_UP_WITHIN_MS = 45_000;

const node = sharedElasticsearchProcess();

/** SIGCONT whatever state the node is in, then start it if it does not answer (killed). */
async function leaveNodeRunning(): Promise<void> {
  try {
    node.resume();
  } catch {
    // No such process: it was killed, and is started below.
  }
  if ((await clusterStatus(sharedElasticsearchUrl(), 5000)) === null) await node.start();
}

describe('the Elasticsearch node paused and killed', () => {
  let spotify: SpotifyStub;
  let origin: AudioOrigin;
  let server: TestServer;
  let token: string;
  let index: string;

  beforeAll(async () => {
    spotify = await startSpotifyStub(ALL);
    origin = await startAudioOrigin();
    for (const track of ALL) origin.serve(track.id, { body: deterministicBytes(track.id, 50_000) });
    index = uniqueIndexName('faults');
    server = await startTestServer({
      ...originEnv(spotify, origin, UNLIMITED_SEARCH),
      MIXTAPE_ELASTICSEARCH_URL: sharedElasticsearchUrl(),
      MIXTAPE_ELASTICSEARCH_INDEX: index,
    });
    token = (await signUp(server)).accessToken;
    expect((await download(server, token, BEFORE.id)).status).toBe('completed');
    await searchUntil(server, token, QUERY, (answer) => answer.degraded === false && answer.ids[0] === BEFORE.id, 15_000);
  });

  afterAll(async () => {
    try {
      await stopProbes();
      await server?.stop();
      await origin?.close();
      await spotify?.close();
    } finally {
      await leaveNodeRunning();
    }
  }, 120_000);

  it('SIGSTOP: search is degraded within 2 s, downloads go on, readiness holds; SIGCONT: no longer degraded', async () => {
    const readiness = readinessProbe(server);
    const load = searchLoad(server, token, QUERY);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const pausedAt = performance.now();
    node.pause();
    let resumedAt = Number.NaN;
    try {
      const firstDegraded = await firstAnswer(load.answers, (answer) => answer.degraded === true, 5000);
      const firstDegradedMs = firstDegraded.endedAt - pausedAt;
      const job = await download(server, token, DURING_PAUSE.id);
      expect(job.status).toBe('completed');
      expect(await eventually('health', () => health(server), (seen) => seen.elasticsearch === 'fail', 5000)).toEqual({
        httpStatus: 200,
        status: 'warn',
        elasticsearch: 'fail',
      });
      expect(await metric(server, 'mixtape_search_degraded')).toBe(1);
      console.info(`ES SIGSTOP → first degraded answer: ${firstDegradedMs.toFixed(0)} ms`);
      expect(firstDegradedMs).toBeLessThan(FIRST_DEGRADED_WITHIN_MS);
    } finally {
      resumedAt = performance.now();
      node.resume();
    }

    const healed = await firstAnswer(load.answers, (answer) => answer.degraded === false && answer.startedAt > resumedAt, RESUMED_WITHIN_MS);
    console.info(`ES SIGCONT after ${(resumedAt - pausedAt).toFixed(0)} ms paused → not degraded: ${(healed.endedAt - resumedAt).toFixed(0)} ms`);
    const answers = await load.stop();
    const readyStatuses = await readiness.stop();
    expect(await metric(server, 'mixtape_search_degraded')).toBe(0);
    expect(answers.filter((answer) => answer.status !== 200 || answer.ids[0] !== BEFORE.id)).toEqual([]);
    expect(readyStatuses.length).toBeGreaterThan(10);
    expect(readyStatuses).toEqual(Array(readyStatuses.length).fill(200));
  });

  it('killed: the outbox grows while tracks are downloaded; started again: the index catches up with no help', async () => {
    const killedAt = performance.now();
    await node.kill();
    const pendingBefore = await metric(server, 'mixtape_search_outbox_pending');
    try {
      const jobs = await Promise.all(WHILE_DEAD.map((track) => download(server, token, track.id)));
      expect(jobs.map((job) => job.status)).toEqual(WHILE_DEAD.map(() => 'completed'));
      expect(await metric(server, 'mixtape_search_outbox_pending')).toBe(pendingBefore + WHILE_DEAD.length);
      expect((await search(server, token, QUERY)).degraded).toBe(true);
      expect(await health(server)).toEqual({ httpStatus: 200, status: 'warn', elasticsearch: 'fail' });
    } finally {
      const startingAt = performance.now();
      await node.start();
      console.info(`ES started again in ${(performance.now() - startingAt).toFixed(0)} ms`);
    }

    const startedAt = performance.now();
    const caughtUp = await searchUntil(server, token, QUERY, (answer) => answer.degraded === false && answer.ids.length === ALL.length, CAUGHT_UP_WITHIN_MS);
    const drained = await eventually('pending changes', () => metric(server, 'mixtape_search_outbox_pending'), (pending) => pending === 0, 10_000);
    console.info(
      `ES back after a ${(startedAt - killedAt).toFixed(0)} ms outage → all ${ALL.length} tracks found from Elasticsearch ` +
        `after ${(caughtUp.endedAt - startedAt).toFixed(0)} ms`,
    );
    expect(drained).toBe(0);
    for (const track of ALL) expect((await indexedDocument(sharedElasticsearchUrl(), index, track.id))?.source).toMatchObject({ title: track.name, available: true });
  }, 120_000);
});
