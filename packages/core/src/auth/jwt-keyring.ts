import { createHash, randomBytes } from 'node:crypto';
import jwt from 'jsonwebtoken';

export interface SigningKey {
  kid: string;
  secret: Buffer;
}

/** The claims Mixtape puts in an access token. */
export interface AccessClaims {
  sub: string;
  name: string;
  sid: string;
  jti: string;
}

const ALGORITHM = 'HS256';

/**
 * HMAC keys with ids. The first key signs; every key verifies, so a new key can be put first
 * while tokens signed with the old one stay valid until they expire.
 */
export class JwtKeyring {
  readonly #keys: SigningKey[];
  readonly #issuer: string;
  readonly #audience: string;
  readonly ephemeral: boolean;

  constructor(keys: SigningKey[], options: { issuer?: string; audience?: string; ephemeral?: boolean } = {}) {
    if (keys.length === 0) throw new Error('A keyring needs at least one key');
    this.#keys = keys;
    this.#issuer = options.issuer ?? 'mixtape';
    this.#audience = options.audience ?? 'mixtape-api';
    this.ephemeral = options.ephemeral ?? false;
  }

  /** The key id is a hash prefix, so it names a key without revealing anything of it. */
  static fromSecrets(secrets: string[]): JwtKeyring {
    return new JwtKeyring(
      secrets.map((secret) => ({
        kid: createHash('sha256').update(secret).digest('base64url').slice(0, 12),
        secret: Buffer.from(secret),
      })),
    );
  }

  /** A random key that lives as long as the process: for development without configuration. */
  static ephemeral(): JwtKeyring {
    const secret = randomBytes(32);
    return new JwtKeyring([{ kid: `eph-${secret.subarray(0, 4).toString('hex')}`, secret }], { ephemeral: true });
  }

  sign(claims: AccessClaims, expiresInSeconds: number): string {
    const [key] = this.#keys as [SigningKey];
    const { sub, jti, ...rest } = claims;
    return jwt.sign(rest, key.secret, {
      algorithm: ALGORITHM,
      keyid: key.kid,
      subject: sub,
      jwtid: jti,
      issuer: this.#issuer,
      audience: this.#audience,
      expiresIn: expiresInSeconds,
    });
  }

  /** The claims of a valid token, or null for any token that is not (expired, forged, malformed). */
  verify(token: string): AccessClaims | null {
    const decoded = jwt.decode(token, { complete: true });
    const kid = decoded?.header.kid;
    const key = this.#keys.find((k) => k.kid === kid);
    if (!key) return null;
    try {
      const payload = jwt.verify(token, key.secret, {
        algorithms: [ALGORITHM],
        issuer: this.#issuer,
        audience: this.#audience,
      });
      if (typeof payload === 'string') return null;
      const { sub, name, sid, jti, exp } = payload as Record<string, unknown>;
      if (typeof sub !== 'string' || typeof name !== 'string' || typeof sid !== 'string' || typeof jti !== 'string') {
        return null;
      }
      // jsonwebtoken checks exp only when a token has one; a token without it would never expire.
      if (typeof exp !== 'number') return null;
      return { sub, name, sid, jti };
    } catch {
      return null;
    }
  }
}

/** A new random secret for `mixtape keygen`: 256 bits, base64url. */
export function generateSecret(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}
