/**
 * Mounting: checks the folder, starts the native session with a Dispatcher in front of the
 * FuseOperations, waits for the kernel's INIT, and gives back a FuseMount that invalidates
 * kernel caches and unmounts cleanly.
 */
import { execFile } from 'node:child_process';
import { readdir, stat, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { RmountError } from '../remote/errors.ts';
import { FsError } from '../remote/fs-error.ts';
import { stderrLogger, type Logger } from '../remote/log.ts';
import { findMount } from '../system/mountinfo.ts';
import { loadBinding } from './binding.ts';
import { Dispatcher } from './dispatch.ts';
import { errnoName, errnoNumber } from './errno.ts';
import type { NativeBinding, NativeHandle } from './native.ts';
import type { ConnectionInfo, FuseMountOptions, FuseNotifier, FuseOperations } from './operations.ts';

const execFileP = promisify(execFile);

/** How long unmount lets queued notifications and requests in flight finish. */
const DRAIN_MS = 1000;
/** How long mountFuse waits for the kernel's INIT. */
const INIT_TIMEOUT_MS = 10_000;

/** A live mount. */
export interface FuseMount {
  /**
   * Kernel cache invalidation. Notifications are queued to a native thread, because the
   * kernel may block them until a request on the same inode is answered (and answers come
   * from this thread). The methods resolve when the kernel has taken the notification; they
   * never reject (errors other than ENOENT are logged).
   */
  notifier: MountNotifier;
  /**
   * Unmounts: lets queued notifications and requests in flight finish (up to 1 s, still
   * serving requests), then unmounts lazily and frees what is left. Idempotent.
   */
  unmount(): Promise<void>;
  /** Resolves when the kernel side went away: after unmount(), or an outside `fusermount3 -u`. */
  closed: Promise<void>;
  /** What the kernel negotiated at INIT. */
  info(): ConnectionInfo | undefined;
}

/** A FuseNotifier whose calls can be awaited. */
export interface MountNotifier extends FuseNotifier {
  invalInode(ino: number, offset?: number, length?: number): Promise<void>;
  invalEntry(parent: number, name: string): Promise<void>;
}

/** FuseMountOptions plus the knobs only the FUSE layer needs. */
export interface MountFuseOptions extends FuseMountOptions {
  /** Largest read the kernel sends (the max_read mount option); default: the kernel's. */
  maxRead?: number;
  /**
   * Let the kernel check permissions from mode/uid/gid. Off by default: the remote decides.
   * (Tests run as root, for whom the kernel's checks pass anyway.)
   */
  defaultPermissions?: boolean;
}

/** Dependencies that tests replace. */
export interface MountDeps {
  binding?: NativeBinding;
  log?: Logger;
}

interface Deferred {
  promise: Promise<void>;
  resolve(): void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  const promise = new Promise<void>(r => { resolve = r; });
  return { promise, resolve };
}

function errorCode(error: unknown): unknown {
  return typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
}

/** A mount-time failure that is not about the folder itself (which throws FsError). */
export class MountError extends RmountError {
  override readonly name = 'MountError';
  readonly code = 'ERR_FUSE_MOUNT';
  readonly errno = 'EIO';
}

/** Mounts `ops` on the folder `mountpoint`; resolves once the kernel has finished INIT. */
export async function mountFuse(
  mountpoint: string,
  ops: FuseOperations,
  options: MountFuseOptions,
  deps: MountDeps = {},
): Promise<FuseMount> {
  const binding = loadBinding(deps.binding);
  const log = deps.log ?? stderrLogger;
  const path = resolve(mountpoint);

  const st = await stat(path).catch((error: unknown) => {
    throw new FsError(errorCode(error) === 'ENOENT' ? 'ENOENT' : 'EIO', 'mount', path, { cause: error });
  });
  if (!st.isDirectory()) throw new FsError('ENOTDIR', 'mount', path);
  // libfuse 3 mounts over anything; refusing a non-empty folder protects the user's files from view.
  if (!options.nonempty && (await readdir(path)).length > 0) throw new FsError('ENOTEMPTY', 'mount', path);

  const dispatcher = new Dispatcher(binding, ops, log);
  const initDone = deferred();
  const closed = deferred();
  const tickets = new Map<number, { what: string; resolve(): void }>();
  const notes = new Set<Promise<void>>();
  let info: ConnectionInfo | undefined;
  let handle: NativeHandle | undefined;
  let gone = false;
  let closing = false;
  let unmounting: Promise<void> | undefined;

  const settleTickets = () => {
    for (const t of tickets.values()) t.resolve();
    tickets.clear();
  };

  // Native teardown; never from inside a binding callback (hence the setImmediate callers).
  const closeNative = () => {
    if (handle === undefined) return;
    process.off('exit', closeNative);
    dispatcher.close();
    try {
      binding.unmount(handle);
    } catch (error) {
      log.error(`unmount ${path} failed`, error);
    }
    settleTickets();
    closed.resolve();
  };

  handle = binding.mount(path, {
    fsname: options.fsname,
    subtype: options.subtype,
    readOnly: options.readOnly ?? false,
    allowOther: options.allowOther ?? false,
    defaultPermissions: options.defaultPermissions ?? false,
    maxWrite: options.maxWrite ?? 0,
    maxRead: options.maxRead ?? 0,
    writebackCache: options.writebackCache ?? false,
    readdirplus: typeof ops.readdirplus === 'function',
    debug: options.debug ?? false,
  }, {
    request: dispatcher.request,
    init: negotiated => {
      info = negotiated;
      try {
        ops.init?.(negotiated);
      } catch (error) {
        log.error('init: unexpected error', error);
      }
      initDone.resolve();
    },
    closed: () => {
      gone = true;
      closed.resolve();
      setImmediate(() => { unmounting ??= Promise.resolve().then(closeNative); });
    },
    notified: (ticket, result) => {
      const t = tickets.get(ticket);
      if (t === undefined) return;
      tickets.delete(ticket);
      if (result < 0 && -result !== errnoNumber('ENOENT') && !gone && !closing) {
        log.warn(`${t.what}: the kernel answered ${errnoName(-result) ?? result}`);
      }
      t.resolve();
    },
  });
  dispatcher.attach(handle);
  const h = handle;
  // process.exit() skips N-API cleanup hooks: unmount here so the folder does not go stale.
  process.on('exit', closeNative);

  const notify = (what: string, queue: () => number): Promise<void> => {
    if (closing || gone) return Promise.resolve();
    try {
      const ticket = queue();
      const note = new Promise<void>(resolve => { tickets.set(ticket, { what, resolve }); });
      notes.add(note);
      void note.finally(() => notes.delete(note));
      return note;
    } catch (error) {
      if (errorCode(error) !== 'ERR_FUSE_CLOSED') log.warn(`${what} failed`, error);
      return Promise.resolve();
    }
  };

  const notifier: MountNotifier = {
    invalInode: (ino, offset = 0, length = 0) =>
      notify(`invalInode(${ino})`, () => binding.notifyInvalInode(h, ino, offset, length)),
    invalEntry: (parent, name) =>
      notify(`invalEntry(${parent}, ${name})`, () => binding.notifyInvalEntry(h, parent, name)),
  };

  const unmount = (): Promise<void> => {
    unmounting ??= (async () => {
      closing = true;
      await within(DRAIN_MS, Promise.all([Promise.allSettled([...notes]), dispatcher.settled()]));
      if (tickets.size > 0) {
        // The notification thread is stuck in the kernel behind a request nobody will answer.
        log.warn(`unmount ${path}: ${tickets.size} notification(s) still blocked, aborting the connection`);
        await abortConnection(path).catch(error => log.warn('abort failed', error));
      }
      await new Promise<void>(r => setImmediate(r));
      closeNative();
    })();
    return unmounting;
  };

  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    initDone.promise.then(() => 'init' as const),
    closed.promise.then(() => 'closed' as const),
    new Promise<'timeout'>(r => { timer = setTimeout(() => r('timeout'), INIT_TIMEOUT_MS); }),
  ]);
  clearTimeout(timer);
  if (outcome !== 'init') {
    await unmount();
    throw new MountError(outcome === 'closed'
      ? `the kernel closed the FUSE connection on ${path} during INIT`
      : `no FUSE INIT from the kernel on ${path} within ${INIT_TIMEOUT_MS} ms`);
  }

  return { notifier, unmount, closed: closed.promise, info: () => info };
}

