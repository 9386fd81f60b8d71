import { once } from 'node:events';
import { connect } from 'node:net';

export interface RawAnswer {
  status: number;
  /** Header names in lower case. */
  headers: Record<string, string>;
  body: string;
  /** Everything the server wrote, interim answers (`100 Continue`) included. */
  text: string;
}

/**
 * One request written byte for byte on a fresh connection, for what `fetch` cannot send: no
 * Host, odd `Expect`s, oversized or malformed heads. Reads until the answer is complete (its
 * Content-Length is in) or the server closes, bounded so a server that says nothing fails.
 */
export async function rawExchange(url: string, request: string, timeoutMs = 3000): Promise<RawAnswer> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  await once(socket, 'connect');
  let text = '';
  const complete = new Promise<void>((resolve) => {
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
      const answer = finalAnswer(text);
      const end = answer.indexOf('\r\n\r\n');
      const length = /\r\ncontent-length: *(\d+)/i.exec(answer.slice(0, end))?.[1];
      if (end >= 0 && length !== undefined && Buffer.byteLength(answer.slice(end + 4)) >= Number(length)) resolve();
    });
    socket.on('close', () => resolve());
  });
  socket.on('error', () => undefined);
  socket.write(request);
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([complete, new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
  clearTimeout(timer);
  socket.destroy();
  const answer = finalAnswer(text);
  const end = answer.indexOf('\r\n\r\n');
  const [statusLine = '', ...lines] = (end >= 0 ? answer.slice(0, end) : answer).split('\r\n');
  const headers = Object.fromEntries(lines.map((line) => [line.slice(0, line.indexOf(':')).trim().toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]));
  return { status: Number(statusLine.split(' ')[1]), headers, body: end >= 0 ? answer.slice(end + 4) : '', text };
}

/** The answer after any interim ones (`100 Continue`). */
function finalAnswer(text: string): string {
  return text.replace(/^(?:HTTP\/1\.1 1\d\d [^\r]*\r\n(?:[^\r]+\r\n)*\r\n)+/, '');
}
