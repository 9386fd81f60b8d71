// Search latency on the three engines Mixtape searches with, side by side in one run, over the
// same synthetic catalog and the same queries:
//
//   Elasticsearch: ElasticsearchSearchIndex on the machine's node (MIXTAPE_BENCH_ES_URL, default
//                  http://127.0.0.1:9200), in an index of its own, deleted afterwards by name.
//   FTS5:          SqliteSearchIndex of the embedded backends, in a temp data dir.
//   MySQL:         MysqlSearchIndex (InnoDB FULLTEXT) on the machine's MariaDB
//                  (MIXTAPE_BENCH_MYSQL_URL, default mysql://root@127.0.0.1:3306), in a database
//                  of its own, dropped afterwards.
//
// The catalog is made up but deterministic (seeded): titles and albums drawn from a word list
// with a Zipf law (a few words in thousands of titles, a long tail in one or two), artists
// with accented names, ISRCs. Each engine is loaded through its index's `upsert`, 1,000
// documents a call, to 10,000 tracks and then to 100,000 (`--quick`: 10,000 only).
//
// At each size, a few hundred distinct queries of several kinds (a common word, two words, a
// prefix, a rare word, an artist as typed with or without accents, an artist and a title word,
// a typo, an ISRC, a second page) are sent one at a time, the engines taking turns query by
// query, so that whatever else the machine does falls on all three alike; p50 and p99 of that.
// Then another set of queries from 4 callers at once, for throughput. A warm-up set comes
// first. Only Elasticsearch forgives typos: the other engines find nothing for them, quickly,
// which the "no hits" column shows. An engine that is not running is skipped, and says why.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { foldSearchText } from '@mixtape/core';
import { ElasticsearchSearchIndex, versionedIndexName } from '@mixtape/core/elasticsearch';
import { createMysqlPool, MysqlDatabase, openMysqlBackends } from '@mixtape/core/mysql';
import { openSqliteBackends } from '@mixtape/core/sqlite';
import { Client } from '@elastic/elasticsearch';

export const ES_URL = process.env.MIXTAPE_BENCH_ES_URL ?? 'http://127.0.0.1:9200';
const MYSQL_URL = process.env.MIXTAPE_BENCH_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306';
const LOAD_BATCH = 1000;
const PAGE_SIZE = 20;
const CALLERS = 4;
/** Elasticsearch answers a simple search in 20 ms at first and in 2 ms after a hundred or so. */
const WARM_UP_QUERIES = 150;
const CATALOG_SEED = 0x6d697874;

// ---------------------------------------------------------------------------------------------
// The synthetic catalog (also used by search-catch-up.mjs)

/** xorshift32: a tiny deterministic generator, so every run and every engine sees the same data. */
export function seededRandom(seed) {
  let state = seed | 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
}

const COMMON_WORDS = (
  'love night heart light fire dream rain blue summer home time gold river road stars ' +
  'sky moon sun ocean city wild broken young forever alone midnight dance shadow paper ' +
  'electric silver golden winter storm ghost angel devil heaven hollow echo lost found ' +
  'run fall rise burn free slow fast high low sweet cold warm better lonely little ' +
  'morning evening tonight yesterday tomorrow wonder glass stone honey velvet neon ' +
  'highway garden window mirror letter secret promise memory island desert thunder ' +
  'oh go me we up no my all way back down over under again never always ' +
  'corazón café señorita fiancé noël über déjà niño canción mañana'
).split(' ');

const SYLLABLES = 'ka lo ren mi sa tor vel an dra is mon ei ku fa ril os be nya the qui zan por lu min ek har sol vi dun ab'.split(' ');

