/**
 * Detached sessions, exec and port forwards through a mount of a busybox container that has no
 * network (`--network none`), against a private dockerd, with rmount-agent: its process host
 * runs inside the container, reached over `docker exec`, so every forwarded connection is dialled
 * (or accepted) by the agent in the container's own network namespace.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createServer as createHttpServer, get as httpGet } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { goSkipReason, testAgentDist } from '../agent/agent-binary.ts';
import { suiteCleanup } from '../backends/docker/helpers.ts';
import { runCli, type CliResult } from '../helpers/cli.ts';
import { dockerdSkipReason, startDockerd, type DockerdFixture } from '../helpers/dockerd.ts';
import { fuseSkipReason, mountFor, waitFor, type TestMount } from '../helpers/mount.ts';

const CASE = { timeout: 300_000 };
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TSX = import.meta.resolve('tsx');

/** The bound for --auto to notice a new or closed port: the issue's goal is 3 s, this only catches a failure. */
const AUTO_WITHIN_MS = 30_000;

interface ListedSession {
  id: string;
  name: string;
  pid: number;
  state: string;
  exitCode?: number;
  signal?: string;
  clients: number;
  cwd: string;
}

interface ListedForward {
  id: string;
  listen: string;
  target: string;
  auto: boolean;
  connections: number;
  failures: number;
}

/** A CLI process that keeps running (an attach), with what it printed so far. */
interface LiveCli {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  ended: Promise<number | null>;
}

function liveCli(args: string[], env: NodeJS.ProcessEnv): LiveCli {
  const child = spawn(process.execPath, ['--import', TSX, `${ROOT}src/cli/run.ts`, ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: 'pipe' });
  let out = '';
  let err = '';
  child.stdout!.on('data', (b: Buffer) => { out += b.toString(); });
  child.stderr!.on('data', (b: Buffer) => { err += b.toString(); });
  child.stdin!.on('error', () => {});
  const ended = new Promise<number | null>(resolve => child.on('close', code => resolve(code)));
  return { child, stdout: () => out, stderr: () => err, ended };
}