async function within(ms: number, work: Promise<unknown>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([work, new Promise<void>(r => { timer = setTimeout(r, ms); })]);
  clearTimeout(timer);
}

/** True when `mountpoint` is a mount point now. Safe on stale FUSE mounts (it never stats them). */
export async function isMounted(mountpoint: string): Promise<boolean> {
  return (await findMount(resolve(mountpoint))) !== undefined;
}

/** Aborts a FUSE connection through fusectl (/sys/fs/fuse/connections), mounting it if needed. */
async function abortConnection(path: string): Promise<void> {
  const minor = (await findMount(path))?.device.split(':')[1];
  if (minor === undefined) return;
  const dir = '/sys/fs/fuse/connections';
  if ((await readdir(dir).catch(() => [])).length === 0) {
    await execFileP('mount', ['-t', 'fusectl', 'fusectl', dir]).catch(() => undefined);
  }
  await writeFile(`${dir}/${minor}/abort`, '1');
}

/** A failed forceUnmount. */
export class UnmountError extends RmountError {
  override readonly name = 'UnmountError';
  readonly code: 'ERR_NOT_MOUNTED' | 'ERR_UNMOUNT';
  readonly errno = 'EIO';
  constructor(code: 'ERR_NOT_MOUNTED' | 'ERR_UNMOUNT', message: string, options?: ErrorOptions & { suggestion?: string }) {
    super(message, {
      suggestion: code === 'ERR_NOT_MOUNTED' ? 'rmount status lists the mounts of this user' : 'close the programs that use the mount (fuser -m MOUNTPOINT), then try again',
      ...options,
    });
    this.code = code;
  }
}

/**
 * Unmounts a FUSE mount this process does not own (`rmount unmount`), including a stale one
 * whose daemon died ("Transport endpoint is not connected"): `fusermount3 -u`, then the lazy
 * `fusermount3 -uz` when the mount is busy or broken.
 * @throws UnmountError ERR_NOT_MOUNTED when nothing is mounted there; ERR_UNMOUNT when both fail.
 */
export async function forceUnmount(mountpoint: string): Promise<void> {
  const path = resolve(mountpoint);
  if (!(await isMounted(path))) throw new UnmountError('ERR_NOT_MOUNTED', `${path} is not mounted`);
  try {
    await execFileP('fusermount3', ['-u', '--', path]);
    return;
  } catch {
    // busy or stale: fall through to the lazy unmount
  }
  try {
    await execFileP('fusermount3', ['-uz', '--', path]);
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim();
    throw new UnmountError('ERR_UNMOUNT', `cannot unmount ${path}${stderr ? `: ${stderr}` : ''}`, { cause: error });
  }
}
