import type { User } from '../model.js';

/** A role granted to an account; every account is a plain `user` without any grant. */
export type GrantedRole = 'admin';

/** Accounts and their granted roles. Usernames are unique without regard to case. */
export interface UserStore {
  /** @throws ConflictError when the username is taken. */
  create(user: { username: string; passwordHash: string }): Promise<User>;
  findByUsername(username: string): Promise<User | null>;
  findById(id: string): Promise<User | null>;
  setPasswordHash(userId: string, passwordHash: string): Promise<void>;
  /** The roles granted to a user, sorted; none for an unknown user. */
  rolesOf(userId: string): Promise<GrantedRole[]>;
  /** @returns false when the user had the role already. @throws NotFoundError for an unknown user. */
  grantRole(userId: string, role: GrantedRole): Promise<boolean>;
  /** @returns false when the user did not have the role (or does not exist). */
  revokeRole(userId: string, role: GrantedRole): Promise<boolean>;
}
