import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy on loopback in front of the test server, that a test cuts and restores, as a
 * network or a database would fail:
 * - `cut('reset')`: every open connection is reset and new ones are refused, as when the
 *   server is stopped or restarts;
 * - `cut('blackhole')`: open connections go silent and new ones are accepted but never
 *   answered, as when a network drops packets. Only timeouts can end what waits on them.
 * `restore()` forwards again; connections from before stay dead, as they would be.
 * `delay(ms)` holds every chunk that long each way, as a slow network or server would: set it
 * before the traffic it is for (chunks keep their order under one delay).
 */
export class TcpProxy {
  #server: Server | undefined;
  #port = 0;
  #mode: 'open' | 'reset' | 'blackhole' = 'open';
  #delayMs = 0;
  readonly #sockets = new Set<Socket>();

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  get port(): number {
    return this.#port;
  }

  /** Listens on a free loopback port (the same one again after a reset). */
  async start(): Promise<number> {
    const server = createServer((client) => this.#accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#port, '127.0.0.1', () => resolve());
    });
    this.#server = server;
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('the proxy has no port');
    this.#port = address.port;
    return this.#port;
  }

  delay(ms: number): void {
    this.#delayMs = ms;
  }

  async cut(mode: 'reset' | 'blackhole'): Promise<void> {
    this.#mode = mode;
    if (mode === 'reset') {
      for (const socket of this.#sockets) socket.resetAndDestroy();
      this.#sockets.clear();
      await this.#stopListening();
    }
  }

  async restore(): Promise<void> {
    const was = this.#mode;
    this.#mode = 'open';
    if (was === 'blackhole') {
      for (const socket of this.#sockets) socket.destroy();
      this.#sockets.clear();
    }
    if (!this.#server) await this.start();
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
    await this.#stopListening();
  }

  async #stopListening(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  #accept(client: Socket): void {
    this.#track(client);
    if (this.#mode === 'blackhole') return;
    const upstream = connect(this.targetPort, this.targetHost);
    this.#track(upstream);
    // Data flows only while the proxy is open: in a blackhole it is read and dropped.
    client.on('data', (chunk) => this.#forward(chunk, upstream));
    upstream.on('data', (chunk) => this.#forward(chunk, client));
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  }

  #forward(chunk: Buffer, to: Socket): void {
    const write = () => this.#mode === 'open' && !to.destroyed && to.write(chunk);
    if (this.#delayMs === 0) write();
    else setTimeout(write, this.#delayMs);
  }

  #track(socket: Socket): void {
    this.#sockets.add(socket);
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.#sockets.delete(socket));
  }
}
