import { openBackend, type BackendOptions } from '../backends/open.ts';
import type { FuseMount, mountFuse } from '../fuse/mount.ts';
import { linkHealth, type Backend } from '../remote/backend.ts';
import type { Destination } from '../remote/destination.ts';
import { NotFoundError, TimeoutError, UsageError } from '../remote/errors.ts';
import { canWatch, isDirMode, reportsLink, type FileClient, type WatchSubscription } from '../remote/file-client.ts';
import { isFsError } from '../remote/fs-error.ts';
import type { WorkspaceFilesystem } from '../workspacefs/workspace-filesystem.ts';
import type { Logger } from '../remote/log.ts';
import { kernelChecksPermissions, newFileOwner, type MountOptions } from './mount-options.ts';
import { canonicalMountpoint } from '../system/mountinfo.ts';
import { checkMountpoint } from './preflight.ts';
import { removeRecord, runtimeDir, writeRecord, type MountRecord } from './registry.ts';
import { sendJournal } from './send-journal.ts';
import { settleAfterCommand } from './settle-remote.ts';
import type { WriteBack } from '../remote/write-back.ts';
import type { OpenWriteBackOptions, openWriteBack } from '../writeback/replay.ts';
import type { WriteBackClient } from '../writeback/write-back-client.ts';

/** A running mount: the backend, the filesystem over it and the kernel mount. */
export interface RunningMount {
  readonly mountpoint: string;
  readonly remotePath: string;
  readonly backend: Backend;
  readonly filesystem: WorkspaceFilesystem;
  /** True when the remote reports its changes (the agent's watch): caches are dropped as things change. */
  readonly watching: boolean;
  /** The write-back journal between the VFS and the remote; absent with -o writeback=off. */
  readonly writeBack?: WriteBack;
  /** Resolves when the mount has ended (unmounted by us or from outside). */
  readonly ended: Promise<void>;
  /**
   * After a remote command the mount ran has ended: resolves once what it changed shows through
   * the caches (the watch's barrier; where that cannot be told in time, the caches are flushed).
   * At once without a watch, whose caches keep only their lifetimes.
   */
  settleRemote(): Promise<void>;
  /** Unmounts and closes the connection; idempotent. */
  stop(): Promise<void>;
  /** Sends what the journal holds while sends make progress (see sendJournal); none after one stalled. */
  drain(): Promise<void>;
}

/** What `startMount` needs besides the destination and mountpoint. */
export interface StartMountOptions {
  mount: MountOptions;
  backend: BackendOptions;
  log: Logger;
  /** The log file recorded for `rmount status`. */
  logFile: string;
  env?: NodeJS.ProcessEnv;
  /**
   * Told how the replay of what an earlier mount left in the journal goes, before the mount
   * answers: once at the start, about every 250 ms while it runs, and once with `done`. Never
   * called when nothing was left.
   */
  onReplayProgress?: (progress: ReplayProgress) => void;
  /**
   * Called once the backend's module is loaded and its connection is about to start: what the
   * caller loads from here on loads while the connection waits on the remote.
   */
  whileConnecting?: () => void;
}

/** How far the replay of an earlier mount's journal has come. */
export interface ReplayProgress {
  /** The changes the earlier mount left: all there is to replay. */
  readonly total: number;
  /** Changes not on the remote yet, refused ones included, and their bytes of file content. */
  readonly pendingOps: number;
  readonly pendingBytes: number;
  /** Changes the remote refused; they stay in the journal for `rmount sync --retry`. */
  readonly refused: number;
  /** The last report: the mount goes on to answer. */
  readonly done: boolean;
}

