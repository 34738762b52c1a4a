/**
 * The mounts the behaviour suites run through, made one way for all of them: a local folder, an
 * SSH host (sftp subsystem or rmount-agent) and a Docker container (rmount-agent or agentless).
 * The "remote" side of each is a folder on this machine, so a suite can check it directly.
 */
import { chmod, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { goSkipReason } from '../agent/agent-binary.ts';
import { dockerdSkipReason, startDockerd } from '../helpers/dockerd.ts';
import type { CliResult } from '../helpers/cli.ts';
import { cliFor, fuseSkipReason, mountFor } from '../helpers/mount.ts';
import { sshdSkipReason, startSshd, type AfterHook } from '../helpers/sshd.ts';
import { removeTree } from '../helpers/tmp.ts';
import { settleMount, type PosixTarget } from './posix-suite.ts';

/** A target with what it can do and a way to mount a folder below its root. */
export interface Target extends PosixTarget {
  /** The remote makes FIFOs, sockets and devices, takes long paths and reports ctime and inode numbers (the agent, a local folder). */
  agent: boolean;
  /** The mount hears of remote changes (the agent's watch); a local folder and plain SFTP do not. */
  watch: boolean;
  /** Mounts `back/sub` with more `-o` options; cleaned up with `t`. */
  remountAt(t: AfterHook, sub: string, o: string[]): Promise<string>;
  /** Runs `rmount` with `args` as the user of the first mount would (its runtime folder). */
  cli(args: string[]): Promise<CliResult>;
  /** Mounts `back` again as users get it by default (no `-o cto`, see MountForOptions.trustWatch), with a CLI of its own. */
  mountTrusting(t: AfterHook): Promise<{ mnt: string; cli(args: string[]): Promise<CliResult> }>;
}

/** One kind of target: its label, how to make it, and why it cannot run here. */
export interface TargetKind {
  label: string;
  make(hook: AfterHook): Promise<Target>;
  skip: string | false;
}

/** A temporary backing folder removed with `hook` (after the mounts over it, which register later). */
export async function backingDir(hook: AfterHook): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rmount-back-'));
  hook.after(() => removeTree(dir));
  return dir;
}

/** A target mounting `dest` (a folder whose backing is `back`) with `o` and `extraArgs`. */
async function mounted(hook: AfterHook, dest: string, back: string, o: string[], extraArgs: string[], traits: Pick<Target, 'agent' | 'watch' | 'nanosecondTimes' | 'bulkFiles'>): Promise<Target> {
  const mount = await mountFor(hook, dest, { o, extraArgs });
  const { mountpoint } = mount;
  return {
    cli: args => cliFor(mount, args),
    mountTrusting: async t => {
      const trusting = await mountFor(t, dest, { o, extraArgs, trustWatch: true });
      return { mnt: trusting.mountpoint, cli: args => cliFor(trusting, args) };
    },
    mnt: mountpoint,
    back,
    ...traits,
    remount: async (t, more) => (await mountFor(t, dest, { o: [...o, ...more], extraArgs })).mountpoint,
    remountAt: async (t, sub, more) => (await mountFor(t, `${dest}/${sub}`, { o: [...o, ...more], extraArgs })).mountpoint,
    settle: () => settleMount(mountpoint),
  };
}

/** A local folder through the local backend. */
export const LOCAL: TargetKind = {
  label: 'local backend',
  skip: fuseSkipReason(),
  make: async hook => {
    const back = await backingDir(hook);
    return mounted(hook, `local:${back}`, back, [], [], { agent: true, watch: false, nanosecondTimes: true });
  },
};

/** A real sshd on 127.0.0.1, through its sftp subsystem (`agent=no`) or rmount-agent over exec (`agent=yes`). */
export function sshKind(agent: 'yes' | 'no', label = `ssh backend (${agent === 'yes' ? 'rmount-agent over SSH exec' : 'sftp subsystem'})`): TargetKind {
  return {
    label,
    skip: fuseSkipReason() || sshdSkipReason() || (agent === 'yes' && goSkipReason()),
    make: async hook => {
      const sshd = await startSshd(hook);
      const back = await backingDir(hook);
      const extraArgs = ['-F', sshd.sshConfigFile, '--known-hosts', sshd.knownHostsFile, '-i', sshd.userKey];
      // SFTP v3 SETSTAT carries whole seconds; the agent keeps nanoseconds.
      return mounted(hook, `ssh://${sshd.user}@127.0.0.1:${sshd.port}${back}`, back, [`agent=${agent}`], extraArgs,
        { agent: agent === 'yes', watch: agent === 'yes', nanosecondTimes: agent === 'yes' });
    },
  };
}

/**
 * A container on a private dockerd that sees the backing folder through a bind mount at /work,
 * through rmount-agent (`agent=yes`) or the agentless copy/exec client (`agent=no`).
 */
export function dockerKind(agent: 'yes' | 'no', label = `docker backend (${agent === 'yes' ? 'rmount-agent over docker exec' : 'agentless copy/exec, busybox'})`): TargetKind {
  return {
    label,
    skip: fuseSkipReason() || dockerdSkipReason(),
    make: async hook => {
      const dockerd = await startDockerd(hook);
      const back = await backingDir(hook);
      const name = await dockerd.run({ args: ['-v', `${back}:/work`, '-w', '/work'] });
      // The mount daemon is spawned by the CLI with this process's environment.
      process.env.DOCKER_HOST = dockerd.host;
      // busybox touch sets whole seconds only. The agentless client's operations are commands to
      // long-lived shells, but a file written still costs ~60-100 ms there (2,000 files: 200 s on a
      // quiet machine), so its bulk cases take 500 files to stay well inside their time on a busy one.
      return mounted(hook, `docker://${name}/work`, back, [`agent=${agent}`], [],
        agent === 'yes' ? { agent: true, watch: true, nanosecondTimes: true } : { agent: false, watch: false, nanosecondTimes: false, bulkFiles: 500 });
    },
  };
}

/** `target` mounted again with allow_other, its root and mount point reachable by a second local user. */
export async function mountForOthers(target: PosixTarget, hook: AfterHook): Promise<string> {
  await chmod(target.back, 0o755);
  const mnt = await target.remount(hook, ['allow_other']);
  await chmod(join(mnt, '..'), 0o755);
  return mnt;
}
