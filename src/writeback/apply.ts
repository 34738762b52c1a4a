/**
 * Sends one journaled operation to the remote. Every operation may be sent twice (a link lost
 * after the remote did it, a daemon killed before it wrote `done`), so each one accepts finding its
 * own earlier result: a folder already there, a link already gone, a rename already made.
 */
import { canPutFile, type BatchOp, type FileClient, type FileHandle, type FileStat, type PutFileOptions, type SetAttr, type Timespec } from '../remote/file-client.ts';
import { isFsError } from '../remote/fs-error.ts';
import type { Batcher } from './batcher.ts';
import type { Entry } from './op-queue.ts';
import type { StagedFile } from './staged-file.ts';
import type { Op } from './records.ts';

/** What sending needs besides the operation. */
export interface ApplyContext {
  readonly inner: FileClient;
  /** The staged file a put sends; undefined once it is gone. */
  file(id: number): StagedFile | undefined;
  /** The remote's version of `path` was moved to `keptAs` so that ours could take the name. */
  conflict(path: string, keptAs: string): void;
  /** Where the remote takes many changes in one request (rmount-agent). */
  readonly batcher?: Batcher;
}

/** Bytes of one write sent to the remote, and how many may be on their way at once. */
const PUT_CHUNK = 1 << 20;
const PUT_WINDOW = 4;
/** Files up to this size (and paths up to this length) go in one putfile@rmount request: well inside its packet. */
const PUTFILE_MAX = 512 << 10;
const PUTFILE_MAX_PATH = 16 << 10;
/** Files up to this size are sent with their close right behind their writes, where the remote keeps order. */
const PIPELINE_MAX = 8 << 20;

export async function applyOp(ctx: ApplyContext, entry: Entry): Promise<void> {
  const { inner } = ctx;
  const op = entry.op;
  // In a batch first; a change it refuses goes again alone, where finding its own earlier result
  // (a folder already there, a name already gone) is told from a real refusal.
  if (op.kind !== 'put' && ctx.batcher !== undefined && (await ctx.batcher.send(asBatchOp(op))).refused === undefined) return;
  switch (op.kind) {
    case 'put':
      return put(ctx, entry, op);
    case 'mkdir': {
      // The chmod rides behind the mkdir, so the mode is exact whatever the remote umask, in one
      // round trip where the remote answers in order (SFTP); where it runs calls concurrently, the
      // chmod may come first and is sent again.
      const made = inner.mkdir(op.path, op.mode);
      const chmod = inner.setattr(op.path, { mode: op.mode }).then(() => undefined, (error: unknown) => error);
      try {
        await made;
      } catch (error) {
        await chmod;
        if (!isFsError(error, 'EEXIST') || !(await isDir(inner, op.path))) throw error;
        return;
      }
      const failed = await chmod;
      if (failed === undefined) return;
      if (!isFsError(failed, 'ENOENT')) throw failed;
      await inner.setattr(op.path, { mode: op.mode });
      return;
    }
    case 'symlink':
      try {
        await inner.symlink(op.target, op.path);
      } catch (error) {
        if (!isFsError(error, 'EEXIST') || (await inner.readlink(op.path).catch(() => undefined)) !== op.target) throw error;
      }
      return;
    case 'unlink':
    case 'rmdir':
      try {
        await (op.kind === 'unlink' ? inner.unlink(op.path) : inner.rmdir(op.path));
      } catch (error) {
        // Gone already (sent before, or removed there too): what was asked for holds.
        if (!isFsError(error, 'ENOENT')) throw error;
      }
      return;
    case 'link':
      try {
        await inner.link(op.existing, op.path);
      } catch (error) {
        // Sent before and made then.
        if (!isFsError(error, 'EEXIST') || entry.attempts < 2) throw error;
      }
      return;
    case 'rename':
      try {
        await inner.rename(op.from, op.to);
      } catch (error) {
        // Sent before and made then: the source is gone and the target is there.
        if (!isFsError(error, 'ENOENT') || entry.attempts < 2 || !(await exists(inner, op.to)) || (await exists(inner, op.from))) throw error;
      }
      return;
    case 'setattr':
      await inner.setattr(op.path, op.attrs, op.noFollow === true ? { noFollow: true } : undefined);
      return;
  }
}

function asBatchOp(op: Exclude<Op, { kind: 'put' }>): BatchOp {
  return op.kind === 'setattr' ? { kind: 'setattr', path: op.path, attrs: op.attrs, ...(op.noFollow === true ? { noFollow: true } : {}) } : op;
}

