import type { RequestHandler } from 'express';
import { ForbiddenError, UnauthorizedError, type AuthService } from '@mixtape/core';
import { principalOf, setPrincipal } from './request-context.js';

const BEARER = /^Bearer ([A-Za-z0-9_.~+/=-]{1,4096})$/;

export function authenticate(auth: AuthService): RequestHandler {
  return async (req, res, next) => {
    const match = BEARER.exec(req.get('Authorization') ?? '');
    if (!match?.[1]) throw new UnauthorizedError('A bearer access token is required');
    setPrincipal(res, await auth.authenticate(match[1]));
    next();
  };
}

export const requireAdmin: RequestHandler = (_req, res, next) => {
  if (!principalOf(res).roles.includes('admin')) throw new ForbiddenError('Only administrators may do this');
  next();
};
