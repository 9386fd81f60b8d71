import { randomUUID } from 'node:crypto';
import type { RequestHandler, Response } from 'express';
import { UnauthorizedError, type Principal } from '@mixtape/core';

const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The client's `X-Request-Id` when it is sane, or a new one. */
export function requestIdFor(given: string | string[] | undefined): string {
  return typeof given === 'string' && SANE_REQUEST_ID.test(given) ? given : randomUUID();
}

/** Echoes a sane `X-Request-Id` from the client, or makes one. */
export const requestId: RequestHandler = (req, res, next) => {
  res.setHeader('X-Request-Id', requestIdFor(req.get('X-Request-Id')));
  next();
};

interface Locals {
  principal?: Principal;
}

export function setPrincipal(res: Response, principal: Principal): void {
  (res.locals as Locals).principal = principal;
}

/** The caller of an authenticated route; `authenticate` has run before any handler asks. */
export function principalOf(res: Response): Principal {
  const principal = (res.locals as Locals).principal;
  if (!principal) throw new UnauthorizedError();
  return principal;
}
