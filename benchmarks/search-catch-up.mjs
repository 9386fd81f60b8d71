// Outbox catch-up: how fast the outbox relay brings Elasticsearch up to date with a catalog
// that changed while it was not running, against loading the same documents by hand.
//
// baseline:  the documents bulk-loaded straight into a fresh Elasticsearch index, with the
//            official client's bulk helper at its defaults (5 MB requests, 5 in flight), as
//            someone would load them by hand. Same mapping as Mixtape's index (read back from
//            it), same bodies (the text also folded), built inside the clock as the relay's are.
// candidate: an embedded deployment (SQLite) wrapped by openElasticsearchBackends, whose catalog
//            took N tracks while no relay ran, so its outbox holds N changes; then
//            `relay.flush()`, the relay built as Mixtape builds it, timed until the outbox is
//            empty. Each pass reads a batch of the outbox (500 by default), reads those tracks
//            from the catalog, writes them to the SQLite index (the mirror that search falls
//            back on) and then to Elasticsearch in one bulk request with external versions,
//            and deletes the outbox rows. The baseline writes one index; the relay writes two.
//
// Then, taking turns with those two in every round: the same relay with batchSize 2000; the
// relay given Elasticsearch alone (no SQLite mirror), for what the mirror costs; and plain
// client.bulk requests of 500 documents with versions, one at a time, for what the relay's
// request pattern costs Elasticsearch. Last, one relay run with every step timed (through thin
// wrappers around the ports it is given), to say where the time goes. The CPU this process
// and the Elasticsearch node spent is read from /proc (the node may serve others meanwhile).
// Every run has an index and a data dir of its own, deleted afterwards. The goal:
// catch-up at least 0.7 of the bulk load.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { foldSearchText, OutboxRelay } from '@mixtape/core';
import { openElasticsearchBackends, versionedIndexName } from '@mixtape/core/elasticsearch';
import { openSqliteBackends } from '@mixtape/core/sqlite';
import { Client } from '@elastic/elasticsearch';
import { timedWithCpu } from './cpu-time.mjs';
import { ES_URL, syntheticTracks } from './search-latency.mjs';

const CATALOG_BATCH = 1000;

/** The pid of the Elasticsearch node, when it runs on this machine; NaN CPU figures otherwise. */
async function elasticsearchPid(client) {
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(new URL(ES_URL).hostname)) return undefined;
  const info = await client.nodes.info({ node_id: '_local', metric: 'process' });
  return Object.values(info.nodes)[0]?.process?.id;
}

/** Runs `work`, timing it and measuring the CPU Elasticsearch and this process used meanwhile. */
async function measured(esPid, work) {
  const { result, seconds, ownCpu, serverCpu } = await timedWithCpu(esPid, work);
  return { ...result, seconds, benchCpu: ownCpu, esCpu: serverCpu };
}

/** The body Mixtape indexes for a track (its mapping is strict): the text as given and folded. */
function bodyOf(track) {
  return {
    id: track.id,
    title: track.title,
    artists: track.artists,
    album: track.album,
    isrc: track.isrc,
    available: false,
    folded: { title: foldSearchText(track.title), artists: track.artists.map(foldSearchText), album: foldSearchText(track.album) },
  };
}

async function bulkHelperLoad(client, esPid, tracks, name, mappings) {
  await client.indices.create({ index: name, settings: { number_of_shards: 1, number_of_replicas: 0 }, mappings });
  async function* bodies() {
    for (const track of tracks) yield bodyOf(track);
  }
  const run = await measured(esPid, async () => {
    const stats = await client.helpers.bulk({ datasource: bodies(), onDocument: (body) => ({ index: { _index: name, _id: body.id } }) });
    return { failed: stats.failed };
  });
  return { ...run, docs: tracks.length, indexed: await countOf(client, name), left: run.failed };
}

/**
 * What the relay sends Elasticsearch, and nothing else: requests of 500 documents with their
 * versions (external_gte), one at a time. Between the bulk helper and the relay, it tells the
 * cost of small sequential requests from that of the rest of the relay's work.
 */
