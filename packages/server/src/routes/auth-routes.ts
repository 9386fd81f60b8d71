import { Router } from 'express';
import Joi from 'joi';
import { PASSWORD_LENGTH, USERNAME_PATTERN, UnauthorizedError } from '@mixtape/core';
import { authenticate } from '../http/authenticate.js';
import { rateLimit, reject } from '../http/rate-limit.js';
import { principalOf } from '../http/request-context.js';
import { parse } from '../http/validate.js';
import type { RouteContext } from './route-context.js';

const credentials = Joi.object({
  username: Joi.string().pattern(USERNAME_PATTERN).required().messages({
    'string.pattern.base': '{{#label}} must be 3 to 32 letters, digits, dots, dashes or underscores',
  }),
  password: Joi.string().min(PASSWORD_LENGTH.min).max(PASSWORD_LENGTH.max).required(),
});

// Login checks lengths only, so every wrong pair gets the same 401.
const login = Joi.object({
  username: Joi.string().min(1).max(64).required(),
  password: Joi.string().min(1).max(PASSWORD_LENGTH.max).required(),
});

const refresh = Joi.object({ refreshToken: Joi.string().min(1).max(512).required() });
const logout = Joi.object({ refreshToken: Joi.string().min(1).max(512) });

export function authRoutes({ mixtape, policies, limits }: RouteContext): Router {
  const router = Router();
  const { auth } = mixtape;

  router.post('/auth/register', rateLimit(limits, policies.register, (req) => `ip:${req.ip}`), async (req, res) => {
    const body = parse(credentials, req.body, 'body');
    res.status(201).json(await auth.register(body.username, body.password));
  });

  // Only failed attempts count, per address and per username, so a user who knows their
  // password is never locked out by their own successful logins.
  router.post('/auth/login', async (req, res) => {
    const body = parse(login, req.body, 'body');
    const keys = [`ip:${req.ip}`, `user:${body.username.toLowerCase()}`];
    for (const key of keys) {
      const decision = await limits.limiter.peek(policies.login, key);
      if (!decision.allowed) return reject(res, limits, policies.login, decision);
    }
    try {
      res.json(await auth.login(body.username, body.password));
    } catch (error) {
      if (error instanceof UnauthorizedError) await Promise.all(keys.map((key) => limits.limiter.hit(policies.login, key)));
      throw error;
    }
  });

  router.post('/auth/refresh', async (req, res) => {
    const body = parse(refresh, req.body, 'body');
    res.json(await auth.refresh(body.refreshToken));
  });

  router.post('/auth/logout', authenticate(auth), async (req, res) => {
    const body = parse(logout, req.body ?? {}, 'body');
    await auth.logout(principalOf(res), body.refreshToken);
    res.status(204).end();
  });

  router.get('/me', authenticate(auth), async (_req, res) => {
    const principal = principalOf(res);
    res.json({
      id: principal.userId,
      username: principal.username,
      roles: principal.roles,
      quota: await mixtape.library.quota(principal.userId),
    });
  });

  return router;
}
