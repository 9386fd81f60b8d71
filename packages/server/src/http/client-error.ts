import { randomUUID } from 'node:crypto';
import { createServer, STATUS_CODES, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from '../logger.js';
import { problemType } from './problem.js';
import { requestIdFor } from './request-context.js';

/** What Node's HTTP parser refuses, by the code of its error; anything else is a 400. */
const REFUSALS: Record<string, { status: number; detail: string }> = {
  HPE_HEADER_OVERFLOW: { status: 431, detail: 'The request headers are too large' },
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, detail: 'The request did not arrive in time' },
};
const MALFORMED = { status: 400, detail: 'The request is not valid HTTP' };

/** A ServerResponse under way on the socket, which Node keeps there for us. */
type SocketWithResponse = Duplex & { _httpMessage?: { headersSent?: boolean } };

/**
 * A refusal made below Express, as every other error is answered: an RFC 9457 problem with an
 * X-Request-Id. The connection closes after it, since the rest of what the client sent (a body,
 * the next request) cannot be trusted to start where the parser thinks it does.
 */
function refusal(status: number, detail: string, requestId: string): { headers: Record<string, string>; body: string } {
  const title = STATUS_CODES[status] ?? 'Bad Request';
  const body = JSON.stringify({ type: problemType('validation'), title, status, detail });
  return {
    headers: {
      'Content-Type': 'application/problem+json',
      'Content-Length': String(Buffer.byteLength(body)),
      'X-Request-Id': requestId,
      Connection: 'close',
    },
    body,
  };
}

function refuse(req: IncomingMessage, res: ServerResponse, status: number, detail: string): void {
  const { headers, body } = refusal(status, detail, requestIdFor(req.headers['x-request-id']));
  res.writeHead(status, headers).end(body);
}

/**
 * Answers requests that Node's HTTP parser refuses before Express ever sees them (headers too
 * large, a malformed request, one too slow to arrive) with a problem document instead of Node's
 * bare status line. For the server's `clientError` event; no request was parsed, so the
 * X-Request-Id is a new one.
 */
export function clientErrorHandler(logger: Logger): (error: NodeJS.ErrnoException, socket: Duplex) => void {
  return (error, socket) => {
    logger.debug({ code: error.code }, 'request refused by the HTTP parser');
    // Nobody to answer, or an answer already under way that more bytes would corrupt.
    const inFlight = (socket as SocketWithResponse)._httpMessage?.headersSent === true;
    if (error.code === 'ECONNRESET' || !socket.writable || inFlight) {
      socket.destroy();
      return;
    }
    const { status, detail } = REFUSALS[error.code ?? ''] ?? MALFORMED;
    const { headers, body } = refusal(status, detail, randomUUID());
    const head = Object.entries(headers).map(([name, value]) => `${name}: ${value}`);
    socket.end([`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Bad Request'}`, ...head, '', body].join('\r\n'));
  };
}

/** RFC 9112: a HTTP/1.1 request without Host is a 400. HTTP/1.0 had no such rule. */
function lacksHost(req: IncomingMessage): boolean {
  return req.headers.host === undefined && (req.httpVersionMajor > 1 || (req.httpVersionMajor === 1 && req.httpVersionMinor >= 1));
}

/**
 * Node's HTTP server for `listener`, with every refusal Node would otherwise answer itself
 * (bare status lines, no X-Request-Id) answered as a problem: the parser's (`clientError`), an
 * `Expect` other than 100-continue (417, `checkExpectation`), and a HTTP/1.1 request without
 * Host (400: Node's own check is turned off so this one can answer). `mixtape serve` and
 * `mixtape worker` both listen through it.
 */
export function createHttpServer(listener: RequestListener, logger: Logger): Server {
  const server = createServer({ requireHostHeader: false }, (req, res) => {
    if (lacksHost(req)) {
      logger.debug('request refused: no Host header');
      refuse(req, res, 400, 'A HTTP/1.1 request needs a Host header');
      return;
    }
    listener(req, res);
  });
  server.on('clientError', clientErrorHandler(logger));
  server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
    logger.debug('request refused: an Expect it cannot meet');
    refuse(req, res, 417, 'The only expectation this server meets is "Expect: 100-continue"');
  });
  return server;
}
