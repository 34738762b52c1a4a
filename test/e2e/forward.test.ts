/**
 * Port forwards through a mount (rmount forward), against a real sshd and rmount-agent's process
 * host on it. The remote is this machine, so "remote" servers are started here and reached
 * through the agent; every connection has its own stream and flow control.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { goSkipReason } from '../agent/agent-binary.ts';
import { agentPids } from '../helpers/agent-procs.ts';
import { runCli, type CliResult } from '../helpers/cli.ts';
import { fuseSkipReason, mountFor, waitFor, type TestMount } from '../helpers/mount.ts';
import { sshdSkipReason, startSshd, type AfterHook } from '../helpers/sshd.ts';
import { proxiedSshd } from '../helpers/proxied-sshd.ts';
import { tempDir } from '../helpers/tmp.ts';

const LONG = { timeout: 300_000 };

const hostPids = (): Promise<Set<number>> => agentPids('host');

/** A server that answers each connection with the SHA-256 of all it received, after the client's end. */
async function hashServer(hook: AfterHook, at: { port: number } | { path: string }): Promise<Server> {
  const server = createServer({ allowHalfOpen: true }, socket => {
    const h = createHash('sha256');
    socket.on('data', b => h.update(b));
    socket.on('end', () => socket.end(h.digest('hex')));
    socket.on('error', () => {});
  });
  await new Promise<void>(resolve => ('path' in at ? server.listen(at.path, resolve) : server.listen(at.port, '127.0.0.1', resolve)));
  hook.after(() => new Promise<void>(resolve => server.close(() => resolve())));
  return server;
}

const portOf = (s: Server): number => (s.address() as { port: number }).port;

