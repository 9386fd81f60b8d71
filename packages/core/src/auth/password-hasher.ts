import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { HashGate } from './hash-gate.js';

/** scrypt cost parameters. */
export interface ScryptCost {
  N: number;
  r: number;
  p: number;
}

/**
 * OWASP's recommendation for scrypt: N=2^17, r=8, p=1. One hash takes 128 MiB and about a
 * quarter of a second of one core, which is why the hasher runs behind a `HashGate`.
 */
export const DEFAULT_SCRYPT_COST: Readonly<ScryptCost> = Object.freeze({ N: 2 ** 17, r: 8, p: 1 });
const KEY_LENGTH = 32;
const SCHEME = 'scrypt';

interface StoredHash {
  cost: ScryptCost;
  salt: Buffer;
  key: Buffer;
}

/**
 * The memory scrypt needs for these parameters (what OpenSSL checks against `maxmem`): the
 * 128·r·N bytes of its table plus 128·r·p of blocks, and two blocks of slack. Node's default
 * `maxmem` is 32 MiB, which refuses N=2^17.
 */
function scryptMemory({ N, r, p }: ScryptCost): number {
  return 128 * r * (N + p + 2);
}

function derive(password: string, salt: Buffer, cost: ScryptCost): Promise<Buffer> {
  const options = { N: cost.N, r: cost.r, p: cost.p, maxmem: scryptMemory(cost) };
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFKC'), salt, KEY_LENGTH, options, (error, key) => (error ? reject(error) : resolve(key)));
  });
}

const isPositiveInteger = (n: number) => Number.isSafeInteger(n) && n >= 1;

/** `scrypt$N$r$p$salt$key`, salt and key in base64url; null for anything else. */
function parse(stored: string): StoredHash | null {
  const [scheme, N, r, p, salt, key, ...rest] = stored.split('$');
  if (scheme !== SCHEME || !salt || !key || rest.length > 0) return null;
  const cost = { N: Number(N), r: Number(r), p: Number(p) };
  // N must be a power of two above 1; anything else is not a hash this class wrote.
  if (!isPositiveInteger(cost.N) || cost.N < 2 || (cost.N & (cost.N - 1)) !== 0) return null;
  if (!isPositiveInteger(cost.r) || !isPositiveInteger(cost.p)) return null;
  return { cost, salt: Buffer.from(salt, 'base64url'), key: Buffer.from(key, 'base64url') };
}

/**
 * Hashes passwords with scrypt from node:crypto. The stored form carries its own cost, so the
 * cost can be raised later without breaking existing hashes (`needsRehash` tells which to
 * upgrade). Every hash and verification, the decoy included, waits its turn at the gate.
 */
export class PasswordHasher {
  readonly #cost: ScryptCost;
  readonly #gate: HashGate;

  constructor(cost: ScryptCost = DEFAULT_SCRYPT_COST, gate: HashGate = new HashGate()) {
    this.#cost = { ...cost };
    this.#gate = gate;
  }

  get cost(): Readonly<ScryptCost> {
    return this.#cost;
  }

  /**
   * @param clientKey whose turn at the gate this is (see `HashGate.run`)
   * @throws UnavailableError when too many hashes are waiting already.
   */
  async hash(password: string, clientKey?: string): Promise<string> {
    const salt = randomBytes(16);
    const key = await this.#gate.run(() => derive(password, salt, this.#cost), clientKey);
    const { N, r, p } = this.#cost;
    return `${SCHEME}$${N}$${r}$${p}$${salt.toString('base64url')}$${key.toString('base64url')}`;
  }

  /** @throws UnavailableError when too many hashes are waiting already. */
  async verify(password: string, stored: string, clientKey?: string): Promise<boolean> {
    const parsed = parse(stored);
    if (!parsed) return false;
    const actual = await this.#gate.run(() => derive(password, parsed.salt, parsed.cost), clientKey);
    return actual.length === parsed.key.length && timingSafeEqual(actual, parsed.key);
  }

  /**
   * Spends the time of one verification at the current cost and answers false, so that a login
   * takes as long whether or not the user exists. No stored decoy is needed: deriving with a
   * fresh salt costs the same as comparing against one.
   */
  async verifyDecoy(password: string, clientKey?: string): Promise<false> {
    await this.#gate.run(() => derive(password, randomBytes(16), this.#cost), clientKey);
    return false;
  }

  /** True when a stored hash was made at a lower cost than this hasher's, and should be redone. */
  needsRehash(stored: string): boolean {
    const parsed = parse(stored);
    if (!parsed) return false;
    const { N, r, p } = parsed.cost;
    return N < this.#cost.N || r < this.#cost.r || p < this.#cost.p;
  }
}
