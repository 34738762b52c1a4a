import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runCli } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';

describe('rmount CLI on a local destination', () => {
  it('exec passes the exit code through', async () => {
    for (const code of [0, 1, 42]) {
      const r = await runCli(['exec', 'local:/', '--', 'sh', '-c', `exit ${code}`]);
      assert.equal(r.code, code);
    }
  });
  it('exec reports a command killed by a signal as 128+N', async () => {
    const r = await runCli(['exec', 'local:/', '--', 'sh', '-c', 'kill -TERM $$']);
    assert.equal(r.code, 143);
  });
  it('exec passes hostile arguments unchanged and runs in the destination folder', async t => {
    const dir = await tempDir(t);
    const args = ['a b', "q'uote", '$(touch pwned)', '*', 'new\nline'];
    const r = await runCli(['exec', `local:${dir}`, '--', 'sh', '-c', 'printf "%s\\0" "$PWD" "$@"', 'sh', ...args]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.toString().split('\0').slice(0, -1), [dir, ...args]);
  });
  it('exec keeps stderr apart from stdout', async () => {
    const r = await runCli(['exec', 'local:/', '--', 'sh', '-c', 'echo out; echo err >&2']);
    assert.equal(r.stdout.toString(), 'out\n');
    assert.equal(r.stderr, 'err\n');
  });
  it('exec forwards 10 MiB of binary stdin to stdout unchanged', async () => {
    const data = randomBytes(10 << 20);
    const r = await runCli(['exec', 'local:/', '--', 'cat'], { input: data });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(createHash('sha256').update(r.stdout).digest('hex'), createHash('sha256').update(data).digest('hex'));
  });
  it('exec with --env and --cwd sets both', async t => {
    const dir = await tempDir(t);
    const r = await runCli(['exec', '--cwd', dir, '--env', 'GREETING=hi there', 'local:/', '--', 'sh', '-c', 'echo "$PWD:$GREETING"']);
    assert.equal(r.stdout.toString(), `${dir}:hi there\n`);
  });
  it('exec of a missing program fails with ERR_NOT_FOUND', async () => {
    const r = await runCli(['exec', 'local:/', '--', 'rmount-no-such-program']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /\[ERR_NOT_FOUND\]/);
  });
  it('ls lists a folder in long form, symlinks with their target', async t => {
    const dir = await tempDir(t);
    await writeFile(join(dir, 'a.txt'), 'hello');
    await mkdir(join(dir, 'sub'));
    await symlink('a.txt', join(dir, 'link'));
    const r = await runCli(['ls', `local:${dir}`]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.toString().trim().split('\n');
    assert.equal(lines.length, 3);
    assert.match(lines[0]!, /^-rw.* 5 .* a\.txt$/);
    assert.match(lines[1]!, /^l.* link -> a\.txt$/);
    assert.match(lines[2]!, /^d.* sub$/);
  });
  it('ls of a missing path exits 1 with ENOENT', async () => {
    const r = await runCli(['ls', 'local:/no/such/rmount/path']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /\[ENOENT\]/);
  });
  it('a malformed destination exits 2 and names the accepted forms', async () => {
    for (const bad of ['no/host', 'ftp://x', 'compose://p', 'ssh://h:99999']) {
      const r = await runCli(['ls', bad]);
      assert.equal(r.code, 2, bad);
      assert.match(r.stderr, /\[ERR_USAGE\]/);
      assert.match(r.stderr, /compose:\/\/project\/service/);
    }
  });
  it('an unknown command exits 2', async () => {
    const r = await runCli(['frobnicate']);
    assert.equal(r.code, 2);
  });
  it('platform prints GOOS/GOARCH of the local machine', async () => {
    const r = await runCli(['platform', '--json', 'local:/']);
    assert.equal(r.code, 0, r.stderr);
    const p = JSON.parse(r.stdout.toString()) as { os: string; arch: string };
    assert.equal(p.os, 'linux');
    assert.equal(p.arch, { x64: 'amd64', arm64: 'arm64', ia32: '386' }[process.arch as string] ?? p.arch);
  });
  it('doctor reports each check with a status', async () => {
    const r = await runCli(['doctor', '--json']);
    const checks = JSON.parse(r.stdout.toString()) as { name: string; status: string }[];
    assert.ok(checks.some(c => c.name === '/dev/fuse'));
    for (const c of checks) assert.ok(['ok', 'warn', 'fail'].includes(c.status));
    assert.equal(r.code, checks.some(c => c.status === 'fail') ? 1 : 0);
  });
});
