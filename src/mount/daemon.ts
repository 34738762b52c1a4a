import { connectBackend, type BackendOptions } from '../backends/open.ts';
import { mountFuse, type FuseMount } from '../fuse/mount.ts';
import type { Backend } from '../remote/backend.ts';
import type { Destination } from '../remote/destination.ts';
import { NotFoundError, UsageError } from '../remote/errors.ts';
import { canWatch, isDirMode, type FileClient, type WatchSubscription } from '../remote/file-client.ts';
import { isFsError } from '../remote/fs-error.ts';
import { WorkspaceFilesystem } from '../workspacefs/workspace-filesystem.ts';
import type { Logger } from '../remote/log.ts';
import { kernelChecksPermissions, newFileOwner, type MountOptions } from './mount-options.ts';
import { canonicalMountpoint } from '../system/mountinfo.ts';
import { checkMountpoint } from './preflight.ts';
import { removeRecord, runtimeDir, writeRecord, type MountRecord } from './registry.ts';

/** A running mount: the backend, the filesystem over it and the kernel mount. */
export interface RunningMount {
  readonly mountpoint: string;
  readonly remotePath: string;
  readonly backend: Backend;
  readonly filesystem: WorkspaceFilesystem;
  /** True when the remote reports its changes (the agent's watch): caches are dropped as things change. */
  readonly watching: boolean;
  readonly writeBack?: import('../remote/write-back.ts').WriteBack;
  /** Resolves when the mount has ended (unmounted by us or from outside). */
  readonly ended: Promise<void>;
  /** Unmounts and closes the connection; idempotent. */
  stop(): Promise<void>;
}

/** What `startMount` needs besides the destination and mountpoint. */
export interface StartMountOptions {
  mount: MountOptions;
  backend: BackendOptions;
  log: Logger;
  /** The log file recorded for `rmount status`. */
  logFile: string;
  env?: NodeJS.ProcessEnv;
}

/** Connects, checks the remote folder, and mounts it. Everything started is stopped again on failure. */
export async function startMount(dest: Destination, mountpointArg: string, options: StartMountOptions): Promise<RunningMount> {
  const mountpoint = await canonicalMountpoint(mountpointArg);
  await checkMountpoint(mountpoint, options.mount.nonempty);
  // The logger lets the backend say what its link does (lost, reconnecting, reconnected).
  const backend = await connectBackend(dest, {
    agent: options.mount.agent, agentGraceMs: options.mount.agentGraceMs, ...options.backend, log: options.log, signal: AbortSignal.timeout(options.backend.connectTimeoutMs ?? 30_000),
  });
  let fuse: FuseMount | undefined;
  try {
    const files = await backend.files();
    const remotePath = await backend.resolvePath(dest.path);
    let st;
    try {
      st = await files.stat(remotePath);
    } catch (error) {
      if (isFsError(error, 'ENOENT')) {
        throw new NotFoundError(`remote folder ${remotePath} does not exist on ${backend.addr}`, { cause: error, suggestion: `check the path, or create it: rmount exec ${dest.raw} --cwd / -- mkdir -p ${remotePath}` });
      }
      throw error;
    }
    if (!isDirMode(st.mode)) {
      throw new UsageError(`remote path ${remotePath} on ${backend.addr} is not a folder`, { suggestion: 'mount a folder; to read one file, use its folder' });
    }
    const m = options.mount;
    const filesystem = new WorkspaceFilesystem(files, {
      root: remotePath,
      attrTimeoutMs: m.attrTimeoutMs,
      entryTimeoutMs: m.entryTimeoutMs,
      negativeTimeoutMs: m.negativeTimeoutMs,
      dirTimeoutMs: m.dirTimeoutMs,
      readOnly: m.readOnly,
      idmap: m.idmap,
      ...(m.uid === undefined ? {} : { uid: m.uid }),
      ...(m.gid === undefined ? {} : { gid: m.gid }),
      ...(m.umask === undefined ? {} : { umask: m.umask }),
      owner: newFileOwner(m),
      opTimeoutMs: m.opTimeoutMs,
      kernelCache: m.kernelCache,
      log: options.log,
    });
    const defaultPermissions = kernelChecksPermissions(m);
    if (m.allowOther && !defaultPermissions) {
      options.log.warn('allow_other with no_default_permissions: nothing checks permissions, every local user may read and change every file of this mount');
    }
    fuse = await mountFuse(mountpoint, filesystem, {
      fsname: `rmount:${dest.raw}`,
      subtype: 'rmount',
      readOnly: m.readOnly,
      allowOther: m.allowOther,
      defaultPermissions,
      writebackCache: m.writebackCache,
      nonempty: m.nonempty,
      debug: m.debug,
    }, { log: options.log });
    filesystem.attachNotifier(fuse.notifier);
    const watch = await watchRemote(files, remotePath, filesystem, options.log);
    const dir = await runtimeDir(options.env);
    const record: MountRecord = {
      pid: process.pid, destination: dest.raw, mountpoint, remotePath,
      startedAt: new Date().toISOString(), logFile: options.logFile,
    };
    await writeRecord(dir, record);
    return running(mountpoint, remotePath, backend, filesystem, fuse, dir, options.log, watch);
  } catch (error) {
    await fuse?.unmount().catch(() => {});
    await backend.close().catch(() => {});
    throw error;
  }
}

/**
 * Subscribes to remote changes under the mount root when the file client can watch, and drops the
 * VFS's and the kernel's caches for each changed path (all of them when events were lost).
 */
async function watchRemote(files: FileClient, root: string, filesystem: WorkspaceFilesystem, log: Logger): Promise<WatchSubscription | undefined> {
  if (!canWatch(files)) return undefined;
  try {
    return await files.watch(root, events => {
      for (const e of events) {
        if (e.rescan) filesystem.flushCaches();
        else filesystem.invalidate(e.path, e.kinds);
      }
    });
  } catch (error) {
    log.warn(`remote changes will not be watched: ${(error as Error).message}`);
    return undefined;
  }
}

// The backend's own supervisor keeps the link alive and reports its health (see Backend.health);
// stop never waits for a reconnect: closing the backend ends its supervisor first.
function running(mountpoint: string, remotePath: string, backend: Backend, filesystem: WorkspaceFilesystem, fuse: FuseMount, dir: string, log: Logger, watch?: WatchSubscription): RunningMount {
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await watch?.close().catch(() => {});
      await fuse.unmount().catch(error => log.error('unmount failed', error));
      await backend.close().catch(() => {});
      await removeRecord(dir, mountpoint).catch(() => {});
    })();
    return stopping;
  };
  // Unmounted from outside (fusermount3 -u, umount): close down too.
  const ended = fuse.closed.then(() => stop());
  return { mountpoint, remotePath, backend, filesystem, watching: watch !== undefined, ended, stop };
}
