/**
 * Detached sessions through the CLI, against a real sshd and rmount-agent's process host on it:
 * `rmount session …` inside a mount goes over the mount's own connection; sessions live in the
 * host, so they outlive the attaching process and the mount daemon.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { goSkipReason } from '../agent/agent-binary.ts';
import { agentPids } from '../helpers/agent-procs.ts';
import { runCli, type CliResult } from '../helpers/cli.ts';
import { alive, fuseSkipReason, mountFor, waitFor, type TestMount } from '../helpers/mount.ts';
import { sshdSkipReason, startSshd, type AfterHook, type SshdFixture } from '../helpers/sshd.ts';
import { tempDir } from '../helpers/tmp.ts';

const LONG = { timeout: 300_000 };
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TSX = import.meta.resolve('tsx');

const hostPids = (): Promise<Set<number>> => agentPids('host');

/** A CLI process left running (an attach), with what it printed so far. */
interface Running {
  child: ChildProcess;
  stdout: () => Buffer;
  stderr: () => string;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function startCli(args: string[], env: NodeJS.ProcessEnv, cwd = ROOT): Running {
  const child = spawn(process.execPath, ['--import', TSX, `${ROOT}src/cli/run.ts`, ...args], { cwd, env: { ...process.env, ...env }, stdio: 'pipe' });
  const out: Buffer[] = [];
  let err = '';
  child.stdout!.on('data', (b: Buffer) => out.push(b));
  child.stderr!.on('data', (b: Buffer) => { err += b.toString(); });
  child.stdin!.on('error', () => {});
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(resolve => child.on('close', (code, signal) => resolve({ code, signal })));
  return { child, stdout: () => Buffer.concat(out), stderr: () => err, done };
}

function ok(r: CliResult, what: string): string {
  assert.equal(r.code, 0, `${what}: exit ${r.code}, stderr: ${r.stderr}`);
  return r.stdout.toString();
}

interface ListedSession {
  id: string;
  name: string;
  state: string;
  exitCode?: number;
  signal?: string;
  clients: number;
  cwd: string;
  argv: string[];
}

describe('detached sessions through a mount (rmount session)', { skip: fuseSkipReason() || sshdSkipReason() || goSkipReason() }, () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  const hook: AfterHook = { after: fn => { cleanups.push(fn); } };
  let sshd: SshdFixture;
  let back: string;
  let m: TestMount;
  let hostsBefore: Set<number>;
  const tag = randomBytes(3).toString('hex');
  const cli = (args: string[], cwd?: string): Promise<CliResult> => runCli(args, { env: m.env, ...(cwd === undefined ? {} : { cwd }), timeoutMs: 120_000 });
  const list = async (): Promise<ListedSession[]> => JSON.parse(ok(await cli(['session', 'ls', '--json', '--in', m.mountpoint]), 'session ls')) as ListedSession[];
  const start = async (args: string[], cwd?: string): Promise<string> => ok(await cli(['session', 'start', ...(cwd === undefined ? ['--in', m.mountpoint] : []), ...args], cwd), 'session start').trim();

  before(async () => {
    hostsBefore = await hostPids();
    sshd = await startSshd(hook);
    back = await tempDir(hook, 'rmount-back-');
    m = await mountFor(hook, `ssh://${sshd.user}@127.0.0.1:${sshd.port}${back}`, {
      extraArgs: ['-F', sshd.sshConfigFile, '--known-hosts', sshd.knownHostsFile, '-i', sshd.userKey],
    });
  }, LONG);
  after(async () => {
    // Only what this file started: its sessions (by the tag in their names), then the host if it
    // was started here.
    for (const s of await list().catch(() => [] as ListedSession[])) {
      if (s.name.includes(tag)) await cli(['session', 'rm', '--force', '--in', m.mountpoint, s.id]).catch(() => undefined);
    }
    for (const fn of cleanups.reverse()) await fn();
    for (const pid of await hostPids()) if (!hostsBefore.has(pid)) process.kill(pid, 'SIGTERM');
  }, LONG);

  it('a session printing 3 MB replays exactly its last 1,000,000 bytes, to logs and to attach', LONG, async () => {
    const data = randomBytes(1_500_000).toString('hex'); // 3,000,000 bytes of text
    await writeFile(join(back, 'big.txt'), data);
    const id = await start(['--name', `big-${tag}`, '--', 'sh', '-c', `cat ${back}/big.txt; exec sleep 600`]);
    assert.match(id, /^[0-9a-f]{12}$/);
    assert.ok(await waitFor(async () => (await list()).some(s => s.id === id && s.state === 'running'), 60_000));
    const want = Buffer.from(data.slice(data.length - 1_000_000));
    assert.ok(await waitFor(async () => {
      const logs = await cli(['session', 'logs', '--in', m.mountpoint, `big-${tag}`]);
      return logs.code === 0 && logs.stdout.equals(want);
    }, 60_000), 'logs print the last 1,000,000 bytes');
    const attach = startCli(['session', 'attach', '--in', m.mountpoint, id], m.env);
    try {
      assert.ok(await waitFor(() => attach.stdout().length >= want.length, 60_000), `attach replays the buffer (${attach.stdout().length} bytes so far; ${attach.stderr()})`);
      assert.ok(attach.stdout().equals(want), 'the replay is exactly the last buffer-size bytes');
    } finally {
      attach.child.kill('SIGTERM');
      await attach.done;
    }
    assert.ok(await waitFor(async () => (await list()).find(s => s.id === id)?.state === 'running', 30_000), 'the session runs on after its client went away');
  });

  it('two attached clients both see new output, and detach from another terminal leaves the session running', LONG, async () => {
    const name = `cat-${tag}`;
    await start(['--name', name, '--', 'cat']);
    const a = startCli(['session', 'attach', '--in', m.mountpoint, name], m.env);
    const b = startCli(['session', 'attach', '--in', m.mountpoint, name], m.env);
    try {
      assert.ok(await waitFor(async () => (await list()).find(s => s.name === name)?.clients === 2, 60_000), 'two clients attached');
      a.child.stdin!.write(`hello from a ${tag}\n`);
      assert.ok(await waitFor(() => a.stdout().includes(`hello from a ${tag}`) && b.stdout().includes(`hello from a ${tag}`), 30_000),
        `both see it: a=${a.stdout().toString()} b=${b.stdout().toString()}`);
      b.child.stdin!.write(`and from b ${tag}\n`);
      assert.ok(await waitFor(() => a.stdout().includes(`and from b ${tag}`), 30_000), 'both may type');
      const r = ok(await cli(['session', 'detach', '--in', m.mountpoint, name]), 'session detach');
      assert.match(r, /detached 2 clients/);
      const [ea, eb] = await Promise.all([a.done, b.done]);
      assert.equal(ea.code, 0, a.stderr());
      assert.equal(eb.code, 0, b.stderr());
      assert.match(a.stderr(), /detached/);
    } finally {
      a.child.kill('SIGTERM');
      b.child.kill('SIGTERM');
    }
    const s = (await list()).find(x => x.name === name);
    assert.equal(s?.state, 'running');
    assert.equal(s?.clients, 0);
  });

  it('exit codes and killing signals are kept, shown by ls and returned by attach', LONG, async () => {
    const seven = await start(['--name', `seven-${tag}`, '--', 'sh', '-c', 'echo bye; exit 7']);
    const sleeper = await start(['--name', `sleeper-${tag}`, '--', 'sleep', '600']);
    ok(await cli(['session', 'kill', '--in', m.mountpoint, '--signal', 'KILL', sleeper]), 'session kill');
    assert.ok(await waitFor(async () => {
      const all = await list();
      return all.find(s => s.id === seven)?.state === 'exited' && all.find(s => s.id === sleeper)?.state === 'killed';
    }, 60_000));
    const all = await list();
    assert.equal(all.find(s => s.id === seven)?.exitCode, 7);
    assert.equal(all.find(s => s.id === sleeper)?.signal, 'KILL');
    const table = ok(await cli(['session', 'ls', '--in', m.mountpoint]), 'session ls');
    assert.match(table, new RegExp(`seven-${tag}\\s+exited 7`));
    assert.match(table, new RegExp(`sleeper-${tag}\\s+killed KILL`));
    const attached = await cli(['session', 'attach', '--in', m.mountpoint, seven]);
    assert.equal(attached.code, 7, 'attach to an ended session replays and returns its code');
    assert.equal(attached.stdout.toString(), 'bye\n');
    const killed = await cli(['session', 'attach', '--in', m.mountpoint, sleeper]);
    assert.equal(killed.code, 137);
    const removed = ok(await cli(['session', 'rm', '--in', m.mountpoint, seven]), 'session rm');
    assert.equal(removed.trim(), seven);
    assert.equal((await list()).some(s => s.id === seven), false);
  });

  it('a session started in a subfolder of the mount runs in the matching remote folder, argv verbatim', LONG, async () => {
    await mkdir(join(m.mountpoint, 'sub dir'), { recursive: true });
    const hostile = ['a b', '$(echo pwned)', "'q'", 'semi;colon', 'new\nline', '*'];
    const id = await start(['--name', `pwd-${tag}`, '--', 'sh', '-c', 'pwd; printf "<%s>\\n" "$@"', 'sh', ...hostile], join(m.mountpoint, 'sub dir'));
    assert.ok(await waitFor(async () => (await list()).find(s => s.id === id)?.state === 'exited', 60_000));
    const logs = ok(await cli(['session', 'logs', '--in', m.mountpoint, id]), 'session logs');
    assert.equal(logs, `${back}/sub dir\n${hostile.map(h => `<${h}>`).join('\n')}\n`);
    const bad = await cli(['session', 'start', '--in', m.mountpoint, '--name', 'no spaces; please', '--', 'true']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /name/i);
    const missing = await cli(['session', 'attach', '--in', m.mountpoint, `missing-${tag}`]);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /ERR_SESSION_NOT_FOUND|no such session|not found/i);
    const taken = await cli(['session', 'start', '--in', m.mountpoint, '--name', `pwd-${tag}`, '--', 'true']);
    assert.notEqual(taken.code, 0);
    assert.match(taken.stderr, /taken|exists|in use/i);
  });

