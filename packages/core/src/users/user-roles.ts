import { ForbiddenError, NotFoundError } from '../errors.js';
import type { GrantedRole, UserStore } from './user-store.js';

/** What a caller may do: every account is a `user`; `admin` must be granted. */
export type Role = 'user' | GrantedRole;

/** The outcome of a grant or revoke: whom it was about (as stored) and whether anything changed. */
export interface RoleChange {
  userId: string;
  username: string;
  changed: boolean;
}

/**
 * Authorization from the database. Roles are read from the store each time they matter, never
 * from a claim in the access token, so a revoke takes effect on the very next request. Only an
 * operator grants a role (`mixtape admin grant`): nothing a client sends can.
 */
export class UserRoles {
  readonly #users: UserStore;

  constructor(users: UserStore) {
    this.#users = users;
  }

  async rolesOf(userId: string): Promise<Role[]> {
    return ['user', ...(await this.#users.rolesOf(userId))];
  }

  /** @throws ForbiddenError unless the user holds the role now. */
  async require(userId: string, role: GrantedRole): Promise<void> {
    if (!(await this.#users.rolesOf(userId)).includes(role)) throw new ForbiddenError(`Only an ${role} may do this`);
  }

  /** @throws NotFoundError for an unknown username. */
  async grant(username: string, role: GrantedRole): Promise<RoleChange> {
    const user = await this.#find(username);
    return { userId: user.id, username: user.username, changed: await this.#users.grantRole(user.id, role) };
  }

  /** @throws NotFoundError for an unknown username. */
  async revoke(username: string, role: GrantedRole): Promise<RoleChange> {
    const user = await this.#find(username);
    return { userId: user.id, username: user.username, changed: await this.#users.revokeRole(user.id, role) };
  }

  async #find(username: string) {
    const user = await this.#users.findByUsername(username);
    if (!user) throw new NotFoundError(`No user is named ${username}`);
    return user;
  }
}