const FIRST_NAMES = 'Anna Björn Zoë José Sinéad Łukasz Søren Þóra François Maja Chloé Ümit Ines Nikolaj Agnieszka Ørjan Mads Leah Ray Kim Tomás Dagný Renée Jürgen'.split(' ');
const LAST_NAMES = 'Müller González Ødegaard Kovačević Nuñez Łęcka Høgh Ibáñez Smith Carter Novak Lindqvist Þórsson Dubois Ahn Moreau Özdemir Šimek Brennan Walsh Dvořák Åberg'.split(' ');
const COUNTRIES = 'US GB SE DE FR PL IS NO DK ES'.split(' ');
const ID_ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** Common words first, then made-up ones of two to four syllables: the long tail. */
function vocabulary(random) {
  const words = new Set(COMMON_WORDS);
  while (words.size < COMMON_WORDS.length + 30_000) {
    const syllables = 2 + Math.floor(random() * 3);
    words.add(Array.from({ length: syllables }, () => SYLLABLES[Math.floor(random() * SYLLABLES.length)]).join(''));
  }
  return [...words];
}

/**
 * Draws words by rank with weight 1/(rank + 10), a Zipf–Mandelbrot law: the shape of word
 * counts in real titles, where the commonest word is in a few percent of them.
 */
function zipfSampler(words, random) {
  const cumulative = [];
  let total = 0;
  for (let rank = 1; rank <= words.length; rank += 1) cumulative.push((total += 1 / (rank + 10)));
  return () => {
    const target = random() * total;
    let low = 0;
    let high = cumulative.length - 1;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (cumulative[middle] < target) low = middle + 1;
      else high = middle;
    }
    return words[low];
  };
}

const capitalized = (word) => word.charAt(0).toUpperCase() + word.slice(1);

/**
 * `count` tracks, always the same ones for a given count, and the first n of a larger catalog
 * are the catalog of n: artists, each with a few albums of 6 to 14 tracks, some featuring an
 * earlier artist.
 */
export function syntheticTracks(count) {
  const random = seededRandom(CATALOG_SEED);
  const pick = (list) => list[Math.floor(random() * list.length)];
  const word = zipfSampler(vocabulary(random), random);
  const phrase = (min, max) => Array.from({ length: min + Math.floor(random() * (max - min + 1)) }, () => capitalized(word())).join(' ');
  const id = () => Array.from({ length: 22 }, () => pick(ID_ALPHABET)).join('');
  const artistName = () => {
    const style = random();
    if (style < 0.55) return `${pick(FIRST_NAMES)} ${pick(LAST_NAMES)}`;
    if (style < 0.8) return `The ${capitalized(word())}s`;
    return phrase(1, 2);
  };
  const artists = [];
  const tracks = [];
  while (tracks.length < count) {
    const artist = { name: artistName(), isrcStem: `${pick(COUNTRIES)}${Array.from({ length: 3 }, () => pick(ID_ALPHABET.slice(10, 36))).join('')}`, next: 1 };
    artists.push(artist);
    for (let albums = 1 + Math.floor(random() * 4); albums > 0 && tracks.length < count; albums -= 1) {
      const album = phrase(1, 3);
      const year = String(80 + Math.floor(random() * 45)).slice(-2);
      for (let n = 6 + Math.floor(random() * 9); n > 0 && tracks.length < count; n -= 1) {
        const featuring = artists.length > 1 && random() < 0.15 ? [pick(artists).name] : [];
        tracks.push({
          id: id(),
          title: phrase(1, 4),
          artists: [artist.name, ...featuring.filter((name) => name !== artist.name)],
          album,
          durationMs: 120_000 + Math.floor(random() * 300_000),
          isrc: `${artist.isrcStem}${year}${String(artist.next++).padStart(5, '0')}`,
        });
      }
    }
  }
  return tracks;
}

/** A track as the index holds it: never downloaded, at its first version. */
export const asDocument = (track) => ({ ...track, available: false, version: 1 });

// ---------------------------------------------------------------------------------------------
// Queries

/** How often each kind of query is drawn (weights). */
const QUERY_KINDS = {
  'common word': 15,
  'two words': 15,
  prefix: 15,
  'rare word': 10,
  artist: 15,
  'artist + title word': 10,
  typo: 10,
  isrc: 5,
  'second page': 5,
};

