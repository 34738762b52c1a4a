import type { Command } from 'commander';
import { posix } from 'node:path';
import { isDirMode, isSymlinkMode } from '../../remote/file-client.ts';
import { addConnectOptions, type CliContext } from '../context.ts';
import { withBackend, type ConnectFlags } from '../connect.ts';
import { formatListing, sortEntries, type ListingRow } from '../format.ts';

/** `rmount ls <dest>`: a long listing of the destination's folder through its FileClient. */
export function registerLs(program: Command, ctx: CliContext): void {
  addConnectOptions(program.command('ls')
    .description('list the remote folder (or file) in long form, through the file client')
    .argument('<dest>', 'destination')
    .option('-a, --all', 'include names starting with "."'))
    .action(async (dest: string, flags: ConnectFlags & { all?: boolean }) => {
      await withBackend(dest, flags, async backend => {
        const files = await backend.files();
        const path = await backend.resolvePath(backend.destination.path);
        const st = await files.lstat(path);
        let rows: ListingRow[];
        if (isDirMode(st.mode)) {
          const entries = sortEntries(await files.readdir(path)).filter(e => flags.all || !e.name.startsWith('.'));
          rows = await Promise.all(entries.map(async e => withTarget(e.name, e.stat, () => files.readlink(posix.join(path, e.name)))));
        } else {
          rows = [await withTarget(posix.basename(path), st, () => files.readlink(path))];
        }
        if (rows.length > 0) ctx.stdout.write(`${formatListing(rows)}\n`);
      });
    });
}

async function withTarget(name: string, stat: ListingRow['stat'], readlink: () => Promise<string>): Promise<ListingRow> {
  if (!isSymlinkMode(stat.mode)) return { name, stat };
  return { name, stat, target: await readlink().catch(() => '?') };
}
