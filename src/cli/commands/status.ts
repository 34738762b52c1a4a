import type { Command } from 'commander';
import { findMount } from '../../mount/mountinfo.ts';
import { listRecords, processAlive, removeRecord, runtimeDir } from '../../mount/registry.ts';
import type { CliContext } from '../context.ts';

/** One mount as `rmount status` shows it. */
export interface MountStatus {
  destination: string;
  mountpoint: string;
  remotePath: string;
  pid: number;
  /** 'mounted': daemon alive and kernel mount present; 'stale': mount present, daemon gone. */
  state: 'mounted' | 'stale' | 'starting';
  uptimeSeconds: number;
  logFile: string;
}

/** `rmount status [--json]`: the mounts of this user. */
export function registerStatus(program: Command, ctx: CliContext): void {
  program.command('status')
    .description('list the mounts of this user and their state')
    .option('--json', 'print as JSON')
    .action(async (flags: { json?: boolean }) => {
      const dir = await runtimeDir(ctx.env);
      const out: MountStatus[] = [];
      for (const r of await listRecords(dir)) {
        const alive = processAlive(r.pid);
        const mounted = (await findMount(r.mountpoint)) !== undefined;
        if (!alive && !mounted) {
          await removeRecord(dir, r.mountpoint);
          continue;
        }
        out.push({
          destination: r.destination, mountpoint: r.mountpoint, remotePath: r.remotePath, pid: r.pid,
          state: alive && mounted ? 'mounted' : alive ? 'starting' : 'stale',
          uptimeSeconds: Math.round((Date.now() - Date.parse(r.startedAt)) / 1000),
          logFile: r.logFile,
        });
      }
      if (flags.json) {
        ctx.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
        return;
      }
      if (out.length === 0) {
        ctx.stdout.write('no mounts\n');
        return;
      }
      for (const m of out) {
        ctx.stdout.write(`${m.mountpoint}  ${m.destination}  ${m.state}  pid ${m.pid}  up ${m.uptimeSeconds}s${m.state === 'stale' ? `  (rmount unmount ${m.mountpoint})` : ''}\n`);
      }
    });
}
