// @ts-check
// Mixtape's core services inside any Node program, with no Express and no HTTP: the embedded
// backends (SQLite and files under one directory), the demo catalog and demo audio. The same
// rules the server enforces (validation, quotas, retries, deduplication) apply here, because
// they live in core.
//
//   node embedded-core.mjs [data-dir]
//
// Plain JavaScript (checked by TypeScript through JSDoc) so that Node 20 runs it as it is.
import { createHash, randomBytes } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createMixtape, JwtKeyring, seedDemoCatalog } from '@mixtape/core';
import { openSqliteBackends } from '@mixtape/core/sqlite';

const MiB = 1024 * 1024;

/**
 * @typedef {object} EmbeddedResult
 * @property {{ id: string, username: string }} user
 * @property {import('@mixtape/core').Track} track as search found it
 * @property {import('@mixtape/core').Job} job the download job, as it finished
 * @property {import('@mixtape/core').Page<import('@mixtape/core').LibraryEntry>} library the user's library afterwards
 * @property {Buffer} audio the stored file, read back through the library
 * @property {string} sha256 of `audio`, hex; the library's ETag carries the same hash
 */

/**
 * @param {string} dataDir holds the database and the stored audio; created if missing
 * @param {{ log?: (line: string) => void, timeoutMs?: number }} [options]
 * @returns {Promise<EmbeddedResult>}
 */
export async function runEmbedded(dataDir, options = {}) {
  const log = options.log ?? (() => undefined);
  const backends = await openSqliteBackends({ dataDir });
  const mixtape = createMixtape(backends, {
    // A key that lives as long as this process is enough: the tokens below are used here only.
    keyring: JwtKeyring.ephemeral(),
    quotaBytes: 256 * MiB,
    maxTrackBytes: 50 * MiB,
    maxAttempts: 3,
    retryBaseMs: 200,
    jobLeaseMs: 30_000,
    workers: 1,
  });
  try {
    await seedDemoCatalog(backends.catalog);
    // Search is fed from the catalog through the outbox; a started Mixtape relays at once,
    // and `flush` waits until what is pending has reached the index.
    mixtape.start();
    await mixtape.outboxRelay.flush();

    const username = `embedded-${randomBytes(4).toString('hex')}`;
    const password = randomBytes(18).toString('base64url');
    const user = await mixtape.auth.register(username, password);
    // An application with its own sessions may skip tokens; this shows the full path.
    const tokens = await mixtape.auth.login(username, password);
    const principal = await mixtape.auth.authenticate(tokens.accessToken);
    log(`registered ${principal.username}`);

    const found = await mixtape.search.search('Paper Moons', { limit: 10, offset: 0 });
    const track = found.items[0];
    if (!track) throw new Error('Searching the demo catalog found nothing');
    log(`found ${found.total} track(s); taking "${track.title}" by ${track.artists.join(', ')}`);

    const queued = await mixtape.downloads.request(principal.userId, `spotify:track:${track.id}`);
    log(`download ${queued.id} is ${queued.status}`);
    const job = await waitForFinalStatus(mixtape, principal.userId, queued.id, options.timeoutMs ?? 30_000);
    log(`download ${job.id} is ${job.status}`);
    if (job.status !== 'completed') {
      throw new Error(`The download ended ${job.status}${job.error ? `: ${job.error.message}` : ''}`);
    }

    const file = await mixtape.library.file(principal.userId, track.id);
    /** @type {Buffer[]} */
    const chunks = [];
    for await (const chunk of await mixtape.library.open(file)) chunks.push(Buffer.from(chunk));
    const audio = Buffer.concat(chunks);
    const sha256 = createHash('sha256').update(audio).digest('hex');
    log(`read ${audio.length} bytes of ${file.audio.contentType} back from the library (sha256 ${sha256})`);

    const library = await mixtape.library.list(principal.userId, { limit: 10, offset: 0 });
    return { user, track, job, library, audio, sha256 };
  } finally {
    // Lets the worker finish what it holds, then closes the database.
    await mixtape.close();
  }
}

/**
 * Polls the job until it is completed, failed or cancelled. The queue lives in the database,
 * so this works as well when the workers run in another process sharing the data dir.
 * @param {import('@mixtape/core').Mixtape} mixtape
 * @param {string} userId
 * @param {string} jobId
 * @param {number} timeoutMs
 * @returns {Promise<import('@mixtape/core').Job>}
 */
async function waitForFinalStatus(mixtape, userId, jobId, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = await mixtape.downloads.get(userId, jobId);
    if (job.status === 'completed' || job.status === 'failed' || job.status === 'cancelled') return job;
    if (Date.now() > deadline) throw new Error(`Download ${jobId} is still ${job.status} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** True when this file is the program Node was asked to run, not a module imported by a test. */
function isMain() {
  const script = process.argv[1];
  return script !== undefined && import.meta.url === pathToFileURL(realpathSync(script)).href;
}

if (isMain()) {
  const dataDir = resolve(process.argv[2] ?? 'data-embedded');
  runEmbedded(dataDir, { log: (line) => console.log(line) }).then(
    ({ audio }) => console.log(`done: ${audio.length} bytes; the data is in ${dataDir}`),
    (/** @type {unknown} */ error) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
}
