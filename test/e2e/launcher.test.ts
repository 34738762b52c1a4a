/**
 * bin/rmount run as a command, as users run it: its shell part starts one node for
 * `rmount mount`, which serves the mount itself and lets the shell return once it answers
 * (src/cli/mount-in-place.ts). The two-process path (`node … run.ts mount`) is mount-cli.test.ts.
 */
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, readdir, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { launcherCopy, runLauncher, runProcess } from '../helpers/cli.ts';
import { alive, attemptMount, cleanupStack, cliFor, fuseSkipReason, helloBacking, isMounted, mountFor, statusRecords, waitFor } from '../helpers/mount.ts';

const fuseSkip = fuseSkipReason();

/** Fields of /proc/PID/stat after the command name (which may hold spaces): state is [0]. */
async function statFields(pid: number): Promise<string[]> {
  const text = await readFile(`/proc/${pid}/stat`, 'utf8');
  return text.slice(text.lastIndexOf(')') + 2).trim().split(' ');
}

/** Pids of processes whose command line names `word`. */
async function processesNaming(word: string): Promise<number[]> {
  const out: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const cmdline = await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.split('\0').includes(word)) out.push(Number(name));
  }
  return out;
}

describe('bin/rmount mount: the daemon is the process the shell started', { skip: fuseSkip, timeout: 240_000 }, () => {
  it('returns once the mount answers, having printed nothing; the daemon has its own session, no terminal, and its log as stdout and stderr', async t => {
    const stack = cleanupStack(t);
    const back = await helloBacking(stack);
    const m = await mountFor(stack, `local:${back}`, { launcher: true });
    assert.equal(await readFile(join(m.mountpoint, 'hello.txt'), 'utf8'), 'hello\n');
    const cmdline = (await readFile(`/proc/${m.pid}/cmdline`, 'utf8')).split('\0');
    // The process started for `rmount mount`, not a second one started with the daemon's line.
    assert.ok(cmdline.includes('mount') && !cmdline.includes('--ready-fd') && !cmdline.includes('--foreground'), cmdline.join(' '));
    const fields = await statFields(m.pid);
    // Fields after the name: state ppid pgrp session tty_nr.
    assert.equal(Number(fields[3]), m.pid, 'a session of its own (so no SIGHUP when the terminal closes)');
    assert.equal(Number(fields[4]), 0, 'no controlling terminal');
    assert.equal(await readlink(`/proc/${m.pid}/fd/0`), '/dev/null');
    const out = await readlink(`/proc/${m.pid}/fd/1`);
    assert.ok(out.startsWith(m.env.RMOUNT_RUNTIME_DIR!) && out.endsWith('.log'), out);
    assert.equal(await readlink(`/proc/${m.pid}/fd/2`), out);

    const r = await cliFor(m, ['unmount', m.mountpoint]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await isMounted(m.mountpoint), false);
    assert.ok(await waitFor(() => !alive(m.pid), 15_000), 'daemon still alive after unmount');
  });

  it('SIGTERM to it unmounts cleanly', async t => {
    const stack = cleanupStack(t);
    const back = await helloBacking(stack);
    const m = await mountFor(stack, `local:${back}`, { launcher: true });
    process.kill(m.pid, 'SIGTERM');
    assert.ok(await waitFor(async () => !alive(m.pid) && !(await isMounted(m.mountpoint)), 20_000), 'still mounted or daemon alive 20 s after SIGTERM');
    assert.deepEqual(await statusRecords(m.env), []);
  });

  it('failures reach the shell with their exit code and message, before and after the process left the terminal, and leave no process behind', async t => {
    const stack = cleanupStack(t);
    const back = await helloBacking(stack);
    const missingMountpoint = join(back, 'no', 'such', 'folder');
    const cases: [string, { o?: string[]; mountpoint?: string }, number, RegExp][] = [
      // Found before the process leaves the terminal.
      [`local:${back}`, { mountpoint: missingMountpoint }, 1, /mountpoint .* does not exist \[ERR_NOT_FOUND\]/],
      [`local:${back}`, { o: ['no_such_option'] }, 2, /\[ERR_USAGE\]/],
      // Found once it is the daemon: the message goes to the terminal it kept for that.
      [`local:${join(back, 'missing')}`, {}, 1, /remote folder .*missing does not exist .*\[ERR_NOT_FOUND\]/],
      [`local:${join(back, 'hello.txt')}`, {}, 2, /\[ERR_USAGE\]/],
    ];
    for (const [dest, opts, code, message] of cases) {
      const a = await attemptMount(stack, dest, { ...opts, launcher: true });
      assert.equal(a.result.code, code, `${dest}: ${a.result.stderr}`);
      assert.match(a.result.stderr, message);
      assert.equal(a.result.stdout.length, 0);
      assert.equal(await isMounted(a.mountpoint), false);
      assert.deepEqual(await statusRecords(a.env), []);
      assert.ok(await waitFor(async () => (await processesNaming(a.mountpoint)).length === 0, 15_000), `a process for ${a.mountpoint} is left`);
    }
  });

  it('mount --help is answered as any command is', async () => {
    const r = await runLauncher(['mount', '--help']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout.toString(), /Usage: rmount mount/);
  });
});

describe("bin/rmount's shell part", () => {
  /** Runs the launcher with `script` as the `node` it finds first on PATH. */
  async function withFakeNode(t: { after(fn: () => Promise<void>): void }, script: string, args = ['mount', 'local:/nowhere', '/nowhere']): Promise<{ code: number | null; stderr: string }> {
    const dir = await mkdtemp(join(tmpdir(), 'rmount-fake-node-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    await writeFile(join(dir, 'node'), `#!/bin/sh\n${script}\n`);
    await chmod(join(dir, 'node'), 0o755);
    return runProcess(join(launcherCopy(), 'bin', 'rmount'), args, { env: { PATH: `${dir}:/usr/bin:/bin` } });
  }

  it('returns with the code node says on fd 3, while node goes on', async t => {
    const r = await withFakeNode(t, 'printf "log /x/y.log\\nexit 7\\n" >&3; exec 3>&-; sleep 5 >/dev/null 2>&1 &');
    assert.equal(r.code, 7, r.stderr);
    assert.equal(r.stderr, '');
  });

  it('names the log when node dies without saying how the mount went', async t => {
    const r = await withFakeNode(t, 'echo "log /some/where.log" >&3; exit 3');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /the mount daemon exited before the mount answered; its log is \/some\/where\.log/);
  });

  it('reads the code from the last line only, so a log path that holds "exit 5" is no code', async t => {
    const r = await withFakeNode(t, 'echo "log /tmp/exit 5/x.log" >&3; exit 4');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /exited before the mount answered; its log is \/tmp\/exit 5\/x\.log/);
  });

  it('names fd 3 to node in RMOUNT_LAUNCHER_FD for a background mount', async t => {
    const r = await withFakeNode(t, 'echo "exit ${RMOUNT_LAUNCHER_FD:-none}" >&3');
    assert.equal(r.code, 3, r.stderr);
  });

  it('replaces itself with node for every other command, and for a mount in the foreground', async t => {
    // Exits 0 only when neither the variable nor fd 3 reached it; the launcher passes the code on.
    const script = '[ -z "${RMOUNT_LAUNCHER_FD-}" ] && ! (true >&3) 2>/dev/null && exit 0; exit 9';
    for (const args of [['--version'], ['status'], ['mount', '-f', 'local:/nowhere', '/nowhere'], ['mount', 'local:/nowhere', '/nowhere', '--help']]) {
      const r = await withFakeNode(t, script, args);
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    }
  });
});
