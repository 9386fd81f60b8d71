import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  AuthService,
  ConflictError,
  createMixtape,
  ForbiddenError,
  HashGate,
  JwtKeyring,
  openEmbeddedBackends,
  PasswordHasher,
  SqliteTokenStore,
  SqliteUserStore,
  UnauthorizedError,
  UnavailableError,
  ValidationError,
} from '../../src/index.js';
import { openTempSqlite, type TempSqlite } from '../sqlite/temp-sqlite.js';

// A cheap scrypt cost keeps the suite fast; the stored hash carries its cost either way.
const hasher = new PasswordHasher({ N: 1024, r: 8, p: 1 });
const KEY_A = 'k7Qd9vX2mP4rT8wZ1yB6nC3fH5jL0sAe';
const KEY_B = 'Zr8pW3qL6tN1vB9xC4mK7hJ2gF5dS0aQ';

describe('AuthService', () => {
  let sqlite: TempSqlite;
  let now: Date;

  function service(keyring = JwtKeyring.fromSecrets([KEY_A]), settings = {}, extra: { hasher?: PasswordHasher; onLoginFailed?: () => void } = {}) {
    return new AuthService({
      users: new SqliteUserStore(sqlite.db),
      tokens: new SqliteTokenStore(sqlite.db),
      keyring,
      hasher: extra.hasher ?? hasher,
      settings,
      now: () => now,
      ...(extra.onLoginFailed ? { onLoginFailed: extra.onLoginFailed } : {}),
    });
  }

  const storedHash = (username: string) =>
    sqlite.db.prepare('SELECT password_hash FROM users WHERE username = ?').pluck().get(username) as string;

  beforeEach(() => {
    sqlite = openTempSqlite();
    now = new Date();
  });
  afterEach(() => sqlite.close());

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
    const row = sqlite.db.prepare('SELECT * FROM users').get() as Record<string, unknown>;
    expect(JSON.stringify(row)).not.toContain('correct horse battery');
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
    const old = storedHash('alice');
    expect(old).toMatch(/^scrypt\$1024\$8\$1\$/);

    const stronger = new PasswordHasher({ N: 2048, r: 8, p: 1 });
    const upgraded = service(undefined, {}, { hasher: stronger });
    await upgraded.login('alice', 'correct horse battery');
    const redone = storedHash('alice');
    expect(redone).toMatch(/^scrypt\$2048\$8\$1\$/);
    expect(stronger.needsRehash(redone)).toBe(false);

    // The new hash works, is kept as it is, and a wrong password still fails.
    await expect(upgraded.login('alice', 'correct horse battery')).resolves.toMatchObject({ tokenType: 'Bearer' });
    expect(storedHash('alice')).toBe(redone);
    await expect(upgraded.login('alice', 'wrong password!')).rejects.toBeInstanceOf(UnauthorizedError);
    expect(storedHash('alice')).toBe(redone);
  });

  it('never redoes the hash on a failed login', async () => {
    await service().register('alice', 'correct horse battery');
    const old = storedHash('alice');
    const upgraded = service(undefined, {}, { hasher: new PasswordHasher({ N: 2048, r: 8, p: 1 }) });
    await expect(upgraded.login('alice', 'wrong password!')).rejects.toBeInstanceOf(UnauthorizedError);
    expect(storedHash('alice')).toBe(old);
  });

  it('lets the login succeed when the upgrade cannot be made, keeping the old hash', async () => {
    await service().register('alice', 'correct horse battery');
    const old = storedHash('alice');
    // Verifies at any cost, but the gate is always full when it comes to hashing anew.
    class SheddingHasher extends PasswordHasher {
      override async hash(): Promise<string> {
        throw new UnavailableError('Too many sign-ins are in progress');
      }
    }
    const auth = service(undefined, {}, { hasher: new SheddingHasher({ N: 2048, r: 8, p: 1 }) });
    const pair = await auth.login('alice', 'correct horse battery');
    await expect(auth.authenticate(pair.accessToken)).resolves.toMatchObject({ username: 'alice' });
    expect(storedHash('alice')).toBe(old);
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
    // Shed by the gate: nothing was checked, so nothing failed.
    const first = auth.login('alice', 'correct horse battery');
    await expect(auth.login('alice', 'wrong password!')).rejects.toBeInstanceOf(UnavailableError);
    await first;
    expect(failures).toBe(2);
  });
});

describe('createMixtape', () => {
  it('counts refused logins in mixtape_login_failures_total, with no label', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'mixtape-login-metrics-'));
    const mixtape = createMixtape(await openEmbeddedBackends({ dataDir }), {
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
