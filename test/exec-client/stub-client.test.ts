/**
 * Path stubs and the native client: inside the mount a shim runs build/rmount-exec when it is an
 * executable file, and falls back to the Node CLI when it is missing or not executable (or when
 * the shims were written with RMOUNT_EXEC_CLIENT=''). A marker written by the fallback launcher
 * tells which way each run went.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeRunner, run } from '../exec/run.ts';
import { cleanupStack, fuseSkipReason, mountFor, type TestMount } from '../helpers/mount.ts';
import { ensureClient, goSkipReason } from './client-binary.ts';

describe('stubs with and without rmount-exec (local backend)', { skip: goSkipReason() || fuseSkipReason(), timeout: 240_000 }, () => {
  const stack = cleanupStack({ after });
  let client: string;
  let work: string;
  let back: string;
  let m: TestMount;
  let launcher: string;
  let marker: string;

  before(async () => {
    client = await ensureClient();
    work = await mkdtemp(join(tmpdir(), 'rmount-xc-stubs-'));
    stack.after(() => rm(work, { recursive: true, force: true }));
    back = join(work, 'back');
    await mkdir(join(back, 'sub', 'deep'), { recursive: true });
    m = await mountFor(stack, `local:${back}`);
    // The fallback launcher: notes that it ran, then runs the CLI from its sources.
    const cli = await makeRunner(stack);
    marker = join(work, 'fallback-ran');
    launcher = join(work, 'launcher');
    await writeFile(launcher, `#!/bin/sh\necho x >> '${marker}'\nexec '${cli}' "$@"\n`);
    await chmod(launcher, 0o755);
  });

  /** Writes shims for `commands` with RMOUNT_EXEC_CLIENT=`execClient` into a fresh folder. */
  async function stubs(execClient: string, commands: string[], extra: string[] = []): Promise<string> {
    const dir = await mkdtemp(join(work, 'stubs-'));
    const r = await run(launcher, ['stubs', m.mountpoint, '--dir', dir, '--runner', launcher, ...extra, ...commands], { env: { ...m.env, RMOUNT_EXEC_CLIENT: execClient } });
    assert.equal(r.code, 0, r.stderr);
    await rm(marker, { force: true });
    return dir;
  }

  async function check(dir: string): Promise<void> {
    const args = ['a b', "it's", '$(x)', '*', 'x\ny', ''];
    const r = await run(join(dir, 'sh'), ['-c', 'pwd; printf "%s|" "$@"; exit 42', 'sh', ...args], { cwd: join(m.mountpoint, 'sub', 'deep'), env: m.env });
    assert.equal(r.code, 42, r.stderr);
    assert.equal(r.stdout.toString(), `${join(back, 'sub', 'deep')}\n${args.join('|')}|`);
    const local = join(m.mountpoint, 'sub', 'deep');
    const mapped = await run(join(dir, 'sh'), ['-c', 'printf "%s\\n" "$@"', 'sh', local], { cwd: m.mountpoint, env: m.env });
    assert.equal(mapped.stdout.toString(), `${join(back, 'sub', 'deep')}\n`, mapped.stderr);
  }

  it('with build/rmount-exec built, a shim runs it and not Node', async () => {
    const dir = await stubs(client, ['sh']);
    assert.match(await readFile(join(dir, 'sh'), 'utf8'), /rmount_client=/);
    await check(dir);
    assert.equal(existsSync(marker), false, 'the Node fallback ran');
  });

  it('the default client path is build/rmount-exec of this checkout', async () => {
    const dir = await mkdtemp(join(work, 'stubs-'));
    const env = { ...m.env };
    delete env.RMOUNT_EXEC_CLIENT;
    const saved = process.env.RMOUNT_EXEC_CLIENT;
    delete process.env.RMOUNT_EXEC_CLIENT;
    try {
      const r = await run(launcher, ['stubs', m.mountpoint, '--dir', dir, '--runner', launcher, 'sh'], { env });
      assert.equal(r.code, 0, r.stderr);
    } finally {
      if (saved !== undefined) process.env.RMOUNT_EXEC_CLIENT = saved;
    }
    assert.ok((await readFile(join(dir, 'sh'), 'utf8')).includes(`rmount_client=${client}\n`));
  });

  it('--rewrite-output goes through rmount-exec too', async () => {
    const dir = await stubs(client, ['sh'], ['--rewrite-output']);
    const r = await run(join(dir, 'sh'), ['-c', 'echo "$PWD/x.c:3: error" >&2; echo "$PWD/y"'], { cwd: join(m.mountpoint, 'sub'), env: m.env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.toString(), `${join(m.mountpoint, 'sub')}/y\n`);
    assert.equal(r.stderr, `${join(m.mountpoint, 'sub')}/x.c:3: error\n`);
    assert.equal(existsSync(marker), false, 'the Node fallback ran');
  });

  it('with the client missing, a shim falls back to the Node CLI', async () => {
    const dir = await stubs(join(work, 'no-such-rmount-exec'), ['sh']);
    await check(dir);
    assert.equal(existsSync(marker), true, 'the Node fallback did not run');
  });

  it('with the client not executable, a shim falls back to the Node CLI', async () => {
    const plain = join(work, 'rmount-exec-not-executable');
    await writeFile(plain, '#!/bin/sh\nexit 99\n', { mode: 0o644 });
    const dir = await stubs(plain, ['sh']);
    await check(dir);
    assert.equal(existsSync(marker), true, 'the Node fallback did not run');
  });

  it("RMOUNT_EXEC_CLIENT='' writes shims that always use the Node CLI", async () => {
    const dir = await stubs('', ['sh']);
    assert.doesNotMatch(await readFile(join(dir, 'sh'), 'utf8'), /rmount_client/);
    await check(dir);
    assert.equal(existsSync(marker), true, 'the Node fallback did not run');
  });

  it('outside the mount a shim still runs the local command, not the client', async () => {
    const dir = await stubs(client, ['printf']);
    const r = await run(join(dir, 'printf'), ['local %s\\n', 'ok'], { cwd: tmpdir(), env: { ...m.env, PATH: `${dir}:/usr/bin:/bin` } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.toString(), 'local ok\n');
  });
});
