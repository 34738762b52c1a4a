import type { FileHandle, FileStat } from '../remote/file-client.ts';
import type { FsError } from '../remote/fs-error.ts';
import type { Attributes } from './attributes.ts';
import type { VfsCore } from './core.ts';
import type { Node } from './inode-table.ts';
import type { Logger } from '../remote/log.ts';
import { OpenFile } from './open-file.ts';
import type { Access } from './open-flags.ts';

/**
 * The lifecycle of open files: registering a remote handle, close(2) of a descriptor (flush),
 * the last close (release), fsync, and closing everything at unmount. Write failures kept on a
 * file are reported here, once.
 */
export class OpenFiles {
  readonly #core: VfsCore;
  readonly #attrs: Attributes;
  readonly #log: Logger;
  /** Set by the first fsync on a remote that cannot fsync, so the notice is logged once. */
  #fsyncNoticeLogged = false;

  constructor(core: VfsCore, attrs: Attributes, log: Logger) {
    this.#core = core;
    this.#attrs = attrs;
    this.#log = log;
  }

  /** Registers `remote` opened on `node` (`preloaded`: its whole content, read ahead) and returns the handle number. */
  add(node: Node, remote: FileHandle, access: Access, preloaded?: Buffer): number {
    const { caller, counters, handles, opts } = this.#core;
    const file = new OpenFile(node, remote, access, caller, counters, opts, handles.writeOrder(node), preloaded);
    node.opens++;
    return handles.addFile(file);
  }

  /**
   * close(2) of one descriptor: settles writes and reports a write failure. A writer's attributes
   * come back from the remote with its writes where they can (OpenFile.pushAndStat): a stat right
   * after close(2) must show the remote's, as close-to-open promises, and then needs no round trip.
   */
  async flush(fh: number): Promise<void> {
    const file = this.#core.handles.file(fh, 'flush');
    if (file.writable) {
      const token = this.#attrs.asking(file.node);
      let stat: FileStat | undefined;
      try {
        stat = await file.pushAndStat();
      } finally {
        this.#attrs.answered(file.node, token, stat);
      }
    } else {
      await file.settle();
    }
    const error = file.takeError();
    if (error !== undefined) throw error;
  }

  /** Last close: settles writes, closes the remote handle, and lets the node go if unreferenced. */
  async release(fh: number): Promise<void> {
    const { handles, table } = this.#core;
    const file = handles.file(fh, 'release');
    let error: FsError | undefined;
    try {
      error = await file.close();
    } finally {
      handles.removeFile(fh);
      file.node.opens--;
      if (file.writable) {
        this.#attrs.expire(file.node);
        if (!handles.hasWriter(file.node)) this.#attrs.writersGone(file.node);
      }
      table.maybeDrop(file.node);
    }
    if (error !== undefined) {
      this.#log.warn(`release ${file.path}: write error not reported by flush`, error);
      throw error;
    }
  }

  /** Settles writes, then syncs; a successful no-op (logged once) when the remote cannot fsync. */
  async fsync(fh: number): Promise<void> {
    const { handles, client, caller } = this.#core;
    const file = handles.file(fh, 'fsync');
    await file.settle();
    const error = file.takeError();
    if (error !== undefined) throw error;
    // Called also where the remote cannot fsync (the contract makes it a successful no-op there):
    // the write-back journal under us answers it only once the file is on the remote.
    await caller.call('handle.sync', file.path, () => file.remote.sync());
    if (!client.capabilities.fsync && !this.#fsyncNoticeLogged) {
      this.#fsyncNoticeLogged = true;
      this.#log.info('the remote cannot fsync (no fsync@openssh.com): fsync only waits for writes to reach the remote');
    }
  }

  /** Settles and closes every open file (unmount). Write errors are logged. */
  async closeAll(): Promise<void> {
    await Promise.all(this.#core.handles.allFiles().map(async file => {
      try {
        const error = await file.close();
        if (error !== undefined) this.#log.error(`close ${file.path}: unreported write error`, error);
      } catch (error) {
        this.#log.warn(`close ${file.path} failed`, error);
      }
    }));
  }
}
