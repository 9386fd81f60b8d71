import type { Server } from 'node:http';
import type { Mixtape, MixtapeConfig, PasswordHasher } from '@mixtape/core';
import { createApp } from './app.js';
import { seedDemoIfOn } from './backends.js';
import { serveGracefully } from './graceful-shutdown.js';
import type { Logger } from './logger.js';
import { mixtapeFromConfig } from './mixtape-from-config.js';

export interface RunningServer {
  url: string;
  mixtape: Mixtape;
  server: Server;
  /**
   * A graceful shutdown: `/readyz` answers 503 at once, while requests and jobs in flight get
   * up to `config.shutdownGraceMs` to finish; then the listener closes, anything left is cut
   * and the stores close. Safe twice.
   */
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
  return serveGracefully({
    mixtape,
    host: config.host,
    port: config.port,
    graceMs: config.shutdownGraceMs,
    logger,
    app: (shutdown) =>
      createApp({
        mixtape,
        policies: config.rateLimits,
        logger,
        metricsToken: config.metricsToken,
        trustProxy: config.trustProxy,
        corsOrigins: config.corsOrigins,
        shuttingDown: () => shutdown.aborted,
        shutdown,
      }),
  });
}
