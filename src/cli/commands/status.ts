import type { Command } from 'commander';
import type { HealthState, LinkReport, MountStatusPayload } from '../../control/protocol.ts';
import { findMount } from '../../system/mountinfo.ts';
import { listRecords, processAlive, removeRecord, runtimeDir, type MountRecord } from '../../mount/registry.ts';
import type { WriteBackStatus } from '../../remote/write-back.ts';
import type { JournalSummary } from '../../writeback/journal-dir.ts';
import type { CliContext } from '../context.ts';
import { formatBytes, formatUptime } from '../format.ts';
import { renderWaitingJournal, renderWriteBack } from '../write-back-view.ts';

/** One mount as `rmount status` shows it. */
export interface MountStatus {
  destination: string;
  mountpoint: string;
  remotePath: string;
  pid: number;
  /** 'mounted': daemon alive and kernel mount present; 'stale': mount present, daemon gone. */
  state: 'mounted' | 'stale' | 'starting';
  /** The daemon's own view, from its control socket; 'stale' when no daemon answers. */
  health: HealthState | 'stale';
  /** Why the health is not 'ready', when it is not. */
  reason?: string;
  /** The connection as the daemon sees it: state, since, downSince/downSeconds while down, reconnects, lastError. */
  link?: LinkReport;
  /** Seconds the connection has been down, while it is reconnecting. */
  downSeconds?: number;
  /** How often the connection came back after a loss. */
  reconnects?: number;
  /** The last error the connection saw (the loss, or a refused reconnect). */
  lastError?: { code: string; message: string };
  uptimeSeconds: number;
  logFile: string;
  /** The control socket, when the daemon serves one. */
  socket?: string;
  /** FUSE operations answered, in all and by name. */
  ops?: number;
  opsByName?: Record<string, number>;
  /** Calls made to the remote for them, by name: what a workload costs in round trips. */
  remoteCallsByName?: Record<string, number>;
  errors?: number;
  /** Bytes read and written through the mount, and moved over the connection. */
  bytesRead?: number;
  bytesWritten?: number;
  remoteBytesRead?: number;
  remoteBytesWritten?: number;
  /** Hits / (hits + misses) of the attribute, entry, negative, folder and readlink caches; null before any lookup. */
  cacheHitRatio?: number | null;
  /** Remote change notifications in use (not available yet: always false). */
  watch: boolean;
  /** Exec sessions running now through the mount. */
  execRunning?: number;
  /** Inodes held, folder listings kept and their entries, and the daemon's memory (bytes). */
  inodes?: number;
  listings?: number;
  listingEntries?: number;
  rssBytes?: number;
  heapUsedBytes?: number;
  /** The write-back journal: mode, pending operations and bytes, refused operations, conflicts. */
  writeBack?: WriteBackStatus;
}

/** `rmount status [--json]`: the mounts of this user. */
export function registerStatus(program: Command, ctx: CliContext): void {
  program.command('status')
    .description('list the mounts of this user: state, the link (ready/reconnecting/closed, time down, reconnects, last error), uptime, operation and byte counters, cache hit ratio, inodes held, memory and the write-back journal; then journals of ended mounts waiting to be sent')
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
        const base: MountStatus = {
          destination: r.destination, mountpoint: r.mountpoint, remotePath: r.remotePath, pid: r.pid,
          state: alive && mounted ? 'mounted' : alive ? 'starting' : 'stale',
          health: 'stale',
          uptimeSeconds: Math.round((Date.now() - Date.parse(r.startedAt)) / 1000),
          logFile: r.logFile,
          watch: false,
          ...(r.socket === undefined ? {} : { socket: r.socket }),
        };
        out.push(alive ? await withDaemonView(base, r) : base);
      }
      if (flags.json) {
        ctx.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
        return;
      }
      if (out.length === 0) ctx.stdout.write('no mounts\n');
      for (const m of out) {
        ctx.stdout.write(`${renderLine(m)}\n`);
        if (m.writeBack !== undefined) ctx.stdout.write(`${renderWriteBack(m.writeBack).join('\n')}\n`);
      }
      // Changes a mount journaled and could not send before it ended; the next mount of the folder sends them.
      for (const j of await waitingJournals(ctx.env)) ctx.stdout.write(`${renderWaitingJournal(j)}\n`);
    });
}

