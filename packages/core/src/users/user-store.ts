import type { User } from '../model.js';

/** Accounts. Usernames are unique without regard to case. */
export interface UserStore {
  /** @throws ConflictError when the username is taken. */
  create(user: { username: string; passwordHash: string }): Promise<User>;
  findByUsername(username: string): Promise<User | null>;
  findById(id: string): Promise<User | null>;
  setPasswordHash(userId: string, passwordHash: string): Promise<void>;
}
