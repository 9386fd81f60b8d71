import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConflictError, NotFoundError } from '../../src/errors.js';
import type { UserStore } from '../../src/users/user-store.js';

export interface UserStoreHarness {
  /** An empty store. */
  users: UserStore;
  close(): Promise<void>;
}

/** What every `UserStore` adapter must do, roles included. */
export function describeUserStore(name: string, factory: () => Promise<UserStoreHarness>): void {
  describe(`UserStore contract: ${name}`, () => {
    let harness: UserStoreHarness;
    let users: UserStore;

    beforeEach(async () => {
      harness = await factory();
      users = harness.users;
    });

    afterEach(async () => {
      await harness.close();
    });

    it('creates a user and finds it by id and by username in any case', async () => {
      const before = Date.now();
      const created = await users.create({ username: 'Alice.B', passwordHash: 'hash-1' });
      expect(created).toMatchObject({ username: 'Alice.B', passwordHash: 'hash-1' });
      expect(created.id).toMatch(/\S{8,}/);
      expect(created.createdAt.getTime()).toBeGreaterThanOrEqual(before - 1000);

      expect(await users.findById(created.id)).toEqual(created);
      expect(await users.findByUsername('Alice.B')).toEqual(created);
      expect(await users.findByUsername('alice.b')).toEqual(created);
      expect(await users.findByUsername('ALICE.B')).toEqual(created);
    });

    it('gives every user its own id', async () => {
      const a = await users.create({ username: 'first', passwordHash: 'x' });
      const b = await users.create({ username: 'second', passwordHash: 'x' });
      expect(a.id).not.toBe(b.id);
      expect((await users.findByUsername('second'))?.id).toBe(b.id);
    });

    it('refuses a username that is taken, without regard to case', async () => {
      const original = await users.create({ username: 'bob_99', passwordHash: 'h' });
      await expect(users.create({ username: 'bob_99', passwordHash: 'other' })).rejects.toBeInstanceOf(ConflictError);
      await expect(users.create({ username: 'BOB_99', passwordHash: 'other' })).rejects.toMatchObject({
        code: 'ERR_CONFLICT',
      });
      // The first account is untouched.
      expect(await users.findByUsername('Bob_99')).toEqual(original);
    });

    it('lets exactly one of several racing registrations of a name win', async () => {
      const attempts = await Promise.allSettled(
        ['carol', 'Carol', 'CAROL', 'cArOl'].map((username) => users.create({ username, passwordHash: 'h' })),
      );
      expect(attempts.filter((a) => a.status === 'fulfilled')).toHaveLength(1);
      for (const attempt of attempts) {
        if (attempt.status === 'rejected') expect(attempt.reason).toBeInstanceOf(ConflictError);
      }
    });

    it('answers null for unknown users', async () => {
      expect(await users.findById('no-such-id')).toBeNull();
      expect(await users.findByUsername('nobody')).toBeNull();
    });

    it('changes a password hash', async () => {
      const user = await users.create({ username: 'dave', passwordHash: 'old' });
      await users.setPasswordHash(user.id, 'new');
      expect((await users.findById(user.id))?.passwordHash).toBe('new');
      expect((await users.findByUsername('DAVE'))?.passwordHash).toBe('new');
    });

    it('refuses to change the password of an unknown user', async () => {
      await expect(users.setPasswordHash('no-such-id', 'h')).rejects.toBeInstanceOf(NotFoundError);
    });

    it('grants no role on creation, whatever the name', async () => {
      for (const username of ['admin', 'root', 'Administrator']) {
        const user = await users.create({ username, passwordHash: 'h' });
        expect(await users.rolesOf(user.id), username).toEqual([]);
      }
    });

    it('grants and revokes a role, each once, for that user only', async () => {
      const erin = await users.create({ username: 'erin', passwordHash: 'h' });
      const frank = await users.create({ username: 'frank', passwordHash: 'h' });
      expect(await users.grantRole(erin.id, 'admin')).toBe(true);
      expect(await users.grantRole(erin.id, 'admin')).toBe(false);
      expect(await users.rolesOf(erin.id)).toEqual(['admin']);
      expect(await users.rolesOf(frank.id)).toEqual([]);

      expect(await users.revokeRole(frank.id, 'admin')).toBe(false);
      expect(await users.rolesOf(erin.id)).toEqual(['admin']);
      expect(await users.revokeRole(erin.id, 'admin')).toBe(true);
      expect(await users.revokeRole(erin.id, 'admin')).toBe(false);
      expect(await users.rolesOf(erin.id)).toEqual([]);
      // Granted again after a revoke, as an operator may.
      expect(await users.grantRole(erin.id, 'admin')).toBe(true);
      expect(await users.rolesOf(erin.id)).toEqual(['admin']);
    });

    it('lets exactly one of several racing grants report the change', async () => {
      const grace = await users.create({ username: 'grace', passwordHash: 'h' });
      const outcomes = await Promise.all([1, 2, 3, 4].map(() => users.grantRole(grace.id, 'admin')));
      expect(outcomes.filter(Boolean)).toHaveLength(1);
      expect(await users.rolesOf(grace.id)).toEqual(['admin']);
    });

    it('refuses to grant a role to an unknown user, and has none to revoke from one', async () => {
      await expect(users.grantRole('no-such-id', 'admin')).rejects.toBeInstanceOf(NotFoundError);
      expect(await users.rolesOf('no-such-id')).toEqual([]);
      expect(await users.revokeRole('no-such-id', 'admin')).toBe(false);
    });
  });
}
