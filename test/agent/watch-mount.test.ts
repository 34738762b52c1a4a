import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { startSshd } from '../helpers/sshd.ts';
import { sshdSkipReason } from '../helpers/sshd.ts';
import { cleanupStack, fuseSkipReason, mountFor, statusRecords, waitFor } from '../helpers/mount.ts';
import { goSkipReason, testAgentDist } from './agent-binary.ts';

const skip = goSkipReason() || sshdSkipReason() || fuseSkipReason();

describe('watch through a mount', { skip }, () => {
  it('a change made on the remote is visible through the mount long before cache_timeout=600', { timeout: 120_000 }, async t => {
    process.env.RMOUNT_AGENT_DIST = await testAgentDist();
    const stack = cleanupStack(t);
    // No sftp subsystem: agent=auto runs rmount-agent over exec, and it watches.
    const sshd = await startSshd(stack, { sftp: false });
    const back = join(sshd.dir, 'workspace');
    await mkdir(join(back, 'sub'), { recursive: true });
    await writeFile(join(back, 'sub', 'file.txt'), 'one');
    const m = await mountFor(stack, `ssh://${sshd.user}@127.0.0.1:${sshd.port}${back}`, {
      o: ['agent=auto', 'cache_timeout=600'],
      extraArgs: ['-F', sshd.sshConfigFile, '--known-hosts', sshd.knownHostsFile, '-i', sshd.userKey],
    });
    const mnt = m.mountpoint;
    assert.equal(((await statusRecords(m.env))[0] as { watch?: boolean }).watch, true, 'status shows the mount watching');
    assert.equal(await readFile(join(mnt, 'sub', 'file.txt'), 'utf8'), 'one');
    assert.deepEqual(await readdir(join(mnt, 'sub')), ['file.txt']);

    const changed = Date.now();
    await writeFile(join(back, 'sub', 'file.txt'), 'two, longer');
    assert.ok(await waitFor(async () => (await readFile(join(mnt, 'sub', 'file.txt'), 'utf8')) === 'two, longer', 5000, 50), 'content change seen');
    const contentMs = Date.now() - changed;

    await writeFile(join(back, 'sub', 'new.txt'), 'n');
    assert.ok(await waitFor(async () => (await readdir(join(mnt, 'sub'))).includes('new.txt'), 5000, 50), 'new file listed');
    await rm(join(back, 'sub', 'file.txt'));
    assert.ok(await waitFor(async () => !(await readdir(join(mnt, 'sub'))).includes('file.txt'), 5000, 50), 'removed file gone');
    await assert.rejects(readFile(join(mnt, 'sub', 'file.txt')), { code: 'ENOENT' });
    t.diagnostic(`remote content change visible after ${contentMs} ms`);
  });

  // The control: the same mount without watch keeps serving its cached listing, so the test above proves the watch.
  it('without watch (sftp subsystem, agent=no) the mount keeps serving its cache', { timeout: 120_000 }, async t => {
    const stack = cleanupStack(t);
    const sshd = await startSshd(stack);
    const back = join(sshd.dir, 'workspace');
    await mkdir(back, { recursive: true });
    await writeFile(join(back, 'file.txt'), 'one');
    const m = await mountFor(stack, `ssh://${sshd.user}@127.0.0.1:${sshd.port}${back}`, {
      o: ['agent=no', 'cache_timeout=600'],
      extraArgs: ['-F', sshd.sshConfigFile, '--known-hosts', sshd.knownHostsFile, '-i', sshd.userKey],
    });
    assert.equal(((await statusRecords(m.env))[0] as { watch?: boolean }).watch, false, 'status shows the mount not watching');
    assert.equal(await readFile(join(m.mountpoint, 'file.txt'), 'utf8'), 'one');
    assert.deepEqual(await readdir(m.mountpoint), ['file.txt']);
    await writeFile(join(back, 'file.txt'), 'two, longer');
    await writeFile(join(back, 'new.txt'), 'n');
    await new Promise(resolve => setTimeout(resolve, 1000));
    // The listing misses the new file for the cache lifetime; an open asks the remote for the
    // file's attributes beside the open (close-to-open), so its content is new without the watch.
    assert.deepEqual(await readdir(m.mountpoint), ['file.txt']);
    assert.equal(await readFile(join(m.mountpoint, 'file.txt'), 'utf8'), 'two, longer');
  });
});
