/**
 * `rmount exec` inside real mounts (the local backend and the test sshd): the command runs over
 * the mount daemon's connection through its control socket, in the remote folder matching the
 * local one. Also `status --json` and `cache flush`, which go through the same socket.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cleanupStack, fuseSkipReason, mountFor, type TestMount } from '../helpers/mount.ts';
import { which } from '../helpers/skip.ts';
import { sshdSkipReason, startSshd, type AfterHook } from '../helpers/sshd.ts';
import { makeRunner, run } from '../exec/run.ts';

const fuseSkip = fuseSkipReason();

/** A backing folder with sub/deep in it, removed after the mounts over it. */
async function backing(stack: AfterHook): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rmount-exec-back-'));
  stack.after(() => rm(dir, { recursive: true, force: true }));
  await mkdir(join(dir, 'sub', 'deep'), { recursive: true });
  await writeFile(join(dir, 'sub', 'file.txt'), 'hello\n');
  return dir;
}

/** Drives `argv` under a pseudo-terminal from python3's pty module; prints the output and "EXIT n". */
const PTY_DRIVER = String.raw`
import fcntl, os, pty, select, struct, sys, termios, time
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
def size(rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', rows, cols, 0, 0))
size(30, 100)
out = b''
def until(token, limit=30):
    global out
    end = time.time() + limit
    while token not in out and time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                data = os.read(fd, 4096)
            except OSError:
                return
            if not data:
                return
            out += data
for step in sys.stdin.read().split():
    kind, _, arg = step.partition('=')
    if kind == 'until':
        until(arg.encode())
    elif kind == 'size':
        rows, cols = arg.split('x')
        size(int(rows), int(cols))
        time.sleep(0.5)
    elif kind == 'send':
        os.write(fd, bytes.fromhex(arg))
until(b'\x00never', 30)
_, status = os.waitpid(pid, 0)
sys.stdout.buffer.write(out)
print('\nEXIT', os.waitstatus_to_exitcode(status))
`;

/**
 * The suite against one backend. `resizes`: the backend can resize a running pty (the local
 * backend runs ptys under `script`, which cannot be resized from outside).
 */
