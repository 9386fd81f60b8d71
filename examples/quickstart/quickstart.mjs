// @ts-check
// Quick start for @mixtape/client: registers a throwaway user on a running Mixtape server,
// searches the demo catalog, downloads a track, follows the download and saves the file.
//
//   MIXTAPE_URL=http://127.0.0.1:3000 node quickstart.mjs [output-dir]
//
// Plain JavaScript (checked by TypeScript through JSDoc) so that Node 20 runs it as it is.
import { randomBytes } from 'node:crypto';
import { createWriteStream, realpathSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import { MixtapeClient, ProblemError } from '@mixtape/client';

/** A query that finds a track in the demo catalog the server seeds when Spotify is not set up. */
const DEMO_QUERY = 'lighthouse';

/**
 * @typedef {object} QuickstartResult
 * @property {{ id: string, username: string }} user
 * @property {import('@mixtape/client').Track} track
 * @property {import('@mixtape/client').Job} job the download job, as it finished
 * @property {string} path where the file was saved
 * @property {number} sizeBytes
 */

/**
 * @param {string} baseUrl where the server listens, e.g. `http://127.0.0.1:3000`
 * @param {string} outDir where to save the file; created if missing
 * @param {{ log?: (line: string) => void }} [options]
 * @returns {Promise<QuickstartResult>}
 */
export async function runQuickstart(baseUrl, outDir, options = {}) {
  const log = options.log ?? (() => undefined);
  const client = new MixtapeClient({ baseUrl });

  // A random user each run, so the example can be run again and again against one server.
  const username = `quickstart-${randomBytes(4).toString('hex')}`;
  const password = randomBytes(18).toString('base64url');
  const user = await client.register(username, password);
  await client.login(username, password);
  log(`registered and logged in as ${username}`);

  const found = await client.searchTracks({ q: DEMO_QUERY, limit: 5 });
  const track = found.items[0];
  if (!track) throw new Error(`Searching for "${DEMO_QUERY}" found nothing: is the demo catalog loaded?`);
  log(`found ${found.total} track(s); taking "${track.title}" by ${track.artists.join(', ')}`);

  // Any form works: a bare id, spotify:track:<id>, or an open.spotify.com link.
  const queued = await client.requestDownload(`https://open.spotify.com/track/${track.id}`);
  log(`download ${queued.id} is ${queued.status}`);
  const job = await client.followDownload(queued.id, {
    onStatus: (status) => log(`status: ${status}`),
    onProgress: ({ bytes, totalBytes }) => log(`progress: ${bytes}${totalBytes === undefined ? '' : ` of ${totalBytes}`} bytes`),
  });
  if (job.status !== 'completed') {
    throw new Error(`The download ended ${job.status}${job.error ? `: ${job.error.message}` : ''}`);
  }

  const response = await client.downloadFile(track.id);
  if (!response.body) throw new Error('The server sent no file');
  await mkdir(outDir, { recursive: true });
  const path = join(outDir, fileNameOf(response) ?? `${track.id}.bin`);
  // Streamed to disk, so a large file never sits in memory whole.
  await pipeline(Readable.fromWeb(/** @type {import('node:stream/web').ReadableStream} */ (response.body)), createWriteStream(path));
  const sizeBytes = Number(response.headers.get('content-length'));
  log(`saved ${path} (${sizeBytes} bytes)`);

  await client.logout();
  return { user, track, job, path, sizeBytes };
}

/**
 * The ASCII file name the server suggests; `basename` keeps it inside the output directory
 * whatever a server might send.
 * @param {Response} response
 * @returns {string | undefined}
 */
function fileNameOf(response) {
  const match = /filename="([^"]+)"/.exec(response.headers.get('content-disposition') ?? '');
  const name = match?.[1] && basename(match[1]);
  return name && name !== '.' && name !== '..' ? name : undefined;
}

/** True when this file is the program Node was asked to run, not a module imported by a test. */
function isMain() {
  const script = process.argv[1];
  return script !== undefined && import.meta.url === pathToFileURL(realpathSync(script)).href;
}

if (isMain()) {
  const baseUrl = process.env.MIXTAPE_URL ?? 'http://127.0.0.1:3000';
  const outDir = resolve(process.argv[2] ?? 'downloads');
  runQuickstart(baseUrl, outDir, { log: (line) => console.log(line) }).catch((/** @type {unknown} */ error) => {
    if (error instanceof ProblemError) console.error(`${error.status} ${error.kind}: ${error.detail}`);
    else if (error instanceof TypeError && error.message === 'fetch failed') console.error(`No Mixtape server answers at ${baseUrl}; start one with \`npm start\``);
    else console.error(error);
    process.exitCode = 1;
  });
}
