import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dockerdSkipReason, startDockerd } from '../helpers/dockerd.ts';
import { fuseSkipReason, mountFor } from '../helpers/mount.ts';
import { posixSuite, type PosixTarget } from './posix-suite.ts';

// The container sees the backing folder through a bind mount at /work, so the suite can check the
// "remote" side on this machine's disk.
posixSuite('docker backend (agentless copy/exec, busybox)', async hook => {
  const dockerd = await startDockerd(hook);
  const back = await mkdtemp(join(tmpdir(), 'rmount-back-'));
  hook.after(() => rm(back, { recursive: true, force: true }));
  const name = await dockerd.run({ args: ['-v', `${back}:/work`, '-w', '/work'] });
  // The mount daemon is spawned by the CLI with this process's environment.
  process.env.DOCKER_HOST = dockerd.host;
  const dest = `docker://${name}/work`;
  const { mountpoint } = await mountFor(hook, dest);
  return {
    mnt: mountpoint,
    back,
    // busybox touch sets whole seconds only.
    nanosecondTimes: false,
    remount: async (t, o) => (await mountFor(t, dest, { o })).mountpoint,
  } satisfies PosixTarget;
}, { skip: fuseSkipReason() || dockerdSkipReason() });
