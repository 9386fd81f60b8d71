import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TokenStore } from '../../src/auth/token-store.js';

export interface TokenStorePurgeHarness {
  /** An empty store. */
  tokens: TokenStore;
  close(): Promise<void>;
}

const HOUR = 3_600_000;

/** How every `TokenStore` adapter purges expired families (housekeeping's chore). */
export function describeTokenStorePurge(name: string, factory: () => Promise<TokenStorePurgeHarness>): void {
  describe(`TokenStore purging contract: ${name}`, () => {
    let harness: TokenStorePurgeHarness;
    let tokens: TokenStore;
    const now = new Date(Date.UTC(2030, 0, 1));
    let counter = 0;
    const hash = () => `${(++counter).toString(16).padStart(8, '0')}${'cd'.repeat(28)}`;
    const create = async (id: string, expiresInMs: number): Promise<string> => {
      const token = hash();
      await tokens.createFamily({ id, userId: 'user-1', expiresAt: new Date(now.getTime() + expiresInMs) }, token);
      return token;
    };

    beforeEach(async () => {
      harness = await factory();
      tokens = harness.tokens;
    });

    afterEach(async () => {
      await harness.close();
    });

    it('deletes the families expired before a date, with their tokens, however many, and keeps the others', async () => {
      const live = await create('live', HOUR);
      const spent = await create('expired-and-rotated', -HOUR);
      const expired: string[] = [];
      for (let i = 0; i < 1_100; i += 1) expired.push(await create(`expired-${i}`, -2 * HOUR - i));
      const revoked = await create('revoked-live', HOUR);
      await tokens.revokeFamily('revoked-live');

      expect(await tokens.purgeExpired(new Date(now.getTime() - 3 * HOUR))).toBe(0);
      expect(await tokens.purgeExpired(now)).toBe(1_101);
      expect(await tokens.findFamilyByToken(expired[0]!)).toBeNull();
      expect(await tokens.findFamilyByToken(expired[1_099]!)).toBeNull();
      expect(await tokens.findFamilyByToken(spent)).toBeNull();
      expect(await tokens.findFamilyByToken(live)).toMatchObject({ id: 'live' });
      // A revoked family is kept until it expires: reusing its tokens must still be detected.
      expect(await tokens.findFamilyByToken(revoked)).toMatchObject({ id: 'revoked-live' });
      expect(await tokens.purgeExpired(now)).toBe(0);
      expect((await tokens.rotate(live, hash(), now)).kind).toBe('rotated');
    });
  });
}
