/**
 * `rmount mount` tells what it replayed: a daemon is killed while the link is blackholed and its
 * journal holds changes, and the next mount of the folder, run through the CLI with stderr on a
 * pipe, says in one plain line how many changes it sent before answering.
 */
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { alive, attemptMount, cleanupStack, cliFor, fuseSkipReason, mountFor, waitFor, type MountForOptions, type TestMount } from '../helpers/mount.ts';
import { proxiedSshd } from '../helpers/proxied-sshd.ts';
import { sshdSkipReason } from '../helpers/sshd.ts';
import { tempDir } from '../helpers/tmp.ts';

const LONG = { timeout: 300_000 };

/** True once the mount's status says its link is not ready (the keepalives went unanswered). */
async function linkIsDown(m: TestMount): Promise<boolean> {
  const r = await cliFor(m, ['status', '--json']);
  const mine = (JSON.parse(r.stdout.toString()) as { mountpoint: string; health?: string }[]).find(s => s.mountpoint === m.mountpoint);
  return mine !== undefined && mine.health !== 'ready';
}

describe('the journal replay at mount time', { skip: fuseSkipReason() || sshdSkipReason() }, () => {
  for (const launcher of [false, true]) it(`a mount after a killed daemon says on stderr how many changes it replayed (${launcher ? 'bin/rmount as a command: the daemon in the process it started' : 'node: a daemon started by the CLI'})`, LONG, async t => {
    // Last in, first out: the mounts go before the server they use.
    const stack = cleanupStack(t);
    const server = await proxiedSshd(stack);
    const state = await tempDir(stack, 'rmount-state-');
    await mkdir(join(server.back, 'w'));
    const opts: MountForOptions = { o: ['agent=no', 'timeout=10', 'cache_timeout=600'], extraArgs: server.extraArgs, env: { RMOUNT_STATE_DIR: state } };
    const m = await mountFor(stack, server.dest, opts);
    // Listed first, so that the names made below are answered from the listing while the link is down.
    await readdir(join(m.mountpoint, 'w'));
    server.proxy.blackhole();
    try {
      assert.ok(await waitFor(() => linkIsDown(m), 60_000, 250), 'the mount noticed the blackhole');
      await mkdir(join(m.mountpoint, 'w', 'new'));
      for (let i = 0; i < 3; i++) await writeFile(join(m.mountpoint, 'w', 'new', `f${i}.txt`), `file ${i}\n`);
      process.kill(m.pid, 'SIGKILL');
      assert.ok(await waitFor(() => !alive(m.pid), 30_000), 'the daemon died');
    } finally {
      server.proxy.restore();
    }
    await m.unmount();

    const again = await attemptMount(stack, server.dest, { ...opts, launcher });
    assert.equal(again.result.code, 0, again.result.stderr);
    assert.match(again.result.stderr, /^rmount: \S+: replayed \d+ changes left in the journal by an earlier mount$/m);
    assert.ok(!again.result.stderr.includes('\r'), `no bar when stderr is no terminal: ${JSON.stringify(again.result.stderr)}`);
    // The replay is over before the mount answers.
    for (let i = 0; i < 3; i++) assert.equal(await readFile(join(server.back, 'w', 'new', `f${i}.txt`), 'utf8'), `file ${i}\n`);
  });
});
