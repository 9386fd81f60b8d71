import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import type { Mixtape, MixtapeConfig, PasswordHasher } from '@mixtape/core';
import { createApp } from './app.js';
import { seedDemoIfOn } from './backends.js';
import type { Logger } from './logger.js';
import { mixtapeFromConfig } from './mixtape-from-config.js';

export interface RunningServer {
  url: string;
  mixtape: Mixtape;
  server: Server;
  /** Stops accepting, lets requests in flight finish, stops workers, closes the stores. Safe twice. */
  close(): Promise<void>;
}

/**
 * Serves the API, and runs download workers in-process unless `config.workers` is 0.
 * `options.hasher` is for the test server and the benchmarks only; `mixtape serve` never sets it.
 */
export async function startServer(config: MixtapeConfig, logger: Logger, options: { hasher?: PasswordHasher } = {}): Promise<RunningServer> {
  const mixtape = await mixtapeFromConfig(config, logger, { workers: config.workers, ...options });
  try {
    // Only `mixtape serve` seeds the demo: a worker, a migration or a dry run must not write it.
    await seedDemoIfOn(config, mixtape.backends);
  } catch (error) {
    await mixtape.close();
    throw error;
  }
  const app = createApp({
    mixtape,
    policies: config.rateLimits,
    logger,
    metricsToken: config.metricsToken,
    trustProxy: config.trustProxy,
  });
  const server = app.listen(config.port, config.host);
  try {
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
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        // Streams (SSE, files) get a moment to finish, then are cut.
        const cut = setTimeout(() => server.closeAllConnections(), 5000);
        cut.unref();
        await closed;
        clearTimeout(cut);
        await mixtape.close();
      })();
      return closing;
    },
  };
}
