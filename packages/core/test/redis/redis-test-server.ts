import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer, Socket } from 'node:net';

/**
 * A redis-server of the test's own, on a free port, with nothing persisted: a restart comes back
 * empty, as a Redis that lost its memory does. Faults are real: `kill` ends the process,
 * `pause` stops it (SIGSTOP) so that connections stay open and nothing answers.
 */
export interface RedisTestServer {
  readonly url: string;
  readonly port: number;
  /** SIGKILL: connections are reset, everything in memory is gone. */
  kill(): Promise<void>;
  /** Starts it again on the same port, empty. */
  restart(): Promise<void>;
  /** SIGSTOP: nothing answers, nothing is refused. */
  pause(): void;
  /** SIGCONT. */
  resume(): void;
  stop(): Promise<void>;
}

/** `args` are added to redis-server's command line, e.g. `['--requirepass', '…']`, and kept across restarts. */
export async function startRedisServer(args: readonly string[] = []): Promise<RedisTestServer> {
  const port = await freePort();
  let child = await launch(port, args);
  const server: RedisTestServer = {
    url: `redis://127.0.0.1:${port}`,
    port,
    async kill() {
      await ended(child, 'SIGKILL');
    },
    async restart() {
      if (child.exitCode === null && child.signalCode === null) await ended(child, 'SIGKILL');
      child = await launch(port, args);
    },
    pause() {
      child.kill('SIGSTOP');
    },
    resume() {
      child.kill('SIGCONT');
    },
    async stop() {
      child.kill('SIGCONT');
      await ended(child, 'SIGKILL');
    },
  };
  return server;
}

async function launch(port: number, args: readonly string[]): Promise<ChildProcess> {
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no', '--loglevel', 'warning', ...args],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  // Ready once it accepts a connection: the log line's wording differs between versions.
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode} on port ${port}`);
    if (await accepts(port)) return child;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`redis-server did not start on port ${port}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function ended(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exit = once(child, 'exit');
  child.kill(signal);
  await exit;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.connect(port, '127.0.0.1');
  });
}

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}
