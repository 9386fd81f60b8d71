import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  AuthService,
  HashGate,
  JwtKeyring,
  PasswordHasher,
  SqliteRevocationList,
  SqliteTokenStore,
  SqliteUserStore,
  UnavailableError,
  type AuthCaller,
} from '../../src/index.js';
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
});
