import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createMixtape, DEMO_TRACKS, seedDemoCatalog, type Mixtape, type MixtapeSettings } from '../../src/index.js';
import type { OpenServiceBackends, ServiceBackends } from './service-backends.js';
import { serviceTestSettings } from '../support/service-settings.js';

const [trackA] = DEMO_TRACKS as [(typeof DEMO_TRACKS)[0]];
const page = { limit: 5, offset: 0 };

/** The search index of a Mixtape, fed through the outbox, and what search does while the index fails. */
export function describeSearchSync(name: string, openBackends: OpenServiceBackends): void {
  describe(`search kept in step with the catalog: ${name}`, () => {
    let dataDir: string;
    let backends: ServiceBackends;
    let mixtape: Mixtape;
    const gauge = async (metric: 'searchOutboxPending' | 'searchSyncLag') => (await mixtape.metrics[metric].get()).values[0]?.value;

    async function open(searchRelay: MixtapeSettings['searchRelay']): Promise<void> {
      backends = await openBackends({ dataDir });
      mixtape = createMixtape(backends, serviceTestSettings(searchRelay ? { searchRelay } : {}));
    }

    beforeEach(async () => {
      dataDir = mkdtempSync(join(tmpdir(), 'mixtape-search-sync-'));
      await open({ intervalMs: 20, retryBaseMs: 10, retryMaxMs: 40 });
    });

    afterEach(async () => {
      await mixtape.close();
      rmSync(dataDir, { recursive: true, force: true });
    });

    it('does not lose a track resolved while the index fails: it is searchable once the index is back', async () => {
      mixtape.start();
      await backends.tamper.breakIndex();
      expect(await mixtape.resolver.resolve(trackA.id)).toMatchObject({ id: trackA.id, title: trackA.title });
      const meanwhile = await mixtape.search.search(trackA.title, page);
      expect(meanwhile.degraded).toBe(true);
      expect(meanwhile.items.map((t) => t.id)).toContain(trackA.id);

      await backends.tamper.healIndex();
      await vi.waitFor(
        async () => {
          const found = await mixtape.search.search(trackA.title, page);
          expect(found.degraded).toBe(false);
          expect(found.items.map((t) => t.id)).toContain(trackA.id);
          // Found as soon as the index is written; pending until the outbox row is deleted, after.
          expect(await gauge('searchOutboxPending')).toBe(0);
        },
        { timeout: 5000, interval: 20 },
      );
    });

    it('seeds the demo through the catalog and the relay, and tells the backlog in its gauges', async () => {
      expect(await seedDemoCatalog(backends.catalog)).toBe(DEMO_TRACKS.length);
      // Not started, and written behind the services' backs: the changes wait in the outbox.
      expect((await mixtape.search.search(trackA.title, page)).items).toEqual([]);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(await gauge('searchOutboxPending')).toBe(DEMO_TRACKS.length);
      expect(await gauge('searchSyncLag')).toBeGreaterThanOrEqual(0.05);

      mixtape.start();
      await vi.waitFor(async () => expect(await gauge('searchOutboxPending')).toBe(0), { timeout: 5000, interval: 20 });
      expect(await gauge('searchSyncLag')).toBe(0);
      const found = await mixtape.search.search(trackA.title, page);
      expect(found).toMatchObject({ degraded: false });
      expect(found.items[0]?.id).toBe(trackA.id);
      // Seeding again at the next start changes nothing, so nothing is queued.
      await seedDemoCatalog(backends.catalog);
      expect(await gauge('searchOutboxPending')).toBe(0);
    });

    it('relays a resolve at once, without waiting for the timer', async () => {
      await mixtape.close();
      await open({ intervalMs: 3_600_000 });
      mixtape.start();
      await mixtape.resolver.resolve(trackA.id);
      // The relay writes the index, then deletes the outbox row: in between, the track is found
      // and still pending. Both must come, within the second, with no pass of the timer.
      await vi.waitFor(
        async () => {
          expect((await mixtape.search.search(trackA.title, page)).items.map((t) => t.id)).toContain(trackA.id);
          expect(await gauge('searchOutboxPending')).toBe(0);
        },
        { timeout: 1000, interval: 10 },
      );
    });

    it('falls back to the catalog while the index fails, and says it is degraded', async () => {
      await backends.catalog.upsert([...DEMO_TRACKS]);
      await mixtape.outboxRelay.flush();
      const healthy = await mixtape.search.search(trackA.title, page);
      expect(healthy.degraded).toBe(false);
      expect(healthy.items[0]?.id).toBe(trackA.id);

      await backends.tamper.breakIndex();
      const degraded = await mixtape.search.search(trackA.title, page);
      expect(degraded.degraded).toBe(true);
      expect(degraded.items.map((t) => t.id)).toContain(trackA.id);
      expect((await mixtape.metrics.searchDegraded.get()).values[0]?.value).toBe(1);
      expect((await mixtape.health()).status).toBe('warn');
      await backends.tamper.healIndex();
    });
  });
}
