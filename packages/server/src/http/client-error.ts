import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from '../logger.js';
import { problemType } from './problem.js';

/** What Node's HTTP parser refuses, by the code of its error; anything else is a 400. */
const REFUSALS: Record<string, { status: number; detail: string }> = {
  HPE_HEADER_OVERFLOW: { status: 431, detail: 'The request headers are too large' },
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, detail: 'The request did not arrive in time' },
};
const MALFORMED = { status: 400, detail: 'The request is not valid HTTP' };

/** A ServerResponse under way on the socket, which Node keeps there for us. */
type SocketWithResponse = Duplex & { _httpMessage?: { headersSent?: boolean } };

/**
 * Answers requests that Node's HTTP server refuses before Express ever sees them (headers too
 * large, a malformed request, one too slow to arrive) with a problem document, as every other
 * error is answered, instead of Node's bare status line. For the server's `clientError` event.
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
    const title = STATUS_CODES[status] ?? 'Bad Request';
    const body = JSON.stringify({ type: problemType('validation'), title, status, detail });
    socket.end(
      [
        `HTTP/1.1 ${status} ${title}`,
        'Content-Type: application/problem+json',
        `Content-Length: ${Buffer.byteLength(body)}`,
        `X-Request-Id: ${randomUUID()}`,
        'Connection: close',
        '',
        body,
      ].join('\r\n'),
    );
  };
}