  it('logs --tail and a terminal session that follows a resize', LONG, async () => {
    const name = `tty-${tag}`;
    await start(['--name', name, '-t', '--', 'sh', '-c', 'seq 1 50; while :; do stty size; sleep 0.3; done']);
    const { ControlSessionHost } = await import('../../src/control/session-client.ts');
    const { findMountTarget } = await import('../../src/cli/mount-target.ts');
    const target = await findMountTarget({ stdout: process.stdout, stderr: process.stderr, env: m.env, exitCode: 0 }, m.mountpoint, undefined);
    assert.ok(target !== undefined);
    const host = new ControlSessionHost(target.socket);
    await host.resize(name, 123, 45);
    assert.ok(await waitFor(async () => (await cli(['session', 'logs', '--in', m.mountpoint, '--tail', '1', name])).stdout.toString().includes('45 123'), 30_000),
      'stty size inside sees the new size');
    const seqOnly = await start(['--name', `lines-${tag}`, '--', 'seq', '1', '10']);
    assert.ok(await waitFor(async () => (await list()).find(s => s.id === seqOnly)?.state === 'exited', 60_000));
    assert.equal(ok(await cli(['session', 'logs', '--in', m.mountpoint, '--tail', '3', seqOnly]), 'logs --tail'), '8\n9\n10\n');
  });

