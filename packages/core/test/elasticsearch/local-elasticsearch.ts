import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The Elasticsearch node of this checkout, as scripts/elasticsearch.mjs runs it: the same
 * environment variables and defaults, so the script and the tests find the same node.
 */
const root = fileURLToPath(new URL('../../../../', import.meta.url));
const version = process.env.MIXTAPE_ES_VERSION || '9.2.0';
const port = Number(process.env.MIXTAPE_ES_PORT || 9200);

export const localElasticsearch = {
  root,
  host: '127.0.0.1',
  port,
  url: `http://127.0.0.1:${port}`,
  pidFile: join(root, '.cache', 'elasticsearch', 'nodes', `${version}-${port}`, 'run', 'elasticsearch.pid'),
};

export type ClusterStatus = 'green' | 'yellow' | 'red';

/**
 * The cluster's health, or null when nothing answers in time. `GET /` is no probe: the stripped
 * build answers it with 405.
 */
export async function clusterStatus(url: string, timeoutMs = 2000, query = ''): Promise<ClusterStatus | null> {
  try {
    const response = await fetch(`${url}/_cluster/health${query}`, { signal: AbortSignal.timeout(timeoutMs) });
    if (!response.ok) return null;
    const body = (await response.json()) as { status?: ClusterStatus };
    return body.status ?? null;
  } catch {
    return null;
  }
}

/** Runs `scripts/elasticsearch.mjs <command>`, its progress shown; rejects unless it exits 0. */
export function runElasticsearchScript(command: 'start' | 'stop'): Promise<void> {
  const child = spawn(process.execPath, [join(root, 'scripts', 'elasticsearch.mjs'), command], {
    cwd: root,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`node scripts/elasticsearch.mjs ${command} failed (${signal ?? `exit ${code}`}); its output is above`));
    });
  });
}

/** The pid the node wrote at start. */
export function elasticsearchPid(): number {
  if (!existsSync(localElasticsearch.pidFile)) {
    throw new Error(`no ${localElasticsearch.pidFile}: the node on port ${port} was not started by scripts/elasticsearch.mjs of this checkout`);
  }
  const pid = Number(readFileSync(localElasticsearch.pidFile, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`${localElasticsearch.pidFile} holds no pid`);
  return pid;
}

/** Resolves once nothing accepts connections on the port any more. */
export async function portClosed(timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (await accepts(localElasticsearch.host, localElasticsearch.port)) {
    if (Date.now() > deadline) throw new Error(`port ${localElasticsearch.port} still accepts connections after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
