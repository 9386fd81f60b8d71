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

    /** Whether the family's newest token still rotates: spends it, and returns the next one. */
    const stillRotates = async (token: string, at = now): Promise<string | null> => {
      const next = hash();
      return (await tokens.rotate(token, next, at)).kind === 'rotated' ? next : null;
    };

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
    });

    it('revokes the whole family when a spent token comes back', async () => {
      const first = hash();
      const second = hash();
      const other = hash();
      await tokens.createFamily(family('fam-1'), first);
      await tokens.createFamily(family('fam-2'), other);
      expect((await tokens.rotate(first, second, now)).kind).toBe('rotated');

      expect(await tokens.rotate(first, hash(), now)).toEqual({ kind: 'reused', family: family('fam-1') });
      // The thief and the owner are both locked out: the newest token is dead too.
      expect(await tokens.rotate(second, hash(), now)).toEqual({ kind: 'invalid' });
      // Other families are untouched.
      expect(await stillRotates(other)).not.toBeNull();
    });

    it('says reused again each time a spent token comes back, so a failed follow-up can be retried', async () => {
      const first = hash();
      await tokens.createFamily(family('fam-1'), first);
      const second = await stillRotates(first);
      expect(await tokens.rotate(first, hash(), now)).toEqual({ kind: 'reused', family: family('fam-1') });
      expect(await tokens.rotate(first, hash(), now)).toEqual({ kind: 'reused', family: family('fam-1') });
      // Never once the family has expired: there is nothing left to end.
      expect(await tokens.rotate(first, hash(), family('fam-1').expiresAt)).toEqual({ kind: 'invalid' });
      expect(await tokens.rotate(second!, hash(), now)).toEqual({ kind: 'invalid' });
    });

    it('lets exactly one of two racing refreshes with the same token win', async () => {
      const first = hash();
      await tokens.createFamily(family('fam-1'), first);
      const outcomes = await Promise.all([tokens.rotate(first, hash(), now), tokens.rotate(first, hash(), now)]);
      expect(outcomes.filter((o) => o.kind === 'rotated')).toHaveLength(1);
      expect(outcomes.filter((o) => o.kind === 'reused')).toHaveLength(1);
      // The winner's next token is dead as well: the family was revoked.
      expect(await tokens.rotate(first, hash(), now)).toEqual({ kind: 'reused', family: family('fam-1') });
    });

    it('answers invalid for an unknown token', async () => {
      expect(await tokens.rotate(hash(), hash(), now)).toEqual({ kind: 'invalid' });
    });

    it('answers invalid once the family has expired, and does not store the next token', async () => {
      const first = hash();
      const next = hash();
      const other = hash();
      await tokens.createFamily(family('fam-1', 'user-1', 1000), first);
      await tokens.createFamily(family('fam-2', 'user-1', 1000), other);
      const later = new Date(now.getTime() + 1000);
      expect(await stillRotates(other, new Date(now.getTime() + 999))).not.toBeNull();
      expect(await tokens.rotate(first, next, later)).toEqual({ kind: 'invalid' });
      expect(await tokens.findFamilyByToken(next)).toBeNull();
    });

    it('revokes one family, and returns it however often it is revoked', async () => {
      const first = hash();
      const other = hash();
      await tokens.createFamily(family('fam-1'), first);
      await tokens.createFamily(family('fam-2'), other);
      // The family comes back each time, so the caller can bound how long its access tokens live.
      expect(await tokens.revokeFamily('fam-1')).toEqual(family('fam-1'));
      expect(await tokens.revokeFamily('fam-1')).toEqual(family('fam-1'));
      expect(await tokens.rotate(first, hash(), now)).toEqual({ kind: 'invalid' });
      expect(await stillRotates(other)).not.toBeNull();
      expect(await tokens.revokeFamily('no-such-family')).toBeNull();
    });

    it('revokes every family of one user', async () => {
      const [a1, a2, b1] = [hash(), hash(), hash()];
      await tokens.createFamily(family('a-1', 'user-a'), a1);
      await tokens.createFamily(family('a-2', 'user-a'), a2);
      await tokens.createFamily(family('b-1', 'user-b'), b1);
      await tokens.revokeFamily('a-2');
      // Only the families it revoked: the caller ends their access tokens.
      expect(await tokens.revokeAllForUser('user-a')).toEqual([family('a-1', 'user-a')]);
      expect(await tokens.revokeAllForUser('user-a')).toEqual([]);
      expect(await tokens.rotate(a1, hash(), now)).toEqual({ kind: 'invalid' });
      expect(await tokens.rotate(a2, hash(), now)).toEqual({ kind: 'invalid' });
      expect(await stillRotates(b1)).not.toBeNull();
    });
  });
}
