import type { FileClient } from '../remote/file-client.ts';
import { AttrSource } from './attr-source.ts';
import { CacheWatch } from './cache-watch.ts';
import { Attributes } from './attributes.ts';
import { ContentCache } from './content-cache.ts';
import { ContentPrefetch } from './content-prefetch.ts';
import type { VfsCore } from './core.ts';
import { DirReader } from './dir-reader.ts';
import { Entries } from './entries.ts';
import { HandleTable } from './handles.ts';
import { IdMap } from './id-map.ts';
import { InodeTable } from './inode-table.ts';
import { KernelNotices } from './kernel-notices.ts';
import { ListingPrefetch } from './listing-prefetch.ts';
import { Outage } from './outage.ts';
import { ReadOpens } from './read-opens.ts';
import { Listings } from './listings.ts';
import { OpenFiles } from './open-files.ts';
import type { ResolvedWorkspaceOptions } from './options.ts';
import { RemoteCaller } from './remote-call.ts';
import { Counters } from './stats.ts';

/** The collaborators of one WorkspaceFilesystem, wired to each other. */
export interface VfsParts {
  core: VfsCore;
  notices: KernelNotices;
  ids: IdMap;
  attrs: Attributes;
  attrSource: AttrSource;
  listings: Listings;
  entries: Entries;
  listingPrefetch: ListingPrefetch;
  contentPrefetch: ContentPrefetch;
  readOpens: ReadOpens;
  dirs: DirReader;
  files: OpenFiles;
}

/** Makes and wires the parts of a VFS over `client` (the facade and the unit tests use this one wiring). */
export function assembleParts(client: FileClient, opts: ResolvedWorkspaceOptions): VfsParts {
  const counters = new Counters();
  const watch = new CacheWatch(opts.now);
  const core: VfsCore = {
    client, opts, counters,
    caller: new RemoteCaller(opts.opTimeoutMs, counters, opts.log),
    table: new InodeTable(opts.root),
    handles: new HandleTable(),
    outage: new Outage(client, opts.log, opts.linkGone, watch),
    watch,
  };
  const contents = new ContentCache(opts.contentCacheBytes, watch, opts.attrTimeoutMs);
  const notices = new KernelNotices(opts.log);
  const ids = new IdMap(opts);
  const attrs = new Attributes(opts, ids, contents, notices, core.outage, watch);
  // The listing read-ahead is made below; a listing is first used after construction.
  let listingPrefetch: ListingPrefetch | undefined;
  const listings = new Listings(core, attrs, notices, (dir, listing) => listingPrefetch?.used(dir, listing),
    dir => listingPrefetch?.reading(dir));
  core.table.onFolderDropped = node => listings.forgotten(node.ino);
  const entries = new Entries(core, attrs, listings, notices);
  listingPrefetch = new ListingPrefetch(core, attrs, listings, entries);
  const contentPrefetch = new ContentPrefetch(core, attrs, listings, entries, contents, opts.log);
  return {
    core, notices, ids, attrs, listings, entries, listingPrefetch, contentPrefetch,
    attrSource: new AttrSource(core, attrs, listings),
    readOpens: new ReadOpens(core, attrs, notices, contentPrefetch),
    dirs: new DirReader(core, listings, entries),
    files: new OpenFiles(core, attrs, opts.log),
  };
}