/** Adds what the daemon reports on its control socket; a daemon that does not answer leaves health 'stale'. */
async function withDaemonView(base: MountStatus, record: MountRecord): Promise<MountStatus> {
  if (record.socket === undefined) return { ...base, health: 'connecting' };
  const { connectControl } = await import('../../control/client.ts');
  try {
    const client = await connectControl(record.socket, { timeoutMs: 3000 });
    try {
      const s = await client.request<MountStatusPayload>('status');
      return {
        ...base,
        health: s.health,
        ...(s.reason === undefined ? {} : { reason: s.reason }),
        ...linkFields(s.link),
        ops: s.ops, opsByName: s.opsByName, remoteCallsByName: s.remoteCallsByName, errors: s.errors,
        bytesRead: s.bytesRead, bytesWritten: s.bytesWritten,
        remoteBytesRead: s.remoteBytesRead, remoteBytesWritten: s.remoteBytesWritten,
        cacheHitRatio: s.cacheHitRatio, watch: s.watch, execRunning: s.execRunning,
        ...(s.rssBytes === undefined ? {} : {
          inodes: s.inodes, listings: s.listings, listingEntries: s.listingEntries, rssBytes: s.rssBytes, heapUsedBytes: s.heapUsedBytes,
        }),
        ...(s.writeBack === undefined ? {} : { writeBack: s.writeBack }),
      };
    } finally {
      client.close();
    }
  } catch (error) {
    return { ...base, reason: `control socket: ${(error as Error).message}` };
  }
}

// Older daemons answer without `link`; their status simply lacks these fields.
function linkFields(link: LinkReport | undefined): Partial<MountStatus> {
  if (link === undefined) return {};
  return {
    link,
    reconnects: link.reconnects,
    ...(link.downSeconds === undefined ? {} : { downSeconds: link.downSeconds }),
    ...(link.lastError === undefined ? {} : { lastError: link.lastError }),
  };
}

function renderLine(m: MountStatus): string {
  const parts = [m.mountpoint, m.destination, m.state === 'mounted' ? m.health : m.state, `pid ${m.pid}`, `up ${formatUptime(m.uptimeSeconds)}`];
  if (m.ops !== undefined) {
    parts.push(`${m.ops} ops`, `read ${formatBytes(m.bytesRead ?? 0)}`, `written ${formatBytes(m.bytesWritten ?? 0)}`);
    parts.push(`cache hits ${m.cacheHitRatio === null || m.cacheHitRatio === undefined ? '-' : `${Math.round(m.cacheHitRatio * 100)}%`}`);
    parts.push(`watch ${m.watch ? 'on' : 'off'}`);
  }
  if (m.rssBytes !== undefined) parts.push(`${m.inodes ?? 0} inodes`, `memory ${formatBytes(m.rssBytes)}`);
  if (m.downSeconds !== undefined) parts.push(`down ${formatUptime(m.downSeconds)}`);
  if (m.reconnects !== undefined && m.reconnects > 0) parts.push(`${m.reconnects} reconnect${m.reconnects === 1 ? '' : 's'}`);
  if (m.lastError !== undefined && m.health !== 'ready') parts.push(m.lastError.code);
  if (m.state === 'stale') parts.push(`(rmount unmount ${m.mountpoint})`);
  else if (m.reason !== undefined) parts.push(`(${m.reason})`);
  return parts.join('  ');
}

/** Journals whose mount no longer runs and that still hold changes; none when the folder cannot be read. */
async function waitingJournals(env: NodeJS.ProcessEnv): Promise<JournalSummary[]> {
  const { journalRoot, listJournals } = await import('../../writeback/journal-dir.ts');
  try {
    return (await listJournals(journalRoot(env))).filter(j => !j.live);
  } catch {
    return [];
  }
}
