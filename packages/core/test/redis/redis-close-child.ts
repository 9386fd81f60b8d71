/**
 * A process with a Redis connection, as a `mixtape` command with MIXTAPE_REDIS_URL has one:
 * `node redis-close-child.mjs <redis url>`. It connects both connections (commands, and a
 * subscriber), prints `{"ready": true}`, and on the line `close` (stdin) closes the connection,
 * prints `{"closedMs"}` and has nothing left to do: the process should exit at once, with no
 * socket or timer of the connection's keeping its event loop alive.
 */
import { createInterface } from 'node:readline';
import { RedisConnection } from '../../src/redis/redis-connection.js';

const [url] = process.argv.slice(2) as [string];
const print = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);

const connection = new RedisConnection({ url, prefix: 'close:' });
connection.subscribe('close:channel', () => undefined);
await connection.waitUntilReady(5000);
await connection.listening(5000);
print({ ready: true });

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  if (line !== 'close') return;
  lines.close();
  process.stdin.destroy();
  const started = performance.now();
  void connection.close().then(() => {
    print({ closedMs: Math.round(performance.now() - started) });
  });
});
