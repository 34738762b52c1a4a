/**
 * `rmount mount`, `status` and `unmount` through the CLI against real mounts: bad input (exit
 * codes and the `[CODE]` token on stderr) and the lifecycle (daemon killed, terminated, peer gone).
 */
import assert from 'node:assert/strict';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it as nodeIt, type TestContext, type TestOptions } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { runCli } from '../helpers/cli.ts';
import {
  alive, attemptMount, cleanupStack, cliFor, fuseSkipReason, helloBacking, isMounted, mountFor, runtimeDirFor, statusRecords, waitFor,
} from '../helpers/mount.ts';
import { sshdSkipReason, startSshd, type AfterHook, type SshdFixture } from '../helpers/sshd.ts';
import { tempDir } from '../helpers/tmp.ts';

const fuseSkip = fuseSkipReason();

/** How an operation settled: its error code, 'ok', or 'pending' when it did not settle in time. */
async function settleWithin(op: Promise<unknown>, limitMs: number): Promise<string> {
  const timer = sleep(limitMs, 'pending' as const, { ref: false });
  return Promise.race([
    op.then(() => 'ok', (error: NodeJS.ErrnoException) => error.code ?? String(error)),
    timer,
  ]);
}

/** Pids of every descendant of `pid` (children, grandchildren…), read from /proc. */
async function descendants(pid: number): Promise<number[]> {
  const parent = new Map<number, number>();
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const text = await readFile(`/proc/${name}/stat`, 'utf8');
      // Field 4 (ppid) follows the parenthesised command name, which may hold spaces.
      const ppid = Number(text.slice(text.lastIndexOf(')') + 2).split(' ')[1]);
      parent.set(Number(name), ppid);
    } catch {
      // The process ended while we looked.
    }
  }
  const out: number[] = [];
  let frontier = [pid];
  while (frontier.length > 0) {
    const next = [...parent].filter(([, pp]) => frontier.includes(pp)).map(([p]) => p);
    out.push(...next);
    frontier = next;
  }
  return out;
}

/** The per-connection sshd processes serving the fixture now (children of its listener). */
/**
 * The sshd processes serving the fixture's connections (not the shells and commands they run):
 * stopping or killing one cuts its connection. Their children are left to end by themselves, for
 * a login shell killed mid-way can leave state behind in the login's home (pyenv's rehash lock
 * in ~/.bashrc then stalls every later SSH command by 60 s).
 */
async function sshdSessions(sshd: SshdFixture): Promise<number[]> {
  const listener = Number((await readFile(join(sshd.dir, 'sshd.pid'), 'utf8')).trim());
  const out: number[] = [];
  for (const pid of await descendants(listener)) {
    const comm = await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '');
    if (comm.trim().startsWith('sshd')) out.push(pid);
  }
  return out;
}

/** CLI arguments that let a mount reach the fixture. */
function sshArgs(sshd: SshdFixture): string[] {
  return ['-F', sshd.sshConfigFile, '--known-hosts', sshd.knownHostsFile, '-i', sshd.userKey];
}

const PEER_GONE = ['EIO', 'ENOTCONN', 'ETIMEDOUT'];

/** `it` with a default timeout, so an operation hung on a broken mount fails its test, not the run. */
function it(name: string, a: TestOptions | ((t: TestContext) => Promise<void>), b?: (t: TestContext) => Promise<void>): void {
  const [options, fn] = typeof a === 'function' ? [{}, a] : [a, b!];
  nodeIt(name, { timeout: 180_000, ...options }, fn);
}