function ok(r: CliResult, what: string): string {
  assert.equal(r.code, 0, `${what}: exit ${r.code}, stderr: ${r.stderr}`);
  return r.stdout.toString();
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const portOf = (address: string): number => Number(address.split(':').pop());

/** GET http://127.0.0.1:port/path; resolves with the status and the body. */
function fetchLocal(port: number, path: string): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    // No keep-alive agent: every GET is a connection of its own through the forward.
    const req = httpGet({ host: '127.0.0.1', port, path, agent: false, timeout: 60_000 }, res => {
      const parts: Buffer[] = [];
      res.on('data', (b: Buffer) => parts.push(b));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET :${port}${path} timed out`)));
    req.on('error', reject);
  });
}

/** True once a GET answers 200 with `want` (a server just started may not listen yet). */
const serves = (port: number, path: string, want: Buffer): Promise<boolean> =>
  fetchLocal(port, path).then(r => r.status === 200 && r.body.equals(want), () => false);

/** Sends `data` on a new connection, ends its side, and resolves with all that came back before the far end closed. */
function echoRoundTrip(port: number, data: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    const got: Buffer[] = [];
    s.on('data', b => got.push(b));
    s.on('end', () => { s.end(); resolve(Buffer.concat(got)); });
    s.on('error', reject);
    s.setTimeout(120_000, () => s.destroy(new Error('echo round trip timed out')));
    s.end(data);
  });
}

describe('sessions, exec and forwards in a network-less container mounted with the agent', { skip: fuseSkipReason() || dockerdSkipReason() || goSkipReason() }, () => {
  const hook = suiteCleanup();
  const tag = randomBytes(3).toString('hex');
  const saved = { DOCKER_HOST: process.env.DOCKER_HOST, RMOUNT_AGENT_DIST: process.env.RMOUNT_AGENT_DIST };
  let d: DockerdFixture;
  let box: string;
  let m: TestMount;

  const cli = (args: string[], cwd?: string): Promise<CliResult> => runCli(args, { env: m.env, ...(cwd === undefined ? {} : { cwd }), timeoutMs: 120_000 });
  const sessions = async (): Promise<ListedSession[]> => JSON.parse(ok(await cli(['session', 'ls', '--json', '--in', m.mountpoint]), 'session ls')) as ListedSession[];
  const session = async (name: string): Promise<ListedSession | undefined> => (await sessions()).find(s => s.name === name || s.id === name);
  const startSession = async (args: string[], cwd?: string): Promise<string> =>
    ok(await cli(['session', 'start', ...(cwd === undefined ? ['--in', m.mountpoint] : []), ...args], cwd), 'session start').trim();
  const forwards = async (): Promise<ListedForward[]> =>
    (JSON.parse(ok(await cli(['forward', 'ls', '--in', m.mountpoint, '--json']), 'forward ls')) as { forwards: ListedForward[] }).forwards;
  /** Adds forwards; resolves with the printed listen addresses, in order. */
  const addForward = async (args: string[]): Promise<string[]> => {
    const out = ok(await cli(['forward', '--in', m.mountpoint, ...args]), `forward ${args.join(' ')}`);
    return out.trim().split('\n').flatMap(line => /^\S+\s+(?:local|remote) (\S+) →/.exec(line)?.[1] ?? []);
  };
  const inBox = (script: string, ...args: string[]): Promise<string> => d.docker(['exec', box, 'sh', '-c', script, 'sh', ...args]);

  before(async () => {
    d = await startDockerd(hook);
    // The CLI and the mount daemon it spawns take this process's environment: the private engine,
    // and the agent built from this checkout's sources rather than whatever dist/agent holds.
    process.env.DOCKER_HOST = d.host;
    process.env.RMOUNT_AGENT_DIST = await testAgentDist();
    box = await d.run({ args: ['-w', '/work'] });
    // Made in the container, so the subfolder case starts from a folder the mount has not seen.
    await inBox('mkdir -p "/work/sub dir/deeper"');
    m = await mountFor(hook, `docker://${box}/work`, { o: ['agent=yes'] });
    // Registered after the mount, so it runs before the unmount (the hook runs last in, first
    // out): what a failed case left behind goes while the mount can still reach it.
    hook.after(async () => {
      await cli(['forward', 'rm', '--in', m.mountpoint, 'all']).catch(() => undefined);
      for (const s of await sessions().catch(() => [] as ListedSession[])) {
        if (s.name.includes(tag)) await cli(['session', 'rm', '--force', '--in', m.mountpoint, s.id]).catch(() => undefined);
      }
    });
  }, { timeout: 300_000 });
  after(() => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });

  it('the container has no network but loopback', CASE, async () => {
    assert.equal((await inBox('ls /sys/class/net')).trim(), 'lo');
  });

  it('sessions: start, ls, logs, attach from two more processes, kill with a signal, exit code kept, rm', CASE, async () => {
    const talk = `talk-${tag}`;
    const id = await startSession(['--name', talk, '--', 'sh', '-c', 'echo "up in $(pwd)"; while read -r line; do echo "got $line"; done']);
    assert.match(id, /^[0-9a-f]{12}$/);
    assert.ok(await waitFor(async () => (await session(talk))?.state === 'running', 60_000), 'ls shows it running');
    // The pid ls gives is the container's: the session's shell runs in there, under the host.
    const { pid } = (await session(talk))!;
    assert.match(await inBox('tr "\\0" " " < /proc/$1/cmdline', String(pid)), /^sh -c /);
    assert.ok(await waitFor(async () => (await cli(['session', 'logs', '--in', m.mountpoint, talk])).stdout.toString() === 'up in /work\n', 30_000),
      'logs replay what it printed');

    const a = liveCli(['session', 'attach', '--in', m.mountpoint, talk], m.env);
    const b = liveCli(['session', 'attach', '--in', m.mountpoint, id], m.env);
    try {
      assert.ok(await waitFor(() => a.stdout().includes('up in /work') && b.stdout().includes('up in /work'), 60_000),
        `attach replays the buffer: a=${a.stdout()} ${a.stderr()} b=${b.stdout()} ${b.stderr()}`);
      assert.ok(await waitFor(async () => (await session(talk))?.clients === 2, 60_000), 'two clients attached');
      a.child.stdin!.write(`ping ${tag}\n`);
      assert.ok(await waitFor(() => a.stdout().includes(`got ping ${tag}`) && b.stdout().includes(`got ping ${tag}`), 30_000),
        `both attached processes see the output: a=${a.stdout()} b=${b.stdout()}`);
      assert.match(ok(await cli(['session', 'detach', '--in', m.mountpoint, talk]), 'session detach'), /detached 2 clients/);
      assert.deepEqual(await Promise.all([a.ended, b.ended]), [0, 0], `a: ${a.stderr()} b: ${b.stderr()}`);
    } finally {
      a.child.kill('SIGTERM');
      b.child.kill('SIGTERM');
    }
    assert.equal((await session(talk))?.state, 'running', 'detached, the session runs on');

    ok(await cli(['session', 'kill', '--in', m.mountpoint, '--signal', 'KILL', talk]), 'session kill');
    const seven = await startSession(['--name', `seven-${tag}`, '--', 'sh', '-c', 'echo bye; exit 7']);
    assert.ok(await waitFor(async () => {
      const all = await sessions();
      return all.find(s => s.id === id)?.state === 'killed' && all.find(s => s.id === seven)?.state === 'exited';
    }, 60_000), 'both ended');
    const all = await sessions();
    assert.equal(all.find(s => s.id === id)?.signal, 'KILL');
    assert.equal(all.find(s => s.id === seven)?.exitCode, 7);
    const table = ok(await cli(['session', 'ls', '--in', m.mountpoint]), 'session ls');
    assert.match(table, new RegExp(`${talk}\\s+killed KILL`));
    assert.match(table, new RegExp(`seven-${tag}\\s+exited 7`));
    const replay = await cli(['session', 'attach', '--in', m.mountpoint, seven]);
    assert.equal(replay.code, 7, `attach to an ended session returns its code: ${replay.stderr}`);
    assert.equal(replay.stdout.toString(), 'bye\n');
    assert.equal((await cli(['session', 'attach', '--in', m.mountpoint, talk])).code, 137, 'killed by KILL: 128 + 9');

    for (const s of [seven, talk]) assert.match(ok(await cli(['session', 'rm', '--in', m.mountpoint, s]), 'session rm'), /^[0-9a-f]{12}\n$/);
    const left = await sessions();
    assert.equal(left.some(s => s.id === id || s.id === seven), false, 'rm removed both');
    assert.equal((await inBox(`kill -0 ${pid} 2>/dev/null && echo alive || echo gone`)).trim(), 'gone');
  });

  it('a session started in a subfolder of the mount runs in the matching container folder, argv verbatim', CASE, async () => {
    const local = join(m.mountpoint, 'sub dir', 'deeper');
    const odd = ['a b', '$(echo pwned)', "'q'", 'semi;colon', '*'];
    const id = await startSession(['--name', `pwd-${tag}`, '--', 'sh', '-c', 'pwd; printf "<%s>\\n" "$@"', 'sh', ...odd], local);
    assert.ok(await waitFor(async () => (await session(id))?.state === 'exited', 60_000));
    assert.equal((await session(id))?.cwd, '/work/sub dir/deeper');
    assert.equal(ok(await cli(['session', 'logs', '--in', m.mountpoint, id]), 'session logs'),
      `/work/sub dir/deeper\n${odd.map(x => `<${x}>`).join('\n')}\n`);
  });

  it('a folder just made through the mount stays the current folder of a process in it after the watch reports it', CASE, async () => {
    const local = join(m.mountpoint, `fresh-${tag}`);
    await mkdir(local);
    // The agent's watch reports the mkdir back about 40 ms later; that report must not unhash the
    // folder's dentry (getcwd would then fail with ENOENT for every process in it).
    await new Promise(resolve => setTimeout(resolve, 1000));
    const r = await cli(['session', 'start', '--name', `fresh-${tag}`, '--', 'pwd'], local);
    assert.equal(r.code, 0, r.stderr.split('\n').find(line => /Error/.test(line)) ?? r.stderr);
  });

  it('rmount exec inside the mount goes through the host in the container once it is connected, with the same results', CASE, async () => {
    // The host connects in the background after the mount started; until then exec takes `docker exec`.
    const parent = async (): Promise<string> =>
      ok(await cli(['exec', '--', 'sh', '-c', 'tr "\\0" " " < /proc/$PPID/cmdline'], m.mountpoint), 'exec');
    let seen = '';
    assert.ok(await waitFor(async () => / host /.test(seen = await parent()), 60_000), `the parent is the host: ${seen}`);
    const r = await cli(['exec', '--', 'sh', '-c', 'echo "out $(pwd)"; echo err >&2; exit 4'], join(m.mountpoint, 'sub dir'));
    assert.equal(r.code, 4);
    assert.equal(r.stdout.toString(), 'out /work/sub dir\n');
    assert.equal(r.stderr, 'err\n');
    const piped = await runCli(['exec', '--', 'sh', '-c', 'wc -c'], { env: m.env, cwd: m.mountpoint, input: randomBytes(100_000), timeoutMs: 120_000 });
    assert.equal(piped.stdout.toString().trim(), '100000', `stdin reaches the command: ${piped.stderr}`);
    // The host cannot start it, so the backend answers as `docker exec` does: 126 where a shell
    // says 127, and the engine's message on stdout.
    const missing = await cli(['exec', '--', 'no-such-command-anywhere'], m.mountpoint);
    assert.ok(missing.code === 126 || missing.code === 127, `a missing command: exit ${missing.code}, ${missing.stderr}`);
    assert.match(missing.stdout.toString() + missing.stderr, /no-such-command-anywhere.*not found/);
  });

  it('forward: busybox httpd in the container is reached from here; parallel GETs of 1 MiB and 20 × 256 KiB echo round trips', CASE, async t => {
    const index = Buffer.from(`served from the container ${tag}\n`);
    const big = randomBytes(1 << 20);
    await mkdir(join(m.mountpoint, 'www'), { recursive: true });
    await writeFile(join(m.mountpoint, 'www', 'index.html'), index);
    await writeFile(join(m.mountpoint, 'www', 'big.bin'), big);
    // Written through the mount: wait for the container to hold all of it before serving it.
    assert.ok(await waitFor(async () => (await inBox('sha256sum /work/www/big.bin 2>/dev/null; true')).startsWith(sha(big)), 30_000));

    await startSession(['--name', `httpd-${tag}`, '--', 'httpd', '-f', '-p', '127.0.0.1:8080', '-h', '/work/www']);
    const [listen] = await addForward(['0:127.0.0.1:8080']);
    const port = portOf(listen!);
    assert.ok(port > 0, `a local port was picked: ${listen}`);
    assert.ok(await waitFor(() => serves(port, '/index.html', index), 60_000, 250), 'GET through the forward returns the file');

    // Each failure names its request: a reset seen once under the full suite's load did not say which.
    const named = <T>(what: string, p: Promise<T>): Promise<T> =>
      p.catch((error: unknown) => { throw new Error(`${what}: ${(error as Error).message}`, { cause: error }); });
    const gets = await Promise.all(Array.from({ length: 8 }, (_, i) => named(`GET ${i} of /big.bin through the forward`, fetchLocal(port, '/big.bin'))));
    gets.forEach((g, i) => {
      assert.equal(g.status, 200, `GET ${i}`);
      assert.equal(sha(g.body), sha(big), `GET ${i}: the checksum`);
    });

    // busybox nc: -ll with -e serves every connection with its own `cat`, which echoes until our end.
    await startSession(['--name', `echo-${tag}`, '--', 'nc', '-ll', '-p', '7777', '-e', 'cat']);
    const [echoListen] = await addForward(['0:127.0.0.1:7777']);
    const echoPort = portOf(echoListen!);
    const probe = Buffer.from('probe\n');
    assert.ok(await waitFor(async () => (await echoRoundTrip(echoPort, probe).catch(() => Buffer.alloc(0))).equals(probe), 60_000, 250),
      'the echo server answers through the forward');
    const started = Date.now();
    const payloads = Array.from({ length: 20 }, () => randomBytes(256 * 1024));
    const echoed = await Promise.all(payloads.map((p, i) => named(`echo ${i} through the forward`, echoRoundTrip(echoPort, p))));
    t.diagnostic(`20 parallel echo round trips of 256 KiB: ${Date.now() - started} ms`);
    echoed.forEach((e, i) => assert.equal(sha(e), sha(payloads[i]!), `connection ${i}: ${e.length} bytes back`));

    const f = (await forwards()).find(x => x.listen === echoListen);
    assert.ok((f?.connections ?? 0) >= 21, `forward ls counts the connections: ${JSON.stringify(f)}`);
    for (const s of [`httpd-${tag}`, `echo-${tag}`]) ok(await cli(['session', 'rm', '--force', '--in', m.mountpoint, s]), 'session rm --force');
    ok(await cli(['forward', 'rm', '--in', m.mountpoint, 'all']), 'forward rm all');
  });

  it('forward --auto: a new listener in the container is forwarded, and dropped when it goes', CASE, async t => {
    const index = Buffer.from(`auto ${tag}\n`);
    await mkdir(join(m.mountpoint, 'auto'), { recursive: true });
    await writeFile(join(m.mountpoint, 'auto', 'index.html'), index);
    ok(await cli(['forward', '--in', m.mountpoint, '--auto']), 'forward --auto');
    const for9090 = async (): Promise<ListedForward | undefined> => (await forwards()).find(f => f.auto && f.target.endsWith(':9090'));
    assert.equal(await for9090(), undefined, 'nothing listens on 9090 yet');

    const started = Date.now();
    await startSession(['--name', `auto-${tag}`, '--', 'httpd', '-f', '-p', '127.0.0.1:9090', '-h', '/work/auto']);
    let f: ListedForward | undefined;
    assert.ok(await waitFor(async () => (f = await for9090()) !== undefined, AUTO_WITHIN_MS, 200), 'forward ls shows an auto forward for 9090');
    t.diagnostic(`--auto picked up the new listener ${Date.now() - started} ms after session start returned`);
    assert.ok(await waitFor(() => serves(portOf(f!.listen), '/index.html', index), 30_000, 250), `GET through the auto forward ${f!.listen}`);

    const killed = Date.now();
    ok(await cli(['session', 'kill', '--in', m.mountpoint, `auto-${tag}`]), 'session kill');
    assert.ok(await waitFor(async () => (await for9090()) === undefined, AUTO_WITHIN_MS, 200), 'the auto forward goes with the listener');
    t.diagnostic(`--auto dropped it ${Date.now() - killed} ms after session kill returned`);
    ok(await cli(['forward', 'rm', '--in', m.mountpoint, 'all']), 'forward rm all');
  });

  it('reverse forward: a process in the container reaches an HTTP server in this process', CASE, async () => {
    const big = randomBytes(1 << 20);
    const server = createHttpServer((req, res) => {
      if (req.url === '/big') res.end(big);
      else res.end(`hello from the test process ${tag}\n`);
    });
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
    hook.after(() => new Promise<void>(resolve => { server.closeAllConnections(); server.close(() => resolve()); }));
    const localPort = (server.address() as { port: number }).port;

    const [remoteListen] = await addForward(['-R', `0:127.0.0.1:${localPort}`]);
    const remotePort = portOf(remoteListen!);
    assert.ok(remotePort > 0, `a port was picked in the container: ${remoteListen}`);
    assert.equal(await inBox('wget -q -O - "http://127.0.0.1:$1/"', String(remotePort)), `hello from the test process ${tag}\n`);
    assert.equal((await inBox('wget -q -O - "http://127.0.0.1:$1/big" | sha256sum', String(remotePort))).split(' ')[0], sha(big));
    const f = (await forwards()).find(x => x.listen === remoteListen);
    assert.equal(f?.connections, 2);
    assert.equal(f?.failures, 0);
    ok(await cli(['forward', 'rm', '--in', m.mountpoint, 'all']), 'forward rm all');
  });
  it('a container where the agent cannot run: sessions live in the mount daemon and say so', CASE, async () => {
    const other = await d.run({ args: ['-w', '/work'] });
    // No build at all: files go through the agentless client, sessions through the daemon.
    const noBuilds = await mkdtemp(join(tmpdir(), 'rmount-no-agent-'));
    hook.after(() => rm(noBuilds, { recursive: true, force: true }));
    const held = await mountFor(hook, `docker://${other}/work`, { env: { RMOUNT_AGENT_DIST: noBuilds } });
    const run = (args: string[]): Promise<CliResult> => runCli(args, { env: held.env, timeoutMs: 120_000 });
    ok(await run(['session', 'start', '--in', held.mountpoint, '--name', `held-${tag}`, '--', 'sh', '-c', 'echo "held in $(pwd)"; exec sleep 600']), 'session start');
    const ls = await run(['session', 'ls', '--in', held.mountpoint]);
    assert.match(ok(ls, 'session ls'), new RegExp(`held-${tag}\\s+running`));
    assert.match(ls.stderr, /live in the mount daemon/);
    assert.ok(await waitFor(async () => (await run(['session', 'logs', '--in', held.mountpoint, `held-${tag}`])).stdout.toString() === 'held in /work\n', 30_000),
      'logs replay what it printed');
    ok(await run(['session', 'rm', '--force', '--in', held.mountpoint, `held-${tag}`]), 'session rm');
  });
});
