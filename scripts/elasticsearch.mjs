#!/usr/bin/env node
// `npm run elasticsearch -- start|stop|status`: a real single-node Elasticsearch on loopback for
// development and tests. Environment: MIXTAPE_ES_VERSION (default 9.2.0), MIXTAPE_ES_PORT (9200).
//
// The distribution is Elastic's runnable zip on Maven Central
// (org.elasticsearch.distribution.integ-test-zip), fetched once with Maven into
// .cache/elasticsearch/. It is a stripped build: no analysis-common (so no asciifolding), no
// painless, no _delete_by_query, and `GET /` answers 405, so the node is probed with
// `GET /_cluster/health`. Mixtape folds text itself rather than relying on a plugin.
//
// Layout under .cache/elasticsearch/:
//   downloads/elasticsearch-<version>.zip   the zip, fetched once
//   dist/elasticsearch-<version>/           unpacked, read-only to the node
//   nodes/<version>-<port>/                 config, data, logs, tmp and pid file of one node;
//                                           kept apart per version (a 9.x data folder is
//                                           unreadable by 8.x) and per port
//
// Exit codes: 0 done (status: it answers), 3 status: it does not answer, 1 failure, 64 usage.
import { spawnSync } from 'node:child_process';
import { closeSync, cpSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PidLockTimeout, withPidLock } from './pid-lock.mjs';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const VERSION = process.env.MIXTAPE_ES_VERSION || '9.2.0';
const PORT = Number(process.env.MIXTAPE_ES_PORT || 9200);
const HOST = '127.0.0.1';
const URL_BASE = `http://${HOST}:${PORT}`;
const ARTIFACT = `org.elasticsearch.distribution.integ-test-zip:elasticsearch:${VERSION}:zip`;
// Elasticsearch refuses to run as root; when we are root it runs as this system user.
const ES_USER = 'mixtape-es';
const HEAP = '512m';
const START_TIMEOUT_MS = 120_000;
const STOP_TIMEOUT_MS = 30_000;

const cache = join(root, '.cache', 'elasticsearch');
const zipFile = join(cache, 'downloads', `elasticsearch-${VERSION}.zip`);
const esHome = join(cache, 'dist', `elasticsearch-${VERSION}`);
const node = join(cache, 'nodes', `${VERSION}-${PORT}`);
const paths = {
  config: join(node, 'config'),
  data: join(node, 'data'),
  logs: join(node, 'logs'),
  tmp: join(node, 'tmp'),
  run: join(node, 'run'),
};
const pidFile = join(paths.run, 'elasticsearch.pid');
const consoleLog = join(paths.logs, 'console.log');

const isRoot = process.getuid?.() === 0;

class Failure extends Error {}