  it('rmount exec inside the mount runs through the agent host once it is connected, with the same results', LONG, async () => {
    // The parent of the command is the host itself (no SSH channel, no login shell).
    const parentOf = async (): Promise<string> => ok(await cli(['exec', '--in', m.mountpoint, '--', 'sh', '-c', 'tr "\\0" " " < /proc/$PPID/cmdline'], m.mountpoint), 'exec');
    assert.ok(await waitFor(async () => / host /.test(await parentOf()), 60_000), 'exec goes through the host');
    const r = await cli(['exec', '--in', m.mountpoint, '--', 'sh', '-c', 'echo out; echo err >&2; exit 4'], m.mountpoint);
    assert.equal(r.code, 4);
    assert.equal(r.stdout.toString(), 'out\n');
    assert.equal(r.stderr, 'err\n');
    const missing = await cli(['exec', '--in', m.mountpoint, '--', 'no-such-command-anywhere']);
    assert.equal(missing.code, 127, 'a missing command answers as the shell does');
  });

  it('in a terminal, attach goes raw and Ctrl-P Ctrl-Q detaches, leaving the session running', LONG, async () => {
    const name = `keys-${tag}`;
    await start(['--name', name, '-t', '--', 'sh', '-c', 'while read line; do echo "got: $line"; done']);
    // script(1) gives the attaching CLI a real terminal, as a user's shell would.
    const argv = [process.execPath, '--import', TSX, `${ROOT}src/cli/run.ts`, 'session', 'attach', '--in', m.mountpoint, name].map(a => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    const child = spawn('script', ['-qfec', argv, '/dev/null'], { env: { ...process.env, ...m.env }, stdio: 'pipe' });
    let seen = '';
    child.stdout.on('data', (b: Buffer) => { seen += b.toString(); });
    child.stderr.on('data', (b: Buffer) => { seen += b.toString(); });
    const done = new Promise<number | null>(resolve => child.on('close', code => resolve(code)));
    try {
      assert.ok(await waitFor(async () => (await list()).find(s => s.name === name)?.clients === 1, 60_000), 'attached');
      child.stdin.write(`hello ${tag}\r`);
      assert.ok(await waitFor(() => seen.includes(`got: hello ${tag}`), 30_000), `the session answered: ${seen}`);
      child.stdin.write(Buffer.from([0x10, 0x11]));
      assert.equal(await done, 0, seen);
      assert.match(seen, /detached from session/);
    } finally {
      child.kill('SIGKILL');
    }
    const s = (await list()).find(x => x.name === name);
    assert.equal(s?.state, 'running');
    assert.equal(s?.clients, 0);
  });

  it('sessions outlive the mount daemon: killed, mounted again, still listed and attachable', LONG, async () => {
    const name = `survivor-${tag}`;
    await start(['--name', name, '--', 'sh', '-c', 'echo still here; exec sleep 600']);
    process.kill(m.pid, 'SIGKILL');
    assert.ok(await waitFor(() => !alive(m.pid), 30_000));
    await m.unmount();
    m = await mountFor(hook, `ssh://${sshd.user}@127.0.0.1:${sshd.port}${back}`, {
      extraArgs: ['-F', sshd.sshConfigFile, '--known-hosts', sshd.knownHostsFile, '-i', sshd.userKey],
    });
    const s = (await list()).find(x => x.name === name);
    assert.equal(s?.state, 'running');
    assert.ok(await waitFor(async () => (await cli(['session', 'logs', '--in', m.mountpoint, name])).stdout.toString() === 'still here\n', 30_000));
  });
});

