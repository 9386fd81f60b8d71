import { once } from 'node:events';
import type { IncomingMessage, RequestListener, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ShuttingDownError, type Mixtape } from '@mixtape/core';
import { createHttpServer } from './http/client-error.js';
import type { Logger } from './logger.js';
import type { RunningServer } from './server.js';

/**
 * An HTTP server that knows how many requests it is answering, so that a shutdown can wait
 * for them, and that is told when a shutdown begins. From then on `/readyz` answers 503 (the
 * ops routes ask `shuttingDown()`), while the listener stays open: a load balancer must see
 * that answer to stop sending, and requests in flight (downloads) must finish. Event streams,
 * which would hold the drain for nothing, end at once: the app is handed the `shutdown` signal.
 */
export class DrainableServer {
  readonly server: Server;
  #inFlight = 0;
  readonly #shutdown = new AbortController();
  #onIdle: Array<() => void> = [];

  /** `app` builds the request listener, given the signal that a shutdown has begun. */
  constructor(app: (shutdown: AbortSignal) => RequestListener, logger: Logger) {
    const listener = app(this.#shutdown.signal);
    // Counted before the app runs, so that even a response the app sends synchronously is seen.
    this.server = createHttpServer((req: IncomingMessage, res: ServerResponse) => {
      this.#inFlight += 1;
      // A keep-alive client is told to reconnect, which takes it to an instance still in service.
      if (this.shuttingDown()) res.setHeader('Connection', 'close');
      res.once('close', () => {
        this.#inFlight -= 1;
        if (this.#inFlight === 0) for (const resolve of this.#onIdle.splice(0)) resolve();
      });
      listener(req, res);
    }, logger);
  }

  shuttingDown(): boolean {
    return this.#shutdown.signal.aborted;
  }

  /**
   * Readiness drops at once; requests in flight and `work` (the download workers' own drain)
   * get up to `graceMs` to finish. Then the listener closes and whatever is still open is cut.
   * Resolves once the server is closed and `work` has settled.
   */
  async shutDown(graceMs: number, work: Promise<void> = Promise.resolve()): Promise<void> {
    // A typed reason: whatever rejects with it is a 503 for another instance, never a 500.
    this.#shutdown.abort(new ShuttingDownError());
    let graceOver!: () => void;
    const grace = new Promise<void>((resolve) => (graceOver = resolve));
    const timer = setTimeout(graceOver, graceMs);
    timer.unref();
    try {
      // A failing `work` is rethrown below, once the server is closed.
      const workSettled = work.then(
        () => undefined,
        () => undefined,
      );
      await Promise.race([Promise.all([workSettled, this.#idle()]), grace]);
      const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
      this.server.closeIdleConnections();
      // A request that arrived just now may finish within what is left of the grace.
      await Promise.race([closed, grace]);
      this.server.closeAllConnections();
      await closed;
      await work;
    } finally {
      clearTimeout(timer);
    }
  }

  #idle(): Promise<void> {
    return this.#inFlight === 0 ? Promise.resolve() : new Promise((resolve) => this.#onIdle.push(resolve));
  }
}

export interface ServeOptions {
  mixtape: Mixtape;
  host: string;
  port: number;
  /** `config.shutdownGraceMs`: how long work in flight may take once a shutdown begins. */
  graceMs: number;
  logger: Logger;
  /** The HTTP app, given a signal aborted when a shutdown begins. */
  app: (shutdown: AbortSignal) => RequestListener;
}

/**
 * Listens, then starts the download workers, for `mixtape serve` and `mixtape worker` alike.
 * If listening fails, the services are closed again. The returned `close` is the graceful
 * shutdown of `DrainableServer.shutDown`, then the stores close.
 */
export async function serveGracefully(options: ServeOptions): Promise<RunningServer> {
  const { mixtape } = options;
  const drainable = new DrainableServer(options.app, options.logger);
  const { server } = drainable;
  try {
    server.listen(options.port, options.host);
    await once(server, 'listening');
  } catch (error) {
    await mixtape.close();
    throw error;
  }
  mixtape.start();
  const { address, port } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${port}`,
    mixtape,
    server,
    close() {
      closing ??= (async () => {
        await drainable.shutDown(options.graceMs, mixtape.workers.close(options.graceMs));
        await mixtape.close();
      })();
      return closing;
    },
  };
}
