import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  AuthService,
  HashGate,
  JwtKeyring,
  PasswordHasher,
  UnavailableError,
  ValidationError,
  type AuthCaller,
} from '../../src/index.js';
import { SqliteRevocationList, SqliteTokenStore, SqliteUserStore } from '../../src/sqlite.js';
import { openTempSqlite, type TempSqlite } from '../sqlite/temp-sqlite.js';

const CHEAP = { N: 1024, r: 8, p: 1 };
const PASSWORD = 'correct horse battery';

/** A gate that notes the client of every turn asked for. */
class RecordingGate extends HashGate {
  readonly clients: Array<string | undefined> = [];

  override run<T>(work: () => Promise<T>, clientKey?: string): Promise<T> {
    this.clients.push(clientKey);
    return super.run(work, clientKey);
  }
}

describe('AuthService sign-in', () => {
  let sqlite: TempSqlite;
  let revocations: SqliteRevocationList;

  function service(hasher: PasswordHasher): AuthService {
    return new AuthService({
      users: new SqliteUserStore(sqlite.db),
      tokens: new SqliteTokenStore(sqlite.db),
      revocations,
      keyring: JwtKeyring.fromSecrets(['k7Qd9vX2mP4rT8wZ1yB6nC3fH5jL0sAe']),
      hasher,
    });
  }

  beforeEach(async () => {
    sqlite = openTempSqlite();
    revocations = new SqliteRevocationList(sqlite.db, { pollIntervalMs: 60_000 });
    await revocations.start();
  });

  afterEach(async () => {
    await revocations.close();
    await sqlite.close();
  });

  describe("the caller's client", () => {
    it('is whose turn every hash is: registering, signing in, an unknown user and an upgraded hash', async () => {
      const gate = new RecordingGate();
      const auth = service(new PasswordHasher(CHEAP, gate));
      const as = (clientKey: string): AuthCaller => ({ clientKey });
      await auth.register('alice', PASSWORD, as('10.0.0.1'));
      await auth.login('alice', PASSWORD, as('10.0.0.2'));
      await auth.login('nobody', PASSWORD, as('10.0.0.3')).catch(() => undefined);
      await auth.login('alice', 'wrong password!', as('10.0.0.4')).catch(() => undefined);
      // A hash of a lower cost is redone at the next login, in the same client's turn.
      await service(new PasswordHasher({ ...CHEAP, N: 2048 }, gate)).login('alice', PASSWORD, as('10.0.0.5'));
      await auth.login('alice', PASSWORD);
      expect(gate.clients).toEqual(['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.5', undefined]);
    });

    it("is refused beyond its share, while another client's login goes through", async () => {
      const gate = new HashGate({ concurrency: 1, maxWaiting: 3, maxPerClient: 2 });
      const auth = service(new PasswordHasher(CHEAP, gate));
      await auth.register('alice', PASSWORD);
      await auth.register('bob', PASSWORD);
      const hog = { clientKey: '198.51.100.7' };
      const logins = [auth.login('alice', PASSWORD, hog), auth.login('alice', PASSWORD, hog)];
      await expect(auth.login('alice', PASSWORD, hog)).rejects.toBeInstanceOf(UnavailableError);
      const other = auth.login('bob', PASSWORD, { clientKey: '203.0.113.20' });
      await expect(Promise.all([...logins, other])).resolves.toHaveLength(3);
    });
  });

  describe('passwords that are not well-formed Unicode', () => {
    const LONE = '\ud800\ud801\ud802\ud803\ud804\ud805\ud806\ud807\ud808\ud809';
    const refusal = (field: string) => expect.objectContaining({ errors: [{ path: field, message: expect.stringMatching(/well-formed/) }] });

    it('are refused at registration and at login, naming the field, before any hash is made', async () => {
      const gate = new RecordingGate();
      const auth = service(new PasswordHasher(CHEAP, gate));
      const registered = auth.register('alice', LONE);
      await expect(registered).rejects.toBeInstanceOf(ValidationError);
      await expect(registered).rejects.toEqual(refusal('password'));
      const login = auth.login('alice', LONE);
      await expect(login).rejects.toBeInstanceOf(ValidationError);
      await expect(login).rejects.toEqual(refusal('password'));
      await expect(auth.login('\udc00lice', PASSWORD)).rejects.toEqual(refusal('username'));
      expect(gate.clients).toEqual([]);
    });

    it('never open the account whose password is what UTF-8 makes of them', async () => {
      const auth = service(new PasswordHasher(CHEAP));
      await auth.register('alice', '\ufffd'.repeat(10));
      await expect(auth.login('alice', LONE)).rejects.toBeInstanceOf(ValidationError);
      await expect(auth.login('alice', '\ufffd'.repeat(10))).resolves.toMatchObject({ tokenType: 'Bearer' });
    });
  });
});
