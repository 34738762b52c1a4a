import type { FileClient } from '../remote/file-client.ts';
import { FsError } from '../remote/fs-error.ts';
import type { CacheWatch } from './cache-watch.ts';
import type { HandleTable } from './handles.ts';
import type { InodeTable, Node } from './inode-table.ts';
import type { Outage } from './outage.ts';
import type { ResolvedWorkspaceOptions } from './options.ts';
import type { RemoteCaller } from './remote-call.ts';
import type { Counters } from './stats.ts';

/** What every part of the VFS shares; made once by the facade's constructor, never replaced. */
export interface VfsCore {
  readonly client: FileClient;
  /** Every remote call goes through it (timeout, FsError conversion, counting). */
  readonly caller: RemoteCaller;
  readonly opts: ResolvedWorkspaceOptions;
  readonly counters: Counters;
  readonly table: InodeTable;
  readonly handles: HandleTable;
  /** Whether the link to the remote is up: while it is down, caches answer past their lifetime. */
  readonly outage: Outage;
  /** Whether the remote's watch keeps the caches right past their lifetimes. */
  readonly watch: CacheWatch;
}

/** The remote path of `node`. @throws FsError ENOENT when it has no name any more. */
export function pathOrEnoent(table: InodeTable, node: Node, syscall: string): string {
  const path = table.pathOf(node);
  if (path === undefined) throw new FsError('ENOENT', syscall);
  return path;
}
