/**
 * Bridges the raw binding to a FuseOperations: each request becomes one call of the matching
 * method, and its result (or error) becomes exactly one reply. The binding rejects a second
 * reply; this file makes sure there is never a reason to try one.
 */
import type { StatFs } from '../remote/file-client.ts';
import { FsError } from '../remote/fs-error.ts';
import { errnoNumber } from './errno.ts';
import type { Logger } from '../remote/log.ts';
import {
  ATTR_LEN, DIRENT_STRIDE, DIRENTPLUS_STRIDE, ENTRY_LEN, OPEN_CACHE_DIR, OPEN_DIRECT_IO, OPEN_KEEP_CACHE,
  OPEN_NONSEEKABLE,
  type NativeBinding, type NativeHandle, type NativeOp,
} from './native.ts';
import type {
  Attr, AttrReply, CreateReply, DirentOut, DirentPlusOut, Entry, FuseOperations, OpenReply, RequestContext,
} from './operations.ts';
import { decodeRequest, decodeSetattr } from './requests.ts';

/** The errno of a failed op: FsError codes map through errno.ts, anything else is EIO, logged with its stack. */
export function toErrno(error: unknown, op: string, log: Logger): number {
  if (error instanceof FsError) return errnoNumber(error.code);
  log.error(`${op}: unexpected error, answering EIO`, error);
  return errnoNumber('EIO');
}

/** Writes `attr` into `out` at `at` in the ATTR_LEN layout. */
export function packAttr(attr: Attr, out: Float64Array, at = 0): void {
  out[at] = attr.ino;
  out[at + 1] = attr.mode;
  out[at + 2] = attr.nlink;
  out[at + 3] = attr.uid;
  out[at + 4] = attr.gid;
  out[at + 5] = attr.rdev;
  out[at + 6] = attr.size;
  out[at + 7] = attr.blksize;
  out[at + 8] = attr.blocks;
  out[at + 9] = attr.atime.sec;
  out[at + 10] = attr.atime.nsec;
  out[at + 11] = attr.mtime.sec;
  out[at + 12] = attr.mtime.nsec;
  out[at + 13] = attr.ctime.sec;
  out[at + 14] = attr.ctime.nsec;
}

/** Writes `entry` into `out` at `at` in the ENTRY_LEN layout. */
export function packEntry(entry: Entry, out: Float64Array, at = 0): void {
  out[at] = entry.ino;
  out[at + 1] = entry.generation;
  out[at + 2] = entry.attrTimeout;
  out[at + 3] = entry.entryTimeout;
  packAttr(entry.attr, out, at + 4);
}

/** The openFlags bits of an OpenReply. */
export function openFlags(open: OpenReply): number {
  return (open.directIo ? OPEN_DIRECT_IO : 0) | (open.keepCache ? OPEN_KEEP_CACHE : 0)
    | (open.nonseekable ? OPEN_NONSEEKABLE : 0) | (open.cacheDir ? OPEN_CACHE_DIR : 0);
}

function packStatfs(s: StatFs): Float64Array {
  return Float64Array.of(s.bsize, s.frsize, s.blocks, s.bfree, s.bavail, s.files, s.ffree, s.favail, s.flag, s.namemax);
}

function errorCode(error: unknown): unknown {
  return typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
}

/** True for "." and "..", which readdirplus sends without a kernel reference. */
function isDotName(name: string): boolean {
  return name === '.' || name === '..';
}

/**
 * Turns native requests into FuseOperations calls. `request` is the binding's request callback;
 * `attach` hands it the session once mounted (no request arrives before that).
 */
export class Dispatcher {
  readonly #binding: NativeBinding;
  readonly #ops: FuseOperations;
  readonly #log: Logger;
  #handle: NativeHandle | undefined;
  #closed = false;
  readonly #inflight = new Set<Promise<void>>();

  constructor(binding: NativeBinding, ops: FuseOperations, log: Logger) {
    this.#binding = binding;
    this.#ops = ops;
    this.#log = log;
  }

  /** Binds the mounted session that replies go to. */
  attach(handle: NativeHandle): void {
    this.#handle = handle;
  }

  /** After unmount: replies that arrive late are dropped quietly. */
  close(): void {
    this.#closed = true;
  }

  /** Requests handed to the filesystem and not yet answered. */
  get inflight(): number {
    return this.#inflight.size;
  }

  /** Resolves when every request in flight now has been answered. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.#inflight]);
  }

  /** The binding's `request` callback. Never throws. */
  readonly request = (op: NativeOp, id: number, ctx: RequestContext | undefined, ...args: unknown[]): void => {
    try {
      this.#route(op, id, ctx as RequestContext, args);
    } catch (error) {
      // Only a bug in this file gets here; the request must still be answered.
      this.#err(id, toErrno(error, op, this.#log));
    }
  };

