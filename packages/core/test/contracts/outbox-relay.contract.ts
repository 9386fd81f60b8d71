import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { notifyCatalogChanges } from '../../src/catalog/change-notifying-catalog.js';
import type { TrackCatalog } from '../../src/catalog/track-catalog.js';
import { UnavailableError } from '../../src/errors.js';
import type { TrackMetadata } from '../../src/model.js';
import { OutboxRelay, type OutboxRelayDeps } from '../../src/outbox/outbox-relay.js';
import type { SearchOutbox } from '../../src/outbox/search-outbox.js';
import type { SearchIndex, TrackDocument } from '../../src/search/search-index.js';

export interface SearchSyncHarness {
  /** An empty catalog, the outbox its writes fill, and an empty index. */
  catalog: TrackCatalog;
  outbox: SearchOutbox;
  index: SearchIndex;
  /** Waits until writes are visible to searches (a refresh for Elasticsearch); may do nothing. */
  settle?(): Promise<void>;
  /** A real fault: every index write fails until `healIndex`. */
  breakIndex(): Promise<void>;
  healIndex(): Promise<void>;
  /** A real fault: the index refuses this one track's document and takes the others. */
  refuseDocument(trackId: string): Promise<void>;
  close(): Promise<void>;
}

const meta = (id: string, title: string): TrackMetadata => ({ id, title, artists: ['Band'], album: 'Album', durationMs: 1000 });
const HOUR = 3_600_000;

/** An index whose writes wait at a gate: a relay paused between reading the catalog and writing. */
function gatedIndex(index: SearchIndex) {
  let open!: () => void;
  let entered!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const reached = new Promise<void>((resolve) => (entered = resolve));
  const gated: SearchIndex = {
    name: index.name,
    async upsert(documents: TrackDocument[]) {
      entered();
      await gate;
      return index.upsert(documents);
    },
    remove: (ids) => index.remove(ids),
    search: (query, page) => index.search(query, page),
    documents: (pageSize) => index.documents(pageSize),
  };
  return { index: gated, reached, open };
}

/**
 * What the `OutboxRelay` must do over every backend: feed the index from the outbox, never
 * lose a change to an index failure, never let an older write win, and never let one bad
 * change hold back the others.
 */
