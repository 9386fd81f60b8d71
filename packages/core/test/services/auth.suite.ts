import jwt from 'jsonwebtoken';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  AuthService,
  ConflictError,
  createMixtape,
  ForbiddenError,
  HashGate,
  JwtKeyring,
  PasswordHasher,
  UnauthorizedError,
  UnavailableError,
  ValidationError,
  type RevocationList,
  type TokenStore,
  type UserStore,
} from '../../src/index.js';
import type { OpenServiceBackends, ServiceBackends } from './service-backends.js';

// A cheap scrypt cost keeps the suite fast; the stored hash carries its cost either way.
const hasher = new PasswordHasher({ N: 1024, r: 8, p: 1 });
const KEY_A = 'k7Qd9vX2mP4rT8wZ1yB6nC3fH5jL0sAe';
const KEY_B = 'Zr8pW3qL6tN1vB9xC4mK7hJ2gF5dS0aQ';

/** Sign-up, sign-in, tokens and revocation through AuthService, and as createMixtape wires it. */
export function describeAuth(name: string, openBackends: OpenServiceBackends): void {
  describe(`AuthService: ${name}`, () => {
    let dataDir: string;
    let backends: ServiceBackends;
    let now: Date;
    /** Polls once a minute: whatever this process revokes must show without a poll. */
    let revocations: RevocationList;

    function service(
      keyring = JwtKeyring.fromSecrets([KEY_A]),
      settings = {},
      extra: { hasher?: PasswordHasher; onLoginFailed?: () => void; revocations?: RevocationList; users?: UserStore; tokens?: TokenStore } = {},
    ) {
      return new AuthService({
        users: extra.users ?? backends.users,
        tokens: extra.tokens ?? backends.tokens,
        revocations: extra.revocations ?? revocations,
        keyring,
        hasher: extra.hasher ?? hasher,
        settings,
        now: () => now,
        ...(extra.onLoginFailed ? { onLoginFailed: extra.onLoginFailed } : {}),
      });
    }

    const storedHash = async (username: string) => (await backends.users.findByUsername(username))!.passwordHash;

    beforeEach(async () => {
      dataDir = mkdtempSync(join(tmpdir(), 'mixtape-auth-'));
      now = new Date();
      backends = await openBackends({ dataDir, revocationPollMs: 60_000 });
      revocations = backends.revocations;
    });
    afterEach(async () => {
      await backends.close();
      rmSync(dataDir, { recursive: true, force: true });
    });

    it('registers, logs in and authenticates', async () => {
      const auth = service();
      const user = await auth.register('alice', 'correct horse battery');
      const pair = await auth.login('alice', 'correct horse battery');
      expect(pair.tokenType).toBe('Bearer');
      expect(pair.expiresIn).toBe(900);
      const principal = await auth.authenticate(pair.accessToken);
      expect(principal).toEqual({ userId: user.id, username: 'alice', sessionId: expect.any(String) });
    });

    it('stores no password in the clear', async () => {
      await service().register('alice', 'correct horse battery');
      expect(JSON.stringify(await backends.users.findByUsername('alice'))).not.toContain('correct horse battery');
    });

    it('refuses bad usernames and passwords, and taken usernames in any case', async () => {
      const auth = service();
      await expect(auth.register('al', 'correct horse battery')).rejects.toBeInstanceOf(ValidationError);
      await expect(auth.register('alice', 'short')).rejects.toBeInstanceOf(ValidationError);
      await auth.register('alice', 'correct horse battery');
      await expect(auth.register('ALICE', 'correct horse battery')).rejects.toBeInstanceOf(ConflictError);
      await expect(service(undefined, { registration: 'closed' }).register('bob', 'correct horse battery')).rejects.toBeInstanceOf(ForbiddenError);
    });

    it('answers the same for an unknown user and a wrong password', async () => {
      const auth = service();
      await auth.register('alice', 'correct horse battery');
      const wrong = await auth.login('alice', 'wrong password!').catch((e: Error) => e);
      const unknown = await auth.login('nobody', 'wrong password!').catch((e: Error) => e);
      expect(wrong).toBeInstanceOf(UnauthorizedError);
      expect(unknown).toBeInstanceOf(UnauthorizedError);
      expect((wrong as Error).message).toBe((unknown as Error).message);
    });

    it('refuses a username registration would refuse, even one the store compares equal to a user, reading nothing', async () => {
      let failures = 0;
      const auth = service(undefined, {}, { onLoginFailed: () => (failures += 1) });
      await auth.register('bob', 'correct horse battery');
      const unknown = await auth.login('nobody', 'correct horse battery').catch((e: Error) => e);
      // MySQL's collation (accent-insensitive, PAD SPACE) reads each of these as `bob`.
      const variants = ['bób', 'böb', 'bôb', 'bob ', 'BÒB', 'bõb'];
      const find = vi.spyOn(backends.users, 'findByUsername');
      const verify = vi.spyOn(hasher, 'verify');
      const decoy = vi.spyOn(hasher, 'verifyDecoy');
      try {
        for (const username of variants) {
          const refused = await auth.login(username, 'correct horse battery').catch((e: Error) => e);
          expect(refused, username).toBeInstanceOf(UnauthorizedError);
          expect((refused as Error).message).toBe((unknown as Error).message);
        }
        expect(find).not.toHaveBeenCalled();
        expect(verify).not.toHaveBeenCalled();
        expect(decoy).not.toHaveBeenCalled();
      } finally {
        find.mockRestore();
        verify.mockRestore();
        decoy.mockRestore();
      }
      expect(failures).toBe(1 + variants.length);
      // Too long a username is still malformed, not a wrong pair.
      await expect(auth.login('b'.repeat(33), 'correct horse battery')).rejects.toBeInstanceOf(ValidationError);
      await expect(auth.login('BOB', 'correct horse battery')).resolves.toMatchObject({ tokenType: 'Bearer' });
    });

    it('rotates refresh tokens and revokes the family when a spent one comes back', async () => {
      const auth = service();
      await auth.register('alice', 'correct horse battery');
      const first = await auth.login('alice', 'correct horse battery');
      const second = await auth.refresh(first.refreshToken);
      expect(second.refreshToken).not.toBe(first.refreshToken);
      await expect(auth.authenticate(second.accessToken)).resolves.toMatchObject({ username: 'alice' });

      await expect(auth.refresh(first.refreshToken)).rejects.toBeInstanceOf(UnauthorizedError);
      // The whole family is gone: the newest tokens of the session stop working too.
      await expect(auth.refresh(second.refreshToken)).rejects.toBeInstanceOf(UnauthorizedError);
      await expect(auth.authenticate(second.accessToken)).rejects.toBeInstanceOf(UnauthorizedError);
    });

    it('logout ends the session, and only that session', async () => {
      const auth = service();
      await auth.register('alice', 'correct horse battery');
      const phone = await auth.login('alice', 'correct horse battery');
      const laptop = await auth.login('alice', 'correct horse battery');
      await auth.logout(await auth.authenticate(phone.accessToken), phone.refreshToken);
      await expect(auth.authenticate(phone.accessToken)).rejects.toBeInstanceOf(UnauthorizedError);
      await expect(auth.refresh(phone.refreshToken)).rejects.toBeInstanceOf(UnauthorizedError);
      await expect(auth.authenticate(laptop.accessToken)).resolves.toMatchObject({ username: 'alice' });
    });

    it('rejects tokens that are expired, forged or signed with an unknown key', async () => {
      const auth = service();
      await auth.register('alice', 'correct horse battery');
      const pair = await auth.login('alice', 'correct horse battery');
      const [header, payload] = pair.accessToken.split('.');
      await expect(auth.authenticate(`${header}.${payload}.forged`)).rejects.toBeInstanceOf(UnauthorizedError);
      await expect(service(JwtKeyring.fromSecrets([KEY_B])).authenticate(pair.accessToken)).rejects.toBeInstanceOf(UnauthorizedError);
      const shortLived = service(undefined, { accessTtlSeconds: 1 });
      const brief = await shortLived.login('alice', 'correct horse battery');
      await new Promise((resolve) => setTimeout(resolve, 2100));
      await expect(shortLived.authenticate(brief.accessToken)).rejects.toBeInstanceOf(UnauthorizedError);
    });

    it('keeps tokens signed with an older key valid after rotation', async () => {
      await service().register('alice', 'correct horse battery');
      const before = await service(JwtKeyring.fromSecrets([KEY_A])).login('alice', 'correct horse battery');
      const rotated = service(JwtKeyring.fromSecrets([KEY_B, KEY_A]));
      await expect(rotated.authenticate(before.accessToken)).resolves.toMatchObject({ username: 'alice' });
      const after = await rotated.login('alice', 'correct horse battery');
      // Dropping the old key ends the old tokens but not the new.
      const retired = service(JwtKeyring.fromSecrets([KEY_B]));
      await expect(retired.authenticate(before.accessToken)).rejects.toBeInstanceOf(UnauthorizedError);
      await expect(retired.authenticate(after.accessToken)).resolves.toMatchObject({ username: 'alice' });
    });

    it('redoes a hash of an older cost at login: the stored hash changes and the password still works', async () => {
      await service().register('alice', 'correct horse battery');
      const old = await storedHash('alice');
      expect(old).toMatch(/^scrypt\$1024\$8\$1\$/);

      const stronger = new PasswordHasher({ N: 2048, r: 8, p: 1 });
      const upgraded = service(undefined, {}, { hasher: stronger });
      await upgraded.login('alice', 'correct horse battery');
      const redone = await storedHash('alice');
      expect(redone).toMatch(/^scrypt\$2048\$8\$1\$/);
      expect(stronger.needsRehash(redone)).toBe(false);

      // The new hash works, is kept as it is, and a wrong password still fails.
      await expect(upgraded.login('alice', 'correct horse battery')).resolves.toMatchObject({ tokenType: 'Bearer' });
      expect(await storedHash('alice')).toBe(redone);
      await expect(upgraded.login('alice', 'wrong password!')).rejects.toBeInstanceOf(UnauthorizedError);
      expect(await storedHash('alice')).toBe(redone);
    });

    it('never redoes the hash on a failed login', async () => {
      await service().register('alice', 'correct horse battery');
      const old = await storedHash('alice');
      const upgraded = service(undefined, {}, { hasher: new PasswordHasher({ N: 2048, r: 8, p: 1 }) });
      await expect(upgraded.login('alice', 'wrong password!')).rejects.toBeInstanceOf(UnauthorizedError);
      expect(await storedHash('alice')).toBe(old);
    });

    it('lets the login succeed when the upgrade cannot be made, keeping the old hash', async () => {
      await service().register('alice', 'correct horse battery');
      const old = await storedHash('alice');
      // Verifies at any cost, but the gate is always full when it comes to hashing anew.
      class SheddingHasher extends PasswordHasher {
        override async hash(): Promise<string> {
          throw new UnavailableError('Too many sign-ins are in progress');
        }
      }
      const auth = service(undefined, {}, { hasher: new SheddingHasher({ N: 2048, r: 8, p: 1 }) });
      const pair = await auth.login('alice', 'correct horse battery');
      await expect(auth.authenticate(pair.accessToken)).resolves.toMatchObject({ username: 'alice' });
      expect(await storedHash('alice')).toBe(old);
    });

    it('tells onLoginFailed of every refused login, and of nothing else', async () => {
      let failures = 0;
      const gate = new HashGate({ concurrency: 1, maxWaiting: 0 });
      const auth = service(undefined, {}, { hasher: new PasswordHasher({ N: 1024, r: 8, p: 1 }, gate), onLoginFailed: () => (failures += 1) });
      await auth.register('alice', 'correct horse battery');
      await auth.login('alice', 'correct horse battery');
      expect(failures).toBe(0);
      await expect(auth.login('alice', 'wrong password!')).rejects.toBeInstanceOf(UnauthorizedError);
      await expect(auth.login('nobody', 'wrong password!')).rejects.toBeInstanceOf(UnauthorizedError);
      expect(failures).toBe(2);
      // Shed by the gate: nothing was checked, so nothing failed. Another hash holds the one
      // turn until then: a login racing this one could reach the gate second, its user lookup
      // being a round trip to a server that may answer the other lookup first.
      let release!: () => void;
      const holder = gate.run(() => new Promise<void>((resolve) => (release = resolve)));
      await expect(auth.login('alice', 'wrong password!')).rejects.toBeInstanceOf(UnavailableError);
      release();
      await holder;
      await expect(auth.login('alice', 'correct horse battery')).resolves.toMatchObject({ tokenType: 'Bearer' });
      expect(failures).toBe(2);
    });
    describe('revocation', () => {
      const signIn = async (auth: AuthService, username = 'alice') => {
        await auth.register(username, 'correct horse battery');
        return auth.login(username, 'correct horse battery');
      };
      const claimsOf = (accessToken: string) => jwt.decode(accessToken) as { jti: string; sid: string; exp: number };

      /** A list that records each revoke and fails the first `failures` of them. */
      function recording(inner: RevocationList, failures = 0) {
        const sessions: { id: string; until: Date }[] = [];
        let left = failures;
        const list: RevocationList = {
          async revokeSession(id, until) {
            sessions.push({ id, until });
            if (left > 0) {
              left -= 1;
              throw new UnavailableError('The revocation list cannot be written');
            }
            await inner.revokeSession(id, until);
          },
          revokeToken: (id, until) => inner.revokeToken(id, until),
          isRevoked: (token) => inner.isRevoked(token),
        };
        return { list, sessions };
      }

      it('asks no store to authenticate, only the revocations loaded in memory', async () => {
        const calls: string[] = [];
        // Every method call on a store, by name (the SQLite list's own test counts its statements).
        const counted = <T extends object>(store: T, name: string): T =>
          new Proxy(store, {
            get(target, key) {
              const value: unknown = Reflect.get(target, key);
              if (typeof value !== 'function') return value;
              return (...args: unknown[]) => {
                calls.push(`${name}.${String(key)}`);
                return (value as (...args: unknown[]) => unknown).apply(target, args);
              };
            },
          });
        const auth = service(undefined, {}, {
          users: counted(backends.users, 'users'),
          tokens: counted(backends.tokens, 'tokens'),
          revocations: counted(revocations, 'revocations'),
        });
        const pair = await signIn(auth);
        const other = await auth.login('alice', 'correct horse battery');
        await auth.logout(await auth.authenticate(other.accessToken));
        calls.length = 0;
        for (let i = 0; i < 100; i++) await expect(auth.authenticate(pair.accessToken)).resolves.toMatchObject({ username: 'alice' });
        for (let i = 0; i < 100; i++) await expect(auth.authenticate(other.accessToken)).rejects.toBeInstanceOf(UnauthorizedError);
        expect(new Set(calls)).toEqual(new Set(['revocations.isRevoked']));
      });

      it('refuses a logged-out access token at once, without waiting for a poll', async () => {
        const auth = service();
        const pair = await signIn(auth);
        await auth.logout(await auth.authenticate(pair.accessToken));
        await expect(auth.authenticate(pair.accessToken)).rejects.toBeInstanceOf(UnauthorizedError);
        // Logging out without the refresh token still ends it: it belongs to the caller's session.
        await expect(auth.refresh(pair.refreshToken)).rejects.toBeInstanceOf(UnauthorizedError);
      });

      it('refuses the access tokens of a family revoked by refresh-token reuse at once', async () => {
        const auth = service();
        const first = await signIn(auth);
        const second = await auth.refresh(first.refreshToken);
        await expect(auth.refresh(first.refreshToken)).rejects.toBeInstanceOf(UnauthorizedError);
        for (const pair of [first, second]) await expect(auth.authenticate(pair.accessToken)).rejects.toBeInstanceOf(UnauthorizedError);
      });

      it('ends a session in another process sharing the database within its poll interval', async () => {
        // Two more processes of the deployment, each with its own list.
        const processes = await Promise.all([0, 1].map(() => openBackends({ dataDir, revocationPollMs: 50 })));
        try {
          const [here, there] = processes.map((other) => service(undefined, {}, { revocations: other.revocations })) as [AuthService, AuthService];
          const loggedOut = await signIn(here);
          const reused = await here.login('alice', 'correct horse battery');
          await expect(there.authenticate(loggedOut.accessToken)).resolves.toMatchObject({ username: 'alice' });
          await expect(there.authenticate(reused.accessToken)).resolves.toMatchObject({ username: 'alice' });

          await here.logout(await here.authenticate(loggedOut.accessToken), loggedOut.refreshToken);
          await here.refresh(reused.refreshToken);
          await expect(here.refresh(reused.refreshToken)).rejects.toBeInstanceOf(UnauthorizedError);
          await vi.waitFor(
            async () => {
              await expect(there.authenticate(loggedOut.accessToken)).rejects.toBeInstanceOf(UnauthorizedError);
              await expect(there.authenticate(reused.accessToken)).rejects.toBeInstanceOf(UnauthorizedError);
            },
            { timeout: 300, interval: 10 },
          );
        } finally {
          await Promise.all(processes.map((other) => other.close()));
        }
      });

      it('fails closed with 503 while its revocations cannot vouch (closed), and serves with a list that can', async () => {
        const closed = await openBackends({ dataDir });
        await closed.close();
        const pair = await signIn(service());
        await expect(service(undefined, {}, { revocations: closed.revocations }).authenticate(pair.accessToken)).rejects.toMatchObject({
          code: 'ERR_UNAVAILABLE',
        });
        await expect(service().authenticate(pair.accessToken)).resolves.toMatchObject({ username: 'alice' });
      });

      it('refuses one revoked access token by its jti, and not the others of its session', async () => {
        const auth = service();
        const first = await signIn(auth);
        const second = await auth.refresh(first.refreshToken);
        const { jti, exp } = claimsOf(first.accessToken);
        await revocations.revokeToken(jti, new Date(exp * 1000));
        await expect(auth.authenticate(first.accessToken)).rejects.toBeInstanceOf(UnauthorizedError);
        await expect(auth.authenticate(second.accessToken)).resolves.toMatchObject({ username: 'alice' });
      });

      it('lists a session for as long as its access tokens can live, not for its family’s lifetime', async () => {
        const { list, sessions } = recording(revocations);
        const accessMs = 900_000;
        const auth = service(undefined, {}, { revocations: list });
        const pair = await signIn(auth);
        await auth.logout(await auth.authenticate(pair.accessToken));
        // None is signed once the family is revoked (but for a refresh just then), each living 15 minutes.
        expect(sessions).toEqual([{ id: claimsOf(pair.accessToken).sid, until: new Date(now.getTime() + 5 * 60_000 + accessMs) }]);

        // A family that expires sooner than that bounds it instead.
        const brief = service(undefined, { refreshTtlSeconds: 60 }, { revocations: list });
        const briefPair = await brief.login('alice', 'correct horse battery');
        await brief.logout(await brief.authenticate(briefPair.accessToken));
        expect(sessions[1]).toEqual({ id: claimsOf(briefPair.accessToken).sid, until: new Date(now.getTime() + 60_000 + accessMs) });
      });

      it('logs out again with the same access token when listing the session failed the first time', async () => {
        const { list } = recording(revocations, 1);
        const auth = service(undefined, {}, { revocations: list });
        const pair = await signIn(auth);
        await expect(auth.logout(await auth.authenticate(pair.accessToken), pair.refreshToken)).rejects.toBeInstanceOf(UnavailableError);
        // The refresh token is gone already; the access token still works, so the client can retry.
        await expect(auth.refresh(pair.refreshToken)).rejects.toBeInstanceOf(UnauthorizedError);
        const principal = await auth.authenticate(pair.accessToken);
        await auth.logout(principal, pair.refreshToken);
        await expect(auth.authenticate(pair.accessToken)).rejects.toBeInstanceOf(UnauthorizedError);
      });

      it('ends the access tokens on the next replay when a reuse could not list the session', async () => {
        const { list } = recording(revocations, 1);
        const auth = service(undefined, {}, { revocations: list });
        const first = await signIn(auth);
        const second = await auth.refresh(first.refreshToken);
        await expect(auth.refresh(first.refreshToken)).rejects.toBeInstanceOf(UnavailableError);
        await expect(auth.refresh(first.refreshToken)).rejects.toBeInstanceOf(UnauthorizedError);
        await expect(auth.authenticate(second.accessToken)).rejects.toBeInstanceOf(UnauthorizedError);
      });

      it('leaves alone the session of a refresh token that is not the caller’s', async () => {
        const auth = service();
        const alice = await signIn(auth);
        const bob = await signIn(auth, 'bob');
        await auth.logout(await auth.authenticate(alice.accessToken), bob.refreshToken);
        await expect(auth.authenticate(alice.accessToken)).rejects.toBeInstanceOf(UnauthorizedError);
        await expect(auth.authenticate(bob.accessToken)).resolves.toMatchObject({ username: 'bob' });
        await expect(auth.refresh(bob.refreshToken)).resolves.toMatchObject({ tokenType: 'Bearer' });
      });
    });
  });

  describe(`AuthService in createMixtape: ${name}`, () => {
    const settings = {
      keyring: JwtKeyring.fromSecrets([KEY_A]),
      quotaBytes: 1024,
      maxTrackBytes: 1024,
      maxAttempts: 1,
      retryBaseMs: 10,
      jobLeaseMs: 1000,
      workers: 0,
      hasher,
    };

    it('ends a session logged out by another process on the same data dir within the revocation poll', async () => {
      const dataDir = mkdtempSync(join(tmpdir(), 'mixtape-logout-'));
      const api = createMixtape(await openBackends({ dataDir, revocationPollMs: 50 }), settings);
      const other = createMixtape(await openBackends({ dataDir, revocationPollMs: 50 }), settings);
      try {
        await api.auth.register('alice', 'correct horse battery');
        const pair = await api.auth.login('alice', 'correct horse battery');
        await expect(other.auth.authenticate(pair.accessToken)).resolves.toMatchObject({ username: 'alice' });
        await api.auth.logout(await api.auth.authenticate(pair.accessToken), pair.refreshToken);
        await expect(api.auth.authenticate(pair.accessToken)).rejects.toBeInstanceOf(UnauthorizedError);
        await vi.waitFor(() => expect(other.auth.authenticate(pair.accessToken)).rejects.toBeInstanceOf(UnauthorizedError), {
          timeout: 300,
          interval: 10,
        });
      } finally {
        await Promise.all([api.close(), other.close()]);
        rmSync(dataDir, { recursive: true, force: true });
      }
      // Closing the backends closes the list: it vouches for nothing any more.
      expect(() => other.backends.revocations.isRevoked({ sid: 's', jti: 'j' })).toThrow(UnavailableError);
    });

    it('counts refused logins in mixtape_login_failures_total, with no label', async () => {
      const dataDir = mkdtempSync(join(tmpdir(), 'mixtape-login-metrics-'));
      const mixtape = createMixtape(await openBackends({ dataDir }), {
        keyring: JwtKeyring.fromSecrets([KEY_A]),
        quotaBytes: 1024,
        maxTrackBytes: 1024,
        maxAttempts: 1,
        retryBaseMs: 10,
        jobLeaseMs: 1000,
        workers: 0,
        hasher,
      });
      try {
        await mixtape.auth.register('alice', 'correct horse battery');
        await mixtape.auth.login('alice', 'correct horse battery');
        for (const username of ['alice', 'nobody', 'ALICE']) {
          await expect(mixtape.auth.login(username, 'wrong password!')).rejects.toBeInstanceOf(UnauthorizedError);
        }
        const text = await mixtape.metrics.registry.metrics();
        expect(text).toMatch(/^mixtape_login_failures_total 3$/m);
        expect(text).not.toMatch(/mixtape_login_failures_total\{/);
      } finally {
        await mixtape.close();
        rmSync(dataDir, { recursive: true, force: true });
      }
    });
  });
}