async function sequentialBulkLoad(client, esPid, tracks, name, mappings) {
  await client.indices.create({ index: name, settings: { number_of_shards: 1, number_of_replicas: 0 }, mappings });
  const run = await measured(esPid, async () => {
    let failed = 0;
    for (let i = 0; i < tracks.length; i += 500) {
      const operations = tracks.slice(i, i + 500).flatMap((track) => [{ index: { _index: name, _id: track.id, version: 1, version_type: 'external_gte' } }, bodyOf(track)]);
      const response = await client.bulk({ operations });
      if (response.errors) failed += response.items.filter((item) => item.index?.error).length;
    }
    return { failed };
  });
  return { ...run, docs: tracks.length, indexed: await countOf(client, name), left: run.failed };
}

/** Documents searchable in an index (or alias), once refreshed. */
async function countOf(client, index) {
  await client.indices.refresh({ index });
  return (await client.count({ index })).count;
}

/** Thin wrappers around the ports the relay is given, adding up the time spent in each call. */
function stopwatch() {
  const spent = {};
  const timed = (label, call) => async (...args) => {
    const started = performance.now();
    try {
      return await call(...args);
    } finally {
      spent[label] = (spent[label] ?? 0) + (performance.now() - started) / 1000;
    }
  };
  return { spent, timed };
}

/**
 * N tracks put in the catalog of an embedded deployment wrapped for Elasticsearch while no relay
 * runs, then one `flush()` timed. With `profile`, every port the relay calls is timed.
 */
