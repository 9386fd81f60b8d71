import { Router, type RequestHandler, type Response } from 'express';
import Joi from 'joi';
import { loginRules, usernameKey, type MixtapeValidators } from '@mixtape/core';
import { authenticate } from '../http/authenticate.js';
import { clientAddressKey, rateLimit } from '../http/rate-limit.js';
import { principalOf } from '../http/request-context.js';
import { joiText } from '../http/joi-from-validators.js';
import { parse } from '../http/validate.js';
import type { RouteContext } from './route-context.js';

const credentialsSchema = (rules: MixtapeValidators) =>
  Joi.object({ username: joiText(rules.username).required(), password: joiText(rules.password).required() });

// Login checks lengths only, so every wrong pair gets the same 401.
const loginSchema = (rules: MixtapeValidators) => {
  const login = loginRules(rules);
  return Joi.object({ username: joiText(login.username).required(), password: joiText(login.password).required() });
};

interface LoginBody {
  username: string;
  password: string;
}

/** Parses the login body ahead of the limits, which key on its username. */
const loginParser =
  (login: Joi.ObjectSchema): RequestHandler =>
  (req, res, next) => {
    res.locals.login = parse(login, req.body, 'body');
    next();
  };

const loginOf = (res: Response): LoginBody => res.locals.login as LoginBody;

/**
 * The one failed attempt: a pair judged wrong (a wrong password, an unknown user, a username no
 * account can have). Any other answer judged nothing, a 429 of the other login limit and a 503
 * of the hash gate included, and is given back.
 */
const judgedWrong = (res: Response): boolean => res.statusCode === 401;

const refreshSchema = (rules: MixtapeValidators) => Joi.object({ refreshToken: joiText(rules.refreshToken).required() });
// Logging out needs only the bearer token; a refresh token given ends its session too.
const logoutSchema = (rules: MixtapeValidators) => Joi.object({ refreshToken: joiText(rules.refreshToken) });

export function authRoutes({ mixtape, policies, limits }: RouteContext): Router {
  const router = Router();
  const { auth } = mixtape;
  const credentials = credentialsSchema(mixtape.validators);
  const parseLogin = loginParser(loginSchema(mixtape.validators));
  const refresh = refreshSchema(mixtape.validators);
  const logout = logoutSchema(mixtape.validators);

  router.post('/auth/register', rateLimit(limits, policies.register, clientAddressKey), async (req, res) => {
    const body = parse(credentials, req.body, 'body');
    res.status(201).json(await auth.register(body.username, body.password, { clientKey: clientAddressKey(req) }));
  });

  // Every attempt is counted before its password is checked, so guesses sent in parallel cannot
  // all be judged; all but a wrong password is then given back, so a user who knows their
  // password is never locked out by their own logins, nor an address by refusals. A malformed
  // body is refused first: it guesses nothing.
  router.post(
    '/auth/login',
    parseLogin,
    rateLimit(limits, policies['login-ip'], clientAddressKey, { countOnly: judgedWrong }),
    // An address never holds a space, so no username can make its pair's key another's. The
    // username is keyed as the user store compares it, so `BOB` or `bób` is one more guess at
    // `bob`, not a fresh pair.
    rateLimit(limits, policies.login, (req, res) => `${clientAddressKey(req)} ${usernameKey(loginOf(res).username)}`, {
      countOnly: judgedWrong,
    }),
    async (req, res) => {
      const body = loginOf(res);
      // Each address gets its share of the password hashes, so no client can keep others out.
      res.json(await auth.login(body.username, body.password, { clientKey: clientAddressKey(req) }));
    },
  );

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
      // From the database, not the token: a role granted or revoked shows at once.
      roles: await mixtape.roles.rolesOf(principal.userId),
      quota: await mixtape.library.quota(principal.userId),
    });
  });

  return router;
}
