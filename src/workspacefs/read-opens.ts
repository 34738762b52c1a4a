import { S_IFMT, S_IFREG, canReadFiles, type FileHandle, type FileStat, type OpenFlags } from '../remote/file-client.ts';
import type { Attributes } from './attributes.ts';
import { LazyFileHandle } from './content-cache.ts';
import type { ContentPrefetch } from './content-prefetch.ts';
import type { VfsCore } from './core.ts';
import type { Node } from './inode-table.ts';
import type { KernelNotices } from './kernel-notices.ts';
import type { Access } from './open-flags.ts';

/** What a read-only open of a regular file got: the remote handle, and the whole file when it came with it. */
export interface ReadOpen {
  remote: FileHandle;
  data?: Buffer;
}

/**
 * Read-only opens of regular files, in as few round trips as the client allows, in this order:
 * from small-file read-ahead (none); a small file where the client reads files whole (one request
 * brings its attributes and bytes); else an open with an lstat beside it (one round trip, then the
 * reads). Close-to-open holds also while the watch keeps the caches, unless the mount runs the
 * watch's barrier after each remote command (CacheWatch.trusts): else a file a remote command just
 * changed (rmount exec, a stub) could read old to the local tool that runs next, before the
 * watch's event comes. The kernel's pages are dropped only when the file did change. Other opens
 * take their close-to-open lstat from here too ({@link ReadOpens.openRevalidating}).
 */
export class ReadOpens {
  readonly #core: VfsCore;
  readonly #attrs: Attributes;
  readonly #notices: KernelNotices;
  readonly #prefetch: ContentPrefetch;

  constructor(core: VfsCore, attrs: Attributes, notices: KernelNotices, prefetch: ContentPrefetch) {
    this.#core = core;
    this.#attrs = attrs;
    this.#notices = notices;
    this.#prefetch = prefetch;
  }

  /** Opens `node` (a regular file at `path`) for reading. */
  async open(node: Node, path: string, access: Access): Promise<ReadOpen> {
    const { caller, client, handles, table, opts } = this.#core;
    const ahead = await this.#prefetch.opened(node, path);
    if (ahead !== undefined) return ahead;
    const writing = handles.hasWriter(node);
    const small = canReadFiles(client) && !writing && node.attr !== undefined && node.attr.size <= opts.contentMaxFileBytes;
    if (small) {
      const got = await this.#readWhole(node, path);
      const openLater = (p: string): Promise<FileHandle> => caller.call('open', p, () => client.open(p, access));
      if (got !== undefined) return { remote: new LazyFileHandle(path, () => table.pathOf(node), openLater), data: got };
    }
    return { remote: await this.openRevalidating(node, path, access, !writing && !this.#attrs.trusted(node)) };
  }

  /**
   * Opens `path` with `flags`; with `revalidate`, an lstat goes beside the open (the same round
   * trip) and its attributes are taken before the open is answered (see {@link revalidated}).
   */
  async openRevalidating(node: Node, path: string, flags: OpenFlags, revalidate: boolean): Promise<FileHandle> {
    const { caller, client } = this.#core;
    const revalidating = revalidate ? caller.call('lstat', path, () => client.lstat(path)).catch(() => undefined) : undefined;
    const remote = await caller.call('open', path, () => client.open(path, flags));
    if (revalidating !== undefined) await this.revalidated(node, await revalidating);
    return remote;
  }

  /**
   * Close-to-open: the attributes fetched beside an open (in the same round trip) replace cached
   * ones, and when the file changed on the remote the kernel drops its size and pages before the
   * open is answered. Otherwise a read right after the file grew there would stop at the old size,
   * which the kernel keeps for the attribute lifetime without asking.
   */
  async revalidated(node: Node, stat: FileStat | undefined): Promise<void> {
    if (stat === undefined || (stat.mode & S_IFMT) !== S_IFREG || this.#core.handles.hasWriter(node)) return;
    const old = node.attr;
    // Told to the kernel here, before the open is answered, not queued for after it as well.
    this.#attrs.store(node, stat, undefined, false);
    if (old !== undefined && (old.size !== stat.size || old.mtime.sec !== stat.mtime.sec || old.mtime.nsec !== stat.mtime.nsec)) {
      await this.#notices.inodeNow(node.ino);
    }
  }

  /**
   * The whole of small file `node` and its attributes in one request (readfiles@rmount), the
   * attributes revalidated as by the lstat beside an open; undefined when it failed or is not
   * small any more (a plain open then says why, or reads it).
   */
  async #readWhole(node: Node, path: string): Promise<Buffer | undefined> {
    const { caller, client, opts, counters } = this.#core;
    if (!canReadFiles(client)) return undefined;
    const [got] = await caller.call('readFiles', path, () => client.readFiles([path], opts.contentMaxFileBytes));
    if (got === undefined || got.error !== undefined || got.stat === undefined || got.data === undefined) return undefined;
    await this.revalidated(node, got.stat);
    if ((got.stat.mode & S_IFMT) !== S_IFREG || got.data.length !== got.stat.size) return undefined;
    counters.remoteBytesRead += got.data.length;
    return got.data;
  }
}
