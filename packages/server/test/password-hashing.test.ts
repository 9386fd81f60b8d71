import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SCRYPT_COST, DEMO_TRACKS, HashGate, PasswordHasher } from '@mixtape/core';
import { deterministicBytes, sha256, startAudioOrigin, type AudioOrigin } from './support/origin-servers.js';
import { expectProblem, metricValue } from './support/http-expectations.js';
import { call, signUp, startTestServer, waitForJob, type TestServer } from './support/test-server.js';

/**
 * Password hashing at the real cost (scrypt N=2^17), on a real server: old hashes upgraded at
 * login, and a flood of logins shed with fast 503s instead of starving file downloads and
 * /livez of libuv's thread pool. The other server tests use a cheap cost (support/test-server.ts).
 */

const MiB = 1024 * 1024;
const TRACK_ID = DEMO_TRACKS[0]!.id;
const FLOOD = 200;
const LIMITS = 'global=100000/1m,login=100000/15m,login-ip=100000/1d,register=1000/1h,download=1000/1m';

describe('password hashing at the real cost', () => {
  // Held here so the test can see when the flood has taken every turn of the gate.
  const gate = new HashGate();
  const hasher = new PasswordHasher(DEFAULT_SCRYPT_COST, gate);
  const audio = deterministicBytes('flood', 2 * MiB);
  let origin: AudioOrigin;
  let server: TestServer;
  let user: Awaited<ReturnType<typeof signUp>>;

  beforeAll(async () => {
    origin = await startAudioOrigin();
    origin.serve(TRACK_ID, { body: audio, contentType: 'audio/mpeg' });
    server = await startTestServer({ MIXTAPE_SOURCE_URL: origin.template, MIXTAPE_RATE_LIMITS: LIMITS }, { hasher });
    user = await signUp(server);
    const requested = await call(`${server.api}/downloads`, { token: user.accessToken, body: { track: TRACK_ID } });
    expect(requested.status, requested.text).toBe(202);
    expect(await waitForJob(server, user.accessToken, requested.body.id)).toMatchObject({ status: 'completed' });
  });

  afterAll(async () => {
    await Promise.all([server?.stop(), origin?.close()]);
  });

  const login = (username: string, password: string) => call(`${server.api}/auth/login`, { body: { username, password } });
  const storedHash = async (username: string) => (await server.mixtape.backends.users.findByUsername(username))!.passwordHash;

  it('stores new hashes at N=2^17, r=8, p=1', async () => {
    expect(await storedHash(user.username)).toMatch(/^scrypt\$131072\$8\$1\$/);
  });

  it('upgrades a hash of the old cost at the next login; the password still works', async () => {
    const old = await new PasswordHasher({ N: 2 ** 15, r: 8, p: 1 }).hash(user.password);
    await server.mixtape.backends.users.setPasswordHash(user.id, old);

    expect((await login(user.username, user.password)).status).toBe(200);
    const upgraded = await storedHash(user.username);
    expect(upgraded).not.toBe(old);
    expect(upgraded).toMatch(/^scrypt\$131072\$8\$1\$/);
    expect((await login(user.username, user.password)).status).toBe(200);
    expect(await storedHash(user.username)).toBe(upgraded);
  });

  it('counts failed logins in mixtape_login_failures_total, and not successful ones', async () => {
    const failures = async () => metricValue((await call(`${server.url}/metrics`)).text, 'mixtape_login_failures_total');
    const before = await failures();
    expectProblem(await login(user.username, 'not the password at all'), 401, 'unauthorized');
    expectProblem(await login('nobody-at-all', 'not the password at all'), 401, 'unauthorized');
    expect((await login(user.username, user.password)).status).toBe(200);
    expect(await failures()).toBe(before + 2);
    expect((await call(`${server.url}/metrics`)).text).not.toMatch(new RegExp(`mixtape_login_failures_total\\{|${user.username}`));
  });

  it('answers a flood of logins with fast 503s and Retry-After, while files and /livez stay served', async () => {
    const file = `${server.api}/library/${TRACK_ID}/file`;
    const flood = Array.from({ length: FLOOD }, () => {
      const started = performance.now();
      return login(user.username, user.password).then((response) => ({ response, ms: performance.now() - started }));
    });
    // The flood holds its client's whole share of the gate (5: half of 2 hashing + 8 waiting).
    const deadline = Date.now() + 10_000;
    while (gate.running + gate.waiting < 5) {
      if (Date.now() > deadline) throw new Error(`the flood never filled the gate (${gate.running} running)`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }

    // A time limit only to fail fast instead of hanging: unbounded, the flood starved both for 10 s and more.
    const signal = AbortSignal.timeout(5000);
    const [download, live] = await Promise.all([
      fetch(file, { headers: { authorization: `Bearer ${user.accessToken}` }, signal }).then(async (r) => ({ status: r.status, bytes: Buffer.from(await r.arrayBuffer()) })),
      fetch(`${server.url}/livez`, { signal }),
    ]);
    // Served in the middle of the flood, not after it: hashes were still running or waiting.
    const hashingAfterwards = gate.running + gate.waiting;
    expect(download.status).toBe(200);
    expect(download.bytes.length).toBe(audio.length);
    expect(sha256(download.bytes)).toBe(sha256(audio));
    expect(live.status).toBe(200);
    expect(hashingAfterwards).toBeGreaterThan(0);

    const answers = await Promise.all(flood);
    const ok = answers.filter((a) => a.response.status === 200);
    const shed = answers.filter((a) => a.response.status === 503);
    expect(ok.length + shed.length).toBe(FLOOD);
    // Only the hashes the gate admits run (2 at once, 3 more of this client's waiting, and a few more as turns free up).
    expect(ok.length).toBeGreaterThanOrEqual(2);
    expect(shed.length).toBeGreaterThan(FLOOD / 2);
    for (const { response } of shed) {
      expectProblem(response, 503, 'unavailable');
      expect(Number(response.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    }
    // Shedding costs no hash: a refusal comes back well before one admitted login could.
    const slowestOk = Math.max(...ok.map((a) => a.ms));
    const medianShed = shed.map((a) => a.ms).sort((a, b) => a - b)[Math.floor(shed.length / 2)]!;
    expect(medianShed).toBeLessThan(slowestOk);
    expect(gate.running + gate.waiting).toBe(0);
  });
});

describe("one client's share of the hash gate", () => {
  // The real cost and the default gate (2 hashing, 8 waiting), as `mixtape serve` runs; trusting
  // the loopback proxy lets the test speak from two addresses. The default limits, but `global`:
  // the attacker retries a shed login at once, and the global limit stopping it would hide
  // whether the gate itself is fair. Before the fix it never needed to: ten logins in flight
  // kept the gate full at ~7 a second, well inside `global=600/1m`.
  const gate = new HashGate();
  const ATTACKER = { 'x-forwarded-for': '198.51.100.7' };
  const VICTIM = { 'x-forwarded-for': '203.0.113.20' };
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer(
      { MIXTAPE_TRUST_PROXY: 'loopback', MIXTAPE_RATE_LIMITS: 'global=100000/1m' },
      { hasher: new PasswordHasher(DEFAULT_SCRYPT_COST, gate) },
    );
  });

  afterAll(async () => {
    await server?.stop();
  });

  const login = (username: string, password: string, headers: Record<string, string>) =>
    call(`${server.api}/auth/login`, { body: { username, password }, headers });

  it('lets another client sign in while one client keeps the gate busy with correct logins, inside every limit', async () => {
    // Five accounts (all that `register=5/1h` allows one address), two logins in flight on each:
    // successful logins count against neither login policy, and ten of them filled the gate.
    const accounts = ['hog0', 'hog1', 'hog2', 'hog3', 'hog4'];
    for (const username of accounts) {
      const registered = await call(`${server.api}/auth/register`, { body: { username, password: 'hog password 1' }, headers: ATTACKER });
      expect(registered.status, registered.text).toBe(201);
    }
    const registered = await call(`${server.api}/auth/register`, { body: { username: 'bystander', password: 'bystander password' }, headers: VICTIM });
    expect(registered.status, registered.text).toBe(201);

    const attacker: Record<number, number> = {};
    let stop = false;
    const loops = [...accounts, ...accounts].map(async (username) => {
      while (!stop) {
        const answer = await login(username, 'hog password 1', ATTACKER);
        attacker[answer.status] = (attacker[answer.status] ?? 0) + 1;
        // A shed login is retried at once: it cost no hash, and a place frees soon.
        if (answer.status !== 200) await new Promise((resolve) => setTimeout(resolve, 20));
      }
    });
    const deadline = Date.now() + 10_000;
    while (gate.running < 2 || gate.waiting < 3) {
      if (Date.now() > deadline) throw new Error(`the attacker never filled its share (${gate.running} running, ${gate.waiting} waiting)`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }

    const bystander: number[] = [];
    for (let i = 0; i < 6; i += 1) {
      bystander.push((await login('bystander', 'bystander password', VICTIM)).status);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    stop = true;
    await Promise.all(loops);

    // Before each client had a share: [503, 503, 503, 503, 503, 503].
    expect(bystander, `attacker: ${JSON.stringify(attacker)}`).toEqual([200, 200, 200, 200, 200, 200]);
    // The attacker went on signing in, shed beyond its share, and no login policy stopped it.
    expect(attacker[200] ?? 0).toBeGreaterThan(10);
    expect(attacker[503] ?? 0).toBeGreaterThan(0);
    expect(Object.keys(attacker).sort()).toEqual(['200', '503']);
  }, 60_000);
});