/** Sends `data` over a new connection and resolves with what came back (after the end both ways). */
function roundTrip(at: { port: number } | { path: string }, data: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket: Socket = 'path' in at ? connect({ path: at.path, allowHalfOpen: true }) : connect({ port: at.port, host: '127.0.0.1', allowHalfOpen: true });
    const got: Buffer[] = [];
    socket.on('data', b => got.push(b));
    socket.on('end', () => { socket.end(); resolve(Buffer.concat(got).toString()); });
    socket.on('error', reject);
    socket.end(data);
  });
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('port forwards through a mount (rmount forward)', { skip: fuseSkipReason() || sshdSkipReason() || goSkipReason() }, () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  const hook: AfterHook = { after: fn => { cleanups.push(fn); } };
  let m: TestMount;
  let dir: string;
  let hostsBefore: Set<number>;
  const cli = (args: string[]): Promise<CliResult> => runCli(args, { env: m.env, timeoutMs: 120_000 });
  /** Adds forwards; resolves with the printed mappings' listen addresses, in order. */
  const add = async (args: string[]): Promise<string[]> => {
    const r = await cli(['forward', '--in', m.mountpoint, ...args]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.toString().trim().split('\n').map(line => /^\S+\s+(?:local|remote) (\S+) →/.exec(line)?.[1] ?? line);
  };

  before(async () => {
    hostsBefore = await hostPids();
    const sshd = await startSshd(hook);
    const back = await tempDir(hook, 'rmount-back-');
    dir = await tempDir(hook, 'rmount-fwd-');
    m = await mountFor(hook, `ssh://${sshd.user}@127.0.0.1:${sshd.port}${back}`, {
      extraArgs: ['-F', sshd.sshConfigFile, '--known-hosts', sshd.knownHostsFile, '-i', sshd.userKey],
    });
  }, LONG);
  after(async () => {
    await cli(['forward', 'rm', '--in', m.mountpoint, 'all']).catch(() => undefined);
    for (const fn of cleanups.reverse()) await fn();
    for (const pid of await hostPids()) if (!hostsBefore.has(pid)) process.kill(pid, 'SIGTERM');
  }, LONG);

  it('100 parallel connections each move 1 MiB both ways, checksummed', LONG, async () => {
    const server = await hashServer(hook, { port: 0 });
    const [listen] = await add([`0:127.0.0.1:${portOf(server)}`]);
    const port = Number(listen!.split(':').pop());
    assert.ok(port > 0, `a local port was picked: ${listen}`);
    const payloads = Array.from({ length: 100 }, () => randomBytes(1 << 20));
    const answers = await Promise.all(payloads.map(p => roundTrip({ port }, p)));
    answers.forEach((a, i) => assert.equal(a, sha(payloads[i]!), `connection ${i}`));
    const ls = await cli(['forward', 'ls', '--in', m.mountpoint, '--json']);
    const f = (JSON.parse(ls.stdout.toString()) as { forwards: { listen: string; connections: number; failures: number }[] }).forwards.find(x => x.listen === listen);
    assert.equal(f?.connections, 100);
    assert.equal(f?.failures, 0);
  });

  it('a stalled reader on one connection does not slow another moving 10 MiB', LONG, async () => {
    // The far end floods each connection; the first one's reader never reads.
    const flood = createServer(socket => {
      socket.on('error', () => {});
      const chunk = Buffer.alloc(64 * 1024, 7);
      const pump = (): void => { while (socket.write(chunk)); };
      socket.on('drain', pump);
      pump();
    });
    await new Promise<void>(resolve => flood.listen(0, '127.0.0.1', resolve));
    hook.after(() => new Promise<void>(resolve => { flood.close(() => resolve()); }));
    const [listen] = await add([`0:127.0.0.1:${portOf(flood)}`]);
    const port = Number(listen!.split(':').pop());
    const stalled = connect({ port, host: '127.0.0.1' });
    stalled.pause();
    await new Promise(resolve => stalled.once('connect', resolve));
    const moved = await new Promise<number>((resolve, reject) => {
      const s = connect({ port, host: '127.0.0.1' });
      let n = 0;
      s.on('data', b => {
        n += b.length;
        if (n >= 10 << 20) { s.destroy(); resolve(n); }
      });
      s.on('error', reject);
    });
    assert.ok(moved >= 10 << 20);
    stalled.destroy();
  });

  it('reverse: a process on the remote reaches a local server; UNIX sockets both ways', LONG, async () => {
    const local = await hashServer(hook, { port: 0 });
    const [remoteListen] = await add(['-R', `0:127.0.0.1:${portOf(local)}`]);
    const remotePort = Number(remoteListen!.split(':').pop());
    assert.ok(remotePort > 0, remoteListen);
    const data = randomBytes(300_000);
    assert.equal(await roundTrip({ port: remotePort }, data), sha(data), 'remote → local over -R');

    const remoteSock = join(dir, 'remote.sock');
    await hashServer(hook, { path: remoteSock });
    const localSock = join(dir, 'local.sock');
    await add([`${localSock}:${remoteSock}`]);
    assert.equal(await roundTrip({ path: localSock }, data), sha(data), 'local socket → remote socket');

    const localTarget = join(dir, 'local-target.sock');
    await hashServer(hook, { path: localTarget });
    const remoteEntry = join(dir, 'remote-entry.sock');
    await add(['-R', `${remoteEntry}:${localTarget}`]);
    assert.equal(await roundTrip({ path: remoteEntry }, data), sha(data), 'remote socket → local socket');
  });

  it('a refused connection on the remote is counted and resets the local one; bad specs and busy ports are usage errors', LONG, async () => {
    const closed = createServer();
    await new Promise<void>(resolve => closed.listen(0, '127.0.0.1', resolve));
    const deadPort = portOf(closed);
    await new Promise<void>(resolve => closed.close(() => resolve()));
    const [listen] = await add([`0:127.0.0.1:${deadPort}`]);
    const port = Number(listen!.split(':').pop());
    const outcome = await new Promise<string>(resolve => {
      const s = connect({ port, host: '127.0.0.1' });
      s.on('error', e => resolve((e as NodeJS.ErrnoException).code ?? 'error'));
      s.on('close', () => resolve('closed'));
    });
    assert.match(outcome, /ECONNRESET|closed/);
    assert.ok(await waitFor(async () => {
      const ls = JSON.parse((await cli(['forward', 'ls', '--in', m.mountpoint, '--json'])).stdout.toString()) as { forwards: { listen: string; failures: number; lastError?: string }[] };
      const f = ls.forwards.find(x => x.listen === listen);
      return (f?.failures ?? 0) >= 1 && /refused|dial/i.test(f?.lastError ?? '');
    }, 30_000), 'forward ls counts the refused connection');

    for (const bad of ['8080', 'x:y:2:3', '70000:127.0.0.1:80', '8080:host', '']) {
      const r = await cli(['forward', '--in', m.mountpoint, bad]);
      assert.equal(r.code, 2, `"${bad}": ${r.stderr}`);
      assert.match(r.stderr, /ERR_USAGE/);
    }
    const busy = createServer();
    await new Promise<void>(resolve => busy.listen(0, '127.0.0.1', resolve));
    hook.after(() => new Promise<void>(resolve => { busy.close(() => resolve()); }));
    const r = await cli(['forward', '--in', m.mountpoint, `${portOf(busy)}:127.0.0.1:1`]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /ERR_ADDRESS_IN_USE/);
    assert.match(r.stderr, new RegExp(`in use by .*\\(pid ${process.pid}\\)`), 'names the process holding the port');
    const rm = await cli(['forward', 'rm', '--in', m.mountpoint, 'nope']);
    assert.match(rm.stderr, /ERR_FORWARD_NOT_FOUND/);
  });
});

