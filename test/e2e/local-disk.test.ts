import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { goSkipReason } from '../agent/agent-binary.ts';
import { dockerdSkipReason, startDockerd } from '../helpers/dockerd.ts';
import { fuseSkipReason, mountFor } from '../helpers/mount.ts';
import { sshdSkipReason, startSshd, type AfterHook } from '../helpers/sshd.ts';
import { localDiskSuite, type LocalDiskTarget } from './local-disk-suite.ts';

const fuseSkip = fuseSkipReason();

async function backingDir(hook: AfterHook): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rmount-back-'));
  hook.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

localDiskSuite('local backend', async hook => {
  const back = await backingDir(hook);
  const { mountpoint } = await mountFor(hook, `local:${back}`);
  return {
    mnt: mountpoint, back, nanosecondTimes: true, agent: true,
    remount: async (t, o) => (await mountFor(t, `local:${back}`, { o })).mountpoint,
    remountAt: async (t, sub, o) => (await mountFor(t, `local:${back}/${sub}`, { o })).mountpoint,
  } satisfies LocalDiskTarget;
}, { skip: fuseSkip });

for (const [label, agent] of [['sftp subsystem', 'no'], ['rmount-agent over SSH exec', 'yes']] as const) {
  localDiskSuite(`ssh backend (${label})`, async hook => {
    const sshd = await startSshd(hook);
    const back = await backingDir(hook);
    const dest = `ssh://${sshd.user}@127.0.0.1:${sshd.port}${back}`;
    const extraArgs = ['-F', sshd.sshConfigFile, '--known-hosts', sshd.knownHostsFile, '-i', sshd.userKey];
    const o = [`agent=${agent}`];
    const { mountpoint } = await mountFor(hook, dest, { o, extraArgs });
    return {
      mnt: mountpoint, back, nanosecondTimes: agent === 'yes', agent: agent === 'yes',
      remount: async (t, more) => (await mountFor(t, dest, { o: [...o, ...more], extraArgs })).mountpoint,
      remountAt: async (t, sub, more) => (await mountFor(t, `${dest}/${sub}`, { o: [...o, ...more], extraArgs })).mountpoint,
    } satisfies LocalDiskTarget;
  }, { skip: fuseSkip || sshdSkipReason() || (agent === 'yes' && goSkipReason()) });
}

localDiskSuite('docker backend (rmount-agent over docker exec)', async hook => {
  const dockerd = await startDockerd(hook);
  const back = await backingDir(hook);
  const name = await dockerd.run({ args: ['-v', `${back}:/work`, '-w', '/work'] });
  // The mount daemon is spawned by the CLI with this process's environment.
  process.env.DOCKER_HOST = dockerd.host;
  const o = ['agent=yes'];
  const { mountpoint } = await mountFor(hook, `docker://${name}/work`, { o });
  return {
    mnt: mountpoint, back, nanosecondTimes: true, agent: true,
    remount: async (t, more) => (await mountFor(t, `docker://${name}/work`, { o: [...o, ...more] })).mountpoint,
    remountAt: async (t, sub, more) => (await mountFor(t, `docker://${name}/work/${sub}`, { o: [...o, ...more] })).mountpoint,
  } satisfies LocalDiskTarget;
}, { skip: fuseSkip || dockerdSkipReason() });
