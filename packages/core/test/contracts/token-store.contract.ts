import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TokenFamily, TokenStore } from '../../src/auth/token-store.js';

export interface TokenStoreHarness {
  /** An empty store. */
  tokens: TokenStore;
  close(): Promise<void>;
}

const HOUR = 3_600_000;

/** What every `TokenStore` adapter must do. */
export function describeTokenStore(name: string, factory: () => Promise<TokenStoreHarness>): void {
  describe(`TokenStore contract: ${name}`, () => {
    let harness: TokenStoreHarness;
    let tokens: TokenStore;
    const now = new Date(Date.UTC(2030, 0, 1));
    let counter = 0;
    /** Distinct stand-ins for SHA-256 hex digests. */
    const hash = () => `${(++counter).toString(16).padStart(8, '0')}${'ab'.repeat(28)}`;
    const family = (id: string, userId = 'user-1', ttlMs = HOUR): TokenFamily => ({
      id,
      userId,
      expiresAt: new Date(now.getTime() + ttlMs),
    });

    beforeEach(async () => {
      harness = await factory();
      tokens = harness.tokens;
    });

    afterEach(async () => {
      await harness.close();
    });

    it('finds the family of a fresh token', async () => {
      const first = hash();
      await tokens.createFamily(family('fam-1'), first);
      expect(await tokens.findFamilyByToken(first)).toEqual(family('fam-1'));
      expect(await tokens.isFamilyActive('fam-1', now)).toBe(true);
      expect(await tokens.findFamilyByToken(hash())).toBeNull();
    });

    it('rotates along a chain, each token spendable once', async () => {
      const chain = [hash()];
      await tokens.createFamily(family('fam-1'), chain[0]!);
      for (let i = 1; i <= 3; i++) {
        const next = hash();
        const outcome = await tokens.rotate(chain[i - 1]!, next, now);
        expect(outcome).toEqual({ kind: 'rotated', family: family('fam-1') });
        chain.push(next);
      }
      // Spent and fresh tokens alike still name their family.
      for (const token of chain) expect((await tokens.findFamilyByToken(token))?.id).toBe('fam-1');
      expect(await tokens.isFamilyActive('fam-1', now)).toBe(true);
    });

    it('revokes the whole family when a spent token comes back', async () => {
      const first = hash();
      const second = hash();
      await tokens.createFamily(family('fam-1'), first);
      await tokens.createFamily(family('fam-2'), hash());
      expect((await tokens.rotate(first, second, now)).kind).toBe('rotated');

      expect(await tokens.rotate(first, hash(), now)).toEqual({ kind: 'reused', family: family('fam-1') });
      expect(await tokens.isFamilyActive('fam-1', now)).toBe(false);
      // The thief and the owner are both locked out: the newest token is dead too.
      expect(await tokens.rotate(second, hash(), now)).toEqual({ kind: 'invalid' });
      // Other families are untouched.
      expect(await tokens.isFamilyActive('fam-2', now)).toBe(true);
    });

    it('lets exactly one of two racing refreshes with the same token win', async () => {
      const first = hash();
      await tokens.createFamily(family('fam-1'), first);
      const outcomes = await Promise.all([tokens.rotate(first, hash(), now), tokens.rotate(first, hash(), now)]);
      expect(outcomes.filter((o) => o.kind === 'rotated')).toHaveLength(1);
      expect(outcomes.filter((o) => o.kind === 'reused')).toHaveLength(1);
      expect(await tokens.isFamilyActive('fam-1', now)).toBe(false);
    });

    it('answers invalid for an unknown token', async () => {
      expect(await tokens.rotate(hash(), hash(), now)).toEqual({ kind: 'invalid' });
    });

    it('answers invalid once the family has expired, and does not store the next token', async () => {
      const first = hash();
      const next = hash();
      await tokens.createFamily(family('fam-1', 'user-1', 1000), first);
      const later = new Date(now.getTime() + 1000);
      expect(await tokens.isFamilyActive('fam-1', new Date(now.getTime() + 999))).toBe(true);
      expect(await tokens.isFamilyActive('fam-1', later)).toBe(false);
      expect(await tokens.rotate(first, next, later)).toEqual({ kind: 'invalid' });
      expect(await tokens.findFamilyByToken(next)).toBeNull();
    });

    it('revokes one family', async () => {
      const first = hash();
      await tokens.createFamily(family('fam-1'), first);
      await tokens.createFamily(family('fam-2'), hash());
      await tokens.revokeFamily('fam-1');
      await tokens.revokeFamily('fam-1');
      expect(await tokens.isFamilyActive('fam-1', now)).toBe(false);
      expect(await tokens.rotate(first, hash(), now)).toEqual({ kind: 'invalid' });
      expect(await tokens.isFamilyActive('fam-2', now)).toBe(true);
      await tokens.revokeFamily('no-such-family');
    });

    it('revokes every family of one user', async () => {
      const tokenA = hash();
      await tokens.createFamily(family('a-1', 'user-a'), tokenA);
      await tokens.createFamily(family('a-2', 'user-a'), hash());
      await tokens.createFamily(family('b-1', 'user-b'), hash());
      await tokens.revokeAllForUser('user-a');
      expect(await tokens.isFamilyActive('a-1', now)).toBe(false);
      expect(await tokens.isFamilyActive('a-2', now)).toBe(false);
      expect(await tokens.isFamilyActive('b-1', now)).toBe(true);
      expect(await tokens.rotate(tokenA, hash(), now)).toEqual({ kind: 'invalid' });
    });

    it('does not know unknown families', async () => {
      expect(await tokens.isFamilyActive('no-such-family', now)).toBe(false);
    });
  });
}