/** Sends a staged file's whole content and attributes to its path. */
async function put(ctx: ApplyContext, entry: Entry, op: Extract<Op, { kind: 'put' }>): Promise<void> {
  const { inner } = ctx;
  const file = ctx.file(op.file);
  if (file === undefined) return;
  const meta = file.meta;
  const size = file.size;
  const sync = file.syncWanted;
  file.syncWanted = false;
  file.remoteHasIt = true;
  const first = entry.attempts === 1;
  try {
    if (first && meta.baseline !== undefined) {
      // The remote file changed since we began to replace it: theirs is kept beside ours.
      const now = await inner.lstat(op.path).catch(error => {
        if (isFsError(error, 'ENOENT')) return undefined;
        throw error;
      });
      if (now !== undefined && (now.size !== meta.baseline.size || !sameTime(now.mtime, meta.baseline.mtime))) await keepTheirs(ctx, op.path);
    }
    const exclusive = meta.isNew && first;
    const inOrder = inner.capabilities.inOrder === true;
    if (canPutFile(inner) && size <= PUTFILE_MAX && op.path.length < PUTFILE_MAX_PATH) {
      // The agent takes the whole file in one request: one round trip.
      const data = Buffer.allocUnsafe(size);
      const n = size === 0 ? 0 : file.read(data, 0, size, 0);
      const options: PutFileOptions = {
        mode: meta.mode, atime: meta.atime, mtime: meta.mtime, exclusive, sync,
        ...(meta.owned === true ? { uid: meta.uid, gid: meta.gid } : {}),
      };
      let after: Promise<FileStat | undefined> | undefined;
      try {
        const sent = ctx.batcher === undefined ? undefined : await ctx.batcher.send({ kind: 'put', path: op.path, data: data.subarray(0, n), options }, inOrder);
        after = sent?.stat === undefined ? undefined : Promise.resolve(sent.stat);
        if (sent === undefined || sent.refused !== undefined) {
          const putting = inner.putFile(op.path, data.subarray(0, n), options);
          after = statBehind(inner, op.path);
          await putting;
        }
      } catch (error) {
        if (!exclusive || !isFsError(error, 'EEXIST')) throw error;
        await keepTheirs(ctx, op.path);
        await inner.putFile(op.path, data.subarray(0, n), options);
        after = undefined;
      }
      landed(file, size, meta.mtime);
      entry.remoteStat = fits(await after, size, meta.mode, meta.mtime);
      return;
    }
    let handle: FileHandle;
    const flags = { read: false, write: true, create: true, truncate: true };
    try {
      handle = await inner.open(op.path, { ...flags, exclusive }, meta.mode);
    } catch (error) {
      // Made meanwhile on the remote by someone else: both are kept.
      if (!exclusive || !isFsError(error, 'EEXIST')) throw error;
      await keepTheirs(ctx, op.path);
      handle = await inner.open(op.path, { ...flags, exclusive: true }, meta.mode);
    }
    const attrs: SetAttr = { mode: meta.mode, atime: meta.atime, mtime: meta.mtime };
    const owner = meta.owned === true ? { uid: meta.uid, gid: meta.gid } : {};
    if (inOrder && size <= PIPELINE_MAX) {
      // The writes, the attributes and the close ride one behind the other: one round trip after the open.
      const stat = await pipelined(file, handle, size, { ...attrs, ...owner }, sync, inner, op.path, attrs);
      landed(file, size, meta.mtime);
      entry.remoteStat = fits(stat, size, meta.mode, meta.mtime);
      return;
    } else {
      try {
        await sendContent(file, handle, size);
        try {
          await handle.setattr({ ...attrs, ...owner });
        } catch (error) {
          if (meta.owned !== true || !isFsError(error, 'EPERM')) throw error;
          await handle.setattr(attrs);
        }
        if (sync) await handle.sync();
      } catch (error) {
        await handle.close().catch(() => {});
        throw error;
      }
      await handle.close();
    }
    landed(file, size, meta.mtime);
  } catch (error) {
    if (sync) file.syncWanted = true;
    throw error;
  }
}

/** A put landed: later puts replace what it made, in place, and check that nobody changed it since. */
function landed(file: StagedFile, size: number, mtime: Timespec): void {
  file.meta = { ...file.meta, isNew: false, baseline: { size, mtime } };
}

