import { createHash, randomBytes } from 'node:crypto';
import { ConflictError, ForbiddenError, UnauthorizedError, ValidationError } from '../errors.js';
import { newId } from '../ids.js';
import type { User } from '../model.js';
import type { UserStore } from '../users/user-store.js';
import { checkText } from '../validation/field-checks.js';
import { DEFAULT_MIXTAPE_VALIDATORS, loginRules, type MixtapeValidators } from '../validation/mixtape-validators.js';
import type { JwtKeyring } from './jwt-keyring.js';
import type { PasswordHasher } from './password-hasher.js';
import type { RevocationList } from './revocation-list.js';
import type { TokenFamily, TokenStore } from './token-store.js';

/**
 * Who is calling, as established from a valid access token. It holds no roles: those are read
 * from the database where they matter (`UserRoles`), so a revoke cannot wait for a token to expire.
 */
export interface Principal {
  userId: string;
  username: string;
  sessionId: string;
}

export interface TokenPair {
  accessToken: string;
  refreshToken: string;
  tokenType: 'Bearer';
  expiresIn: number;
}

/** Who is signing in or registering, as far as the host can tell. */
export interface AuthCaller {
  /**
   * The client, for its fair share of the password hashes (`HashGate`): the server passes the
   * key its rate limits count an address under (IPv6 per /56). Calls that give none all count
   * as one client, which is not held to a share.
   */
  clientKey?: string;
}

export interface AuthSettings {
  accessTtlSeconds: number;
  refreshTtlSeconds: number;
  registration: 'open' | 'closed';
}

export const DEFAULT_AUTH_SETTINGS: AuthSettings = {
  accessTtlSeconds: 15 * 60,
  refreshTtlSeconds: 30 * 24 * 3600,
  registration: 'open',
};

const BAD_CREDENTIALS = 'Invalid username or password';

/**
 * How long after a family is revoked an access token of it may still be signed: a refresh whose
 * rotation committed just before the revoke signs its token just after. Covers that gap and
 * the clock skew between processes on different machines.
 */
const SIGNING_GRACE_MS = 5 * 60_000;

/** The username as registration would accept it, or null for one it refuses. */
function registrableUsername(validators: MixtapeValidators, username: string): string | null {
  try {
    return checkText('username', validators.username, username);
  } catch (error) {
    if (error instanceof ValidationError) return null;
    throw error;
  }
}

function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/**
 * Accounts and sessions: short signed access tokens, opaque rotating refresh tokens. Checking
 * an access token costs no round trip: its signature, then the `RevocationList`'s copy in this
 * process. Ending a session revokes its family in the `TokenStore` first (no new access token
 * can then be minted), then lists the session as revoked, so a failure in between leaves the
 * bearer token working for the caller to try again.
 */
export class AuthService {
  readonly #users: UserStore;
  readonly #tokens: TokenStore;
  readonly #revocations: RevocationList;
  readonly #keyring: JwtKeyring;
  readonly #hasher: PasswordHasher;
  readonly #settings: AuthSettings;
  readonly #validators: MixtapeValidators;
  readonly #now: () => Date;
  readonly #onLoginFailed: () => void;

  constructor(deps: {
    users: UserStore;
    tokens: TokenStore;
    revocations: RevocationList;
    keyring: JwtKeyring;
    hasher: PasswordHasher;
    settings?: Partial<AuthSettings>;
    /** The username and password rules a registration is held to. */
    validators?: MixtapeValidators;
    now?: () => Date;
    /** Called once per refused login (wrong password or unknown user), for a counter. */
    onLoginFailed?: () => void;
  }) {
    this.#users = deps.users;
    this.#tokens = deps.tokens;
    this.#revocations = deps.revocations;
    this.#keyring = deps.keyring;
    this.#hasher = deps.hasher;
    this.#settings = { ...DEFAULT_AUTH_SETTINGS, ...deps.settings };
    this.#validators = deps.validators ?? DEFAULT_MIXTAPE_VALIDATORS;
    this.#now = deps.now ?? (() => new Date());
    this.#onLoginFailed = deps.onLoginFailed ?? (() => undefined);
  }

