import type { Command } from 'commander';
import type { Writable } from 'node:stream';
import { installAgent, type InstallOptions, type InstallResult } from '../../agent/install.ts';
import { describeBuild } from '../../agent/resolve.ts';
import { UsageError } from '../../remote/errors.ts';
import { addConnectOptions, type CliContext } from '../context.ts';
import { withBackend, type ConnectFlags } from '../connect.ts';

/** Uploads below this size get no progress bar. */
const PROGRESS_MIN_BYTES = 1024 * 1024;

/** A one-line progress bar on a TTY stderr for uploads over 1 MiB; a no-op otherwise. */
export function progressBar(out: Writable & { isTTY?: boolean; columns?: number }, label: string): { update(sent: number, total: number): void; done(): void } {
  let drawn = false;
  return {
    update(sent, total) {
      if (!out.isTTY || total < PROGRESS_MIN_BYTES) return;
      const width = Math.max(10, Math.min(40, (out.columns ?? 80) - label.length - 30));
      const filled = Math.round((sent / total) * width);
      const mib = (n: number): string => (n / 1048576).toFixed(1);
      out.write(`\r${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${mib(sent)}/${mib(total)} MiB`);
      drawn = true;
    },
    done() {
      if (drawn) out.write('\n');
    },
  };
}

function report(ctx: CliContext, r: InstallResult, addr: string): void {
  ctx.stdout.write(`${r.uploaded ? 'uploaded' : 'up to date:'} ${describeBuild(r.build)} → ${addr}:${r.remotePath} (sha256 ${r.sha256.slice(0, 16)}…)\n`);
}

/** `rmount agent install <dest>` and `rmount agent push <dest> --from … --to …`. */
export function registerAgent(program: Command, ctx: CliContext): void {
  const agent = program.command('agent').description('put rmount-agent (or your own multi-platform binary) on a remote');

  addConnectOptions(agent.command('install')
    .description('upload the rmount agent for the remote\'s platform to its per-version path (skipped when the remote copy matches)')
    .argument('<dest>', 'destination')
    .option('--from <dir|template>', 'agent builds: a dist folder or a template like ./bin/agent_{os}_{arch} (default dist/agent)'))
    .action(async (dest: string, flags: ConnectFlags & { from?: string }) => {
      await withBackend(dest, flags, async backend => {
        const bar = progressBar(ctx.stderr, 'rmount-agent');
        const r = await installAgent(backend, { ...(flags.from !== undefined ? { from: flags.from } : {}), onProgress: bar.update });
        bar.done();
        report(ctx, r, backend.addr);
      });
    });

  addConnectOptions(agent.command('push')
    .description('upload the build of a multi-platform binary that matches the remote\'s platform')
    .argument('<dest>', 'destination')
    .requiredOption('--from <dist|template>', 'a goreleaser dist/ folder (artifacts.json or name_os_arch folders), an rmount-style dist folder, or a template like ./bin/tool_{os}_{arch}')
    .requiredOption('--to <remote path>', 'where to put it on the remote (~/ is the remote home)')
    .option('--mode <octal>', 'file mode', '0755'))
    .action(async (dest: string, flags: ConnectFlags & { from: string; to: string; mode: string }) => {
      if (!/^0?[0-7]{3,4}$/.test(flags.mode)) throw new UsageError(`--mode ${flags.mode} is not an octal mode`, { suggestion: 'e.g. --mode 0755' });
      await withBackend(dest, flags, async backend => {
        const bar = progressBar(ctx.stderr, flags.to.split('/').pop() ?? flags.to);
        const options: InstallOptions = { from: flags.from, remotePath: flags.to, mode: parseInt(flags.mode, 8), onProgress: bar.update };
        const r = await installAgent(backend, options);
        bar.done();
        report(ctx, r, backend.addr);
      });
    });
}
