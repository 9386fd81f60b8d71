import { pipeline } from 'node:stream/promises';
import { Router } from 'express';
import Joi from 'joi';
import type { MixtapeValidators } from '@mixtape/core';
import { authenticate } from '../http/authenticate.js';
import { parseRange } from '../http/byte-range.js';
import { sendProblem } from '../http/problem.js';
import { contentDisposition } from '../http/content-disposition.js';
import { principalOf } from '../http/request-context.js';
import { joiPage, joiText } from '../http/joi-from-validators.js';
import { parse } from '../http/validate.js';
import type { RouteContext } from './route-context.js';

const listQuerySchema = (rules: MixtapeValidators) => Joi.object(joiPage(rules.libraryPage));
const trackParamsSchema = (rules: MixtapeValidators) => Joi.object({ trackId: joiText(rules.trackId).required() });

/**
 * If-None-Match by RFC 9110's weak comparison. Not Express's `req.fresh`: it calls any request
 * with `Cache-Control: no-cache` stale, and fetch (browsers' and Node's) adds that header to
 * every request that carries If-None-Match, so no fetch client would ever get its 304. RFC 9110
 * (section 13.1.2) says an origin server answers a match with 304; no-cache binds caches, not us.
 */
function etagMatches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header.trim() === '*' || header.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag);
}

export function libraryRoutes({ mixtape }: RouteContext): Router {
  const router = Router();
  const listQuery = listQuerySchema(mixtape.validators);
  const trackParams = trackParamsSchema(mixtape.validators);
  const { library } = mixtape;
  const signedIn = authenticate(mixtape.auth);

  router.get('/library', signedIn, async (req, res) => {
    const query = parse(listQuery, req.query, 'query');
    res.json(await library.list(principalOf(res).userId, query));
  });

  router.get('/library/:trackId/file', signedIn, async (req, res) => {
    const { trackId } = parse(trackParams, req.params, 'params');
    const file = await library.file(principalOf(res).userId, trackId);
    const size = file.audio.sizeBytes;
    // Validators go on every answer about this file, a 304 included.
    res.setHeader('ETag', file.etag);
    res.setHeader('Cache-Control', 'private, no-cache');
    if (etagMatches(req.get('If-None-Match'), file.etag)) return void res.status(304).end();

    // If-Range with another version means: send the whole file, not a piece of the new one.
    const ifRange = req.get('If-Range');
    const requested = ifRange && ifRange !== file.etag ? { kind: 'none' as const } : parseRange(req.get('Range'), size);
    if (requested.kind === 'unsatisfiable') {
      res.setHeader('Content-Range', `bytes */${size}`);
      return sendProblem(res, { kind: 'validation', status: 416, title: 'Range not satisfiable', detail: `The file has ${size} bytes` });
    }
    const range = requested.kind === 'range' ? requested.range : undefined;
    // Opened before any header describes it, so a file that cannot be opened gets a clean problem.
    const body = await library.open(file, range);
    res.setHeader('Content-Type', file.audio.contentType);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Content-Disposition', contentDisposition(file.track, file.audio.contentType));
    res.setHeader('Accept-Ranges', 'bytes');
    if (range) {
      res.status(206).setHeader('Content-Range', `bytes ${range.start}-${range.end}/${size}`);
      res.setHeader('Content-Length', String(range.end - range.start + 1));
    } else {
      res.status(200).setHeader('Content-Length', String(size));
    }
    if (req.method === 'HEAD') {
      body.destroy();
      return void res.end();
    }
    // On any failure pipeline destroys both ends: the client sees the transfer cut off, never a
    // short body that looks complete. The problem handler logs a read error, not a client that left.
    await pipeline(body, res);
  });

  router.delete('/library/:trackId', signedIn, async (req, res) => {
    const { trackId } = parse(trackParams, req.params, 'params');
    await library.remove(principalOf(res).userId, trackId);
    res.status(204).end();
  });

  return router;
}