/**
 * Sends content, attributes, sync and close without waiting between them, for a remote that keeps
 * request order. A chown the remote refuses (EPERM) is retried without the owner, by path.
 */
async function pipelined(file: StagedFile, handle: FileHandle, size: number, withOwner: SetAttr, sync: boolean, inner: FileClient, path: string, attrs: SetAttr): Promise<FileStat | undefined> {
  const calls: Promise<void>[] = [];
  for (let at = 0; at < size; at += PUT_CHUNK) {
    const length = Math.min(PUT_CHUNK, size - at);
    const buffer = Buffer.allocUnsafe(length);
    const n = file.read(buffer, 0, length, at);
    if (n === 0) break;
    calls.push(handle.write(buffer, 0, n, at));
  }
  const setattr = handle.setattr(withOwner);
  calls.push(setattr.catch(error => {
    if (withOwner.uid === undefined || !isFsError(error, 'EPERM')) throw error;
  }));
  if (sync) calls.push(handle.sync());
  // What the file shows once written, in the same round trip (its ctime is the remote's own).
  const stat = handle.stat().catch(() => undefined);
  calls.push(handle.close());
  const settled = await Promise.allSettled(calls);
  const failed = settled.find(s => s.status === 'rejected');
  if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
  if (withOwner.uid !== undefined && (await setattr.then(() => false, () => true))) {
    await inner.setattr(path, attrs);
    return undefined;
  }
  return stat;
}

/** An lstat sent right behind a request, where the remote keeps order: it sees what that made. */
function statBehind(inner: FileClient, path: string): Promise<FileStat | undefined> | undefined {
  return inner.capabilities.inOrder === true ? inner.lstat(path).catch(() => undefined) : undefined;
}

/** `stat` when it shows the file as the put left it (not overtaken, not changed since), else undefined. */
function fits(stat: FileStat | undefined, size: number, mode: number, mtime: Timespec): FileStat | undefined {
  if (stat === undefined || stat.size !== size || (stat.mode & 0o7777) !== mode || !sameTime(stat.mtime, mtime)) return undefined;
  return stat;
}

async function sendContent(file: StagedFile, handle: FileHandle, size: number): Promise<void> {
  const inFlight = new Set<Promise<void>>();
  let failure: unknown;
  for (let at = 0; at < size && failure === undefined; at += PUT_CHUNK) {
    const length = Math.min(PUT_CHUNK, size - at);
    const buffer = Buffer.allocUnsafe(length);
    const n = file.read(buffer, 0, length, at);
    if (n === 0) break; // cut short by a truncate meanwhile: the put that follows sends the rest
    const sending: Promise<void> = handle.write(buffer, 0, n, at).catch(error => { failure ??= error; }).finally(() => inFlight.delete(sending));
    inFlight.add(sending);
    if (inFlight.size >= PUT_WINDOW) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  if (failure !== undefined) throw failure;
}

/** Moves the remote's `path` aside to NAME.remote-<UTC time>, so that ours takes the name. */
async function keepTheirs(ctx: ApplyContext, path: string): Promise<void> {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  let keptAs = `${path}.remote-${stamp}`;
  for (let i = 2; await exists(ctx.inner, keptAs); i++) keptAs = `${path}.remote-${stamp}-${i}`;
  await ctx.inner.rename(path, keptAs, { noReplace: true }).catch(async error => {
    if (!isFsError(error, 'ENOSYS') && !isFsError(error, 'ENOTSUP') && !isFsError(error, 'EINVAL')) throw error;
    await ctx.inner.rename(path, keptAs);
  });
  ctx.conflict(path, keptAs);
}

async function exists(inner: FileClient, path: string): Promise<boolean> {
  try {
    await inner.lstat(path);
    return true;
  } catch (error) {
    if (isFsError(error, 'ENOENT') || isFsError(error, 'ENOTDIR')) return false;
    throw error;
  }
}

async function isDir(inner: FileClient, path: string): Promise<boolean> {
  const st = await inner.lstat(path).catch(() => undefined);
  return st !== undefined && (st.mode & 0o170000) === 0o040000;
}

function sameTime(a: Timespec, b: Timespec): boolean {
  // Some remotes keep only seconds (SFTP v3): compare at the precision both have.
  return a.sec === b.sec && (a.nsec === b.nsec || a.nsec === 0 || b.nsec === 0);
}

