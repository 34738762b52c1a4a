import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, realpath, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runCli, runProcess } from '../helpers/cli.ts';
import { alive, cleanupStack, fuseSkipReason, isMounted, statusRecords, waitFor } from '../helpers/mount.ts';
import { tempDir } from '../helpers/tmp.ts';

const EXEC_CLIENT = fileURLToPath(new URL('../../build/rmount-exec', import.meta.url));

// The kernel (and so /proc/self/mountinfo) spells a mountpoint with its parent's symlinks resolved;
// the runtime records, unmount and the folder mapping of exec must agree with it.
describe('a mountpoint reached through a symlinked folder', { skip: fuseSkipReason() }, () => {
  it('mounts, maps folders for exec and unmounts under either spelling', { timeout: 120_000 }, async t => {
    const stack = cleanupStack(t);
    const dir = await tempDir(stack);
    const real = join(dir, 'real');
    const ws = join(dir, 'ws');
    await mkdir(join(real, 'mnt'), { recursive: true });
    await mkdir(join(ws, 'sub'), { recursive: true });
    await symlink(real, join(dir, 'link'));
    const linked = join(dir, 'link', 'mnt');
    const canonical = join(await realpath(real), 'mnt');
    const env = { RMOUNT_RUNTIME_DIR: join(dir, 'run') };
    let pid: number | undefined;
    stack.after(async () => {
      if (await isMounted(canonical)) await runCli(['unmount', canonical], { env });
      if (await isMounted(canonical)) await new Promise(r => execFile('fusermount3', ['-uz', canonical], r));
      if (pid !== undefined && alive(pid)) process.kill(pid, 'SIGKILL');
    });

    const mounted = await runCli(['mount', `local:${ws}`, linked], { env });
    assert.equal(mounted.code, 0, mounted.stderr);
    const [record] = await statusRecords(env);
    pid = record?.pid;
    assert.equal(record?.mountpoint, canonical);

    const sub = join(linked, 'sub');
    const viaTs = await runCli(['exec', '--in', linked, '--', 'pwd'], { env, cwd: sub });
    assert.equal(viaTs.stdout.toString().trim(), join(ws, 'sub'), viaTs.stderr);
    if (existsSync(EXEC_CLIENT)) {
      const viaGo = await runProcess(EXEC_CLIENT, ['--in', linked, '--', 'pwd'], { cwd: sub, env });
      assert.equal(viaGo.stdout.toString().trim(), join(ws, 'sub'), viaGo.stderr);
    }

    const unmounted = await runCli(['unmount', linked], { env });
    assert.equal(unmounted.code, 0, unmounted.stderr);
    assert.equal(await isMounted(canonical), false);
    if (pid !== undefined) assert.ok(await waitFor(() => !alive(pid!), 10_000), 'daemon stopped');
  });
});