  async register(username: string, password: string, caller: AuthCaller = {}): Promise<{ id: string; username: string }> {
    if (this.#settings.registration === 'closed') throw new ForbiddenError('Registration is closed');
    checkText('username', this.#validators.username, username);
    checkText('password', this.#validators.password, password);
    if (await this.#users.findByUsername(username)) throw new ConflictError('That username is taken');
    const user = await this.#users.create({ username, passwordHash: await this.#hasher.hash(password, caller.clientKey) });
    return { id: user.id, username: user.username };
  }

  /**
   * A hash made at an older cost is redone at the current one once the password is known good.
   * @throws ValidationError for a body no account could match: lengths beyond `loginRules`, or
   *   text that is not well-formed Unicode, which would otherwise hash as another password.
   * @throws UnauthorizedError, with one answer whether the user is unknown, the username one that
   *   registration refuses (no account is read for it), or the password wrong.
   * @throws UnavailableError when too many hashes are waiting, or the caller's client has its
   *   share of them (see `HashGate`); nothing was checked.
   */
  async login(username: string, password: string, caller: AuthCaller = {}): Promise<TokenPair> {
    const rules = loginRules(this.#validators);
    checkText('username', rules.username, username);
    checkText('password', rules.password, password);
    // A name registration would refuse owns no account, yet a store could compare it equal to
    // one: MySQL's collation reads `bób` and `bob ` as `bob`. It is a wrong pair like any other,
    // answered without a read or a hash.
    const registrable = registrableUsername(this.#validators, username);
    if (registrable === null) {
      this.#onLoginFailed();
      throw new UnauthorizedError(BAD_CREDENTIALS);
    }
    const user = await this.#users.findByUsername(registrable);
    const { clientKey } = caller;
    const valid = user ? await this.#hasher.verify(password, user.passwordHash, clientKey) : await this.#hasher.verifyDecoy(password, clientKey);
    if (!user || !valid) {
      this.#onLoginFailed();
      throw new UnauthorizedError(BAD_CREDENTIALS);
    }
    if (this.#hasher.needsRehash(user.passwordHash)) await this.#upgradeHash(user, password, clientKey);
    const family = {
      id: newId(),
      userId: user.id,
      expiresAt: new Date(this.#now().getTime() + this.#settings.refreshTtlSeconds * 1000),
    };
    const refreshToken = randomBytes(32).toString('base64url');
    await this.#tokens.createFamily(family, hashToken(refreshToken));
    return this.#pair(user.id, user.username, family.id, refreshToken);
  }

  /**
   * Spends the refresh token for a new pair. A spent token coming back revokes its family, its
   * access tokens included, before the refusal is answered.
   */
  async refresh(refreshToken: string): Promise<TokenPair> {
    const next = randomBytes(32).toString('base64url');
    const outcome = await this.#tokens.rotate(hashToken(refreshToken), hashToken(next), this.#now());
    if (outcome.kind === 'reused') await this.#revokeSession(outcome.family.id, outcome.family);
    if (outcome.kind !== 'rotated') throw new UnauthorizedError('The refresh token is not valid');
    const user = await this.#users.findById(outcome.family.userId);
    if (!user) throw new UnauthorizedError('The refresh token is not valid');
    return this.#pair(user.id, user.username, outcome.family.id, next);
  }

  /**
   * Ends the caller's session and the one the refresh token belongs to, if it is the caller's:
   * their refresh tokens and their access tokens, durably, by the time this resolves.
   */
  async logout(principal: Principal, refreshToken?: string): Promise<void> {
    await this.#endSession(principal.sessionId);
    if (!refreshToken) return;
    const family = await this.#tokens.findFamilyByToken(hashToken(refreshToken));
    if (family && family.userId === principal.userId && family.id !== principal.sessionId) await this.#endSession(family.id);
  }

  /**
   * Reads nothing from a database: the signature, then this process's copy of the revocations.
   * @throws UnauthorizedError for a missing, invalid, expired or revoked token.
   * @throws UnavailableError while the revocations cannot be vouched for (see `RevocationList`).
   */
  async authenticate(accessToken: string): Promise<Principal> {
    const claims = this.#keyring.verify(accessToken);
    if (!claims || this.#revocations.isRevoked({ sid: claims.sid, jti: claims.jti })) {
      throw new UnauthorizedError('The access token is not valid');
    }
    return { userId: claims.sub, username: claims.name, sessionId: claims.sid };
  }

  async #endSession(familyId: string): Promise<void> {
    const family = await this.#tokens.revokeFamily(familyId);
    await this.#revokeSession(familyId, family);
  }

  /**
   * Lists the session as revoked for as long as one of its access tokens may be valid. Its family
   * is revoked already, so none is signed after now (give or take `SIGNING_GRACE_MS`), nor after
   * the family expires; each lives one access-token lifetime. That keeps an entry for minutes,
   * not for the family's 30 days.
   */
  async #revokeSession(familyId: string, family: TokenFamily | null): Promise<void> {
    const lastSigning = this.#now().getTime() + SIGNING_GRACE_MS;
    const lastSigned = family ? Math.min(family.expiresAt.getTime(), lastSigning) : lastSigning;
    await this.#revocations.revokeSession(familyId, new Date(lastSigned + this.#settings.accessTtlSeconds * 1000));
  }

  /**
   * Stores a hash at the current cost. A failure (the gate is full, the store is down) leaves the
   * old hash, which still verifies: the login goes on, and the next one tries again.
   */
  async #upgradeHash(user: User, password: string, clientKey: string | undefined): Promise<void> {
    try {
      await this.#users.setPasswordHash(user.id, await this.#hasher.hash(password, clientKey));
    } catch {
      // Deliberately ignored: see above. Nothing of the password may reach a log.
    }
  }

  #pair(userId: string, username: string, sessionId: string, refreshToken: string): TokenPair {
    const expiresIn = this.#settings.accessTtlSeconds;
    const accessToken = this.#keyring.sign({ sub: userId, name: username, sid: sessionId, jti: newId() }, expiresIn);
    return { accessToken, refreshToken, tokenType: 'Bearer', expiresIn };
  }
}
