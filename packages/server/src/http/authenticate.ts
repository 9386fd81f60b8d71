import type { RequestHandler } from 'express';
import { UnauthorizedError, type AuthService, type UserRoles } from '@mixtape/core';
import { principalOf, setPrincipal } from './request-context.js';

/** RFC 9110 §11.1: the scheme's name is case-insensitive, and one or more spaces follow it. */
const BEARER = /^Bearer +([A-Za-z0-9_.~+/=-]{1,4096})$/i;

export function authenticate(auth: AuthService): RequestHandler {
  return async (req, res, next) => {
    const match = BEARER.exec(req.get('Authorization') ?? '');
    if (!match?.[1]) throw new UnauthorizedError('A bearer access token is required');
    setPrincipal(res, await auth.authenticate(match[1]));
    next();
  };
}

/**
 * After `authenticate`: 403 unless the caller is an admin now. The role is read from the
 * database on every request, not from the token, so a revoke takes effect at once.
 */
export function requireAdmin(roles: UserRoles): RequestHandler {
  return async (_req, res, next) => {
    await roles.require(principalOf(res).userId, 'admin');
    next();
  };
}
