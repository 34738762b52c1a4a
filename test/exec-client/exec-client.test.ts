/**
 * build/rmount-exec driven directly through real mounts (the local backend and the test sshd):
 * exit codes, signals, binary stdin/stdout, stderr, folder mapping, hostile arguments,
 * --timeout, SIGINT, a pty with a resize, output rewriting, and the one-line errors before
 * the command starts (outside a mount, not a mount, a dead daemon, a refusing daemon).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { run } from '../exec/run.ts';
import { alive, cleanupStack, fuseSkipReason, mountFor, waitFor, type TestMount } from '../helpers/mount.ts';
import { which } from '../helpers/skip.ts';
import { sshdSkipReason, startSshd, type AfterHook } from '../helpers/sshd.ts';
import { ensureClient, goSkipReason } from './client-binary.ts';

const goSkip = goSkipReason();
const fuseSkip = fuseSkipReason();
const noPython = which('python3') === undefined && 'python3 missing (pty driver)';

/**
 * Runs argv[0] argv[1:] on a fresh pseudo-terminal of 30 rows × 100 columns, sends "go\r" once
 * the output shows READY (after resizing to 50×132 when asked), waits for DONE or the end, and
 * prints the output and "STATUS n".
 */
const PTY = String.raw`
import fcntl, os, pty, select, struct, sys, termios, time
resize = sys.argv[1] == 'resize'
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', 30, 100, 0, 0))
buf, sent, limit = b'', False, time.time() + 40
while time.time() < limit:
    ready, _, _ = select.select([fd], [], [], 0.1)
    if ready:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        buf += chunk
    if not sent and b'READY' in buf:
        if resize:
            fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', 50, 132, 0, 0))
            time.sleep(0.5)
        os.write(fd, b'go\r')
        sent = True
_, status = os.waitpid(pid, 0)
sys.stdout.buffer.write(buf)
sys.stdout.write('\nSTATUS %d\n' % os.waitstatus_to_exitcode(status))
`;

async function backing(stack: AfterHook): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rmount-xc-back-'));
  stack.after(() => rm(dir, { recursive: true, force: true }));
  await mkdir(join(dir, 'sub', 'deep', 'er'), { recursive: true });
  await writeFile(join(dir, 'sub', 'a.c'), 'int x;\n');
  return dir;
}

