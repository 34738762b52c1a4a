import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fuseSkipReason, mountFor } from '../helpers/mount.ts';
import { sshdSkipReason, startSshd, type AfterHook } from '../helpers/sshd.ts';
import { posixSuite, type PosixTarget } from './posix-suite.ts';

const fuseSkip = fuseSkipReason();

/** A temporary backing folder removed with `hook` (after the mounts over it, which register later). */
async function backingDir(hook: AfterHook): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rmount-back-'));
  hook.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

posixSuite('local backend', async hook => {
  const back = await backingDir(hook);
  const dest = `local:${back}`;
  const { mountpoint } = await mountFor(hook, dest);
  return {
    mnt: mountpoint,
    back,
    nanosecondTimes: true,
    remount: async (t, o) => (await mountFor(t, dest, { o })).mountpoint,
  } satisfies PosixTarget;
}, { skip: fuseSkip });

posixSuite('ssh backend (OpenSSH sshd, sftp subsystem)', async hook => {
  const sshd = await startSshd(hook);
  const back = await backingDir(hook);
  const dest = `ssh://${sshd.user}@127.0.0.1:${sshd.port}${back}`;
  const extraArgs = ['-F', sshd.sshConfigFile, '--known-hosts', sshd.knownHostsFile, '-i', sshd.userKey];
  const { mountpoint } = await mountFor(hook, dest, { extraArgs });
  return {
    mnt: mountpoint,
    back,
    // SFTP v3 SETSTAT carries whole seconds.
    nanosecondTimes: false,
    remount: async (t, o) => (await mountFor(t, dest, { o, extraArgs })).mountpoint,
  } satisfies PosixTarget;
}, { skip: fuseSkip || sshdSkipReason() });
