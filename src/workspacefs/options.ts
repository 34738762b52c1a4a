import type { Logger } from '../remote/log.ts';
import { silentLogger } from '../remote/log.ts';

/** How a {@link WorkspaceFilesystem} behaves. Only `root` is required. */
export interface WorkspaceOptions {
  /** Absolute remote path of the mount root. */
  root: string;
  /** Sets every cache lifetime below that is not given on its own (sshfs `cache_timeout=`). */
  cacheTimeoutMs?: number;
  /** How long attributes are trusted, here and in the kernel. Default 2000. */
  attrTimeoutMs?: number;
  /** How long a name → inode mapping is trusted by the kernel. Default 2000. */
  entryTimeoutMs?: number;
  /** How long "no such name" is remembered, here and in the kernel. 0 answers ENOENT uncached. Default 2000. */
  negativeTimeoutMs?: number;
  /** How long a directory listing (with attributes) is reused. Default 2000. */
  dirTimeoutMs?: number;
  /** Refuse every mutation with EROFS. */
  readOnly?: boolean;
  /**
   * 'user' (default): files owned by the remote owner of the mount root show as `localUid`/`localGid`
   * (and chown to the local ids maps back); other owners keep their numbers. 'none': remote ids as is.
   */
  idmap?: 'user' | 'none';
  /** The local user the remote root owner maps to. Default: this process's uid. */
  localUid?: number;
  /** The local group the remote root group maps to. Default: this process's gid. */
  localGid?: number;
  /** Show every file as owned by this uid (sshfs `uid=`); wins over idmap. */
  uid?: number;
  /** Show every file as owned by this gid (sshfs `gid=`); wins over idmap. */
  gid?: number;
  /** Permission bits cleared from every mode shown (sshfs `umask=`). Default 0. */
  umask?: number;
  /**
   * Who owns what a local process makes through the mount. 'caller': the calling process's uid
   * and gid (the FUSE request carries them; the group of a set-group-ID folder wins, as on a local
   * disk), which needs a remote login that may chown, i.e. root; 'login': whoever the remote login
   * is. 'auto': 'caller' once the remote shows it made a file as root. Default 'login'.
   */
  owner?: 'caller' | 'login' | 'auto';
  /** Bound on every remote call; on expiry the op fails with EIO. Default 30000. */
  opTimeoutMs?: number;
  /**
   * Keep the kernel's page cache of a file across opens (sshfs `kernel_cache`). Safe as far as
   * this mount sees changes: a changed size or mtime drops the cache. Default false.
   */
  kernelCache?: boolean;
  /** Where diagnostics go. Default: nowhere. */
  log?: Logger;
  /** Consecutive writes are gathered per handle up to this many bytes. Default 1 MiB. */
  writeGatherBytes?: number;
  /** Gathered writes in flight per handle before `write` waits. Default 4 MiB. */
  writeInFlightBytes?: number;
  /** A partly filled write buffer is sent after this idle time. Default 200 ms. */
  writeFlushDelayMs?: number;
  /** Read-ahead window per handle once reads are sequential. Default 2 MiB; 0 turns it off. */
  readAheadBytes?: number;
  /** Size of one read-ahead request. Default 512 KiB. */
  readChunkBytes?: number;
  /**
   * Directory listings read ahead in the background at once, per mount, when a listing shows
   * subdirectories (so tree walks find them cached). Default 16; 0 turns read-ahead of listings off.
   */
  prefetchConcurrency?: number;
  /**
   * How many levels below a directory the walk has just entered (whose listing was read ahead)
   * are listed ahead. Default 3. Below a listing read on demand, at most 2 levels.
   */
  prefetchDepth?: number;
  /** Most listings waiting to be read ahead; more are not queued. Default 4096. */
  prefetchQueueMax?: number;
  /**
   * Where the client reads whole subtrees in one request (the agent), the read-ahead below a
   * folder the walk entered is one such request of at most this many entries, instead of a
   * listing per folder. Default 10000; 0 reads ahead folder by folder.
   */
  subtreeMaxEntries?: number;
  /**
   * A lookup in a folder whose listing is not cached reads the whole listing (answering its
   * siblings too), unless the last listing of that folder had more entries than this: then one
   * lstat. Default 20000; 0 always uses lstat.
   */
  listingLookupMaxEntries?: number;
  /**
   * Bytes of small-file contents read ahead and kept (see contentMaxFileBytes). When files of one
   * folder are opened read-only one after another (`git status` after a clone, `grep -r`), the
   * other small files of that folder are read in the background and later read-only opens of them
   * cost no round trip. Default 32 MiB; 0 turns it off.
   */
  contentCacheBytes?: number;
  /** Largest file read ahead that way. Default 64 KiB. */
  contentMaxFileBytes?: number;
  /** Milliseconds clock for cache expiry (tests pass a fake). Default `performance.now`. */
  now?: () => number;
  /**
   * True once the remote is gone for good (a removed container): caches stop answering for it, so
   * every operation that needs the remote fails at once. Default: never.
   */
  linkGone?: () => boolean;
}