function clientSuite(name: string, skip: string | false, resizes: boolean, mountIt: (stack: AfterHook, back: string) => Promise<TestMount>): void {
  describe(`rmount-exec through a mount (${name})`, { skip, timeout: 240_000 }, () => {
    const stack = cleanupStack({ after });
    let client: string;
    let back: string;
    let m: TestMount;
    const x = (cwd: string, args: string[], input?: Buffer | string) => run(client, args, { cwd, env: m.env, ...(input === undefined ? {} : { input }) });

    before(async () => {
      client = await ensureClient();
      back = await backing(stack);
      m = await mountIt(stack, back);
    });

    it('passes exit codes 0, 1 and 42 through', async () => {
      for (const code of [0, 1, 42]) {
        const r = await x(m.mountpoint, ['--', 'sh', '-c', `exit ${code}`]);
        assert.equal(r.code, code, r.stderr);
      }
    });

    it('a command killed by a signal exits 128+N', async () => {
      const r = await x(m.mountpoint, ['--', 'sh', '-c', 'kill -KILL $$']);
      assert.equal(r.code, 137, r.stderr);
      const term = await x(m.mountpoint, ['--', 'sh', '-c', 'kill -TERM $$']);
      assert.equal(term.code, 143, term.stderr);
    });

    it('forwards 10 MiB of binary stdin to stdout unchanged', async () => {
      const data = randomBytes(10 * 1024 * 1024);
      const r = await x(m.mountpoint, ['--', 'cat'], data);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.length, data.length);
      assert.ok(r.stdout.equals(data), 'the bytes differ');
    });

    it('keeps stderr apart from stdout', async () => {
      const r = await x(m.mountpoint, ['--', 'sh', '-c', 'echo out; echo err >&2; echo out2']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.toString(), 'out\nout2\n');
      assert.equal(r.stderr, 'err\n');
    });

    it('runs in the remote folder matching the local one, at every depth, and maps --cwd and --in', async () => {
      for (const sub of ['', 'sub', 'sub/deep', 'sub/deep/er']) {
        const r = await x(join(m.mountpoint, sub), ['--', 'pwd']);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout.toString(), `${join(back, sub)}\n`);
      }
      const rel = await x(join(m.mountpoint, 'sub', 'deep'), ['--cwd', '..', '--', 'pwd']);
      assert.equal(rel.stdout.toString(), `${join(back, 'sub')}\n`, rel.stderr);
      const outside = await x(tmpdir(), ['--in', m.mountpoint, '--', 'pwd']);
      assert.equal(outside.stdout.toString(), `${back}\n`, outside.stderr);
      const cwd = await x(tmpdir(), ['--in', m.mountpoint, '--cwd', join(m.mountpoint, 'sub', 'deep'), '--', 'pwd']);
      assert.equal(cwd.stdout.toString(), `${join(back, 'sub', 'deep')}\n`, cwd.stderr);
      // The stub's form: --in the mountpoint, run from a folder deep inside it.
      const stubForm = await x(join(m.mountpoint, 'sub', 'deep', 'er'), ['--in', m.mountpoint, '--', 'pwd']);
      assert.equal(stubForm.stdout.toString(), `${join(back, 'sub', 'deep', 'er')}\n`, stubForm.stderr);
    });

    it('--map-args maps local paths under the mount and leaves the rest', async () => {
      const local = join(m.mountpoint, 'sub', 'a.c');
      const r = await x(join(m.mountpoint, 'sub'), ['--map-args', '--', 'printf', '%s\\n', local, `--file=${local}`, `-I${join(m.mountpoint, 'sub')}`, 'a.c', '/etc/hostname']);
      assert.equal(r.code, 0, r.stderr);
      const remote = join(back, 'sub', 'a.c');
      assert.equal(r.stdout.toString(), `${remote}\n--file=${remote}\n-I${join(back, 'sub')}\na.c\n/etc/hostname\n`);
      const cat = await x(m.mountpoint, ['--map-args', '--', 'cat', local]);
      assert.equal(cat.stdout.toString(), 'int x;\n', cat.stderr);
    });

    it('passes hostile arguments and --env unchanged, and runs nothing', async () => {
      const pwned = `/tmp/rmount-xc-pwned-${randomBytes(4).toString('hex')}`;
      const args = ['a b', "it's", '"dq"', `$(touch ${pwned})`, `\`touch ${pwned}\``, '*', 'x\ny', '', '-n', '--', ';|&<>', '\u00e9\u4e2d'];
      const r = await x(m.mountpoint, ['--env', 'GREETING=hi there', '--env=EMPTY=', '--', 'sh', '-c', 'printf "%s\\0" "$GREETING" "${EMPTY-unset}" "$@"', 'sh', ...args]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(r.stdout.toString().split('\0').slice(0, -1), ['hi there', '', ...args]);
      await assert.rejects(stat(pwned), { code: 'ENOENT' });
    });

    it('--rewrite-output maps remote paths in stdout and stderr back to local ones', async () => {
      const r = await x(join(m.mountpoint, 'sub'), ['--rewrite-output', '--', 'sh', '-c', 'echo "$PWD/a.c:1:5: error"; echo "$PWD/a.c:2: warning" >&2; printf "/other/place %s" "$PWD"']);
      assert.equal(r.code, 0, r.stderr);
      const local = join(m.mountpoint, 'sub');
      assert.equal(r.stdout.toString(), `${local}/a.c:1:5: error\n/other/place ${local}`);
      assert.equal(r.stderr, `${local}/a.c:2: warning\n`);
    });

    it('--timeout stops the remote command and exits 124', async () => {
      const started = Date.now();
      const r = await x(m.mountpoint, ['--timeout', '1s', '--', 'sleep', '30']);
      assert.equal(r.code, 124, r.stderr);
      assert.ok(Date.now() - started < 15_000, `took ${Date.now() - started} ms`);
    });

    it('SIGINT to rmount-exec stops the remote sleep and exits 130', async () => {
      const started = Date.now();
      const r = await run(client, ['--', 'sh', '-c', 'echo started; exec sleep 30'], { cwd: m.mountpoint, env: m.env }, child => {
        child.stdout!.once('data', () => child.kill('SIGINT'));
      });
      assert.equal(r.code, 130, r.stderr);
      assert.equal(r.stdout.toString(), 'started\n');
      assert.ok(Date.now() - started < 15_000, `took ${Date.now() - started} ms`);
    });

    it('under a terminal it gets a remote pty of its size that follows a resize, and restores the terminal', { skip: noPython }, async () => {
      const remote = 'test -t 0 && test -t 1 && echo TTY-YES; stty size; echo READY; read x; stty size; echo "got $x"; echo DONE';
      const r = await run('python3', ['-c', PTY, 'resize', client, '--', 'sh', '-c', remote], { cwd: m.mountpoint, env: m.env });
      const out = r.stdout.toString();
      assert.match(out, /TTY-YES/, out);
      const sizes = [...out.matchAll(/^(\d+ \d+)\r*$/gm)].map(s => s[1]);
      // The local backend's own exec cannot resize; through the agent's host (once the mount
      // has connected to it) it can, so there either answer is right.
      if (resizes) assert.deepEqual(sizes, ['30 100', '50 132'], out);
      else assert.ok(sizes[0] === '30 100' && (sizes[1] === '30 100' || sizes[1] === '50 132'), out);
      assert.match(out, /got go/, out);
      assert.match(out, /STATUS 0/, out);
    });

    it('Ctrl-C typed on the terminal reaches the remote command (exit 130)', { skip: noPython }, async () => {
      const driver = PTY.replace("os.write(fd, b'go\\r')", "os.write(fd, b'\\x03')");
      assert.notEqual(driver, PTY);
      const r = await run('python3', ['-c', driver, 'no', client, '--', 'sh', '-c', 'echo READY; exec sleep 30'], { cwd: m.mountpoint, env: m.env });
      assert.match(r.stdout.toString(), /STATUS 130/, r.stdout.toString());
    });
  });
}

