/**
 * A mount served by this process: the kernel mount (daemon.ts) and its control socket, both
 * recorded in the runtime folder. `rmount mount` runs this in its daemon, or in the foreground
 * with -f; the CLI only parses flags, reports readiness and sets the exit code.
 */
import type { ControlServer, serveControl } from '../control/server.ts';
import type { Destination } from '../remote/destination.ts';
import type { Logger } from '../remote/log.ts';
import { waitLinkReady } from '../remote/backend.ts';
import type { DaemonSessionHost } from '../sessions/daemon-host.ts';
import type { ForwardSet, agentTransport, preferBackendDial } from '../sessions/forward-set.ts';
import type { HostHolder } from '../sessions/host-holder.ts';
import type { runOnHost } from '../sessions/host-run.ts';
import { PermissionError, UnsupportedError } from '../remote/errors.ts';
import { canonicalMountpoint } from '../system/mountinfo.ts';
import { startMount, type RunningMount, type StartMountOptions } from './daemon.ts';
import { IdleCollector, committedHeapBytes, compactingCollection } from './idle-collector.ts';
import { readRecord, runtimeDir, runtimeFiles, writeRecord } from './registry.ts';

/** What `serveMount` needs besides the destination and mountpoint. */
export interface ServeMountOptions extends Omit<StartMountOptions, 'logFile'> {
  /** The log goes to the runtime folder's log file (a daemon started by `rmount mount`), so status names it. */
  logsToRuntimeFile: boolean;
}

/** A mount and its control socket. */
export interface ServedMount {
  readonly mount: RunningMount;
  readonly control: ControlServer;
  /** Sends what the write-back journal holds, closes the control socket, then unmounts; idempotent. */
  stop(): Promise<void>;
  /** Resolves once the mount has ended (by `stop` or from outside) and the socket is closed. */
  readonly ended: Promise<void>;
}

/**
 * Mounts `dest` and serves its control socket. The socket is up before this resolves, so that
 * `rmount exec` right after `rmount mount` finds it; on failure nothing is left mounted.
 */
export async function serveMount(dest: Destination, mountpointArg: string, options: ServeMountOptions): Promise<ServedMount> {
  const dir = await runtimeDir(options.env);
  const mountpoint = await canonicalMountpoint(mountpointArg);
  const { logsToRuntimeFile, ...start } = options;
  let loading: Promise<ControlParts> | undefined;
  const parts = (): Promise<ControlParts> => (loading ??= loadControlParts());
  const mount = await startMount(dest, mountpoint, {
    ...start, logFile: logsToRuntimeFile ? runtimeFiles(dir, mountpoint).log : '',
    // Awaited below; a failure to load is reported there.
    whileConnecting: () => void parts().catch(() => {}),
  });
  const control = await parts().then(p => serveMountControl(p, mount, dest.raw, dir, options.log, options.mount.opTimeoutMs, options.mount.agent !== 'no')).catch(async (error: unknown) => {
    await mount.stop();
    throw error;
  });
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    // The journal drains while the socket still answers, so `rmount unmount` can show its progress.
    stopping ??= mount.drain().then(() => control.close()).finally(() => mount.stop());
    return stopping;
  };
  const collector = idleCollector(mount, options.log);
  collector?.start();
  const ended = mount.ended.then(() => {
    collector?.stop();
    return control.close();
  });
  return { mount, control, stop, ended };
}

/** Gives back the memory a walk or a forget left behind, once the mount is quiet (none where Node cannot collect on request). */
function idleCollector(mount: RunningMount, log: Logger): IdleCollector | undefined {
  const collect = compactingCollection();
  if (collect === undefined) {
    log.debug('memory is collected by V8 alone here: this Node cannot run a collection on request');
    return undefined;
  }
  return new IdleCollector({
    collect,
    probe: {
      work: () => {
        const stats = mount.filesystem.stats();
        return { ops: Object.values(stats.ops).reduce((n, v) => n + v, 0), inodes: stats.inodes };
      },
      committedHeapBytes,
    },
    onCollected: ({ ms, freedBytes }) => log.debug(`quiet after work: collected in ${Math.round(ms)} ms, the heap gave back ${Math.round(freedBytes / 1048576)} MB`),
  });
}

