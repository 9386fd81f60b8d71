import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuthService, ForbiddenError, JwtKeyring, NotFoundError, PasswordHasher, UserRoles } from '../../src/index.js';
import { SqliteRevocationList, SqliteTokenStore, SqliteUserStore } from '../../src/sqlite.js';
import { openTempSqlite, type TempSqlite } from '../sqlite/temp-sqlite.js';

const PASSWORD = 'correct horse battery';

describe('UserRoles', () => {
  let sqlite: TempSqlite;
  let auth: AuthService;
  let roles: UserRoles;
  let revocations: SqliteRevocationList;

  beforeEach(async () => {
    sqlite = openTempSqlite();
    const users = new SqliteUserStore(sqlite.db);
    roles = new UserRoles(users);
    revocations = new SqliteRevocationList(sqlite.db);
    await revocations.start();
    auth = new AuthService({
      users,
      tokens: new SqliteTokenStore(sqlite.db),
      revocations,
      keyring: JwtKeyring.fromSecrets(['k7Qd9vX2mP4rT8wZ1yB6nC3fH5jL0sAe']),
      hasher: new PasswordHasher({ N: 1024, r: 8, p: 1 }),
    });
  });
  afterEach(async () => {
    await revocations.close();
    await sqlite.close();
  });

  it('never makes an admin of someone who registers, whatever the name', async () => {
    for (const username of ['Admin', 'root', 'administrator', 'boss', 'chief']) {
      const user = await auth.register(username, PASSWORD);
      expect(await roles.rolesOf(user.id), username).toEqual(['user']);
      await expect(roles.require(user.id, 'admin')).rejects.toBeInstanceOf(ForbiddenError);
    }
  });

  it('grants by username in any case, and a revoke holds at once for a session already signed in', async () => {
    const alice = await auth.register('Alice', PASSWORD);
    const principal = await auth.authenticate((await auth.login('alice', PASSWORD)).accessToken);

    expect(await roles.grant('ALICE', 'admin')).toEqual({ userId: alice.id, username: 'Alice', changed: true });
    expect(await roles.grant('alice', 'admin')).toMatchObject({ changed: false });
    expect(await roles.rolesOf(principal.userId)).toEqual(['user', 'admin']);
    await expect(roles.require(principal.userId, 'admin')).resolves.toBeUndefined();

    expect(await roles.revoke('alice', 'admin')).toEqual({ userId: alice.id, username: 'Alice', changed: true });
    expect(await roles.revoke('alice', 'admin')).toMatchObject({ changed: false });
    expect(await roles.rolesOf(principal.userId)).toEqual(['user']);
    await expect(roles.require(principal.userId, 'admin')).rejects.toMatchObject({ code: 'ERR_FORBIDDEN' });
  });

  it('refuses to grant or revoke for an unknown username', async () => {
    await expect(roles.grant('nobody', 'admin')).rejects.toBeInstanceOf(NotFoundError);
    await expect(roles.revoke('nobody', 'admin')).rejects.toBeInstanceOf(NotFoundError);
  });
});
