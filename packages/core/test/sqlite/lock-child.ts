/**
 * Another process holding a lock on the data dir, as a `mixtape worker` would:
 * `node lock-child.mjs <db path> <track id> <ttl ms>`. It takes the track's lock and prints
 * `{"held": token}`; then, for each line `attach <blob key>` on stdin, it attaches that key to
 * the track, fenced by its token, and prints `{"attach": "ok" | error code}`; on `wait-lost`
 * it waits (up to 5 s) for its lock's signal and prints `{"lost": reason code | null}`; on
 * `release` it lets go and exits.
 */
import { createInterface } from 'node:readline';
import { SqliteTrackCatalog } from '../../src/catalog/sqlite-track-catalog.js';
import { openSqliteDatabase } from '../../src/db/sqlite-database.js';
import { trackLockKey } from '../../src/downloads/track-lock-key.js';
import { openSqliteLockConnection, SqliteLockManager } from '../../src/locks/sqlite-lock-manager.js';

const [path, trackId, ttl] = process.argv.slice(2) as [string, string, string];
const db = openSqliteDatabase(path);
const lockDb = openSqliteLockConnection(path);
const catalog = new SqliteTrackCatalog(db);
const locks = new SqliteLockManager(lockDb);
const print = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);
const key = trackLockKey(trackId);

async function main(): Promise<void> {
  const commands = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  await locks.using(
    [key],
    async ({ signal, fencingToken }) => {
      print({ held: fencingToken });
      for (;;) {
        const next = await commands.next();
        if (next.done) return;
        const [command, argument] = (next.value as string).split(' ');
        if (command === 'release') return;
        if (command === 'attach') {
          const audio = { blobKey: argument!, sizeBytes: 3, contentType: 'audio/mpeg' };
          await catalog.attachAudio(trackId, audio, { key, token: fencingToken }).then(
            () => print({ attach: 'ok' }),
            (error: { code?: string }) => print({ attach: error.code ?? String(error) }),
          );
        }
        if (command === 'wait-lost') {
          if (!signal.aborted) await new Promise((resolve) => {
            signal.addEventListener('abort', resolve, { once: true });
            setTimeout(resolve, 5000).unref();
          });
          print({ lost: signal.aborted ? (signal.reason as { code?: string }).code ?? null : null });
        }
      }
    },
    { ttlMs: Number(ttl) },
  );
}

main().then(
  () => {
    lockDb.close();
    db.close();
    process.exit(0);
  },
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
