import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { RevocationList } from '../../src/auth/revocation-list.js';
import { UnavailableError } from '../../src/errors.js';

/** An adapter instance: what its own process would hold. */
export type RevocationListInstance = RevocationList & {
  start(): Promise<void>;
  close(): Promise<void>;
};

export interface RevocationListHarness {
  /**
   * A new, unstarted instance over the one store this harness shares between its instances,
   * with its own connection, as another process would have.
   */
  create(): RevocationListInstance;
  /** How long a revoke in one instance may take to show in another: the adapter's stated bound. */
  propagationMs: number;
  /** Closes every instance it created, and the store. */
  close(): Promise<void>;
}

const HOUR = 3_600_000;
const inAnHour = () => new Date(Date.now() + HOUR);
const token = (sid: string, jti = `jti-of-${sid}`) => ({ sid, jti });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** What every `RevocationList` adapter must do. */
export function describeRevocationList(name: string, factory: () => Promise<RevocationListHarness>): void {
  describe(`RevocationList contract: ${name}`, () => {
    let harness: RevocationListHarness;

    const started = async (): Promise<RevocationListInstance> => {
      const list = harness.create();
      await list.start();
      return list;
    };

    beforeEach(async () => {
      harness = await factory();
    });

    afterEach(async () => {
      await harness.close();
    });

    it('fails closed until it is started, and after it is closed; start and close are safe twice', async () => {
      const list = harness.create();
      expect(() => list.isRevoked(token('s-1'))).toThrow(UnavailableError);
      await list.start();
      await list.start();
      expect(list.isRevoked(token('s-1'))).toBe(false);
      await list.close();
      await list.close();
      expect(() => list.isRevoked(token('s-1'))).toThrow(UnavailableError);
    });

    it('revokes a session: every token of it at once, and nothing else', async () => {
      const list = await started();
      await list.revokeSession('s-1', inAnHour());
      expect(list.isRevoked(token('s-1'))).toBe(true);
      expect(list.isRevoked({ sid: 's-1', jti: 'another-token-of-s-1' })).toBe(true);
      expect(list.isRevoked(token('s-2'))).toBe(false);
      // Ids of the two kinds never mix.
      expect(list.isRevoked({ sid: 's-2', jti: 's-1' })).toBe(false);
    });

    it('revokes one access token at once, and not the rest of its session', async () => {
      const list = await started();
      await list.revokeToken('jti-a', inAnHour());
      expect(list.isRevoked({ sid: 's-1', jti: 'jti-a' })).toBe(true);
      expect(list.isRevoked({ sid: 's-1', jti: 'jti-b' })).toBe(false);
      expect(list.isRevoked({ sid: 'jti-a', jti: 'jti-b' })).toBe(false);
    });

    it('forgets an entry once it expires, and ignores one that has expired already', async () => {
      const list = await started();
      await list.revokeSession('s-brief', new Date(Date.now() + 300));
      await list.revokeToken('jti-brief', new Date(Date.now() + 300));
      await list.revokeSession('s-past', new Date(Date.now() - 1));
      expect(list.isRevoked(token('s-brief'))).toBe(true);
      expect(list.isRevoked({ sid: 's-x', jti: 'jti-brief' })).toBe(true);
      expect(list.isRevoked(token('s-past'))).toBe(false);
      await sleep(350);
      expect(list.isRevoked(token('s-brief'))).toBe(false);
      expect(list.isRevoked({ sid: 's-x', jti: 'jti-brief' })).toBe(false);
      // Nor does another process, loading the list afresh, see either.
      const later = await started();
      expect(later.isRevoked(token('s-brief'))).toBe(false);
      expect(later.isRevoked(token('s-past'))).toBe(false);
    });

    it('keeps the later expiry when an id is revoked twice, here and elsewhere', async () => {
      const [a, b] = [await started(), await started()];
      await a.revokeSession('s-longer', new Date(Date.now() + 300));
      await a.revokeSession('s-longer', inAnHour());
      await a.revokeSession('s-shorter', inAnHour());
      await a.revokeSession('s-shorter', new Date(Date.now() + 300));
      await vi.waitFor(() => expect(b.isRevoked(token('s-shorter'))).toBe(true), { timeout: harness.propagationMs, interval: 10 });
      await sleep(400);
      for (const list of [a, b, await started()]) {
        expect(list.isRevoked(token('s-longer'))).toBe(true);
        expect(list.isRevoked(token('s-shorter'))).toBe(true);
      }
    });

    it('shows a revoke made in one instance in another within the stated bound', async () => {
      const [a, b] = [await started(), await started()];
      expect(b.isRevoked(token('s-1'))).toBe(false);
      const revokedAt = Date.now();
      await a.revokeSession('s-1', inAnHour());
      await a.revokeToken('jti-9', inAnHour());
      await vi.waitFor(
        () => {
          expect(b.isRevoked(token('s-1'))).toBe(true);
          expect(b.isRevoked({ sid: 's-2', jti: 'jti-9' })).toBe(true);
        },
        { timeout: harness.propagationMs, interval: 10 },
      );
      expect(Date.now() - revokedAt).toBeLessThanOrEqual(harness.propagationMs + 50);
      expect(b.isRevoked(token('s-2'))).toBe(false);
      // And the other way.
      await b.revokeSession('s-3', inAnHour());
      await vi.waitFor(() => expect(a.isRevoked(token('s-3'))).toBe(true), { timeout: harness.propagationMs, interval: 10 });
    });

    it('loads what was revoked before it started', async () => {
      const a = await started();
      await a.revokeSession('s-1', inAnHour());
      await a.revokeToken('jti-1', inAnHour());
      const b = await started();
      // At once: no poll in between.
      expect(b.isRevoked(token('s-1'))).toBe(true);
      expect(b.isRevoked({ sid: 's-2', jti: 'jti-1' })).toBe(true);
      expect(b.isRevoked(token('s-2'))).toBe(false);
    });
  });
}