/** Connects, checks the remote folder, and mounts it. Everything started is stopped again on failure. */
export async function startMount(dest: Destination, mountpointArg: string, options: StartMountOptions): Promise<RunningMount> {
  const mountpoint = await canonicalMountpoint(mountpointArg);
  await checkMountpoint(mountpoint, options.mount.nonempty);
  // The logger lets the backend say what its link does (lost, reconnecting, reconnected).
  const backend = await openBackend(dest, { agent: options.mount.agent, agentGraceMs: options.mount.agentGraceMs, sshClient: options.mount.sshClient, ...options.backend, log: options.log });
  // Loaded once the backend's own module is (so that its connection starts first), while it
  // connects: a remote's handshake and first round trips leave the loop idle long enough.
  const parts = loadMountParts();
  // Awaited below once connected; a failure to load is reported there.
  void parts.catch(() => {});
  options.whileConnecting?.();
  let fuse: FuseMount | undefined;
  let writeBack: WriteBackClient | undefined;
  try {
    await backend.start(AbortSignal.timeout(options.backend.connectTimeoutMs ?? 30_000));
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
    // A removed container: nothing more can reach it, so no cache or journal answers for it.
    const linkGone = (): boolean => linkHealth(backend).state === 'closed';
    const { WorkspaceFilesystem, mountFuse, openJournal } = await parts;
    if (m.writeBack === 'on' && !m.readOnly) {
      writeBack = await startJournal(openJournal, files, { dest, addr: backend.addr, remotePath, mountpoint, owner: st, maxBytes: m.writeBackMaxBytes, log: options.log, env: options.env ?? process.env, linkGone, onProgress: options.onReplayProgress, stallMs: m.opTimeoutMs });
    }
    const filesystem = new WorkspaceFilesystem(writeBack ?? files, {
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
      linkGone,
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
    writeBack?.onLanded((path, stat) => filesystem.attributesChanged(path, stat));
    if (!m.cto) filesystem.trustLifetimes();
    const watch = await watchRemote(files, remotePath, filesystem, options.log, !m.cto);
    const dir = await runtimeDir(options.env);
    const record: MountRecord = {
      pid: process.pid, destination: dest.raw, mountpoint, remotePath,
      startedAt: new Date().toISOString(), logFile: options.logFile,
    };
    await writeRecord(dir, record);
    return running(mountpoint, remotePath, backend, filesystem, fuse, dir, options.log, watch, writeBack, m.opTimeoutMs);
  } catch (error) {
    await fuse?.unmount().catch(() => {});
    await writeBack?.close().catch(() => {});
    await backend.close().catch(() => {});
    throw error;
  }
}

/** What a mount needs once it is connected: the VFS, the FUSE face and the write-back journal. */
interface MountParts {
  WorkspaceFilesystem: typeof WorkspaceFilesystem;
  mountFuse: typeof mountFuse;
  /** Opens the journal under the journal root of `env`. */
  openJournal(files: FileClient, options: Omit<OpenWriteBackOptions, 'root'> & { env: NodeJS.ProcessEnv }): ReturnType<typeof openWriteBack>;
}

async function loadMountParts(): Promise<MountParts> {
  const [vfs, fuse, replay, journalDir] = await Promise.all([
    import('../workspacefs/workspace-filesystem.ts'), import('../fuse/mount.ts'), import('../writeback/replay.ts'), import('../writeback/journal-dir.ts'),
  ]);
  return {
    WorkspaceFilesystem: vfs.WorkspaceFilesystem,
    mountFuse: fuse.mountFuse,
    openJournal: (files, { env, ...options }) => replay.openWriteBack(files, { ...options, root: journalDir.journalRoot(env) }),
  };
}

/**
 * Subscribes to remote changes under the mount root when the file client can watch, and drops the
 * VFS's and the kernel's caches for each changed path (all of them when events were lost).
 */
async function watchRemote(files: FileClient, root: string, filesystem: WorkspaceFilesystem, log: Logger, trust: boolean): Promise<WatchSubscription | undefined> {
  if (!canWatch(files)) return undefined;
  try {
    let said = false;
    const sub: WatchSubscription = await files.watch(root, events => {
      for (const e of events) {
        if (e.rescan) filesystem.flushCaches();
        else filesystem.invalidate(e.path, e.kinds);
      }
      // Lost for good only when folders could not be watched; a lost link renews it.
      if (!said && !sub.live() && (!reportsLink(files) || files.linkUp())) {
        said = true;
        log.warn('some remote folders cannot be watched (fs.inotify.max_user_watches on the remote): the caches keep cache_timeout');
      }
    });
    filesystem.watched(() => sub.live());
    // One round trip, not waited for: opens keep close-to-open until the remote proves it has one.
    if (trust) void sub.barrier().then(ok => { if (ok) filesystem.runsBarriers(); }, () => {});
    return sub;
  } catch (error) {
    log.warn(`remote changes will not be watched: ${(error as Error).message}`);
    return undefined;
  }
}

// The backend's own supervisor keeps the link alive and reports its health (see Backend.health);
// stop never waits for a reconnect: closing the backend ends its supervisor first.
function running(mountpoint: string, remotePath: string, backend: Backend, filesystem: WorkspaceFilesystem, fuse: FuseMount, dir: string, log: Logger,
  watch: WatchSubscription | undefined, writeBack: WriteBackClient | undefined, stallMs: number): RunningMount {
  let stopping: Promise<void> | undefined;
  // A drain that found the link stuck is not waited out a second time (serve drains before it
  // closes the control socket, stop again after the kernel unmount).
  let stuck = false;
  const drain = async (): Promise<void> => {
    if (writeBack !== undefined && !stuck) stuck = !(await drainJournal(writeBack, log, stallMs));
  };
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await watch?.close().catch(() => {});
      await fuse.unmount().catch(error => log.error('unmount failed', error));
      if (writeBack !== undefined) {
        await drain();
        await writeBack.close().catch(() => {});
      }
      await backend.close().catch(() => {});
      await removeRecord(dir, mountpoint).catch(() => {});
    })();
    return stopping;
  };
  const settleRemote = (): Promise<void> => settleAfterCommand(filesystem, watch);
  // Unmounted from outside (fusermount3 -u, umount): close down too.
  const ended = fuse.closed.then(() => stop());
  return { mountpoint, remotePath, backend, filesystem, watching: watch !== undefined, ...(writeBack === undefined ? {} : { writeBack }), ended, stop, drain, settleRemote };
}