describe('sessions held by the mount daemon where rmount-agent cannot run', { skip: fuseSkipReason() || sshdSkipReason() }, () => {
  it('start, ls (which says where they live), logs and kill work; they end with the mount', LONG, async t => {
    const cleanups: (() => Promise<void> | void)[] = [];
    const hook: AfterHook = { after: fn => { cleanups.push(fn); } };
    t.after(async () => { for (const fn of cleanups.reverse()) await fn(); });
    const sshd = await startSshd(hook);
    const back = await tempDir(hook, 'rmount-back-');
    // No agent build at all: the mount uses the sftp subsystem, and sessions cannot go to the agent.
    const noBuilds = await tempDir(hook, 'rmount-no-agent-');
    const mount = await mountFor(hook, `ssh://${sshd.user}@127.0.0.1:${sshd.port}${back}`, {
      extraArgs: ['-F', sshd.sshConfigFile, '--known-hosts', sshd.knownHostsFile, '-i', sshd.userKey],
      env: { RMOUNT_AGENT_DIST: noBuilds },
    });
    const run = (args: string[]): Promise<CliResult> => runCli(args, { env: mount.env, timeoutMs: 120_000 });
    const id = ok(await run(['session', 'start', '--in', mount.mountpoint, '--name', 'held', '--', 'sh', '-c', 'echo held here; exec sleep 600']), 'start').trim();
    const ls = await run(['session', 'ls', '--in', mount.mountpoint]);
    assert.match(ok(ls, 'ls'), /held\s+running/);
    assert.match(ls.stderr, /live in the mount daemon/);
    assert.ok(await waitFor(async () => (await run(['session', 'logs', '--in', mount.mountpoint, 'held'])).stdout.toString() === 'held here\n', 30_000));
    ok(await run(['session', 'kill', '--in', mount.mountpoint, '--signal', 'KILL', id]), 'kill');
    assert.ok(await waitFor(async () => /killed KILL/.test((await run(['session', 'ls', '--in', mount.mountpoint])).stdout.toString()), 30_000));
  });
});
