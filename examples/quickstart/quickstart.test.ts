import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_TRACKS } from '@mixtape/core';
import { startTestServer, type TestServer } from '../../packages/server/test/support/test-server.js';
import { runQuickstart } from './quickstart.mjs';

let server: TestServer;
let outDir: string;

beforeAll(async () => {
  server = await startTestServer();
  outDir = mkdtempSync(join(tmpdir(), 'mixtape-quickstart-'));
});

afterAll(async () => {
  await server?.stop();
  if (outDir) rmSync(outDir, { recursive: true, force: true });
});

async function storedBytes(userId: string, trackId: string): Promise<Buffer> {
  const { library } = server.mixtape;
  const chunks: Buffer[] = [];
  for await (const chunk of await library.open(await library.file(userId, trackId))) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

describe('quickstart example', () => {
  it('registers, searches, downloads, follows and saves the very bytes the server stores', async () => {
    const lines: string[] = [];
    const result = await runQuickstart(server.url, join(outDir, 'nested'), { log: (line) => lines.push(line) });

    const lighthouse = DEMO_TRACKS.find((t) => t.title === 'Midnight Lighthouse');
    expect(result.track.id).toBe(lighthouse?.id);
    expect(result.job).toMatchObject({ trackId: result.track.id, status: 'completed' });
    expect(dirname(result.path)).toBe(join(outDir, 'nested'));
    expect(result.path.endsWith('Kilo Heron - Midnight Lighthouse.wav')).toBe(true);

    const saved = readFileSync(result.path);
    expect(saved.length).toBe(result.sizeBytes);
    expect(saved.subarray(0, 4).toString('latin1')).toBe('RIFF');
    expect(saved.equals(await storedBytes(result.user.id, result.track.id))).toBe(true);

    expect(lines[0]).toMatch(/^registered and logged in as quickstart-[0-9a-f]{8}$/);
    expect(lines).toContain('status: completed');
    expect(lines.at(-1)).toBe(`saved ${result.path} (${saved.length} bytes)`);
  });

  it('runs again against the same server as a new user', async () => {
    const first = await runQuickstart(server.url, outDir);
    const second = await runQuickstart(server.url, outDir);
    expect(second.user.id).not.toBe(first.user.id);
    expect(readFileSync(second.path).equals(readFileSync(first.path))).toBe(true);
  });

  it('stops with the server problem when registration is closed', async () => {
    const closed = await startTestServer({ MIXTAPE_REGISTRATION: 'closed' });
    try {
      await expect(runQuickstart(closed.url, outDir)).rejects.toMatchObject({ name: 'ProblemError', status: 403, kind: 'forbidden' });
    } finally {
      await closed.stop();
    }
  });
});
