import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoAudioChunks, DEMO_TRACKS } from '@mixtape/core';
import { openSqliteBackends } from '@mixtape/core/sqlite';
import { runEmbedded } from './embedded-core.mjs';

let dataDir: string;

beforeAll(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'mixtape-embedded-'));
});

afterAll(() => {
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

async function demoAudioSha256(track: { id: string; durationMs: number }): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of demoAudioChunks(track)) hash.update(chunk);
  return hash.digest('hex');
}

describe('embedded-core example', () => {
  it('registers, searches, downloads through the workers and reads back the demo audio', async () => {
    const lines: string[] = [];
    const result = await runEmbedded(dataDir, { log: (line) => lines.push(line) });

    const demo = DEMO_TRACKS.find((t) => t.id === result.track.id);
    expect(demo?.artists).toContain('The Paper Moons');
    expect(result.job).toMatchObject({ userId: result.user.id, trackId: result.track.id, status: 'completed', attempts: 1 });
    expect(result.job.error).toBeUndefined();
    expect(result.sha256).toBe(createHash('sha256').update(result.audio).digest('hex'));
    expect(result.sha256).toBe(await demoAudioSha256(demo!));
    expect(result.library.total).toBe(1);
    expect(result.library.items[0]).toMatchObject({ track: { id: result.track.id, available: true }, sizeBytes: result.audio.length });
    expect(lines).toContain(`download ${result.job.id} is completed`);
    expect(existsSync(join(dataDir, 'mixtape.db'))).toBe(true);
  });

  it('leaves everything in the data dir, closed, for the next run to reopen', async () => {
    const second = await runEmbedded(dataDir);
    expect(second.job.status).toBe('completed');

    // The example closed its backends; opening them again sees both users' libraries and one stored file.
    const backends = await openSqliteBackends({ dataDir });
    try {
      const track = await backends.catalog.get(second.track.id);
      expect(track?.audio?.blobKey).toBe(second.sha256);
      expect(await backends.library.holderCount(second.track.id)).toBe(2);
      expect(await backends.catalog.storedBytes()).toBe(second.audio.length);
    } finally {
      await backends.close();
    }
  });
});