function say(message) {
  console.error(`elasticsearch: ${message}`);
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Runs a command to completion; throws a Failure naming it when it cannot be run at all. */
function run(command, args, options = {}) {
  const result = spawnSync(command, args, { encoding: 'utf8', ...options });
  if (result.error) throw new Failure(`could not run ${command}: ${result.error.message}`);
  return result;
}

function hasCommand(command) {
  return run('sh', ['-c', `command -v ${command}`]).status === 0;
}

/** The cluster's health, or null when nothing answers on the port within the timeout. */
async function health(timeoutMs = 2000) {
  try {
    const response = await fetch(`${URL_BASE}/_cluster/health`, { signal: AbortSignal.timeout(timeoutMs) });
    if (!response.ok) return null;
    const body = await response.json();
    return typeof body.status === 'string' ? body : null;
  } catch {
    return null;
  }
}

/** Whether anything at all accepts connections on the port (an Elasticsearch or another program). */
function portTaken() {
  return new Promise((resolve) => {
    const socket = connect({ host: HOST, port: PORT });
    socket.setTimeout(1000);
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('timeout', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}

/** The pid of the node this script started for this version and port, if that process still lives. */
function runningPid() {
  if (!existsSync(pidFile)) return null;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0) return null;
  try {
    // A recycled pid belongs to some other program: only an Elasticsearch counts.
    if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('org.elasticsearch')) return null;
  } catch {
    return null;
  }
  return pid;
}

/**
 * Whether the process is gone. Its main thread ends first and shows as a zombie while the JVM's
 * other threads still shut down (and hold the data folder's lock), so a zombie counts as gone
 * only once it is the last thread left.
 */
function exited(pid) {
  let status;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return true;
  }
  const zombie = /^State:\s*Z/m.test(status);
  const threads = Number(/^Threads:\s*(\d+)/m.exec(status)?.[1] ?? 1);
  return zombie && threads <= 1;
}

function javaFeatureVersion(jdk) {
  try {
    const release = readFileSync(join(jdk, 'release'), 'utf8');
    const match = /^JAVA_VERSION="(?:1\.)?(\d+)/m.exec(release);
    return match ? Number(match[1]) : null;
  } catch {
    return null;
  }
}

/** A JDK the version needs: 9.x needs Java 21 or later, 8.x runs on 17. Temurin 25 is preferred. */
function pickJava() {
  const needed = Number(VERSION.split('.')[0]) >= 9 ? 21 : 17;
  const jvmDir = '/usr/lib/jvm';
  const candidates = [
    process.env.ES_JAVA_HOME,
    `${jvmDir}/temurin-25-jdk-amd64`,
    process.env.JAVA_HOME,
    ...(existsSync(jvmDir) ? readdirSync(jvmDir).map((name) => join(jvmDir, name)) : []),
  ].filter(Boolean);
  for (const jdk of candidates) {
    const feature = javaFeatureVersion(jdk);
    if (feature !== null && feature >= needed && existsSync(join(jdk, 'bin', 'java'))) return jdk;
  }
  throw new Failure(`Elasticsearch ${VERSION} needs Java ${needed} or later; none found in ${jvmDir} (set ES_JAVA_HOME)`);
}

function download() {
  if (existsSync(zipFile)) return;
  if (!hasCommand('mvn')) throw new Failure(`Maven (mvn) is needed to download ${ARTIFACT}`);
  // Maven writes into a folder of its own, moved into place whole, so that an interrupted
  // download is never taken for a complete one.
  const partial = join(cache, 'downloads', `.partial-${process.pid}`);
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(partial, { recursive: true });
  say(`downloading ${ARTIFACT} from Maven Central…`);
  const started = Date.now();
  // -U: Maven would otherwise remember a failed look-up and not retry it for a day.
  const result = run('mvn', ['-q', '-B', '-U', '-Dstyle.color=never', 'dependency:copy', `-Dartifact=${ARTIFACT}`, `-DoutputDirectory=${partial}`]);
  const fetched = join(partial, `elasticsearch-${VERSION}.zip`);
  if (result.status !== 0 || !existsSync(fetched)) {
    rmSync(partial, { recursive: true, force: true });
    const output = `${result.stdout}\n${result.stderr}`.replace(/\x1b\[[0-9;]*m/g, '');
    const error = output.split('\n').find((line) => line.includes('[ERROR]')) ?? '';
    // "Failed to execute goal … : Unable to find artifact. Could not find artifact … in central (…)"
    const reason = /Could not (?:find|transfer) artifact.*|\S+ was not found in \S+/.exec(error)?.[0] ?? error.replace(/^\[ERROR\]\s*/, '').trim();
    throw new Failure(`Maven could not fetch ${ARTIFACT}${reason ? `: ${reason}` : ''}`);
  }
  renameSync(fetched, zipFile);
  rmSync(partial, { recursive: true, force: true });
  say(`downloaded in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

function unpack() {
  if (existsSync(join(esHome, 'bin', 'elasticsearch'))) return;
  const partial = join(cache, 'dist', `.partial-${process.pid}`);
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(partial, { recursive: true });
  let result;
  if (hasCommand('unzip')) {
    result = run('unzip', ['-q', zipFile, '-d', partial]);
  } else {
    // The JDK's jar tool unpacks zips too, but drops the executable bits.
    result = run(join(pickJava(), 'bin', 'jar'), ['xf', zipFile], { cwd: partial });
    if (result.status === 0) run('chmod', ['-R', 'a+x', join(partial, `elasticsearch-${VERSION}`, 'bin')]);
  }
  if (result.status !== 0 || !existsSync(join(partial, `elasticsearch-${VERSION}`, 'bin', 'elasticsearch'))) {
    rmSync(partial, { recursive: true, force: true });
    rmSync(zipFile, { force: true });
    throw new Failure(`could not unpack ${zipFile} (${(result.stderr || '').trim() || 'unexpected contents'}); removed it, run start again to download it afresh`);
  }
  renameSync(join(partial, `elasticsearch-${VERSION}`), esHome);
  rmSync(partial, { recursive: true, force: true });
}

function ensureUser() {
  if (run('id', ['-u', ES_USER]).status === 0) return;
  const result = run('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', ES_USER]);
  if (result.status !== 0) throw new Failure(`could not create the system user ${ES_USER}: ${result.stderr.trim()}`);
  say(`created the system user ${ES_USER} (Elasticsearch refuses to run as root)`);
}

/** This node's own folders and configuration, written afresh on every start. */
function prepareNode() {
  for (const path of Object.values(paths)) mkdirSync(path, { recursive: true });
  // The config folder is the node's own copy: Elasticsearch writes its keystore there.
  if (!existsSync(join(paths.config, 'jvm.options'))) cpSync(join(esHome, 'config'), paths.config, { recursive: true });
  writeFileSync(
    join(paths.config, 'elasticsearch.yml'),
    [
      '# Written by scripts/elasticsearch.mjs on every start; edits are lost.',
      'cluster.name: mixtape-dev',
      'node.name: mixtape-dev-1',
      'discovery.type: single-node',
      `network.host: ${HOST}`,
      `http.port: ${PORT}`,
      `path.data: ${paths.data}`,
      `path.logs: ${paths.logs}`,
      'xpack.security.enabled: false',
      // A full development disk would otherwise turn indices read-only.
      'cluster.routing.allocation.disk.threshold_enabled: false',
      '',
    ].join('\n'),
  );
  // Left over by earlier starts; the node is not running, so nothing in it is in use.
  rmSync(paths.tmp, { recursive: true, force: true });
  mkdirSync(paths.tmp);
  rmSync(pidFile, { force: true });
  writeFileSync(consoleLog, '');
  if (isRoot) {
    const result = run('chown', ['-R', `${ES_USER}:`, node]);
    if (result.status !== 0) throw new Failure(`could not give ${node} to ${ES_USER}: ${result.stderr.trim()}`);
    const readable = run('runuser', ['-u', ES_USER, '--', 'test', '-x', join(esHome, 'bin', 'elasticsearch')]);
    if (readable.status !== 0) throw new Failure(`${ES_USER} cannot run ${esHome}/bin/elasticsearch: a folder above it is closed to other users`);
  }
}

/**
 * The launcher's Java version check runs a JVM before any of our options apply, and that JVM
 * creates /tmp/hsperfdata_<user>. With -XX:-UsePerfData everywhere else the folder stays empty,
 * so it is removed; rmdir leaves it alone if it is not empty.
 */
function removePerfDataFolder() {
  const user = isRoot ? ES_USER : process.env.USER;
  if (!user) return;
  try {
    rmdirSync(join(tmpdir(), `hsperfdata_${user}`));
  } catch {
    // absent, or in use by some other JVM of this user
  }
}

function tail(file, lines = 30) {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

async function start() {
  const answering = await health();
  if (answering) {
    const pid = runningPid();
    say(`already running on ${URL_BASE} (${pid ? `pid ${pid}` : 'not started from this checkout'}, health ${answering.status})`);
    return 0;
  }
  const pid = runningPid();
  if (pid) throw new Failure(`pid ${pid} runs but does not answer on ${URL_BASE}; run stop first`);
  if (await portTaken()) throw new Failure(`port ${PORT} is in use by another program; choose another with MIXTAPE_ES_PORT`);

  const java = pickJava();
  mkdirSync(join(cache, 'downloads'), { recursive: true });
  mkdirSync(join(cache, 'dist'), { recursive: true });
  download();
  unpack();
  if (isRoot) ensureUser();
  prepareNode();

  say(`starting Elasticsearch ${VERSION} on ${URL_BASE} (Java ${javaFeatureVersion(java)}, heap ${HEAP})…`);
  const started = Date.now();
  // ES_TMPDIR is the server's temp folder and CLI_JAVA_OPTS the launcher's: without both, every
  // start leaves folders in /tmp. -XX:-UsePerfData keeps the JVMs out of /tmp/hsperfdata_*.
  const environment = {
    ES_JAVA_HOME: java,
    ES_PATH_CONF: paths.config,
    ES_TMPDIR: paths.tmp,
    ES_JAVA_OPTS: `-Xms${HEAP} -Xmx${HEAP} -XX:-UsePerfData`,
    CLI_JAVA_OPTS: `-Djava.io.tmpdir=${paths.tmp} -XX:-UsePerfData`,
  };
  const launch = [join(esHome, 'bin', 'elasticsearch'), '-d', '-p', pidFile];
  // `env -i`: nothing of the caller's environment (JAVA_HOME, npm's variables) reaches the node.
  const command = isRoot ? 'runuser' : 'env';
  const args = [
    ...(isRoot ? ['-u', ES_USER, '--', 'env'] : []),
    '-i',
    'PATH=/usr/local/bin:/usr/bin:/bin',
    ...Object.entries(environment).map(([name, value]) => `${name}=${value}`),
    ...launch,
  ];
  // The console goes to a file, not a pipe: the daemon keeps its descriptors after the launcher returns.
  const out = openSync(consoleLog, 'a');
  const result = run(command, args, { stdio: ['ignore', out, out], cwd: node, timeout: START_TIMEOUT_MS });
  closeSync(out);
  removePerfDataFolder();
  if (result.status !== 0) {
    const log = tail(consoleLog);
    if (log) console.error(log);
    throw new Failure(`Elasticsearch ${VERSION} failed to start (console: ${consoleLog}, logs: ${paths.logs})`);
  }
  // `-d` returns once the node has started; wait until its HTTP layer answers too.
  for (;;) {
    const answer = await health();
    if (answer) {
      say(`running on ${URL_BASE} (pid ${runningPid()}, health ${answer.status}) after ${((Date.now() - started) / 1000).toFixed(1)} s`);
      return 0;
    }
    if (!runningPid()) throw new Failure(`Elasticsearch exited during startup (logs: ${paths.logs})`);
    if (Date.now() - started > START_TIMEOUT_MS) throw new Failure(`no answer on ${URL_BASE} within ${START_TIMEOUT_MS / 1000} s (logs: ${paths.logs})`);
    await sleep(250);
  }
}

async function stop() {
  const pid = runningPid();
  if (!pid) {
    rmSync(pidFile, { force: true });
    if (await health()) throw new Failure(`an Elasticsearch answers on ${URL_BASE} but was not started from this checkout; not stopping it`);
    say(`not running on ${URL_BASE}`);
    return 0;
  }
  const started = Date.now();
  process.kill(pid, 'SIGTERM');
  let killed = false;
  while (!exited(pid)) {
    if (!killed && Date.now() - started > STOP_TIMEOUT_MS) {
      say(`pid ${pid} still runs after ${STOP_TIMEOUT_MS / 1000} s: killing it`);
      process.kill(pid, 'SIGKILL');
      killed = true;
    }
    await sleep(100);
  }
  rmSync(pidFile, { force: true });
  removePerfDataFolder();
  say(`stopped pid ${pid} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return 0;
}

async function status() {
  const answer = await health();
  const pid = runningPid();
  if (answer) {
    console.log(`elasticsearch: running on ${URL_BASE} (${pid ? `pid ${pid}, ${VERSION}` : 'not started from this checkout'}, health ${answer.status})`);
    return 0;
  }
  console.log(pid ? `elasticsearch: pid ${pid} runs but does not answer on ${URL_BASE}` : `elasticsearch: not running on ${URL_BASE}`);
  return 3;
}

/**
 * Runs `work` as the only start or stop of this node on the machine: two at once would each
 * find it down, and the second's preparation would delete the first's pid file.
 */
async function exclusively(work) {
  mkdirSync(node, { recursive: true });
  try {
    return await withPidLock(join(node, 'command.lock'), START_TIMEOUT_MS, work);
  } catch (error) {
    throw error instanceof PidLockTimeout ? new Failure(`another start or stop holds the node: ${error.message}`) : error;
  }
}

const commands = { start: () => exclusively(start), stop: () => exclusively(stop), status };
const [command] = process.argv.slice(2);
if (!Object.hasOwn(commands, command ?? '')) {
  console.error('usage: npm run elasticsearch -- start|stop|status');
  process.exitCode = 64;
} else if (!/^\d+\.\d+\.\d+$/.test(VERSION)) {
  say(`MIXTAPE_ES_VERSION must look like 9.2.0, not ${JSON.stringify(VERSION)}`);
  process.exitCode = 1;
} else if (!Number.isInteger(PORT) || PORT < 1 || PORT > 65535) {
  say(`MIXTAPE_ES_PORT must be a port number, not ${JSON.stringify(process.env.MIXTAPE_ES_PORT)}`);
  process.exitCode = 1;
} else {
  try {
    process.exitCode = await commands[command]();
  } catch (error) {
    if (!(error instanceof Failure)) throw error;
    say(error.message);
    process.exitCode = 1;
  }
}
