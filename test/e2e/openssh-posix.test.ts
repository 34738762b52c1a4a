/**
 * The POSIX suite through a mount whose file traffic goes through the user's OpenSSH client
 * (`-o ssh_client=openssh`), against the real test sshd's sftp subsystem. The target checks that
 * the mount daemon really runs `ssh`, so the suite cannot pass over the built-in client by mistake.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { fuseSkipReason, mountFor } from '../helpers/mount.ts';
import { requirePart, which } from '../helpers/skip.ts';
import { sshdSkipReason, startSshd } from '../helpers/sshd.ts';
import { posixSuite, settleMount } from './posix-suite.ts';
import { backingDir } from './targets.ts';

const skip = fuseSkipReason() || sshdSkipReason()
  || requirePart(which('ssh') === undefined ? 'ssh not installed (the OpenSSH client; Debian package openssh-client)' : false);

/** The commands of `pid`'s child processes. */
function childCommands(pid: number): string[] {
  const out: string[] = [];
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    for (const child of readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim().split(/\s+/).filter(Boolean)) {
      try {
        out.push(readFileSync(`/proc/${child}/comm`, 'utf8').trim());
      } catch {
        // gone meanwhile
      }
    }
  }
  return out;
}

posixSuite('ssh backend through OpenSSH\'s ssh (ssh_client=openssh, sftp subsystem)', async hook => {
  const sshd = await startSshd(hook);
  const back = await backingDir(hook);
  const dest = `ssh://${sshd.user}@127.0.0.1:${sshd.port}${back}`;
  const o = ['agent=no', 'ssh_client=openssh'];
  const extraArgs = ['-F', sshd.sshConfigFile, '--known-hosts', sshd.knownHostsFile, '-i', sshd.userKey];
  const mount = await mountFor(hook, dest, { o, extraArgs });
  assert.ok(childCommands(mount.pid).includes('ssh'), `the mount daemon (pid ${mount.pid}) runs ssh for its files`);
  return {
    mnt: mount.mountpoint,
    back,
    // SFTP v3 SETSTAT carries whole seconds.
    nanosecondTimes: false,
    remount: async (t, more) => (await mountFor(t, dest, { o: [...o, ...more], extraArgs })).mountpoint,
    settle: () => settleMount(mount.mountpoint),
  };
}, { skip });
