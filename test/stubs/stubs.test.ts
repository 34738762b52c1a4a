/**
 * `rmount stubs` against real mounts: shims that run on the remote in the matching folder with
 * their arguments untouched, discovery over the file client, output rewriting, the fallback
 * outside the mount, and removal of our own shims only.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeRunner, run } from '../exec/run.ts';
import { cleanupStack, fuseSkipReason, mountFor, type TestMount } from '../helpers/mount.ts';
import { sshdSkipReason, startSshd, type AfterHook } from '../helpers/sshd.ts';
import { renderShim, shimMountpoint } from '../../src/stubs/render-shim.ts';

describe('renderShim', () => {
  it('shimMountpoint reads back a quoted mountpoint', () => {
    const mountpoint = "/tmp/it's a\nmount";
    assert.equal(shimMountpoint(renderShim({ command: 'ls', mountpoint, launcher: ['/usr/bin/node', '/x/bin/rmount'] })), mountpoint);
    assert.equal(shimMountpoint('#!/bin/sh\necho hi\n'), undefined);
  });
});

function stubSuite(name: string, skip: string | false, mountIt: (stack: AfterHook, back: string) => Promise<TestMount>): void {
  describe(`rmount stubs (${name})`, { skip, timeout: 240_000 }, () => {
    const stack = cleanupStack({ after });
    let back: string;
    let m: TestMount;
    let runner: string;
    let stubs: string;
    const cli = (args: string[]) => run(runner, args, { env: m.env });

    before(async () => {
      back = await mkdtemp(join(tmpdir(), 'rmount-stub-back-'));
      stack.after(() => rm(back, { recursive: true, force: true }));
      await mkdir(join(back, 'src', 'lib'), { recursive: true });
      await writeFile(join(back, 'src', 'lib', 'a.c'), 'int x;\n');
      m = await mountIt(stack, back);
      runner = await makeRunner(stack);
      stubs = await mkdtemp(join(tmpdir(), 'rmount-stubs-'));
      stack.after(() => rm(stubs, { recursive: true, force: true }));
      const r = await cli(['stubs', m.mountpoint, '--dir', stubs, '--runner', runner, 'printf', 'sh', 'cat']);
      assert.equal(r.code, 0, r.stderr);
    });

    it('a stub passes spaces, quotes, $(), globs and newlines unchanged and runs nothing', async () => {
      const pwned = `/tmp/rmount-pwned-${randomBytes(4).toString('hex')}`;
      const args = ['a b', "it's", '"dq"', `$(touch ${pwned})`, `\`touch ${pwned}\``, '*', 'x\ny', '', '-n', '--', ';|&<>'];
      const r = await run(join(stubs, 'printf'), ['%s\\0', ...args], { cwd: join(m.mountpoint, 'src'), env: m.env });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(r.stdout.toString().split('\0').slice(0, -1), args);
      await assert.rejects(stat(pwned), { code: 'ENOENT' });
    });

    it('a stub runs in the matching remote folder and maps local path arguments', async () => {
      const local = join(m.mountpoint, 'src', 'lib', 'a.c');
      const r = await run(join(stubs, 'sh'), ['-c', 'pwd; printf "%s\\n" "$@"', 'sh', local, `--file=${local}`, 'lib/a.c', '/etc/hostname'], {
        cwd: join(m.mountpoint, 'src'), env: m.env,
      });
      assert.equal(r.code, 0, r.stderr);
      const remote = join(back, 'src', 'lib', 'a.c');
      assert.equal(r.stdout.toString(), `${join(back, 'src')}\n${remote}\n--file=${remote}\nlib/a.c\n/etc/hostname\n`);
      const cat = await run(join(stubs, 'cat'), [local], { cwd: m.mountpoint, env: m.env });
      assert.equal(cat.stdout.toString(), 'int x;\n', cat.stderr);
    });

    it('a stub passes the remote exit code through', async () => {
      const r = await run(join(stubs, 'sh'), ['-c', 'exit 42'], { cwd: m.mountpoint, env: m.env });
      assert.equal(r.code, 42, r.stderr);
    });

    it('--rewrite-output maps remote paths in the output back to local ones', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'rmount-stubs-rw-'));
      stack.after(() => rm(dir, { recursive: true, force: true }));
      const w = await cli(['stubs', m.mountpoint, '--dir', dir, '--runner', runner, '--rewrite-output', 'sh']);
      assert.equal(w.code, 0, w.stderr);
      const r = await run(join(dir, 'sh'), ['-c', 'echo "$PWD/lib/a.c:1:5: error: x"; echo "$PWD/lib/a.c:2: warning" >&2; echo /other/place'], {
        cwd: join(m.mountpoint, 'src'), env: m.env,
      });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.toString(), `${join(m.mountpoint, 'src', 'lib', 'a.c')}:1:5: error: x\n/other/place\n`);
      assert.equal(r.stderr, `${join(m.mountpoint, 'src', 'lib', 'a.c')}:2: warning\n`);
    });

    it('outside the mount a stub runs the local command of the same name', async () => {
      const r = await run(join(stubs, 'printf'), ['local %s\\n', 'ok'], { cwd: tmpdir(), env: { ...m.env, PATH: `${stubs}:/usr/bin:/bin` } });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.toString(), 'local ok\n');
    });

    it('outside the mount with no local command a stub says why and exits 127', async () => {
      const r = await run(join(stubs, 'printf'), ['x'], { cwd: tmpdir(), env: { ...m.env, PATH: stubs } });
      assert.equal(r.code, 127);
      assert.match(r.stderr, /only inside/);
      assert.equal(r.stdout.length, 0);
    });

    it('--discover writes a shim per executable on the remote PATH, filtered by --include/--exclude', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'rmount-stubs-disc-'));
      stack.after(() => rm(dir, { recursive: true, force: true }));
      const r = await cli(['stubs', m.mountpoint, '--dir', dir, '--runner', runner, '--discover', '--include', '^(ls|cat|true|env|ssh-keygen)$', '--exclude', '^env$']);
      assert.equal(r.code, 0, r.stderr);
      const names = (await readdir(dir)).sort();
      assert.deepEqual(names, ['cat', 'ls', 'ssh-keygen', 'true']);
      const t = await run(join(dir, 'true'), [], { cwd: m.mountpoint, env: m.env });
      assert.equal(t.code, 0, t.stderr);
    });

    it('--remove deletes our shims and leaves other files', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'rmount-stubs-rm-'));
      stack.after(() => rm(dir, { recursive: true, force: true }));
      await writeFile(join(dir, 'mine'), '#!/bin/sh\necho not a shim\n', { mode: 0o755 });
      assert.equal((await cli(['stubs', m.mountpoint, '--dir', dir, '--runner', runner, 'ls', 'cat', 'mine'])).code, 0);
      assert.equal(await readFile(join(dir, 'mine'), 'utf8'), '#!/bin/sh\necho not a shim\n', 'a foreign file is never overwritten');
      const r = await cli(['stubs', m.mountpoint, '--dir', dir, '--remove']);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(await readdir(dir), ['mine']);
    });
  });
}

stubSuite('local backend', fuseSkipReason(), (stack, back) => mountFor(stack, `local:${back}`));

stubSuite('test sshd', fuseSkipReason() || sshdSkipReason(), async (stack, back) => {
  const sshd = await startSshd(stack);
  return mountFor(stack, `ssh://${sshd.user}@127.0.0.1:${sshd.port}${back}`, {
    extraArgs: ['-F', sshd.sshConfigFile, '--known-hosts', sshd.knownHostsFile, '-i', sshd.userKey],
  });
});