/** {@link WorkspaceOptions} with every default filled in. */
export interface ResolvedWorkspaceOptions {
  root: string;
  attrTimeoutMs: number;
  entryTimeoutMs: number;
  negativeTimeoutMs: number;
  dirTimeoutMs: number;
  readOnly: boolean;
  idmap: 'user' | 'none';
  localUid: number;
  localGid: number;
  uid: number | undefined;
  gid: number | undefined;
  umask: number;
  owner: 'caller' | 'login' | 'auto';
  opTimeoutMs: number;
  kernelCache: boolean;
  log: Logger;
  writeGatherBytes: number;
  writeInFlightBytes: number;
  writeFlushDelayMs: number;
  readAheadBytes: number;
  readChunkBytes: number;
  prefetchConcurrency: number;
  prefetchDepth: number;
  prefetchQueueMax: number;
  subtreeMaxEntries: number;
  listingLookupMaxEntries: number;
  contentCacheBytes: number;
  contentMaxFileBytes: number;
  now: () => number;
  linkGone: () => boolean;
}

/** Lifetime of every cache when none is given (sshfs: 20 s; the agent's watch makes longer ones safe). */
export const CACHE_TIMEOUT_DEFAULT_MS = 2000;
/** Longest a remote operation may take before it fails with EIO. */
export const OP_TIMEOUT_DEFAULT_MS = 30_000;

/** Fills in defaults and normalises the root path. @throws TypeError for a relative root. */
export function resolveOptions(options: WorkspaceOptions): ResolvedWorkspaceOptions {
  if (!options.root.startsWith('/')) throw new TypeError(`workspace root must be absolute, got "${options.root}"`);
  const root = options.root.length > 1 ? options.root.replace(/\/+$/, '') || '/' : '/';
  const cache = options.cacheTimeoutMs;
  return {
    root,
    attrTimeoutMs: options.attrTimeoutMs ?? cache ?? CACHE_TIMEOUT_DEFAULT_MS,
    entryTimeoutMs: options.entryTimeoutMs ?? cache ?? CACHE_TIMEOUT_DEFAULT_MS,
    negativeTimeoutMs: options.negativeTimeoutMs ?? cache ?? CACHE_TIMEOUT_DEFAULT_MS,
    dirTimeoutMs: options.dirTimeoutMs ?? cache ?? CACHE_TIMEOUT_DEFAULT_MS,
    readOnly: options.readOnly ?? false,
    idmap: options.idmap ?? 'user',
    localUid: options.localUid ?? process.getuid?.() ?? 0,
    localGid: options.localGid ?? process.getgid?.() ?? 0,
    uid: options.uid,
    gid: options.gid,
    umask: (options.umask ?? 0) & 0o7777,
    owner: options.owner ?? 'login',
    opTimeoutMs: options.opTimeoutMs ?? OP_TIMEOUT_DEFAULT_MS,
    kernelCache: options.kernelCache ?? false,
    log: options.log ?? silentLogger,
    writeGatherBytes: options.writeGatherBytes ?? 1 << 20,
    writeInFlightBytes: options.writeInFlightBytes ?? 4 << 20,
    writeFlushDelayMs: options.writeFlushDelayMs ?? 200,
    readAheadBytes: options.readAheadBytes ?? 2 << 20,
    readChunkBytes: options.readChunkBytes ?? 512 << 10,
    prefetchConcurrency: Math.max(0, options.prefetchConcurrency ?? 16),
    prefetchDepth: Math.max(0, options.prefetchDepth ?? 3),
    prefetchQueueMax: Math.max(0, options.prefetchQueueMax ?? 4096),
    subtreeMaxEntries: Math.max(0, options.subtreeMaxEntries ?? 10_000),
    listingLookupMaxEntries: Math.max(0, options.listingLookupMaxEntries ?? 20_000),
    contentCacheBytes: Math.max(0, options.contentCacheBytes ?? 32 << 20),
    contentMaxFileBytes: Math.max(0, options.contentMaxFileBytes ?? 64 << 10),
    now: options.now ?? (() => performance.now()),
    linkGone: options.linkGone ?? (() => false),
  };
}
