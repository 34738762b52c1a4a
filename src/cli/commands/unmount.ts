import type { Command } from 'commander';
import type { CliContext } from '../context.ts';

/** `rmount unmount <mountpoint>`: works on a live mount and on a stale one left by a killed daemon. */
export function registerUnmount(program: Command, ctx: CliContext): void {
  program.command('unmount')
    .alias('umount')
    .description('unmount a mount (also a stale one whose daemon was killed)')
    .argument('<mountpoint>', 'the mounted folder')
    .action(async (mountpoint: string) => {
      const { unmount } = await import('../../mount/unmount.ts');
      const how = await unmount(mountpoint, { env: ctx.env });
      if (how === 'forced') ctx.stderr.write(`rmount: ${mountpoint} had no live daemon; detached it\n`);
    });
}