function execSuite(name: string, skip: string | false, resizes: boolean, mountIt: (stack: AfterHook, back: string) => Promise<TestMount>): void {
  describe(`rmount exec inside a mount (${name})`, { skip, timeout: 240_000 }, () => {
    const stack = cleanupStack({ after });
    let back: string;
    let m: TestMount;
    let runner: string;
    const exec = (cwd: string, args: string[], input?: Buffer | string) => run(runner, ['exec', ...args], { cwd, env: m.env, ...(input === undefined ? {} : { input }) });

    before(async () => {
      back = await backing(stack);
      m = await mountIt(stack, back);
      runner = await makeRunner(stack);
    });

    it('exec passes exit codes 0, 1 and 42 through', async () => {
      for (const code of [0, 1, 42]) {
        const r = await exec(m.mountpoint, ['--', 'sh', '-c', `exit ${code}`]);
        assert.equal(r.code, code, r.stderr);
      }
    });

    it('exec of a command killed by a signal exits 128+N', async () => {
      const r = await exec(m.mountpoint, ['--', 'sh', '-c', 'kill -KILL $$']);
      assert.equal(r.code, 137, r.stderr);
    });

    it('exec keeps stderr apart from stdout', async () => {
      const r = await exec(m.mountpoint, ['--', 'sh', '-c', 'echo out; echo err >&2']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.toString(), 'out\n');
      assert.equal(r.stderr, 'err\n');
    });

    it('exec forwards 10 MiB of binary stdin to stdout unchanged', async () => {
      const data = randomBytes(10 * 1024 * 1024);
      const r = await exec(m.mountpoint, ['--', 'cat'], data);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.length, data.length);
      assert.ok(r.stdout.equals(data));
    });

    it('exec runs in the remote folder matching the local one, at every depth', async () => {
      for (const sub of ['', 'sub', 'sub/deep']) {
        const r = await exec(join(m.mountpoint, sub), ['--', 'pwd']);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout.toString(), `${join(back, sub)}\n`);
      }
      const rel = await exec(join(m.mountpoint, 'sub', 'deep'), ['--cwd', '..', '--', 'pwd']);
      assert.equal(rel.stdout.toString(), `${join(back, 'sub')}\n`, rel.stderr);
      const local = await exec(tmpdir(), ['--cwd', join(m.mountpoint, 'sub'), '--in', m.mountpoint, '--', 'pwd']);
      assert.equal(local.stdout.toString(), `${join(back, 'sub')}\n`, local.stderr);
    });

    it('exec --in <mountpoint> from outside runs in the mounted folder', async () => {
      const r = await exec(tmpdir(), ['--in', m.mountpoint, '--', 'pwd']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.toString(), `${back}\n`);
    });

    it('exec outside any mount without --in fails as a usage error', async () => {
      const r = await exec(tmpdir(), ['--', 'true']);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /\[ERR_USAGE\]/);
    });

    it('exec passes hostile arguments and --env through the socket unchanged', async () => {
      const args = ['a b', "it's", '"q"', '$(touch /tmp/rmount-pwned-exec)', '*', 'x\ny', ''];
      const r = await exec(m.mountpoint, ['--env', 'GREETING=hi there', '--', 'sh', '-c', 'printf "%s\\0" "$GREETING" "$@"', 'sh', ...args]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(r.stdout.toString().split('\0').slice(0, -1), ['hi there', ...args]);
      await assert.rejects(stat('/tmp/rmount-pwned-exec'), { code: 'ENOENT' });
    });

    it('exec --timeout stops the remote command and exits 124', async () => {
      const started = Date.now();
      const r = await exec(m.mountpoint, ['--timeout', '1s', '--', 'sleep', '30']);
      assert.equal(r.code, 124, r.stderr);
      assert.ok(Date.now() - started < 15_000, `took ${Date.now() - started} ms`);
    });

    it('SIGINT to rmount exec stops the remote sleep and exits 130', async () => {
      const started = Date.now();
      const r = await run(runner, ['exec', '--', 'sh', '-c', 'echo started; exec sleep 30'], { cwd: m.mountpoint, env: m.env }, child => {
        child.stdout!.once('data', () => child.kill('SIGINT'));
      });
      assert.equal(r.code, 130, r.stderr);
      assert.ok(Date.now() - started < 15_000, `took ${Date.now() - started} ms`);
    });

    it('exec under a terminal gets a remote pty of its size that follows window-size changes', { skip: which('python3') === undefined && 'python3 missing (pty driver)' }, async () => {
      const remote = 'test -t 0 && test -t 1 && echo TTY-YES; stty size; echo READY; read x; stty size; echo DONE';
      const r = await run('python3', ['-c', PTY_DRIVER, runner, 'exec', '--', 'sh', '-c', remote], {
        cwd: m.mountpoint, env: m.env, input: `until=READY size=50x132 send=${Buffer.from('go\r').toString('hex')} until=DONE`,
      });
      const out = r.stdout.toString();
      assert.match(out, /TTY-YES/, out);
      // Two terminals in a row: each turns \n into \r\n.
      const sizes = [...out.matchAll(/^(\d+ \d+)\r*$/gm)].map(x => x[1]);
      // The local backend's own exec cannot resize; through the agent's host (once the mount
      // has connected to it) it can, so there either answer is right.
      if (resizes) assert.deepEqual(sizes, ['30 100', '50 132'], out);
      else assert.ok(sizes[0] === '30 100' && (sizes[1] === '30 100' || sizes[1] === '50 132'), out);
      assert.match(out, /EXIT 0/, out);
    });

    it('Ctrl-C typed on the terminal stops the remote sleep (exit 130)', { skip: which('python3') === undefined && 'python3 missing (pty driver)' }, async () => {
      const r = await run('python3', ['-c', PTY_DRIVER, runner, 'exec', '--', 'sh', '-c', 'echo READY; exec sleep 30'], {
        cwd: m.mountpoint, env: m.env, input: 'until=READY send=03',
      });
      assert.match(r.stdout.toString(), /EXIT 130/, r.stdout.toString());
    });

    it('status --json reports health, uptime, counters, cache hit ratio and watch', async () => {
      await exec(m.mountpoint, ['--', 'true']);
      const r = await run(runner, ['status', '--json'], { env: m.env });
      assert.equal(r.code, 0, r.stderr);
      const [s] = (JSON.parse(r.stdout.toString()) as Record<string, unknown>[]).filter(x => x.mountpoint === m.mountpoint);
      assert.ok(s !== undefined);
      assert.equal(s.state, 'mounted');
      assert.equal(s.health, 'ready');
      assert.equal(typeof s.destination, 'string');
      assert.equal(typeof s.uptimeSeconds, 'number');
      for (const k of ['ops', 'bytesRead', 'bytesWritten', 'remoteBytesRead', 'remoteBytesWritten', 'errors', 'execRunning']) {
        assert.equal(typeof s[k], 'number', k);
      }
      assert.ok(s.cacheHitRatio === null || (typeof s.cacheHitRatio === 'number' && s.cacheHitRatio >= 0 && s.cacheHitRatio <= 1));
      assert.equal(s.watch, false);
      assert.ok((s.ops as number) > 0);
    });

    it('cache flush makes a change made behind the mount visible at once', async () => {
      const file = join(back, 'sub', 'flush.txt');
      await writeFile(file, 'short');
      assert.equal((await stat(join(m.mountpoint, 'sub', 'flush.txt'))).size, 5);
      await writeFile(file, 'a good deal longer');
      // cache_timeout=60: without a flush the old size would stay for a minute.
      assert.equal((await stat(join(m.mountpoint, 'sub', 'flush.txt'))).size, 5);
      const r = await run(runner, ['cache', 'flush', m.mountpoint], { env: m.env });
      assert.equal(r.code, 0, r.stderr);
      assert.equal((await stat(join(m.mountpoint, 'sub', 'flush.txt'))).size, 18);
    });
  });
}

execSuite('local backend', fuseSkip, false, async (stack, back) => mountFor(stack, `local:${back}`, { o: ['cache_timeout=60'] }));

execSuite('test sshd', fuseSkip || sshdSkipReason(), true, async (stack, back) => {
  const sshd = await startSshd(stack);
  return mountFor(stack, `ssh://${sshd.user}@127.0.0.1:${sshd.port}${back}`, {
    o: ['cache_timeout=60'],
    extraArgs: ['-F', sshd.sshConfigFile, '--known-hosts', sshd.knownHostsFile, '-i', sshd.userKey],
  });
});