/** `count` distinct queries over `tracks`, drawn with `seed`: what users of this catalog would type. */
function queryMix(tracks, count, seed) {
  const random = seededRandom(seed);
  const pick = (list) => list[Math.floor(random() * list.length)];
  const titleWords = (track) => foldSearchText(track.title).split(' ');
  const frequency = new Map();
  for (const track of tracks) for (const word of new Set(titleWords(track))) frequency.set(word, (frequency.get(word) ?? 0) + 1);
  const byFrequency = [...frequency.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  const common = byFrequency.slice(0, 100).map(([word]) => word);
  const rare = byFrequency.filter(([, n]) => n <= 3).map(([word]) => word);
  const middling = byFrequency.filter(([word, n]) => n >= 20 && n <= 500 && word.length >= 5).map(([word]) => word);
  // Misspelt words are ones people type: long enough for a typo to be forgiven, and not rare.
  const familiar = byFrequency.filter(([word, n]) => n >= 5 && word.length >= 6).map(([word]) => word);
  const multiWord = tracks.filter((track) => track.title.includes(' '));
  const misspelt = (word) => {
    const at = 1 + Math.floor(random() * (word.length - 3));
    return word.slice(0, at) + word[at + 1] + word[at] + word.slice(at + 2);
  };
  const make = {
    'common word': () => ({ text: pick(common), offset: 0 }),
    'two words': () => {
      const words = titleWords(pick(multiWord));
      const at = Math.floor(random() * (words.length - 1));
      return { text: `${words[at]} ${words[at + 1]}`, offset: 0 };
    },
    prefix: () => {
      const word = pick(middling.length > 0 ? middling : familiar);
      return { text: word.slice(0, 3 + Math.floor(random() * 2)), offset: 0 };
    },
    'rare word': () => ({ text: pick(rare), offset: 0 }),
    artist: () => {
      const name = pick(tracks).artists[0];
      return { text: random() < 0.5 ? name : foldSearchText(name), offset: 0 };
    },
    'artist + title word': () => {
      const track = pick(tracks);
      return { text: `${track.artists[0].split(' ').at(-1)} ${pick(titleWords(track))}`, offset: 0 };
    },
    typo: () => {
      const word = pick(familiar);
      const typed = misspelt(word);
      return { text: typed === word ? `${word}x` : typed, offset: 0 };
    },
    isrc: () => ({ text: pick(tracks).isrc, offset: 0 }),
    'second page': () => ({ text: pick(common), offset: PAGE_SIZE }),
  };
  const weights = Object.entries(QUERY_KINDS);
  const totalWeight = weights.reduce((sum, [, weight]) => sum + weight, 0);
  const queries = new Map();
  while (queries.size < count) {
    let draw = random() * totalWeight;
    const [kind] = weights.find(([, weight]) => (draw -= weight) < 0) ?? weights.at(-1);
    const query = make[kind]();
    queries.set(`${query.text}|${query.offset}`, { kind, ...query });
  }
  return [...queries.values()];
}

// ---------------------------------------------------------------------------------------------
// Engines

/** Why a server cannot be used, in a few words; nothing of its URL (it may hold a password). */
const whyNot = (error) => `${error?.code ?? error?.name ?? 'Error'}: ${error?.message ?? error}`;

/** Elasticsearch through Mixtape's adapter, or the reason it cannot be reached. */
async function elasticsearchOrReason(alias) {
  const client = new Client({ node: ES_URL, maxRetries: 0, requestTimeout: 60_000 });
  try {
    await client.cluster.health({}, { requestTimeout: 3000 });
  } catch (error) {
    await client.close();
    return { reason: `Elasticsearch at ${new URL(ES_URL).host} does not answer (${whyNot(error)}); start it with \`npm run elasticsearch -- start\`` };
  }
  return { client, index: new ElasticsearchSearchIndex({ client, alias, searchTimeoutMs: 10_000 }) };
}

async function openElasticsearch(runId) {
  const alias = `mixtape-bench-search-${runId}`;
  const opened = await elasticsearchOrReason(alias);
  if (opened.reason) return opened;
  const { client, index } = opened;
  return {
    name: 'Elasticsearch',
    index,
    ready: () => index.refresh(),
    async close() {
      await client.indices.delete({ index: versionedIndexName(alias) }, { ignore: [404] }).catch((error) => console.warn(`  could not delete ${versionedIndexName(alias)}: ${whyNot(error)}`));
      await client.close();
    },
  };
}

async function openFts5(dir) {
  const backends = await openSqliteBackends({ dataDir: join(dir, 'sqlite') });
  return { name: 'FTS5', index: backends.index, ready: async () => {}, close: () => backends.close() };
}

async function openMysql(runId, dir) {
  const url = new URL(MYSQL_URL);
  url.pathname = '/';
  const server = new MysqlDatabase(createMysqlPool(url.href, { poolSize: 1 }));
  const name = `mixtape_bench_${Date.now().toString(36)}_${runId.slice(0, 6)}`;
  try {
    await server.run(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_520_ci`);
  } catch (error) {
    await server.close().catch(() => {});
    return { reason: `MySQL at ${url.host} does not answer (${whyNot(error)})` };
  }
  url.pathname = `/${name}`;
  let backends;
  try {
    backends = await openMysqlBackends({ url: url.href, pool: { poolSize: CALLERS }, storageDir: join(dir, 'mysql-audio') });
  } catch (error) {
    await server.run(`DROP DATABASE IF EXISTS \`${name}\``).catch(() => {});
    await server.close();
    throw error;
  }
  return {
    name: 'MySQL',
    index: backends.index,
    ready: async () => {},
    async close() {
      await backends.close();
      await server.run(`DROP DATABASE IF EXISTS \`${name}\``);
      await server.close();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Measuring

function percentile(samples, p) {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

async function load(engine, documents) {
  const started = performance.now();
  for (let i = 0; i < documents.length; i += LOAD_BATCH) await engine.index.upsert(documents.slice(i, i + LOAD_BATCH));
  await engine.ready();
  return (performance.now() - started) / 1000;
}

/** One search, timed; a failure is counted, not thrown. */
async function timedSearch(engine, query) {
  const started = performance.now();
  try {
    const page = await engine.index.search(query.text, { limit: PAGE_SIZE, offset: query.offset });
    return { ms: performance.now() - started, total: page.total };
  } catch {
    return { ms: performance.now() - started, failed: true };
  }
}

/** Each query on every engine, one at a time, the engines taking turns in a rotating order. */
async function sequential(engines, queries) {
  const samples = new Map(engines.map((engine) => [engine, []]));
  for (const [i, query] of queries.entries()) {
    for (let k = 0; k < engines.length; k += 1) {
      const engine = engines[(i + k) % engines.length];
      samples.get(engine).push({ kind: query.kind, ...(await timedSearch(engine, query)) });
    }
  }
  return samples;
}

/** Queries per second from CALLERS callers sharing the list. */
async function concurrent(engine, queries) {
  let next = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: CALLERS }, async () => {
    for (let i = next++; i < queries.length; i = next++) await timedSearch(engine, queries[i]);
  }));
  return queries.length / ((performance.now() - started) / 1000);
}

/** The kind of query with the highest median, and that median. */
function slowestKind(samples) {
  const byKind = new Map();
  for (const { kind, ms } of samples) {
    if (!byKind.has(kind)) byKind.set(kind, []);
    byKind.get(kind).push(ms);
  }
  const [kind, p50] = [...byKind].map(([name, ms]) => [name, percentile(ms, 50)]).sort((a, b) => b[1] - a[1])[0];
  return `${kind} (${p50.toFixed(1)})`;
}

export async function searchLatency({ quick }) {
  const sizes = quick ? [10_000] : [10_000, 100_000];
  const queryCount = quick ? 200 : 300;
  const runId = randomBytes(4).toString('hex');
  const loadAverage = loadavg()[0];
  const dir = await mkdtemp(join(tmpdir(), 'mixtape-bench-search-'));
  const tracks = syntheticTracks(sizes.at(-1)).map(asDocument);
  const engines = [];
  const skipped = [];
  const rows = [];
  const ratios = {};
  try {
    for (const open of [() => openElasticsearch(runId), () => openFts5(dir), () => openMysql(runId, dir)]) {
      const engine = await open();
      if (engine.reason) {
        skipped.push(engine.reason);
        console.warn(`  skipped: ${engine.reason}`);
      } else {
        engines.push(engine);
      }
    }
    let loaded = 0;
    for (const size of sizes) {
      const adding = tracks.slice(loaded, size);
      const loadSeconds = new Map();
      for (const engine of engines) loadSeconds.set(engine, await load(engine, adding));
      loaded = size;
      const catalog = tracks.slice(0, size);
      await sequential(engines, queryMix(catalog, WARM_UP_QUERIES, size + 1)); // JIT (Elasticsearch's too), connections, the index's pages in memory
      const samples = await sequential(engines, queryMix(catalog, queryCount, size + 2));
      const throughputQueries = queryMix(catalog, queryCount, size + 3);
      const p = new Map();
      for (const engine of engines) {
        const of = samples.get(engine);
        const ms = of.map((sample) => sample.ms);
        p.set(engine.name, { p50: percentile(ms, 50), p99: percentile(ms, 99) });
        rows.push({
          engine: engine.name,
          // Counts as text: run.mjs shows every number with two decimals.
          tracks: String(size),
          queries: String(of.length),
          'p50 ms': percentile(ms, 50),
          'p99 ms': percentile(ms, 99),
          'mean ms': ms.reduce((sum, x) => sum + x, 0) / ms.length,
          [`q/s, ${CALLERS} callers`]: await concurrent(engine, throughputQueries),
          'no hits': String(of.filter((sample) => sample.total === 0).length),
          errors: String(of.filter((sample) => sample.failed).length),
          'slowest kind (p50 ms)': slowestKind(of),
          'load docs/s': adding.length / loadSeconds.get(engine),
        });
      }
      const label = size >= 1000 ? `${size / 1000}k` : String(size);
      const es = p.get('Elasticsearch');
      for (const other of ['FTS5', 'MySQL']) {
        if (!es || !p.get(other)) continue;
        ratios[`p50 ${other}/ES at ${label}`] = p.get(other).p50 / es.p50;
        ratios[`p99 ${other}/ES at ${label}`] = p.get(other).p99 / es.p99;
      }
    }
  } finally {
    for (const engine of engines) await engine.close().catch((error) => console.warn(`  closing ${engine.name}: ${whyNot(error)}`));
    await rm(dir, { recursive: true, force: true });
  }
  const kinds = Object.keys(QUERY_KINDS).join(', ');
  return {
    name:
      `Search latency, ${queryCount} distinct queries one at a time (${kinds}), limit ${PAGE_SIZE}, engines taking turns; ` +
      `then another ${queryCount} from ${CALLERS} callers; synthetic catalog loaded by upsert, ${LOAD_BATCH} a call; ` +
      `${cpus().length} cores, load average ${loadAverage.toFixed(1)} at start` +
      (skipped.length > 0 ? ` [skipped: ${skipped.join('; ')}]` : ''),
    rows,
    ratios,
  };
}

// `node benchmarks/search-latency.mjs [--quick]`: this benchmark alone.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const result = await searchLatency({ quick: process.argv.includes('--quick') });
  console.log(`\n${result.name}`);
  console.table(result.rows.map((row) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, typeof v === 'number' ? Number(v.toFixed(2)) : v]))));
  for (const [ratio, value] of Object.entries(result.ratios)) console.log(`  ${ratio}: ${value.toFixed(2)}`);
}
