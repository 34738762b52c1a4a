import type { Command } from 'commander';
import { NotFoundError, UsageError } from '../../remote/errors.ts';
import type { CliContext } from '../context.ts';

/** `rmount cache flush <mountpoint>`: drops the mount's caches through its control socket. */
export function registerCache(program: Command, ctx: CliContext): void {
  const cache = program.command('cache').description("manage a mount's caches");
  cache.command('flush')
    .description('drop the attribute, name, negative and folder caches of a mount (and the kernel\'s)')
    .argument('<mountpoint>', 'a mounted folder')
    .action(async (mountpointArg: string) => {
      const { readRecord, runtimeDir } = await import('../../mount/registry.ts');
      const { canonicalMountpoint } = await import('../../system/mountinfo.ts');
      const mountpoint = await canonicalMountpoint(mountpointArg);
      const record = await readRecord(await runtimeDir(ctx.env), mountpoint);
      if (record === undefined) throw new NotFoundError(`${mountpoint} is not an rmount mount`, { suggestion: 'rmount status lists the mounts' });
      if (record.socket === undefined) throw new UsageError(`the mount on ${mountpoint} serves no control socket`, { suggestion: `remount it: rmount unmount ${mountpoint}` });
      const { connectControl } = await import('../../control/client.ts');
      const client = await connectControl(record.socket);
      try {
        await client.request('cache-flush');
      } finally {
        client.close();
      }
    });
}
