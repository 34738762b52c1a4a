import type { Command } from 'commander';
import { formatPlatform } from '../../remote/platform.ts';
import { addConnectOptions, type CliContext } from '../context.ts';
import { withBackend, type ConnectFlags } from '../connect.ts';

/** `rmount platform <dest>`: the remote's GOOS/GOARCH[/variant]. */
export function registerPlatform(program: Command, ctx: CliContext): void {
  addConnectOptions(program.command('platform')
    .description("print the remote's platform as GOOS/GOARCH[/variant]")
    .argument('<dest>', 'destination')
    .option('--json', 'print {"os","arch","variant"} as JSON'))
    .action(async (dest: string, flags: ConnectFlags & { json?: boolean }) => {
      const p = await withBackend(dest, flags, backend => backend.detectPlatform());
      ctx.stdout.write(flags.json ? `${JSON.stringify(p)}\n` : `${formatPlatform(p)}\n`);
    });
}