async function relayCatchUp(client, esPid, tracks, { alias, batchSize, profile, withoutMirror }) {
  const dir = await mkdtemp(join(tmpdir(), 'mixtape-bench-catch-up-'));
  const sqlite = await openSqliteBackends({ dataDir: dir });
  const watch = stopwatch();
  // Profiled, the SQLite index is timed inside the mirror, so that Elasticsearch's share is the rest.
  const mirror = profile
    ? {
        name: sqlite.index.name,
        upsert: watch.timed('write SQLite index', (documents) => sqlite.index.upsert(documents)),
        remove: (ids) => sqlite.index.remove(ids),
        search: (query, page) => sqlite.index.search(query, page),
        documents: (pageSize) => sqlite.index.documents(pageSize),
      }
    : sqlite.index;
  const backends = openElasticsearchBackends({ ...sqlite, index: mirror }, { url: ES_URL, alias, searchTimeoutMs: 10_000 });
  try {
    await backends.engine.refresh(); // the index and its alias created before the clock
    for (let i = 0; i < tracks.length; i += CATALOG_BATCH) await backends.catalog.upsert(tracks.slice(i, i + CATALOG_BATCH));
    const queued = (await backends.searchOutbox.backlog()).pending;
    if (queued !== tracks.length) throw new Error(`the outbox holds ${queued} changes, not ${tracks.length}`);
    const { outbox, catalog, index } = profile
      ? {
          outbox: {
            due: watch.timed('read outbox', (now, limit) => backends.searchOutbox.due(now, limit)),
            applied: watch.timed('delete outbox rows', (changes) => backends.searchOutbox.applied(changes)),
            failed: (change, error, retryAt) => backends.searchOutbox.failed(change, error, retryAt),
            enqueue: (ids) => backends.searchOutbox.enqueue(ids),
            backlog: () => backends.searchOutbox.backlog(),
          },
          catalog: { getMany: watch.timed('read catalog', (ids) => backends.catalog.getMany(ids)) },
          index: { upsert: watch.timed('write both indexes', (d) => backends.index.upsert(d)), remove: (ids) => backends.index.remove(ids) },
        }
      : { outbox: backends.searchOutbox, catalog: backends.catalog, index: withoutMirror ? backends.engine : backends.index };
    const errors = [];
    const relay = new OutboxRelay({ outbox, catalog, index, settings: { batchSize }, onError: (error) => errors.push(error) });
    const run = await measured(esPid, () => relay.flush());
    await relay.close();
    if (errors.length > 0) console.warn(`  relay (batch ${batchSize}): ${errors.length} error(s), the first: ${errors[0]?.message}`);
    let mirrored = 0;
    for await (const _ of sqlite.index.documents(5000)) mirrored += 1;
    const indexed = await countOf(client, alias);
    const left = (await backends.searchOutbox.backlog()).pending;
    if (mirrored !== (withoutMirror ? 0 : tracks.length)) console.warn(`  relay (batch ${batchSize}): the SQLite index holds ${mirrored} documents, not ${tracks.length}`);
    const phases = profile ? await phasesOf(client, alias, watch.spent, tracks, run.seconds) : undefined;
    return { ...run, docs: tracks.length, indexed, left, phases };
  } finally {
    await backends.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Where a profiled flush spent its time: each port's calls, Elasticsearch's share being what
 * writing both indexes took beyond the SQLite index; within that, the time the node itself
 * spent on the bulk requests (its index stats), the rest being the adapter, the client and the
 * wire. Folding the text, which the SQLite index and the Elasticsearch adapter each do, is
 * timed apart, on the same tracks.
 */
async function phasesOf(client, alias, spent, tracks, flushSeconds) {
  const stats = await client.indices.stats({ index: alias, metric: 'bulk' });
  const serverBulk = (Object.values(stats.indices)[0]?.primaries?.bulk?.total_time_in_millis ?? Number.NaN) / 1000;
  const elasticsearch = spent['write both indexes'] - spent['write SQLite index'];
  const ports = spent['read outbox'] + spent['read catalog'] + spent['write both indexes'] + spent['delete outbox rows'];
  const started = performance.now();
  for (const track of tracks) [track.title, track.album, ...track.artists].forEach(foldSearchText);
  const folding = (performance.now() - started) / 1000;
  return {
    'read outbox': spent['read outbox'],
    'read catalog': spent['read catalog'],
    'write SQLite index': spent['write SQLite index'],
    'write Elasticsearch (one bulk request a pass)': elasticsearch,
    '  of which bulk time on the node (its index stats)': serverBulk,
    '  of which adapter, client and wire': elasticsearch - serverBulk,
    'delete outbox rows': spent['delete outbox rows'],
    'the relay itself (flush less the above)': flushSeconds - ports,
    'folding the text once, timed apart (done twice a write)': folding,
  };
}

/** Measured runs of one variant, added up. */
function totals(runs) {
  const sum = (key) => runs.reduce((total, run) => total + run[key], 0);
  const each = runs.map((run) => run.seconds.toFixed(2)).join(' ');
  return { runs: runs.length, docs: sum('docs'), seconds: sum('seconds'), each, benchCpu: sum('benchCpu'), esCpu: sum('esCpu') };
}

export async function searchCatchUp({ quick }) {
  const count = quick ? 5000 : 20_000;
  const rounds = quick ? 1 : 4;
  const name =
    `${count} tracks into Elasticsearch, ${rounds} round(s), the variants taking turns: outbox catch-up (relay.flush(), writing ` +
    `SQLite's index and then Elasticsearch) against a bulk load by hand (goal: ratio >= 0.7)`;
  const client = new Client({ node: ES_URL, maxRetries: 0, requestTimeout: 60_000 });
  try {
    await client.cluster.health({}, { requestTimeout: 3000 });
  } catch (error) {
    await client.close();
    const why = `Elasticsearch at ${new URL(ES_URL).host} does not answer (${error?.code ?? error?.name}); start it with \`npm run elasticsearch -- start\``;
    console.warn(`  skipped: ${why}`);
    return { name: `${name} [skipped: ${why}]`, rows: [], ratios: {} };
  }
  const runId = randomBytes(4).toString('hex');
  const loadAverage = loadavg()[0];
  const tracks = syntheticTracks(count);
  const esPid = await elasticsearchPid(client);
  const leftover = new Set();
  let made = 0;
  /**
   * Runs `load` into an index of its own, and deletes that index afterwards, by name: the relay
   * is given the alias, under which Mixtape creates `index`; a plain load creates `index` itself.
   */
  const inFreshIndex = async (variant, load) => {
    const alias = `mixtape-bench-catch-up-${runId}-${variant}-${(made += 1)}`;
    const index = versionedIndexName(alias);
    leftover.add(index);
    const run = await load({ alias, index });
    await client.indices.delete({ index }, { ignore: [404] });
    leftover.delete(index);
    if (run.indexed !== run.docs || run.left !== 0) console.warn(`  ${variant}: ${run.indexed} of ${run.docs} documents in Elasticsearch, ${run.left} changes left`);
    return run;
  };
  try {
    // Warm-up, unmeasured: JIT on both sides; and Mixtape's mapping, read back from the index it made.
    let mappings;
    await inFreshIndex('warm-up', async ({ alias, index }) => {
      const run = await relayCatchUp(client, esPid, tracks.slice(0, 2000), { alias, batchSize: 500 });
      mappings = Object.values(await client.indices.getMapping({ index }))[0].mappings;
      return run;
    });
    await inFreshIndex('warm-up', ({ index }) => bulkHelperLoad(client, esPid, tracks.slice(0, 2000), index, mappings));
    const variants = {
      baseline: ({ index }) => bulkHelperLoad(client, esPid, tracks, index, mappings),
      'relay-500': ({ alias }) => relayCatchUp(client, esPid, tracks, { alias, batchSize: 500 }),
      'relay-2000': ({ alias }) => relayCatchUp(client, esPid, tracks, { alias, batchSize: 2000 }),
      'relay-500-es-only': ({ alias }) => relayCatchUp(client, esPid, tracks, { alias, batchSize: 500, withoutMirror: true }),
      'sequential-bulk': ({ index }) => sequentialBulkLoad(client, esPid, tracks, index, mappings),
    };
    const runs = Object.fromEntries(Object.keys(variants).map((variant) => [variant, []]));
    for (let round = 0; round < rounds; round += 1) {
      const order = Object.keys(variants);
      for (let k = 0; k < order.length; k += 1) {
        const variant = order[(round + k) % order.length];
        runs[variant].push(await inFreshIndex(variant, variants[variant]));
      }
    }
    // Once, to say where the time goes.
    const profiled = await inFreshIndex('profiled', ({ alias }) => relayCatchUp(client, esPid, tracks, { alias, batchSize: 500, profile: true }));
    const [baseline, candidate, larger, unmirrored, sequential] = Object.keys(variants).map((variant) => totals(runs[variant]));
    const perSecond = (m) => m.docs / m.seconds;
    const row = (variant, m) => ({
      variant,
      // Counts as text: run.mjs shows every number with two decimals.
      runs: String(m.runs),
      docs: String(m.docs),
      s: m.seconds,
      'docs/s': perSecond(m),
      'each run s': m.each,
      'bench CPU s': m.benchCpu,
      'Elasticsearch CPU s': m.esCpu,
    });
    const phaseRows = Object.entries(profiled.phases).map(([phase, seconds]) => ({ variant: `  ${phase}`, s: seconds, 'share of flush': seconds / profiled.seconds }));
    return {
      name: `${name}; ${cpus().length} cores, load average ${loadAverage.toFixed(1)} at start`,
      rows: [
        row('baseline: client.helpers.bulk at its defaults (one index)', baseline),
        row('mixtape: relay.flush(), batch 500 (SQLite index + Elasticsearch)', candidate),
        row('mixtape: relay.flush(), batch 2000', larger),
        row('diagnostic: relay.flush(), batch 500, Elasticsearch only (no SQLite mirror)', unmirrored),
        row('diagnostic: client.bulk, 500 a request with external versions, one at a time (one index)', sequential),
        row('diagnostic: relay.flush(), batch 500, every step timed', totals([profiled])),
        ...phaseRows,
      ],
      ratios: {
        'docs/s, relay (batch 500) / bulk helper (goal >= 0.7)': perSecond(candidate) / perSecond(baseline),
        'docs/s, relay (batch 2000) / bulk helper': perSecond(larger) / perSecond(baseline),
        'docs/s, relay without its mirror / bulk helper': perSecond(unmirrored) / perSecond(baseline),
        'docs/s, sequential 500-document bulks / bulk helper': perSecond(sequential) / perSecond(baseline),
      },
    };
  } finally {
    if (leftover.size > 0) await client.indices.delete({ index: [...leftover] }, { ignore: [404] }).catch((error) => console.warn(`  could not delete ${[...leftover]}: ${error?.name}`));
    await client.close();
  }
}

// `node benchmarks/search-catch-up.mjs [--quick]`: this benchmark alone.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const result = await searchCatchUp({ quick: process.argv.includes('--quick') });
  console.log(`\n${result.name}`);
  console.table(result.rows.map((row) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, typeof v === 'number' ? Number(v.toFixed(2)) : v]))));
  for (const [ratio, value] of Object.entries(result.ratios)) console.log(`  ${ratio}: ${value.toFixed(2)}`);
}