  #route(op: NativeOp, id: number, ctx: RequestContext, args: unknown[]): void {
    const ops = this.#ops;
    const r = decodeRequest(op, args);
    switch (r?.op) {
      case 'forget':
        return this.#forget(r.ino, r.nlookup);
      case 'destroy':
        try {
          ops.destroy?.();
        } catch (error) {
          this.#log.error('destroy: unexpected error', error);
        }
        return;
      case 'lookup':
        return this.#run(id, op, () => ops.lookup(r.parent, r.name, ctx), e => this.#entry(id, e));
      case 'getattr':
        return this.#run(id, op, () => ops.getattr(r.ino, r.maybeFh, ctx), reply => this.#attr(id, reply));
      case 'setattr':
        return this.#run(id, op, () => ops.setattr(r.ino, decodeSetattr(r.valid, r.values), r.maybeFh, ctx),
          reply => this.#attr(id, reply));
      case 'readlink':
        return this.#run(id, op, () => ops.readlink(r.ino, ctx), t => this.#binding.replyReadlink(this.#h, id, t));
      case 'mknod':
        return this.#run(id, op, ops.mknod && (() => ops.mknod!(r.parent, r.name, r.mode, r.rdev, ctx)), e => this.#entry(id, e));
      case 'mkdir':
        return this.#run(id, op, () => ops.mkdir(r.parent, r.name, r.mode, ctx), e => this.#entry(id, e));
      case 'unlink':
        return this.#run(id, op, () => ops.unlink(r.parent, r.name, ctx), () => this.#ok(id));
      case 'rmdir':
        return this.#run(id, op, () => ops.rmdir(r.parent, r.name, ctx), () => this.#ok(id));
      case 'symlink':
        return this.#run(id, op, () => ops.symlink(r.target, r.parent, r.name, ctx), e => this.#entry(id, e));
      case 'rename':
        return this.#run(id, op, () => ops.rename(r.parent, r.name, r.newParent, r.newName, r.flags, ctx), () => this.#ok(id));
      case 'link':
        return this.#run(id, op, () => ops.link(r.ino, r.newParent, r.newName, ctx), e => this.#entry(id, e));
      case 'open':
        return this.#run(id, op, () => ops.open(r.ino, r.flags, ctx), o => this.#open(id, o));
      case 'opendir':
        return this.#run(id, op, () => ops.opendir(r.ino, r.flags, ctx), o => this.#open(id, o));
      case 'read':
        return this.#run(id, op, () => ops.read(r.ino, r.fh, r.offset, r.size, ctx),
          data => this.#binding.replyBuf(this.#h, id, data));
      case 'write':
        return this.#run(id, op, () => ops.write(r.ino, r.fh, r.data, r.offset, ctx),
          count => this.#binding.replyWrite(this.#h, id, count));
      case 'flush':
        return this.#run(id, op, () => ops.flush(r.ino, r.fh, ctx), () => this.#ok(id));
      case 'release':
        return this.#run(id, op, () => ops.release(r.ino, r.fh, ctx), () => this.#ok(id));
      case 'releasedir':
        return this.#run(id, op, () => ops.releasedir(r.ino, r.fh, ctx), () => this.#ok(id));
      case 'fsync':
        return this.#run(id, op, () => ops.fsync(r.ino, r.fh, r.datasync !== 0, ctx), () => this.#ok(id));
      case 'fsyncdir':
        return this.#run(id, op, ops.fsyncdir && (() => ops.fsyncdir!(r.ino, r.fh, r.datasync !== 0, ctx)), () => this.#ok(id));
      case 'readdir':
        return this.#run(id, op, () => ops.readdir(r.ino, r.fh, r.offset, r.size, ctx), list => this.#readdir(id, list));
      case 'readdirplus':
        return this.#run(id, op, ops.readdirplus && (() => ops.readdirplus!(r.ino, r.fh, r.offset, r.size, ctx)),
          list => this.#readdirplus(id, list));
      case 'statfs':
        return this.#run(id, op, () => ops.statfs(r.ino, ctx), st => this.#binding.replyStatfs(this.#h, id, packStatfs(st)));
      case 'access':
        return this.#run(id, op, ops.access && (() => ops.access!(r.ino, r.mask, ctx)), () => this.#ok(id));
      case 'create':
        return this.#run(id, op, () => ops.create(r.parent, r.name, r.mode, r.flags, ctx), c => this.#create(id, c));
      default:
        this.#log.warn(`unknown FUSE op ${String(op)}, answering ENOSYS`);
        this.#err(id, errnoNumber('ENOSYS'));
    }
  }

  get #h(): NativeHandle {
    if (this.#handle === undefined) throw new Error('FUSE request before the session was attached');
    return this.#handle;
  }

  /**
   * Calls the op (undefined = not implemented → ENOSYS) and answers once: `reply` with the
   * value, or replyErr with the error's errno. A reply that throws (a value the binding
   * rejects) is answered EIO instead; the binding left the request pending in that case.
   */
  #run<T>(id: number, op: string, call: (() => Promise<T> | T) | undefined, reply: (value: T) => void): void {
    if (call === undefined) {
      this.#err(id, errnoNumber('ENOSYS'));
      return;
    }
    let result: Promise<T>;
    try {
      result = Promise.resolve(call());
    } catch (error) {
      result = Promise.reject(error);
    }
    const done = result.then(
      value => {
        try {
          reply(value);
        } catch (error) {
          this.#replyFailed(id, op, error);
        }
      },
      error => this.#err(id, toErrno(error, op, this.#log)),
    );
    this.#inflight.add(done);
    void done.finally(() => this.#inflight.delete(done));
  }

  #replyFailed(id: number, op: string, error: unknown): void {
    const code = errorCode(error);
    if (code === 'ERR_FUSE_CLOSED') {
      this.#log.debug(`${op}: reply after unmount dropped`);
    } else if (code === 'ERR_FUSE_REPLY') {
      this.#log.error(`${op}: request ${id} was already answered`, error);
    } else {
      this.#log.error(`${op}: the reply was rejected, answering EIO`, error);
      this.#err(id, errnoNumber('EIO'));
    }
  }

  #err(id: number, errno: number): void {
    try {
      this.#binding.replyErr(this.#h, id, errno);
    } catch (error) {
      if (errorCode(error) === 'ERR_FUSE_CLOSED' || this.#closed) this.#log.debug(`reply ${id} after unmount dropped`);
      else this.#log.error(`replyErr for request ${id} failed`, error);
    }
  }

  #ok(id: number): void {
    this.#binding.replyOk(this.#h, id);
  }

  #forget(ino: number, nlookup: number): void {
    try {
      this.#ops.forget(ino, nlookup);
    } catch (error) {
      this.#log.error(`forget ${ino}: unexpected error`, error);
    }
  }

  /** The kernel never got the reference the filesystem counted: give it back. */
  #unref(ino: number): void {
    if (ino !== 0 && !this.#closed) this.#forget(ino, 1);
  }

  #entry(id: number, entry: Entry): void {
    const packed = new Float64Array(ENTRY_LEN);
    try {
      packEntry(entry, packed);
      this.#binding.replyEntry(this.#h, id, packed);
    } catch (error) {
      this.#unref(entry?.ino ?? 0);
      throw error;
    }
  }

  #create(id: number, created: CreateReply): void {
    const packed = new Float64Array(ENTRY_LEN);
    try {
      packEntry(created.entry, packed);
      this.#binding.replyCreate(this.#h, id, packed, created.open.fh, openFlags(created.open));
    } catch (error) {
      this.#unref(created?.entry?.ino ?? 0);
      throw error;
    }
  }

  #attr(id: number, reply: AttrReply): void {
    const packed = new Float64Array(ATTR_LEN);
    packAttr(reply.attr, packed);
    this.#binding.replyAttr(this.#h, id, packed, reply.timeout);
  }

  #open(id: number, open: OpenReply): void {
    this.#binding.replyOpen(this.#h, id, open.fh, openFlags(open));
  }

  #readdir(id: number, list: DirentOut[]): void {
    const packed = new Float64Array(list.length * DIRENT_STRIDE);
    list.forEach((d, i) => {
      packed[i * DIRENT_STRIDE] = d.ino;
      packed[i * DIRENT_STRIDE + 1] = d.mode;
      packed[i * DIRENT_STRIDE + 2] = d.offset;
    });
    const sent = this.#binding.replyReaddir(this.#h, id, list.map(d => d.name), packed);
    if (sent < list.length) {
      this.#log.warn(`readdir: ${list.length - sent} of ${list.length} entries did not fit; size them with direntSize`);
    }
  }

  /**
   * Entries the kernel's buffer did not take were counted as lookups by the filesystem but
   * never reached the kernel, so they are forgotten here. The contract says the filesystem
   * returns only what fits (direntPlusSize); this is the safety net, and it warns.
   */
  #readdirplus(id: number, list: DirentPlusOut[]): void {
    const packed = new Float64Array(list.length * DIRENTPLUS_STRIDE);
    let sent = 0;
    let replied = false;
    try {
      list.forEach((d, i) => {
        packed[i * DIRENTPLUS_STRIDE] = d.offset;
        packEntry(d.entry, packed, i * DIRENTPLUS_STRIDE + 1);
      });
      sent = this.#binding.replyReaddirplus(this.#h, id, list.map(d => d.name), packed);
      replied = true;
    } finally {
      if (sent < list.length) {
        if (replied) {
          this.#log.warn(`readdirplus: ${list.length - sent} of ${list.length} entries did not fit; size them with direntPlusSize`);
        }
        for (const d of list.slice(sent)) if (!isDotName(d.name)) this.#unref(d.entry?.ino ?? 0);
      }
    }
  }
}