export function describeOutboxRelay(name: string, factory: () => Promise<SearchSyncHarness>): void {
  describe(`OutboxRelay over ${name}`, () => {
    let harness: SearchSyncHarness;
    let catalog: TrackCatalog;
    let outbox: SearchOutbox;
    let index: SearchIndex;
    /** Added to the real time the relays see, to let a retry time pass at once. */
    let skew: number;
    const now = () => new Date(Date.now() + skew);
    const relays: OutboxRelay[] = [];
    const relay = (deps: Partial<OutboxRelayDeps> = {}) => {
      const made = new OutboxRelay({ outbox, catalog, index, now, ...deps });
      relays.push(made);
      return made;
    };
    const ids = async (query: string) => {
      await harness.settle?.();
      return (await index.search(query, { limit: 50, offset: 0 })).items.slice().sort();
    };

    beforeEach(async () => {
      harness = await factory();
      ({ catalog, outbox, index } = harness);
      skew = 0;
    });

    afterEach(async () => {
      for (const made of relays.splice(0)) await made.close();
      await harness.close();
    });

    it('writes every catalog change to the index and settles the outbox', async () => {
      await catalog.upsert([meta('a', 'Alpha'), meta('b', 'Bravo'), meta('c', 'Charlie')]);
      expect(await relay().flush()).toEqual({ applied: 3, failed: 0 });
      expect(await ids('alpha')).toEqual(['a']);
      expect(await ids('band')).toEqual(['a', 'b', 'c']);
      expect(await outbox.backlog()).toEqual({ pending: 0, oldestEnqueuedAt: null });

      await catalog.upsert([meta('a', 'Renamed')]);
      expect(await relay().flush()).toEqual({ applied: 1, failed: 0 });
      expect(await ids('alpha')).toEqual([]);
      expect(await ids('renamed')).toEqual(['a']);
    });

    it('keeps a change the index failed to take, and writes it once the index is back', async () => {
      await harness.breakIndex();
      await catalog.upsert([meta('a', 'Alpha')]);
      const relayer = relay({ settings: { retryBaseMs: 1000, retryMaxMs: 1000 } });
      expect(await relayer.flush()).toEqual({ applied: 0, failed: 1 });
      expect((await outbox.backlog()).pending).toBe(1);
      const [kept] = await outbox.due(new Date(Date.now() + HOUR), 10);
      expect(kept).toMatchObject({ trackId: 'a', version: 1, attempts: 1 });
      expect(kept?.lastError).toMatch(/\S/);

      await harness.healIndex();
      // Not before its retry time...
      expect(await relayer.flush()).toEqual({ applied: 0, failed: 0 });
      expect(await ids('alpha')).toEqual([]);
      // ...and then it is written.
      skew += 1000;
      expect(await relayer.flush()).toEqual({ applied: 1, failed: 0 });
      expect(await ids('alpha')).toEqual(['a']);
      expect((await outbox.backlog()).pending).toBe(0);
    });

    it('never lets a late write of an older version replace a newer document', async () => {
      await catalog.upsert([meta('a', 'First')]);
      const slow = gatedIndex(index);
      const late = relay({ index: slow.index }).flush();
      await slow.reached;
      // Meanwhile the track changes, and another relay writes the change.
      await catalog.upsert([meta('a', 'Second')]);
      expect(await relay().flush()).toEqual({ applied: 1, failed: 0 });
      slow.open();
      expect(await late).toEqual({ applied: 1, failed: 0 });
      expect(await ids('second')).toEqual(['a']);
      expect(await ids('first')).toEqual([]);
      expect((await outbox.backlog()).pending).toBe(0);
    });

    it('settles only what it wrote: a change made while it wrote stays for the next pass', async () => {
      await catalog.upsert([meta('a', 'First')]);
      const slow = gatedIndex(index);
      const pass = relay({ index: slow.index }).flush();
      await slow.reached;
      await catalog.upsert([meta('a', 'Second')]);
      slow.open();
      await pass;
      expect(await ids('first')).toEqual(['a']);
      expect(await outbox.due(now(), 10)).toMatchObject([{ trackId: 'a', version: 2 }]);
      expect(await relay().flush()).toEqual({ applied: 1, failed: 0 });
      expect(await ids('second')).toEqual(['a']);
      expect((await outbox.backlog()).pending).toBe(0);
    });

    it('does not let a change the index refuses hold back the others', async () => {
      await harness.refuseDocument('poison');
      await catalog.upsert([meta('b', 'Good'), meta('poison', 'Good'), meta('c', 'Good'), meta('d', 'Good')]);
      expect(await relay().flush()).toEqual({ applied: 3, failed: 1 });
      expect(await ids('good')).toEqual(['b', 'c', 'd']);
      expect(await outbox.due(new Date(Date.now() + HOUR), 10)).toMatchObject([{ trackId: 'poison', attempts: 1 }]);
      // Backing off, it is not in the way of later changes either.
      await catalog.upsert([meta('e', 'Good')]);
      expect(await relay().flush()).toEqual({ applied: 1, failed: 0 });
      expect(await ids('good')).toEqual(['b', 'c', 'd', 'e']);
    });

    it('tries a few changes alone when the index is down, and leaves the rest due untouched', async () => {
      let writes = 0;
      const counted: Pick<SearchIndex, 'upsert' | 'remove'> = {
        upsert: (documents) => ((writes += 1), index.upsert(documents)),
        remove: (ids) => index.remove(ids),
      };
      await harness.breakIndex();
      await catalog.upsert(Array.from({ length: 10 }, (_, i) => meta(`t${i}`, 'Song')));
      expect(await relay({ index: counted, settings: { isolationLimit: 3 } }).flush()).toEqual({ applied: 0, failed: 3 });
      // One bulk write, then three alone.
      expect(writes).toBe(4);
      const due = await outbox.due(now(), 100);
      expect(due).toHaveLength(7);
      expect(due.every((change) => change.attempts === 0)).toBe(true);
    });

    it('pauses while the index says it is down, counting no attempt, and catches up within outagePauseMaxMs', async () => {
      let down = true;
      let writes = 0;
      // What the Elasticsearch adapter throws when the node does not answer or its breaker is open.
      const flaky: Pick<SearchIndex, 'upsert' | 'remove'> = {
        upsert: (documents) => ((writes += 1), down ? Promise.reject(new UnavailableError('index down')) : index.upsert(documents)),
        remove: (ids) => index.remove(ids),
      };
      await catalog.upsert(Array.from({ length: 10 }, (_, i) => meta(`t${i}`, 'Song')));
      const relayer = relay({ index: flaky, settings: { intervalMs: 20, retryBaseMs: 20, outagePauseMaxMs: 100 } });
      expect(await relayer.flush()).toEqual({ applied: 0, failed: 0 });
      // One bulk write, none alone: no change is at fault.
      expect(writes).toBe(1);
      expect((await outbox.due(now(), 100)).map((change) => change.attempts)).toEqual(Array(10).fill(0));
      relayer.start();
      await new Promise((resolve) => setTimeout(resolve, 300));
      // Paused between tries, however often its timer fires (every 20 ms).
      expect(writes).toBeLessThan(10);
      down = false;
      await vi.waitFor(async () => expect(await ids('song')).toHaveLength(10), { timeout: 2000, interval: 20 });
      expect((await outbox.backlog()).pending).toBe(0);
    });

    it('removes the document of a track the catalog lacks, and rewrites a lost one, when asked to repair', async () => {
      await catalog.upsert([meta('a', 'Alpha')]);
      await relay().flush();
      await index.upsert([{ ...meta('ghost', 'Ghost'), available: false, version: 3 }]);
      await index.remove(['a']);
      await relay().reindex(['ghost', 'a']);
      await relay().flush();
      expect(await ids('ghost')).toEqual([]);
      expect(await ids('alpha')).toEqual(['a']);
      expect((await outbox.backlog()).pending).toBe(0);
    });

    it('runs when kicked, and on its timer once started, until closed', async () => {
      const kicked = relay({ settings: { intervalMs: 3_600_000 } });
      const notifying = notifyCatalogChanges(catalog, () => kicked.kick());
      await notifying.upsert([meta('a', 'Kicked')]);
      await vi.waitFor(async () => expect(await ids('kicked')).toEqual(['a']), { timeout: 2000, interval: 10 });

      const timed = relay({ settings: { intervalMs: 20 } });
      timed.start();
      timed.start();
      // Written behind its back, with no kick: the timer finds it.
      await catalog.upsert([meta('b', 'Timed')]);
      await vi.waitFor(async () => expect(await ids('timed')).toEqual(['b']), { timeout: 2000, interval: 10 });

      await timed.close();
      await timed.close();
      await kicked.close();
      timed.start();
      await notifying.upsert([meta('c', 'Closed')]);
      timed.kick();
      await new Promise((resolve) => setTimeout(resolve, 60));
      expect(await ids('closed')).toEqual([]);
      expect((await outbox.backlog()).pending).toBe(1);
    });
  });
}