/** The control socket and the sessions and forwards it serves: loaded while the backend connects. */
interface ControlParts {
  serveControl: typeof serveControl;
  HostHolder: typeof HostHolder;
  ForwardSet: typeof ForwardSet;
  agentTransport: typeof agentTransport;
  preferBackendDial: typeof preferBackendDial;
  runOnHost: typeof runOnHost;
  DaemonSessionHost: typeof DaemonSessionHost;
}

async function loadControlParts(): Promise<ControlParts> {
  const [server, holder, forwardSet, hostRun, daemonHost] = await Promise.all([
    import('../control/server.ts'), import('../sessions/host-holder.ts'), import('../sessions/forward-set.ts'), import('../sessions/host-run.ts'), import('../sessions/daemon-host.ts'),
  ]);
  return {
    serveControl: server.serveControl, HostHolder: holder.HostHolder, ForwardSet: forwardSet.ForwardSet, agentTransport: forwardSet.agentTransport,
    preferBackendDial: forwardSet.preferBackendDial, runOnHost: hostRun.runOnHost, DaemonSessionHost: daemonHost.DaemonSessionHost,
  };
}

/** Serves the mount's control socket and records its path in the mount's runtime record. */
async function serveMountControl(parts: ControlParts, mount: RunningMount, destination: string, dir: string, log: Logger, linkTimeoutMs: number, warmHost: boolean): Promise<ControlServer> {
  const { serveControl, HostHolder, ForwardSet, agentTransport, preferBackendDial, runOnHost, DaemonSessionHost } = parts;
  const record = await readRecord(dir, mount.mountpoint);
  // Sessions live in rmount-agent's process host on the remote, reached over the mount's own
  // connection on first use; the host outlives this daemon.
  const hosts = new HostHolder(async () => {
    await waitLinkReady(mount.backend, AbortSignal.timeout(linkTimeoutMs));
    const { openAgentHost } = await import('../backends/agent-host.ts');
    return openAgentHost(mount.backend);
  });
  const forwards = new ForwardSet(preferBackendDial(mount.backend, agentTransport(() => hosts.get()), log), log);
  let heldHere: DaemonSessionHost | undefined;
  // Connected at once, so the first exec and stub already go through the host (a failure here only
  // means they use the backend, and sessions try again when asked). Not with -o agent=no: that
  // user asked for no agent, which then runs only for sessions and forwards, when asked.
  if (warmHost) void hosts.get().catch(error => log.debug('the agent\'s process host is not available; exec uses the backend', error));
  void mount.ended.then(async () => {
    await forwards.close().catch(() => {});
    hosts.close();
    heldHere?.close();
  });
  const control = await serveControl({
    destination, mountpoint: mount.mountpoint, remotePath: mount.remotePath,
    startedAt: record?.startedAt ?? new Date().toISOString(),
    backend: mount.backend, filesystem: mount.filesystem, watching: mount.watching, stop: () => mount.stop(),
    // An exec waits for a link that is down as long as a file operation would.
    linkTimeoutMs,
    // Where the agent cannot run at all, the daemon holds the sessions itself.
    sessions: async () => {
      try {
        return await hosts.get();
      } catch (error) {
        if (!(error instanceof UnsupportedError) && !(error instanceof PermissionError)) throw error;
        log.debug('sessions live in the mount daemon: rmount-agent cannot run on the remote', error);
        heldHere ??= new DaemonSessionHost((argv, options) => mount.backend.exec(argv, options));
        return heldHere;
      }
    },
    run: (argv, options) => {
      const host = hosts.current();
      if (host === undefined || options.user !== undefined || options.cwd?.startsWith('~') === true) return undefined;
      return runOnHost(host.mux, argv, options, destination);
    },
    forwards,
    settleRemote: () => mount.settleRemote(),
    // rmount sync, writeBack in status, and the barrier that makes every exec wait for the journal.
    ...(mount.writeBack === undefined ? {} : { writeBack: mount.writeBack }),
  }, { socketPath: runtimeFiles(dir, mount.mountpoint).socket, log });
  if (record !== undefined) await writeRecord(dir, { ...record, socket: control.socketPath });
  return control;
}

const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** Stops `served` on SIGINT, SIGTERM or SIGHUP; resolves once it has ended, however it ended. */
export async function serveUntilStopped(served: ServedMount): Promise<void> {
  const onSignal = (): void => void served.stop();
  for (const s of STOP_SIGNALS) process.on(s, onSignal);
  try {
    await served.ended;
  } finally {
    for (const s of STOP_SIGNALS) process.off(s, onSignal);
  }
}
