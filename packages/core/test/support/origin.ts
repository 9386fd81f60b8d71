import { once } from 'node:events';
import { createServer, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';

/** An audio origin on loopback, as HttpTrackSource fetches from. */
export interface TestOrigin {
  /** The URL template for HttpTrackSource: `http://127.0.0.1:<port>/audio/{id}`. */
  readonly url: string;
  /** Ends the connections still open (a stalled download's too) and closes the server. */
  stop(): Promise<void>;
}

/** Starts an HTTP server on a free loopback port that answers every request with `handler`. */
export async function startOrigin(handler: RequestListener): Promise<TestOrigin> {
  const server = createServer(handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/audio/{id}`,
    stop() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