describe('forwards where sshd allows no forwarding (AllowTcpForwarding no)', { skip: fuseSkipReason() || sshdSkipReason() || goSkipReason() }, () => {
  it('go through rmount-agent instead, and still move every byte', LONG, async t => {
    const cleanups: (() => Promise<void> | void)[] = [];
    const hook: AfterHook = { after: fn => { cleanups.push(fn); } };
    t.after(async () => { for (const fn of cleanups.reverse()) await fn(); });
    const sshd = await startSshd(hook, { tcpForwarding: false });
    const back = await tempDir(hook, 'rmount-back-');
    const mount = await mountFor(hook, `ssh://${sshd.user}@127.0.0.1:${sshd.port}${back}`, {
      extraArgs: ['-F', sshd.sshConfigFile, '--known-hosts', sshd.knownHostsFile, '-i', sshd.userKey],
    });
    const server = await hashServer(hook, { port: 0 });
    const r = await runCli(['forward', '--in', mount.mountpoint, `0:127.0.0.1:${portOf(server)}`], { env: mount.env, timeoutMs: 120_000 });
    assert.equal(r.code, 0, r.stderr);
    const port = Number(/127\.0\.0\.1:(\d+) →/.exec(r.stdout.toString())?.[1]);
    const data = randomBytes(2 << 20);
    for (let i = 0; i < 3; i++) assert.equal(await roundTrip({ port }, data), sha(data));
    const ls = JSON.parse((await runCli(['forward', 'ls', '--in', mount.mountpoint, '--json'], { env: mount.env })).stdout.toString()) as { forwards: { failures: number }[] };
    assert.equal(ls.forwards[0]?.failures, 0);
    await runCli(['forward', 'rm', '--in', mount.mountpoint, 'all'], { env: mount.env });
  });
});

describe('a forward across a lost link', { skip: fuseSkipReason() || sshdSkipReason() || goSkipReason() }, () => {
  it('keeps listening: a connection cut by the loss is reset, new ones work after the restore', LONG, async t => {
    const cleanups: (() => Promise<void> | void)[] = [];
    const hook: AfterHook = { after: fn => { cleanups.push(fn); } };
    t.after(async () => { for (const fn of cleanups.reverse()) await fn(); });
    const { proxy, dest, extraArgs } = await proxiedSshd(hook);
    const mount = await mountFor(hook, dest, { o: ['timeout=5'], extraArgs });
    const server = await hashServer(hook, { port: 0 });
    const r = await runCli(['forward', '--in', mount.mountpoint, `0:127.0.0.1:${portOf(server)}`], { env: mount.env, timeoutMs: 120_000 });
    assert.equal(r.code, 0, r.stderr);
    const port = Number(/127\.0\.0\.1:(\d+) →/.exec(r.stdout.toString())?.[1]);
    const data = randomBytes(1 << 20);
    assert.equal(await roundTrip({ port }, data), sha(data));
    // A connection open (and idle) when the link goes: it must end, not hang.
    const open = connect({ port, host: '127.0.0.1' });
    await new Promise(resolve => open.once('connect', resolve));
    const openEnded = new Promise<void>(resolve => { open.on('close', () => resolve()); open.on('error', () => {}); });
    proxy.cut();
    assert.ok(await waitFor(async () => { let done = false; void openEnded.then(() => { done = true; }); await new Promise(r2 => setTimeout(r2, 50)); return done; }, 60_000),
      'the connection cut by the loss is closed');
    proxy.restore();
    assert.ok(await waitFor(async () => (await roundTrip({ port }, data).catch(() => '')) === sha(data), 60_000), 'new connections work after the restore');
    await runCli(['forward', 'rm', '--in', mount.mountpoint, 'all'], { env: mount.env });
  });
});
