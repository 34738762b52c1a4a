import type { NativeBinding, NativeCallbacks, NativeHandle, NativeMountOptions } from '../../src/fuse/native.ts';

/** One reply* call the fake binding received. */
export interface ReplyCall {
  fn: string;
  id: number;
  args: unknown[];
}

function codeError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

/**
 * A NativeBinding without a kernel: records every reply and, like the C request table, throws
 * ERR_FUSE_REPLY for a second reply to an id and ERR_FUSE_CLOSED after unmount.
 */
export class FakeBinding implements NativeBinding {
  readonly replies: ReplyCall[] = [];
  readonly answered = new Set<number>();
  readonly issued = new Set<number>();
  callbacks: NativeCallbacks | undefined;
  options: NativeMountOptions | undefined;
  mountpoint: string | undefined;
  unmounts = 0;
  closed = false;
  /** How many readdir(plus) entries the "kernel buffer" takes; Infinity = all. */
  fit = Infinity;
  /** Makes the next reply of this name throw (as the C side does for a bad value). */
  rejectNext: string | undefined;
  notifications: Array<{ ticket: number; what: string }> = [];
  readonly handle = { fake: true } as unknown as NativeHandle;
  #nextId = 1;
  #nextTicket = 1;

  /** Delivers a request the way the C side does; returns its id. */
  request(op: string, ctx: unknown, ...args: unknown[]): number {
    const id = this.#nextId++;
    this.issued.add(id);
    this.callbacks!.request(op as never, id, ctx as never, ...args);
    return id;
  }

  /** Delivers forget/destroy, which carry id 0 and take no reply. */
  notice(op: 'forget' | 'destroy', ...args: unknown[]): void {
    this.callbacks!.request(op, 0, undefined, ...args);
  }

  #reply(fn: string, id: number, args: unknown[]): void {
    if (this.closed) throw codeError('ERR_FUSE_CLOSED', 'the mount is closed');
    if (!this.issued.has(id) || this.answered.has(id)) throw codeError('ERR_FUSE_REPLY', `request ${id} is unknown or was already answered`);
    if (this.rejectNext === fn) {
      this.rejectNext = undefined;
      throw Object.assign(new TypeError(`${fn}: bad value`), { code: 'ERR_INVALID_ARG_TYPE' });
    }
    this.answered.add(id);
    this.replies.push({ fn, id, args });
  }

  /** The replies to `id`. */
  repliesTo(id: number): ReplyCall[] {
    return this.replies.filter(r => r.id === id);
  }

  mount(mountpoint: string, options: NativeMountOptions, callbacks: NativeCallbacks): NativeHandle {
    this.mountpoint = mountpoint;
    this.options = options;
    this.callbacks = callbacks;
    return this.handle;
  }
  unmount(): void {
    this.unmounts++;
    this.closed = true;
  }
  pending(): number {
    return this.issued.size - this.answered.size;
  }
  notifyInvalInode(_h: NativeHandle, ino: number): number {
    if (this.closed) throw codeError('ERR_FUSE_CLOSED', 'the mount is closed');
    const ticket = this.#nextTicket++;
    this.notifications.push({ ticket, what: `inode ${ino}` });
    return ticket;
  }
  notifyInvalEntry(_h: NativeHandle, parent: number, name: string): number {
    if (this.closed) throw codeError('ERR_FUSE_CLOSED', 'the mount is closed');
    const ticket = this.#nextTicket++;
    this.notifications.push({ ticket, what: `entry ${parent}/${name}` });
    return ticket;
  }
  replyErr(_h: NativeHandle, id: number, errno: number): void { this.#reply('replyErr', id, [errno]); }
  replyOk(_h: NativeHandle, id: number): void { this.#reply('replyOk', id, []); }
  replyEntry(_h: NativeHandle, id: number, entry: Float64Array): void { this.#reply('replyEntry', id, [entry]); }
  replyCreate(_h: NativeHandle, id: number, entry: Float64Array, fh: number, flags: number): void {
    this.#reply('replyCreate', id, [entry, fh, flags]);
  }
  replyAttr(_h: NativeHandle, id: number, attr: Float64Array, timeout: number): void { this.#reply('replyAttr', id, [attr, timeout]); }
  replyReadlink(_h: NativeHandle, id: number, target: string): void { this.#reply('replyReadlink', id, [target]); }
  replyOpen(_h: NativeHandle, id: number, fh: number, flags: number): void { this.#reply('replyOpen', id, [fh, flags]); }
  replyWrite(_h: NativeHandle, id: number, count: number): void { this.#reply('replyWrite', id, [count]); }
  replyBuf(_h: NativeHandle, id: number, data: Uint8Array): void { this.#reply('replyBuf', id, [data]); }
  replyStatfs(_h: NativeHandle, id: number, stat: Float64Array): void { this.#reply('replyStatfs', id, [stat]); }
  replyReaddir(_h: NativeHandle, id: number, names: string[], entries: Float64Array): number {
    this.#reply('replyReaddir', id, [names, entries]);
    return Math.min(this.fit, names.length);
  }
  replyReaddirplus(_h: NativeHandle, id: number, names: string[], entries: Float64Array): number {
    this.#reply('replyReaddirplus', id, [names, entries]);
    return Math.min(this.fit, names.length);
  }
}

/** A logger that keeps what it was told. */
export function recordingLogger() {
  const lines: Array<{ level: string; msg: string; err?: unknown }> = [];
  return {
    lines,
    error: (msg: string, err?: unknown) => { lines.push({ level: 'error', msg, err }); },
    warn: (msg: string, err?: unknown) => { lines.push({ level: 'warn', msg, err }); },
    info: (msg: string) => { lines.push({ level: 'info', msg }); },
    debug: (msg: string) => { lines.push({ level: 'debug', msg }); },
  };
}