describe('rmount mount/status/unmount through the CLI', { skip: fuseSkip }, () => {
  it('mount on a missing mountpoint exits 1 with ERR_NOT_FOUND', async t => {
    const stack = cleanupStack(t);
    const back = await helloBacking(stack);
    const missing = join(await tempDir(stack), 'no', 'such', 'folder');
    const a = await attemptMount(stack, `local:${back}`, { mountpoint: missing });
    assert.equal(a.result.code, 1, a.result.stderr);
    assert.match(a.result.stderr, /\[ERR_NOT_FOUND\]/);
  });

  it('mount on a non-empty mountpoint exits 2 with ERR_USAGE', async t => {
    const stack = cleanupStack(t);
    const back = await helloBacking(stack);
    const mnt = await tempDir(stack);
    await writeFile(join(mnt, 'already-here'), 'x');
    const a = await attemptMount(stack, `local:${back}`, { mountpoint: mnt });
    assert.equal(a.result.code, 2, a.result.stderr);
    assert.match(a.result.stderr, /\[ERR_USAGE\]/);
    assert.equal(await isMounted(mnt), false);
  });

  it('mount with -o nonempty on a non-empty mountpoint mounts over it', async t => {
    const stack = cleanupStack(t);
    const back = await helloBacking(stack);
    const mnt = await tempDir(stack);
    await writeFile(join(mnt, 'already-here'), 'x');
    const m = await mountFor(stack, `local:${back}`, { mountpoint: mnt, o: ['nonempty'] });
    assert.deepEqual(await readdir(m.mountpoint), ['hello.txt']);
  });

  it('mount on a folder that is already mounted exits 1 with ERR_STATE', async t => {
    const stack = cleanupStack(t);
    const back = await helloBacking(stack);
    const m = await mountFor(stack, `local:${back}`);
    const a = await attemptMount(stack, `local:${back}`, { mountpoint: m.mountpoint, runtimeDir: m.env.RMOUNT_RUNTIME_DIR! });
    assert.equal(a.result.code, 1, a.result.stderr);
    assert.match(a.result.stderr, /\[ERR_STATE\]/);
    assert.equal(await readFile(join(m.mountpoint, 'hello.txt'), 'utf8'), 'hello\n');
  });

  it('mount of a remote path that is a file exits 2 with ERR_USAGE', async t => {
    const stack = cleanupStack(t);
    const back = await helloBacking(stack);
    const a = await attemptMount(stack, `local:${join(back, 'hello.txt')}`);
    assert.equal(a.result.code, 2, a.result.stderr);
    assert.match(a.result.stderr, /\[ERR_USAGE\]/);
    assert.equal(await isMounted(a.mountpoint), false);
  });

  it('mount of a missing remote path exits 1 with ERR_NOT_FOUND', async t => {
    const stack = cleanupStack(t);
    const back = await helloBacking(stack);
    const a = await attemptMount(stack, `local:${join(back, 'missing')}`);
    assert.equal(a.result.code, 1, a.result.stderr);
    assert.match(a.result.stderr, /\[ERR_NOT_FOUND\]/);
    assert.equal(await isMounted(a.mountpoint), false);
  });

  it('mount with an unknown -o option exits 2 with ERR_USAGE', async t => {
    const stack = cleanupStack(t);
    const back = await helloBacking(stack);
    const a = await attemptMount(stack, `local:${back}`, { o: ['no_such_option'] });
    assert.equal(a.result.code, 2, a.result.stderr);
    assert.match(a.result.stderr, /\[ERR_USAGE\]/);
    assert.equal(await isMounted(a.mountpoint), false);
  });

  it('mount with a bad -o value exits 2 with ERR_USAGE', async t => {
    const stack = cleanupStack(t);
    const back = await helloBacking(stack);
    const a = await attemptMount(stack, `local:${back}`, { o: ['timeout=soon'] });
    assert.equal(a.result.code, 2, a.result.stderr);
    assert.match(a.result.stderr, /\[ERR_USAGE\]/);
  });

  it('failed mounts leave no daemon and no record behind', async t => {
    const stack = cleanupStack(t);
    const back = await helloBacking(stack);
    const { dir, env } = await runtimeDirFor(stack);
    await attemptMount(stack, `local:${join(back, 'missing')}`, { runtimeDir: dir });
    await attemptMount(stack, `local:${join(back, 'hello.txt')}`, { runtimeDir: dir });
    assert.deepEqual(await statusRecords(env), []);
  });

  it('mount returns once the mount answers', async t => {
    const stack = cleanupStack(t);
    const back = await helloBacking(stack);
    const m = await mountFor(stack, `local:${back}`);
    assert.equal(await isMounted(m.mountpoint), true);
    assert.equal(await readFile(join(m.mountpoint, 'hello.txt'), 'utf8'), 'hello\n');
  });

  it('status --json lists a live mount as mounted', async t => {
    const stack = cleanupStack(t);
    const back = await helloBacking(stack);
    const m = await mountFor(stack, `local:${back}`);
    const records = await statusRecords(m.env);
    assert.equal(records.length, 1);
    assert.equal(records[0]!.mountpoint, m.mountpoint);
    assert.equal(records[0]!.state, 'mounted');
    assert.equal(records[0]!.pid, m.pid);
    assert.ok(alive(m.pid));
  });

  it('unmount of a live mount stops the daemon and detaches the folder', async t => {
    const stack = cleanupStack(t);
    const back = await helloBacking(stack);
    const m = await mountFor(stack, `local:${back}`);
    const r = await cliFor(m, ['unmount', m.mountpoint]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await isMounted(m.mountpoint), false);
    assert.ok(await waitFor(() => !alive(m.pid), 15_000), 'daemon still alive after unmount');
    assert.deepEqual(await statusRecords(m.env), []);
  });

  it('stat on a mount whose daemon was SIGKILLed fails ENOTCONN', async t => {
    const stack = cleanupStack(t);
    const back = await helloBacking(stack);
    const m = await mountFor(stack, `local:${back}`);
    process.kill(m.pid, 'SIGKILL');
    assert.ok(await waitFor(() => !alive(m.pid), 15_000), 'daemon survived SIGKILL');
    await assert.rejects(stat(join(m.mountpoint, 'hello.txt')), { code: 'ENOTCONN' });
  });

  it('status --json shows a mount whose daemon was SIGKILLed as stale', async t => {
    const stack = cleanupStack(t);
    const back = await helloBacking(stack);
    const m = await mountFor(stack, `local:${back}`);
    process.kill(m.pid, 'SIGKILL');
    assert.ok(await waitFor(() => !alive(m.pid), 15_000), 'daemon survived SIGKILL');
    const records = await statusRecords(m.env);
    assert.deepEqual(records.map(r => [r.mountpoint, r.state]), [[m.mountpoint, 'stale']]);
  });

  it('unmount of a mount whose daemon was SIGKILLed detaches it', async t => {
    const stack = cleanupStack(t);
    const back = await helloBacking(stack);
    const m = await mountFor(stack, `local:${back}`);
    process.kill(m.pid, 'SIGKILL');
    assert.ok(await waitFor(() => !alive(m.pid), 15_000), 'daemon survived SIGKILL');
    const r = await cliFor(m, ['unmount', m.mountpoint]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await isMounted(m.mountpoint), false);
    assert.deepEqual(await readdir(m.mountpoint), []);
  });

  it('SIGTERM to the daemon unmounts cleanly', async t => {
    const stack = cleanupStack(t);
    const back = await helloBacking(stack);
    const m = await mountFor(stack, `local:${back}`);
    process.kill(m.pid, 'SIGTERM');
    assert.ok(await waitFor(async () => !alive(m.pid) && !(await isMounted(m.mountpoint)), 20_000), 'still mounted or daemon alive 20 s after SIGTERM');
    assert.deepEqual(await statusRecords(m.env), []);
    assert.deepEqual(await readdir(back), ['hello.txt']);
  });

  it('unmount of a folder that is not mounted exits 1 with ERR_NOT_FOUND', async t => {
    const stack = cleanupStack(t);
    const { env } = await runtimeDirFor(stack);
    const dir = await tempDir(stack);
    const r = await runCli(['unmount', dir], { env });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /\[ERR_NOT_FOUND\]/);
  });

  describe('over ssh', { skip: sshdSkipReason() }, () => {
    /** An ssh mount of a fresh backing folder with `-o timeout=5`, and its sshd. */
    async function sshMount(t: TestContext): Promise<{ sshd: SshdFixture; mnt: string; back: string; env: NodeJS.ProcessEnv; stack: AfterHook }> {
      const stack = cleanupStack(t);
      const sshd = await startSshd(stack);
      const back = await helloBacking(stack);
      const m = await mountFor(stack, `ssh://${sshd.user}@127.0.0.1:${sshd.port}${back}`, { o: ['timeout=5'], extraArgs: sshArgs(sshd) });
      assert.equal(await readFile(join(m.mountpoint, 'hello.txt'), 'utf8'), 'hello\n');
      return { sshd, mnt: m.mountpoint, back, env: m.env, stack };
    }

    it('an ssh mount whose sshd was killed fails operations within the bound', { timeout: 120_000 }, async t => {
      const { sshd, mnt, back, env } = await sshMount(t);
      // Past what small files are read ahead: its bytes are in no cache until read.
      await writeFile(join(back, 'unread.bin'), Buffer.alloc(1 << 20, 1));
      await stat(join(mnt, 'unread.bin'));
      const sessions = await sshdSessions(sshd);
      await sshd.stop();
      for (const pid of sessions) if (alive(pid)) process.kill(pid, 'SIGKILL');
      const started = Date.now();
      const outcome = await settleWithin(stat(join(mnt, 'never-looked-up')), 20_000);
      // A name missing from a listing the mount keeps (the agent's watch, or one kept for an
      // outage) is answered missing; otherwise the lookup needs the server.
      assert.ok(outcome === 'ENOENT' || PEER_GONE.includes(outcome), `stat settled as ${outcome} after ${Date.now() - started} ms`);
      const read = await settleWithin(readFile(join(mnt, 'unread.bin')), 20_000);
      assert.ok(PEER_GONE.includes(read), `a read of bytes never read settled as ${read} after ${Date.now() - started} ms`);
      // A save may go to the write-back journal (sent once the server is back) or fail: never hang.
      const write = await settleWithin(writeFile(join(mnt, 'new-file'), 'x'), 20_000);
      assert.ok(write === 'ok' || PEER_GONE.includes(write), `create settled as ${write}`);
      if (write === 'ok') {
        const r = await runCli(['status', '--json'], { env });
        const mine = (JSON.parse(r.stdout.toString()) as { mountpoint: string; writeBack?: { pendingOps: number } }[]).find(x => x.mountpoint === mnt);
        assert.ok((mine?.writeBack?.pendingOps ?? 0) >= 1, `the journal holds the save: ${r.stdout.toString()}`);
      }
    });

    it('unmount of an ssh mount whose sshd was killed works', { timeout: 120_000 }, async t => {
      const { sshd, mnt, env } = await sshMount(t);
      const sessions = await sshdSessions(sshd);
      await sshd.stop();
      for (const pid of sessions) if (alive(pid)) process.kill(pid, 'SIGKILL');
      await settleWithin(stat(join(mnt, 'never-looked-up')), 20_000);
      const r = await runCli(['unmount', mnt], { env });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(await isMounted(mnt), false);
    });

    it('an ssh mount whose sshd stops answering (SIGSTOP) fails operations within the bound', { timeout: 120_000 }, async t => {
      const { sshd, mnt, env, stack } = await sshMount(t);
      const sessions = await sshdSessions(sshd);
      assert.ok(sessions.length > 0, 'no sshd session process found');
      // Frozen, not closed: the TCP connection stays open and nothing answers. Killed first at cleanup.
      stack.after(() => { for (const pid of sessions) if (alive(pid)) process.kill(pid, 'SIGKILL'); });
      // A short-lived exec of the mount (a probe, the agent's start) may have ended since the listing.
      for (const pid of sessions) if (alive(pid)) try { process.kill(pid, 'SIGSTOP'); } catch { /* gone meanwhile */ }
      const started = Date.now();
      const outcome = await settleWithin(stat(join(mnt, 'never-looked-up')), 20_000);
      assert.ok(PEER_GONE.includes(outcome), `stat settled as ${outcome} after ${Date.now() - started} ms`);
      const r = await runCli(['unmount', mnt], { env });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(await isMounted(mnt), false);
    });
  });
});