clientSuite('local backend', goSkip || fuseSkip, false, (stack, back) => mountFor(stack, `local:${back}`));

clientSuite('test sshd', goSkip || fuseSkip || sshdSkipReason(), true, async (stack, back) => {
  const sshd = await startSshd(stack);
  return mountFor(stack, `ssh://${sshd.user}@127.0.0.1:${sshd.port}${back}`, {
    extraArgs: ['-F', sshd.sshConfigFile, '--known-hosts', sshd.knownHostsFile, '-i', sshd.userKey],
  });
});

describe('rmount-exec errors before the command starts', { skip: goSkip, timeout: 120_000 }, () => {
  const stack = cleanupStack({ after });
  let client: string;
  let runDir: string;
  before(async () => {
    client = await ensureClient();
    runDir = await mkdtemp(join(tmpdir(), 'rmount-xc-run-'));
    stack.after(() => rm(runDir, { recursive: true, force: true }));
  });

  /** One line on stderr, naming the cause with its code and the fix. */
  function oneLine(stderr: string): string {
    const lines = stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1, `more than one line: ${stderr}`);
    return lines[0]!;
  }

  it('outside any mount without --in: a usage error, exit 2', async () => {
    const r = await run(client, ['--', 'true'], { cwd: tmpdir(), env: { RMOUNT_RUNTIME_DIR: runDir } });
    assert.equal(r.code, 2);
    assert.match(oneLine(r.stderr), /is not inside a mount \[ERR_USAGE\]; run it inside a mount, or name one/);
  });

  it('bad usage exits 2: no command, an unknown option, a bad --env or --timeout', async () => {
    for (const args of [[], ['--'], ['--bogus', '--', 'x'], ['--env', 'novalue', '--', 'x'], ['--timeout', 'soon', '--', 'x']]) {
      const r = await run(client, args, { cwd: tmpdir(), env: { RMOUNT_RUNTIME_DIR: runDir } });
      assert.equal(r.code, 2, `${JSON.stringify(args)}: ${r.stderr}`);
      assert.match(oneLine(r.stderr), /\[ERR_USAGE\]/);
    }
  });

  it('--in a folder that is not a mount: exit 1, naming the runtime folder and rmount status', async () => {
    const r = await run(client, ['--in', tmpdir(), '--', 'true'], { cwd: tmpdir(), env: { RMOUNT_RUNTIME_DIR: runDir } });
    assert.equal(r.code, 1);
    assert.match(oneLine(r.stderr), new RegExp(`is not an rmount mount \\(no record in ${runDir}\\) \\[ERR_NOT_FOUND\\]; rmount status lists the mounts`));
  });

  /** A fake daemon: a record for /nonexistent-mnt-… whose socket greets, then answers `answer`. */
  async function fakeDaemon(t: AfterHook, onLine: (socket: Socket, line: string, hello: { challenge: string; nonce: string }) => void, hello: object = {}): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'rmount-xc-fake-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const mountpoint = join(dir, 'mnt');
    const socketPath = join(dir, 'control.sock');
    const server = createServer(socket => {
      const h = { version: 1, challenge: join(dir, `auth-${randomBytes(4).toString('hex')}`), nonce: randomBytes(8).toString('hex'), ...hello };
      socket.write(`${JSON.stringify({ type: 'hello', payload: h })}\n`);
      let pending = '';
      socket.on('data', chunk => {
        pending += chunk.toString('latin1');
        for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
          const line = pending.slice(0, nl);
          pending = pending.slice(nl + 1);
          onLine(socket, line, h);
        }
      });
      socket.on('error', () => {});
    });
    await new Promise<void>(done => server.listen(socketPath, done));
    t.after(() => new Promise<void>(done => server.close(() => done())));
    await writeFile(join(runDir, `${randomBytes(8).toString('hex')}.json`), JSON.stringify({ pid: process.pid, destination: 'local:/r', mountpoint, remotePath: '/r', startedAt: '', logFile: '', socket: socketPath }));
    return mountpoint;
  }

  it('a daemon that refuses the client: exit 1 with its reason', async t => {
    const mnt = await fakeDaemon(t, (socket, line) => {
      if (JSON.parse(line).type === 'auth') socket.end(`${JSON.stringify({ type: 'error', payload: { code: 'ERR_PERMISSION', message: 'refused: the challenge file belongs to uid 1000, not 0' } })}\n`);
    });
    const r = await run(client, ['--in', mnt, '--', 'true'], { cwd: tmpdir(), env: { RMOUNT_RUNTIME_DIR: runDir } });
    assert.equal(r.code, 1);
    assert.match(oneLine(r.stderr), /refused this client: refused: the challenge file belongs to uid 1000, not 0 \[ERR_PERMISSION\]; run it as the user who mounted it/);
  });

  it('a daemon of another protocol version: exit 1, ERR_PROTOCOL', async t => {
    const mnt = await fakeDaemon(t, () => {}, { version: 99 });
    const r = await run(client, ['--in', mnt, '--', 'true'], { cwd: tmpdir(), env: { RMOUNT_RUNTIME_DIR: runDir } });
    assert.equal(r.code, 1);
    assert.match(oneLine(r.stderr), /speaks another protocol .*\[ERR_PROTOCOL\]/);
  });

  it('answers the challenge, pipelines auth and exec, and reads the frames (fake daemon)', async t => {
    const seen: string[] = [];
    const mnt = await fakeDaemon(t, (socket, line, h) => {
      const e = JSON.parse(line) as { type: string; payload?: unknown };
      seen.push(e.type);
      if (e.type === 'auth') {
        void import('node:fs/promises').then(fs => fs.readFile(h.challenge, 'utf8')).then(nonce => {
          socket.write(nonce === h.nonce ? '{"type":"ok"}\n' : '{"type":"error","payload":{"code":"ERR_PERMISSION","message":"no"}}\n');
        });
      } else if (e.type === 'exec') {
        seen.push(JSON.stringify(e.payload));
        const frame = (ch: number, body: Buffer | string): Buffer => {
          const b = Buffer.from(body);
          const head = Buffer.alloc(5);
          head[0] = ch;
          head.writeUInt32BE(b.length, 1);
          return Buffer.concat([head, b]);
        };
        setTimeout(() => socket.end(Buffer.concat([
          frame(3, '{"started":{"pty":false}}'), frame(1, 'hello '), frame(2, 'warn\n'), frame(1, Buffer.from([0, 255, 10])),
          frame(3, '{"exit":{"code":7,"signal":null}}'),
        ])), 50);
      }
    });
    const r = await run(client, ['--in', join(mnt, 'sub'), '-T', '--env', 'A=1', '--', 'echo', 'x y'], { cwd: tmpdir(), env: { RMOUNT_RUNTIME_DIR: runDir } });
    assert.equal(r.code, 7, r.stderr);
    assert.deepEqual(r.stdout, Buffer.concat([Buffer.from('hello '), Buffer.from([0, 255, 10])]));
    assert.equal(r.stderr, 'warn\n');
    assert.deepEqual(seen, ['auth', 'exec', JSON.stringify({ argv: ['echo', 'x y'], cwd: '/r/sub', env: { A: '1' } })]);
  });

  it('a mount whose daemon died: exit 1 naming the stale mount and how to remount it', { skip: fuseSkip }, async () => {
    const back = await mkdtemp(join(tmpdir(), 'rmount-xc-dead-'));
    stack.after(() => rm(back, { recursive: true, force: true }));
    const m = await mountFor(stack, `local:${back}`);
    process.kill(m.pid, 'SIGKILL');
    assert.ok(await waitFor(() => !alive(m.pid), 10_000), 'the daemon did not die');
    const r = await run(client, ['--in', m.mountpoint, '--', 'true'], { cwd: tmpdir(), env: m.env });
    assert.equal(r.code, 1);
    const line = oneLine(r.stderr);
    assert.match(line, new RegExp(`the mount on ${m.mountpoint} is stale: its daemon \\(pid ${m.pid}\\) is not running`), line);
    assert.match(line, /\[ERR_NO_DAEMON\]; remount it: rmount unmount .* && rmount mount local:/, line);
  });
});
