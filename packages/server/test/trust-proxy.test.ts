import { afterEach, describe, expect, it } from 'vitest';
import { call, startTestServer, type TestServer } from './support/test-server.js';

// The global limit is per client address, so which address the server believes is visible in
// whose requests it refuses.
const LIMITS = { MIXTAPE_RATE_LIMITS: 'global=2/1m' };

let server: TestServer | undefined;

afterEach(async () => {
  await server?.stop();
  server = undefined;
});

/** Sends requests as if forwarded for `chain` until refused; returns how many were let through. */
async function allowedBeforeRefusal(chain: string, tries = 4): Promise<number> {
  let allowed = 0;
  for (let i = 0; i < tries; i += 1) {
    const response = await call(`${server!.api}/openapi.json`, { headers: { 'x-forwarded-for': chain } });
    if (response.status === 429) break;
    expect(response.status).toBe(200);
    allowed += 1;
  }
  return allowed;
}

describe('MIXTAPE_TRUST_PROXY, read as Express reads trust proxy', () => {
  it('1 trusts one hop: the address the proxy saw is the client, not 0.0.0.1', async () => {
    server = await startTestServer({ ...LIMITS, MIXTAPE_TRUST_PROXY: '1' });
    // The proxy appends the address it saw; whatever the client claimed before it is not believed.
    expect(await allowedBeforeRefusal('6.6.6.6, 203.0.113.1')).toBe(2);
    expect(await allowedBeforeRefusal('7.7.7.7, 203.0.113.1')).toBe(0);
    expect(await allowedBeforeRefusal('6.6.6.6, 203.0.113.2')).toBe(2);
  });

  it('true trusts every hop: the first address of the chain is the client', async () => {
    server = await startTestServer({ ...LIMITS, MIXTAPE_TRUST_PROXY: 'true' });
    expect(await allowedBeforeRefusal('198.51.100.1, 203.0.113.1')).toBe(2);
    expect(await allowedBeforeRefusal('198.51.100.2, 203.0.113.1')).toBe(2);
    expect(await allowedBeforeRefusal('198.51.100.1, 203.0.113.9')).toBe(0);
  });

  it('unset trusts no proxy: a forged header cannot buy a fresh limit', async () => {
    server = await startTestServer(LIMITS);
    expect(await allowedBeforeRefusal('198.51.100.1')).toBe(2);
    expect(await allowedBeforeRefusal('198.51.100.2')).toBe(0);
  });

  it('a list of addresses trusts only those proxies', async () => {
    server = await startTestServer({ ...LIMITS, MIXTAPE_TRUST_PROXY: 'loopback, 10.0.0.0/8' });
    // Loopback (the test's own socket) and 10.1.2.3 are trusted hops; 192.0.2.7 is the client.
    expect(await allowedBeforeRefusal('192.0.2.7, 10.1.2.3')).toBe(2);
    expect(await allowedBeforeRefusal('192.0.2.8, 10.1.2.3')).toBe(2);
    expect(await allowedBeforeRefusal('192.0.2.7')).toBe(0);
  });
});
