import type { Command } from 'commander';
import type { SyncAnswer } from '../../control/protocol.ts';
import type { MountRecord } from '../../mount/registry.ts';
import { NotFoundError, UsageError } from '../../remote/errors.ts';
import { WriteBackFailedError } from '../../remote/write-back.ts';
import type { CliContext } from '../context.ts';
import { renderError } from '../errors.ts';
import { ProgressLine, pollStatus, renderProgress } from '../write-back-view.ts';

interface SyncFlags {
  retry?: boolean;
  discard?: boolean;
}

/** `rmount sync [MOUNTPOINT] [--retry|--discard]`: waits until what was saved through a mount is on the remote. */
export function registerSync(program: Command, ctx: CliContext): void {
  program.command('sync')
    .description('wait until every change saved through the mount is on the remote (no MOUNTPOINT: the mount holding this folder, else every mount of this user)')
    .argument('[mountpoint]', 'a mounted folder')
    .option('--retry', 'send the changes the remote refused again, then wait')
    .option('--discard', 'drop the changes the remote refused (they are lost) and print their paths')
    .action(async (mountpoint: string | undefined, flags: SyncFlags) => {
      if (flags.retry === true && flags.discard === true) {
        throw new UsageError('--retry and --discard exclude each other', { suggestion: 'rmount sync --retry sends the refused changes again; rmount sync --discard drops them' });
      }
      const mounts = await syncTargets(ctx, mountpoint);
      if (mounts.length === 0) {
        ctx.stderr.write('rmount: no mounts to sync\n');
        return;
      }
      const failures: { mountpoint: string; error: unknown }[] = [];
      for (const m of mounts) {
        try {
          await syncOne(ctx, m, flags);
        } catch (error) {
          failures.push({ mountpoint: m.mountpoint, error });
        }
      }
      if (failures.length === 0) return;
      // Every mount's refusals are listed in full; the last error takes the common exit path.
      for (const f of failures) {
        if (f.error instanceof WriteBackFailedError) {
          ctx.stderr.write(`rmount: ${f.mountpoint}: the remote refused ${f.error.failed.length} change(s):\n`);
          for (const op of f.error.failed) ctx.stderr.write(`  ${op.op} ${op.path}: ${op.code}${op.message === '' ? '' : ` (${op.message})`}\n`);
        }
      }
      for (const f of failures.slice(0, -1)) ctx.stderr.write(`${renderError(f.error)}\n`);
      throw failures.at(-1)!.error;
    });
}

/**
 * The mounts to sync: the one named, else the mount that holds the current folder, else every
 * mount of this user whose daemon runs (as `rmount status` lists them).
 */
async function syncTargets(ctx: CliContext, mountpointArg: string | undefined): Promise<MountRecord[]> {
  const { listRecords, processAlive, readRecord, runtimeDir } = await import('../../mount/registry.ts');
  const dir = await runtimeDir(ctx.env);
  if (mountpointArg !== undefined) {
    const { canonicalMountpoint } = await import('../../system/mountinfo.ts');
    const mountpoint = await canonicalMountpoint(mountpointArg);
    const record = await readRecord(dir, mountpoint);
    if (record === undefined) throw new NotFoundError(`${mountpoint} is not an rmount mount`, { suggestion: 'rmount status lists the mounts' });
    if (record.socket === undefined) throw new UsageError(`the mount on ${mountpoint} serves no control socket`, { suggestion: `remount it: rmount unmount ${mountpoint}` });
    return [record];
  }
  const { findMountFor } = await import('../../exec/find-mount.ts');
  const here = await findMountFor(dir, process.cwd());
  if (here !== undefined && here.record.socket !== undefined) return [here.record];
  return (await listRecords(dir)).filter(r => r.socket !== undefined && processAlive(r.pid)).sort((a, b) => a.mountpoint.localeCompare(b.mountpoint));
}

/** Syncs one mount; on a terminal, draws its progress from `status` polled on a second connection. */
async function syncOne(ctx: CliContext, record: MountRecord, flags: SyncFlags): Promise<void> {
  const { connectControl } = await import('../../control/client.ts');
  const client = await connectControl(record.socket!);
  const line = new ProgressLine(ctx.stderr);
  const poller = line.drawing && flags.discard !== true
    ? pollStatus(record.socket!, s => {
      const text = renderProgress(record.mountpoint, s);
      if (text !== undefined) line.draw(text);
    })
    : undefined;
  try {
    const answer = await client.request<SyncAnswer>('sync', { ...(flags.retry === true ? { retry: true } : {}), ...(flags.discard === true ? { discard: true } : {}) });
    await poller?.stop();
    line.clear();
    for (const path of answer.discarded ?? []) ctx.stdout.write(`${path}\n`);
    if (line.drawing && flags.discard !== true) ctx.stderr.write(`rmount: ${record.mountpoint}: every change is on the remote\n`);
  } finally {
    await poller?.stop();
    line.clear();
    client.close();
  }
}
