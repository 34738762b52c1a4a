import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { ProgressLine, pollStatus, renderProgress, renderWaitingJournal, unsent, type StatusPoller } from '../write-back-view.ts';

/** A status answer older than this no longer tells that the daemon is at work. */
const FRESH_MS = 2000;

/** `rmount unmount <mountpoint>`: works on a live mount and on a stale one left by a killed daemon. */
export function registerUnmount(program: Command, ctx: CliContext): void {
  program.command('unmount')
    .alias('umount')
    .description('unmount a mount (also a stale one whose daemon was killed); waits while it sends what its journal holds')
    .argument('<mountpoint>', 'the mounted folder')
    .action(async (mountpoint: string) => {
      const { unmount } = await import('../../mount/unmount.ts');
      const { canonicalMountpoint } = await import('../../system/mountinfo.ts');
      const canonical = await canonicalMountpoint(mountpoint);
      // The daemon sends its journal before it closes its socket: poll that socket meanwhile, to
      // draw the progress and to keep waiting as long as changes are still on their way.
      const line = new ProgressLine(ctx.stderr);
      const poller = await watchDrain(ctx, canonical, line);
      let how;
      try {
        how = await unmount(mountpoint, {
          env: ctx.env,
          busy: () => poller !== undefined && poller.last?.writeBack !== undefined && Date.now() - poller.lastAt < FRESH_MS && unsent(poller.last.writeBack) > 0,
        });
      } finally {
        await poller?.stop();
        line.clear();
      }
      if (how === 'forced') ctx.stderr.write(`rmount: ${mountpoint} had no live daemon; detached it\n`);
      await reportLeftBehind(ctx, canonical);
    });
}

async function watchDrain(ctx: CliContext, mountpoint: string, line: ProgressLine): Promise<StatusPoller | undefined> {
  const { processAlive, readRecord, runtimeDir } = await import('../../mount/registry.ts');
  const record = await readRecord(await runtimeDir(ctx.env), mountpoint);
  if (record?.socket === undefined || !processAlive(record.pid)) return undefined;
  return pollStatus(record.socket, s => {
    const text = s.writeBack !== undefined && s.writeBack.pendingOps > 0 ? renderProgress(mountpoint, s) : undefined;
    if (text !== undefined) line.draw(`sending before unmount: ${text}`);
  });
}

/** Says so when the mount ended with changes still in its journal (refused, or the link was down). */
async function reportLeftBehind(ctx: CliContext, mountpoint: string): Promise<void> {
  const { journalRoot, listJournals } = await import('../../writeback/journal-dir.ts');
  const left = await listJournals(journalRoot(ctx.env)).catch(() => []);
  for (const j of left) {
    if (!j.live && j.meta.mountpoint === mountpoint) ctx.stderr.write(`rmount: ${renderWaitingJournal(j)}\n`);
  }
}
