import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createMixtape, type HousekeepingEvent, type Mixtape, type MixtapeSettings } from '../../src/index.js';
import type { OpenServiceBackends, ServiceBackends } from '../services/service-backends.js';
import { serviceTestSettings } from '../support/service-settings.js';

const HOUR = 3_600_000;
const TASKS = [
  'auth:purge-expired-families',
  'consistency:reconcile',
  'counters:repair',
  'jobs:purge-finished',
  'jobs:reap-expired-leases',
  'search:relay-outbox',
  'storage:sweep-temps',
];

/** The chores as `createMixtape` wires them, run by `start()` over one set of backends. */
export function describeHousekeeping(name: string, openBackends: OpenServiceBackends): void {
  describe(`housekeeping in a started Mixtape: ${name}`, () => {
    let dataDir: string;
    let backends: ServiceBackends;
    let mixtape: Mixtape;
    let events: HousekeepingEvent[];
    const ran = (task: string) => events.filter((event) => event.type === 'ran' && event.task === task);

    async function open(housekeeping: MixtapeSettings['housekeeping']): Promise<void> {
      backends = await openBackends({ dataDir });
      events = [];
      mixtape = createMixtape(
        backends,
        serviceTestSettings({ jobRetentionMs: HOUR, orphanGraceMs: HOUR, ...(housekeeping ? { housekeeping } : {}) }),
        { onHousekeeping: (event) => events.push(event) },
      );
    }

    beforeEach(() => {
      dataDir = mkdtempSync(join(tmpdir(), 'mixtape-housekeeping-'));
    });

    afterEach(async () => {
      await mixtape.close();
      rmSync(dataDir, { recursive: true, force: true });
    });

    it('runs every chore, each doing its job on the rows and files it finds', async () => {
      await open({
        reapIntervalMs: 100,
        purgeJobsIntervalMs: 100,
        purgeTokenFamiliesIntervalMs: 100,
        relayIntervalMs: 100,
        sweepTempsIntervalMs: 100,
        repairCountersIntervalMs: 100,
        reconcileIntervalMs: 100,
      });
      const { queue, tokens, tamper } = backends;
      const enqueue = async (trackId: string) => {
        const outcome = await queue.enqueue({ userId: 'u1', trackId, maxAttempts: 3, maxActive: 100 });
        if (outcome.kind !== 'enqueued') throw new Error(outcome.kind);
        return outcome.job;
      };
      const old = await enqueue('old');
      await queue.cancel(old.id, 'u1');
      await tamper.ageJob(old.id, 2 * HOUR);
      const stalled = await enqueue('stalled');
      await enqueue('waiting');
      const lease = await queue.claim('dead-worker', 20);
      expect(lease?.job.id).toBe(stalled.id);
      await tamper.corruptActiveCount('u1', 20);
      await tokens.createFamily({ id: 'expired', userId: 'u1', expiresAt: new Date(Date.now() - HOUR) }, 'e'.repeat(64));
      await tokens.createFamily({ id: 'live', userId: 'u1', expiresAt: new Date(Date.now() + HOUR) }, 'f'.repeat(64));
      const leftover = join(dataDir, 'audio', 'tmp', `${old.id}.gone-token.part`);
      writeFileSync(leftover, 'what a killed attempt left');
      // Behind the services' backs, as another process would: no kick announces it.
      await backends.catalog.upsert([{ id: 'track-a', title: 'Sweeping Up', artists: ['Janitors'], album: 'Chores', durationMs: 1000 }]);

      mixtape.start();
      await vi.waitFor(() => expect(TASKS.filter((task) => ran(task).length === 0)).toEqual([]), { timeout: 10_000, interval: 20 });
      expect(mixtape.housekeeping.taskNames.sort()).toEqual(TASKS);
      expect(events.filter((event) => event.type === 'error')).toEqual([]);

      expect(await queue.get(old.id)).toBeNull();
      expect((await queue.get(stalled.id))?.status).toBe('queued');
      expect(await tamper.activeCount('u1')).toBe(2);
      expect(await tokens.findFamilyByToken('e'.repeat(64))).toBeNull();
      expect(await tokens.findFamilyByToken('f'.repeat(64))).toMatchObject({ id: 'live' });
      expect(existsSync(leftover)).toBe(false);
      expect((await mixtape.search.search('Sweeping', { limit: 5, offset: 0 })).items.map((track) => track.id)).toEqual(['track-a']);
      expect(ran('consistency:reconcile')[0]).toMatchObject({ result: { dryRun: false } });
    });

    it('tries the heavy chores a while after start, and reaping and the outbox at once; none after close', async () => {
      await open({ purgeJobsIntervalMs: 300, reconcileIntervalMs: 300, reapIntervalMs: 300, relayIntervalMs: 300 });
      mixtape.start();
      await sleep(150);
      expect(ran('jobs:reap-expired-leases')).toHaveLength(1);
      expect(ran('search:relay-outbox')).toHaveLength(1);
      expect(ran('jobs:purge-finished')).toHaveLength(0);
      expect(ran('consistency:reconcile')).toHaveLength(0);
      await vi.waitFor(() => expect(ran('consistency:reconcile')).toHaveLength(1), { timeout: 2000, interval: 10 });
      await mixtape.close();
      const after = events.length;
      await sleep(400);
      expect(events).toHaveLength(after);
    });
  });
}
