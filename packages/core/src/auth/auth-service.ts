import { createHash, randomBytes } from 'node:crypto';
import { ConflictError, ForbiddenError, UnauthorizedError, ValidationError } from '../errors.js';
import { newId } from '../ids.js';
import type { User } from '../model.js';
import type { UserStore } from '../users/user-store.js';
import type { JwtKeyring } from './jwt-keyring.js';
import type { PasswordHasher } from './password-hasher.js';
import type { TokenStore } from './token-store.js';

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

export const USERNAME_PATTERN = /^[A-Za-z0-9_.-]{3,32}$/;
export const PASSWORD_LENGTH = { min: 10, max: 128 } as const;

const BAD_CREDENTIALS = 'Invalid username or password';

function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** Accounts and sessions: short signed access tokens, opaque rotating refresh tokens. */
export class AuthService {
  readonly #users: UserStore;
  readonly #tokens: TokenStore;
  readonly #keyring: JwtKeyring;
  readonly #hasher: PasswordHasher;
  readonly #settings: AuthSettings;
  readonly #now: () => Date;
  readonly #onLoginFailed: () => void;

  constructor(deps: {
    users: UserStore;
    tokens: TokenStore;
    keyring: JwtKeyring;
    hasher: PasswordHasher;
    settings?: Partial<AuthSettings>;
    now?: () => Date;
    /** Called once per refused login (wrong password or unknown user), for a counter. */
    onLoginFailed?: () => void;
  }) {
    this.#users = deps.users;
    this.#tokens = deps.tokens;
    this.#keyring = deps.keyring;
    this.#hasher = deps.hasher;
    this.#settings = { ...DEFAULT_AUTH_SETTINGS, ...deps.settings };
    this.#now = deps.now ?? (() => new Date());
    this.#onLoginFailed = deps.onLoginFailed ?? (() => undefined);
  }

  async register(username: string, password: string): Promise<{ id: string; username: string }> {
    if (this.#settings.registration === 'closed') throw new ForbiddenError('Registration is closed');
    if (!USERNAME_PATTERN.test(username)) {
      throw ValidationError.field('username', 'must be 3 to 32 letters, digits, dots, dashes or underscores');
    }
    if (password.length < PASSWORD_LENGTH.min || password.length > PASSWORD_LENGTH.max) {
      throw ValidationError.field('password', `must be ${PASSWORD_LENGTH.min} to ${PASSWORD_LENGTH.max} characters`);
    }
    if (await this.#users.findByUsername(username)) throw new ConflictError('That username is taken');
    const user = await this.#users.create({ username, passwordHash: await this.#hasher.hash(password) });
    return { id: user.id, username: user.username };
  }

  /**
   * A hash made at an older cost is redone at the current one once the password is known good.
   * @throws UnauthorizedError, with one answer whether the user is unknown or the password wrong.
   * @throws UnavailableError when too many hashes are waiting (see `HashGate`); nothing was checked.
   */
  async login(username: string, password: string): Promise<TokenPair> {
    const user = await this.#users.findByUsername(username);
    const valid = user ? await this.#hasher.verify(password, user.passwordHash) : await this.#hasher.verifyDecoy(password);
    if (!user || !valid) {
      this.#onLoginFailed();
      throw new UnauthorizedError(BAD_CREDENTIALS);
    }
    if (this.#hasher.needsRehash(user.passwordHash)) await this.#upgradeHash(user, password);
    const family = {
      id: newId(),
      userId: user.id,
      expiresAt: new Date(this.#now().getTime() + this.#settings.refreshTtlSeconds * 1000),
    };
    const refreshToken = randomBytes(32).toString('base64url');
    await this.#tokens.createFamily(family, hashToken(refreshToken));
    return this.#pair(user.id, user.username, family.id, refreshToken);
  }

  /** Spends the refresh token for a new pair. A spent token coming back revokes its family. */
  async refresh(refreshToken: string): Promise<TokenPair> {
    const next = randomBytes(32).toString('base64url');
    const outcome = await this.#tokens.rotate(hashToken(refreshToken), hashToken(next), this.#now());
    if (outcome.kind !== 'rotated') throw new UnauthorizedError('The refresh token is not valid');
    const user = await this.#users.findById(outcome.family.userId);
    if (!user) throw new UnauthorizedError('The refresh token is not valid');
    return this.#pair(user.id, user.username, outcome.family.id, next);
  }

  /** Ends the caller's session and the one the refresh token belongs to, if it is the caller's. */
  async logout(principal: Principal, refreshToken?: string): Promise<void> {
    await this.#tokens.revokeFamily(principal.sessionId);
    if (!refreshToken) return;
    const family = await this.#tokens.findFamilyByToken(hashToken(refreshToken));
    if (family && family.userId === principal.userId) await this.#tokens.revokeFamily(family.id);
  }

  /** @throws UnauthorizedError for a missing, invalid, expired or revoked token. */
  async authenticate(accessToken: string): Promise<Principal> {
    const claims = this.#keyring.verify(accessToken);
    if (!claims || !(await this.#tokens.isFamilyActive(claims.sid, this.#now()))) {
      throw new UnauthorizedError('The access token is not valid');
    }
    return { userId: claims.sub, username: claims.name, sessionId: claims.sid };
  }

  /**
   * Stores a hash at the current cost. A failure (the gate is full, the store is down) leaves the
   * old hash, which still verifies: the login goes on, and the next one tries again.
   */
  async #upgradeHash(user: User, password: string): Promise<void> {
    try {
      await this.#users.setPasswordHash(user.id, await this.#hasher.hash(password));
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
