import { randomBytes } from 'node:crypto';
import { expect, inject } from 'vitest';
import type { TestProject } from 'vitest/node';
import { TcpProxy } from '../support/tcp-proxy.js';
import { clusterStatus, elasticsearchPid, localElasticsearch, portClosed } from './local-elasticsearch.js';
import { deletePrefixedIndices } from './prefixed-indices.js';
import { joinSharedNode, leaveSharedNode, restartSharedNode } from './shared-node-runs.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The Elasticsearch node every test file shares. */
    sharedElasticsearchUrl: string;
    /** Every index this run creates starts with it, so that teardown finds them all. */
    elasticsearchIndexPrefix: string;
  }
}

const KILL_TIMEOUT_MS = 30_000;
const HEALTH_WAIT_SECONDS = 60;

/**
 * Global setup: the checkout's Elasticsearch node for the whole run (~20 s to boot, so once).
 * One already running is used and left running; otherwise it is started here and stopped after,
 * unless another test run still uses it (see shared-node-runs.ts). Tests keep apart by index
 * name (`uniqueIndexName`), and teardown deletes every index of the run.
 */
export default async function setup(project: Pick<TestProject, 'provide'>): Promise<() => Promise<void>> {
  const { url } = localElasticsearch;
  await joinSharedNode();
  const prefix = `mixtape-test-${randomBytes(4).toString('hex')}-`;
  project.provide('sharedElasticsearchUrl', url);
  project.provide('elasticsearchIndexPrefix', prefix);
  return async () => {
    try {
      await deletePrefixedIndices(url, prefix);
    } finally {
      await leaveSharedNode();
    }
  };
}

/** The shared node's URL, in a test. */
export function sharedElasticsearchUrl(): string {
  return inject('sharedElasticsearchUrl');
}

/**
 * An index (or alias) name no other test uses, under this run's prefix: lower case, as
 * Elasticsearch requires. `label` says which test made it, for whoever reads `_cat/indices`.
 */
export function uniqueIndexName(label = ''): string {
  const readable = label.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
  return `${inject('elasticsearchIndexPrefix')}${readable ? `${readable}-` : ''}${randomBytes(4).toString('hex')}`;
}

/**
 * A TCP proxy of the test's own in front of the shared node: `cut` and `delay` it to see a
 * hang or a dropped connection without touching the node the other files use. Close it after.
 */
export async function proxiedElasticsearch(): Promise<{ url: string; proxy: TcpProxy }> {
  const proxy = new TcpProxy(localElasticsearch.host, localElasticsearch.port);
  const port = await proxy.start();
  return { url: `http://127.0.0.1:${port}`, proxy };
}

/** Real faults of the shared node itself. */
export interface SharedElasticsearchProcess {
  /** SIGSTOP: connections stay open and nothing answers, as in a long GC pause. */
  pause(): void;
  /** SIGCONT. */
  resume(): void;
  /** SIGKILL; resolves once the port refuses connections. */
  kill(): Promise<void>;
  /** Starts the node again (~20 s) and resolves once its primaries are assigned. */
  start(): Promise<void>;
}

/**
 * The shared node's process, for a `*.serial.test.ts` file only: those run alone, after every
 * other file, so that stopping the node fails no one else's test.
 */
export function sharedElasticsearchProcess(): SharedElasticsearchProcess {
  const { testPath } = expect.getState();
  if (testPath !== undefined && !testPath.endsWith('.serial.test.ts')) {
    throw new Error(`sharedElasticsearchProcess() is for *.serial.test.ts files, not ${testPath}: other files use the node meanwhile`);
  }
  return {
    pause: () => process.kill(elasticsearchPid(), 'SIGSTOP'),
    resume: () => process.kill(elasticsearchPid(), 'SIGCONT'),
    async kill() {
      process.kill(elasticsearchPid(), 'SIGKILL');
      await portClosed(KILL_TIMEOUT_MS);
    },
    async start() {
      await restartSharedNode();
      // Yellow, not green: one node cannot hold replicas, so an index with any stays yellow.
      const query = `?wait_for_status=yellow&timeout=${HEALTH_WAIT_SECONDS}s`;
      const status = await clusterStatus(localElasticsearch.url, (HEALTH_WAIT_SECONDS + 5) * 1000, query);
      if (status !== 'green' && status !== 'yellow') throw new Error(`Elasticsearch started but its health is ${status ?? 'unknown'}`);
    },
  };
}