/** What opening the journal needs. */
interface JournalSetup {
  dest: Destination;
  addr: string;
  remotePath: string;
  mountpoint: string;
  /** The mount root's attributes: its owner owns what is made here until the remote says. */
  owner: { uid: number; gid: number };
  maxBytes: number;
  log: Logger;
  env: NodeJS.ProcessEnv;
  linkGone: () => boolean;
  onProgress: ((progress: ReplayProgress) => void) | undefined;
  /** A replay that makes no progress for this long fails the mount (the changes stay in the journal). */
  stallMs: number;
}

/** How often the log says how far a replay has come. */
const LOG_EVERY_MS = 5000;

/**
 * Opens the mount's write-back journal. What an earlier mount of the same folder left in its
 * journal (a killed daemon, a reboot) is sent before the mount answers, so that nothing a program
 * was told is written shows an older remote underneath.
 */
async function startJournal(openJournal: MountParts['openJournal'], files: FileClient, s: JournalSetup): Promise<WriteBackClient> {
  const { client, adopted } = await openJournal(files, {
    env: s.env, destination: s.dest.raw, addr: s.addr, remotePath: s.remotePath, mountpoint: s.mountpoint,
    log: s.log, maxBytes: s.maxBytes, owner: { uid: s.owner.uid, gid: s.owner.gid }, linkGone: s.linkGone,
  });
  if (adopted > 0) {
    s.log.info(`journal: replaying ${adopted} change(s) left by an earlier mount of ${s.remotePath} before answering`);
    const report = (done: boolean): void => {
      const st = client.status();
      s.onProgress?.({ total: adopted, pendingOps: st.pendingOps, pendingBytes: st.pendingBytes, refused: st.failed.length, done });
    };
    report(false);
    let logged = Date.now();
    const sent = await sendJournal(client, s.stallMs, () => {
      report(false);
      // The terminal shows every tick; the log, one line in a while.
      if (Date.now() - logged < LOG_EVERY_MS) return;
      logged = Date.now();
      const st = client.status();
      s.log.info(`journal: ${st.pendingOps} change(s), ${st.pendingBytes} bytes left to replay`);
    });
    report(true);
    if (sent.outcome === 'stalled') {
      await client.close().catch(() => {});
      throw new TimeoutError(`the replay of ${adopted} change(s) an earlier mount of ${s.remotePath} left made no progress: ${sent.error.message}`, {
        suggestion: 'they stay in the journal (rmount status lists it); mount again once the remote answers',
      });
    }
    if (sent.outcome === 'refused') s.log.warn(`journal: some replayed changes were refused and stay in the journal: ${sent.error.message}`);
    else s.log.info('journal: replayed');
  }
  return client;
}

/**
 * Sends what the journal holds before the connection closes, while sends make progress (see
 * sendJournal). False when it stalled.
 */
async function drainJournal(writeBack: WriteBack, log: Logger, stallMs: number): Promise<boolean> {
  const left = writeBack.status();
  if (left.pendingOps === 0) return true;
  log.info(`unmount: sending ${left.pendingOps} journaled change(s) to the remote first`);
  const sent = await sendJournal(writeBack, stallMs);
  if (sent.outcome === 'sent') return true;
  log.warn(`unmount: ${writeBack.status().pendingOps} change(s) stay in the journal for the next mount: ${sent.error.message}`);
  return sent.outcome !== 'stalled';
}
