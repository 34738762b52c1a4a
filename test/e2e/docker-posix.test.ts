import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dockerdSkipReason, startDockerd } from '../helpers/dockerd.ts';
import { fuseSkipReason, mountFor } from '../helpers/mount.ts';
import { posixSuite, type PosixTarget } from './posix-suite.ts';

// The container sees the backing folder through a bind mount at /work, so the suite can check the
// "remote" side on this machine's disk. Run twice: through rmount-agent (what a mount of a container
// uses when a build for it exists) and through the agentless copy/exec client.
for (const [label, agent, nanosecondTimes] of [
  ['docker backend (rmount-agent over docker exec)', 'yes', true],
  ['docker backend (agentless copy/exec, busybox)', 'no', false],
] as const) {
  posixSuite(label, async hook => {
    const dockerd = await startDockerd(hook);
    const back = await mkdtemp(join(tmpdir(), 'rmount-back-'));
    hook.after(() => rm(back, { recursive: true, force: true }));
    const name = await dockerd.run({ args: ['-v', `${back}:/work`, '-w', '/work'] });
    // The mount daemon is spawned by the CLI with this process's environment.
    process.env.DOCKER_HOST = dockerd.host;
    const dest = `docker://${name}/work`;
    const o = [`agent=${agent}`];
    const { mountpoint } = await mountFor(hook, dest, { o });
    return {
      mnt: mountpoint,
      back,
      // busybox touch sets whole seconds only; the agent keeps nanoseconds.
      nanosecondTimes,
      // The agentless client pays a few docker execs (~50 ms each) per file written.
      ...(agent === 'no' ? { bulkFiles: 100 } : {}),
      remount: async (t, more) => (await mountFor(t, dest, { o: [...o, ...more] })).mountpoint,
    } satisfies PosixTarget;
  }, { skip: fuseSkipReason() || dockerdSkipReason() });
}
