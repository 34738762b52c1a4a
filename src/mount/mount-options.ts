import { UsageError } from '../remote/errors.ts';
import { CACHE_TIMEOUT_DEFAULT_MS, OP_TIMEOUT_DEFAULT_MS } from '../workspacefs/options.ts';

/** `-o grace` when not given: ten minutes, long enough for a laptop lid or a Wi-Fi change. */
export const AGENT_GRACE_DEFAULT_MS = 600_000;

/** `-o writeback_max` when not given: 1 GiB of unsent file content before writers wait. */
export const WRITEBACK_MAX_DEFAULT_BYTES = 1024 ** 3;

/** Options of `rmount mount -o a,b=c`, in the spirit of mount(8) and sshfs. */
export interface MountOptions {
  readOnly: boolean;
  allowOther: boolean;
  /**
   * The kernel checks mode bits and ownership for every caller (FUSE default_permissions).
   * Undefined: on exactly when `allowOther` is (see {@link kernelChecksPermissions}).
   */
  defaultPermissions?: boolean;
  /** Mount over a folder that is not empty. */
  nonempty: boolean;
  /** 'user': the remote owner of the mount root shows as the local user; 'none': ids as they are. */
  idmap: 'user' | 'none';
  /** Show every file as owned by this uid/gid. */
  uid?: number;
  gid?: number;
  /** Mask permission bits off every mode shown. */
  umask?: number;
  /**
   * Who owns new files: the local process that made them ('caller', needs a root login on the
   * remote) or the remote login. Undefined: the caller with `allowOther` when the remote login
   * is root, else the login.
   */
  owner?: 'caller' | 'login';
  attrTimeoutMs: number;
  entryTimeoutMs: number;
  negativeTimeoutMs: number;
  dirTimeoutMs: number;
  /** Longest a remote operation may take before it fails (EIO), never a hang. */
  opTimeoutMs: number;
  /** Kernel writeback caching of writes. */
  writebackCache: boolean;
  /** Keep the kernel's page cache across opens (dropped when the mount sees the file change). */
  kernelCache: boolean;
  /**
   * Close-to-open also for changes made on the remote outside rmount: opens ask for the file's
   * attributes while the agent's watch is live, and a name missing from a listing not read for
   * this lookup is asked for once (NFS's `cto`). Off: both are trusted to the watch, whose barrier
   * every `rmount exec` and stub waits for, and without a watch a name missing from a listing
   * within its lifetime is missing unless a command of ours ended since; so only changes made
   * otherwise show late (within the watch's latency, or `cache_timeout`).
   */
  cto: boolean;
  /** SSH: use the agent ('yes'), the sftp subsystem ('no'), or the agent only when needed. */
  agent: 'yes' | 'no' | 'auto';
  /**
   * How long rmount-agent keeps the mount's open files after the link dies, so that a reconnect
   * carries on with them (even unlinked or renamed ones); 0: a new agent reopens files by path.
   */
  agentGraceMs: number;
  /**
   * SSH: which client carries the mount's file traffic: 'builtin' (ssh2 inside rmount, on the
   * mount's one connection) or 'openssh' (the user's own `ssh`, with their whole ssh_config).
   */
  sshClient: 'builtin' | 'openssh';
  /**
   * rmount's write-back journal: 'on', a change is done once it is journaled on local disk and
   * reaches the remote behind; 'off', close-to-open (close waits for the remote). Not the
   * kernel's `writebackCache`.
   */
  writeBack: 'on' | 'off';
  /** Writers wait while the journal holds more unsent file content than this many bytes. */
  writeBackMaxBytes: number;
  /** libfuse debug output. */
  debug: boolean;
}

/** Defaults chosen for editor and git workloads; cache_timeout= changes all four lifetimes. */
export const DEFAULT_MOUNT_OPTIONS: MountOptions = {
  readOnly: false,
  allowOther: false,
  nonempty: false,
  idmap: 'user',
  attrTimeoutMs: CACHE_TIMEOUT_DEFAULT_MS,
  entryTimeoutMs: CACHE_TIMEOUT_DEFAULT_MS,
  negativeTimeoutMs: CACHE_TIMEOUT_DEFAULT_MS,
  dirTimeoutMs: CACHE_TIMEOUT_DEFAULT_MS,
  opTimeoutMs: OP_TIMEOUT_DEFAULT_MS,
  writebackCache: false,
  kernelCache: false,
  cto: false,
  agent: 'auto',
  agentGraceMs: AGENT_GRACE_DEFAULT_MS,
  sshClient: 'builtin',
  writeBack: 'on',
  writeBackMaxBytes: WRITEBACK_MAX_DEFAULT_BYTES,
  debug: false,
};

/** True when the kernel is to check permissions: asked for, or implied by allow_other. */
export function kernelChecksPermissions(o: MountOptions): boolean {
  return o.defaultPermissions ?? o.allowOther;
}

/** Who owns new files, as the VFS is told: an explicit choice, else the caller's with allow_other once the remote shows a root login. */
export function newFileOwner(o: MountOptions): 'caller' | 'login' | 'auto' {
  return o.owner ?? (o.allowOther ? 'auto' : 'login');
}

/** One `-o` option: its spelling, what it does (for `--help`), and how it changes the options. */
export interface MountOptionSpec {
  /** The name; `value` names what follows `=`, absent for a flag. */
  name: string;
  value?: string;
  help: string;
  apply(o: MountOptions, value: string): void;
}

const secondsDefault = (ms: number): string => `default ${ms / 1000}`;
const sizeDefault = (bytes: number): string => `default ${formatSize(bytes)}`;

/** Every `-o` option rmount knows, in the order `--help` lists them. */
export const MOUNT_OPTIONS: readonly MountOptionSpec[] = [
  { name: 'ro', help: 'read-only mount (every change fails with EROFS)', apply: o => { o.readOnly = true; } },
  { name: 'rw', help: 'read-write mount (the default)', apply: o => { o.readOnly = false; } },
  {
    name: 'allow_other', help: 'other local users may use the mount (needs user_allow_other in /etc/fuse.conf); turns on default_permissions',
    apply: o => { o.allowOther = true; },
  },
  {
    name: 'default_permissions', help: 'the kernel checks mode bits and ownership for every caller (on with allow_other)',
    apply: o => { o.defaultPermissions = true; },
  },
  {
    name: 'no_default_permissions', help: 'with allow_other: no permission checks at all, every local user may read and change everything (warned in the log)',
    apply: o => { o.defaultPermissions = false; },
  },
  {
    name: 'idmap', value: 'user|none', help: 'user (default): the remote owner of the mount root shows as you; none: ids as they are',
    apply: (o, v) => {
      if (v !== 'user' && v !== 'none') throw bad(`idmap=${v}`, 'expects user or none');
      o.idmap = v;
    },
  },
  {
    name: 'owner', value: 'caller|login',
    help: 'who owns new files: the local user who made them (caller; default with allow_other when the remote login is root) or the remote login',
    apply: (o, v) => {
      if (v !== 'caller' && v !== 'login') throw bad(`owner=${v}`, 'expects caller or login');
      o.owner = v;
    },
  },
  { name: 'uid', value: 'N', help: 'show every file as owned by this uid', apply: (o, v) => { o.uid = int('uid', v); } },
  { name: 'gid', value: 'N', help: 'show every file with this group', apply: (o, v) => { o.gid = int('gid', v); } },
  { name: 'umask', value: 'OCTAL', help: 'clear these permission bits in every mode shown', apply: (o, v) => { o.umask = int('umask', v, 8) & 0o777; } },
  {
    name: 'cache_timeout', value: 'S', help: `lifetime of the attribute, entry, negative and folder caches, seconds (${secondsDefault(CACHE_TIMEOUT_DEFAULT_MS)})`,
    apply: (o, v) => {
      const ms = seconds('cache_timeout', v);
      o.attrTimeoutMs = o.entryTimeoutMs = o.negativeTimeoutMs = o.dirTimeoutMs = ms;
    },
  },
  { name: 'attr_timeout', value: 'S', help: 'lifetime of cached attributes', apply: (o, v) => { o.attrTimeoutMs = seconds('attr_timeout', v); } },
  { name: 'entry_timeout', value: 'S', help: 'lifetime of cached names', apply: (o, v) => { o.entryTimeoutMs = seconds('entry_timeout', v); } },
  { name: 'negative_timeout', value: 'S', help: 'lifetime of cached missing names', apply: (o, v) => { o.negativeTimeoutMs = seconds('negative_timeout', v); } },
  { name: 'dir_timeout', value: 'S', help: 'lifetime of cached folder listings', apply: (o, v) => { o.dirTimeoutMs = seconds('dir_timeout', v); } },
  {
    name: 'timeout', value: 'S', help: `longest a remote operation may take before it fails with EIO (${secondsDefault(OP_TIMEOUT_DEFAULT_MS)})`,
    apply: (o, v) => {
      o.opTimeoutMs = seconds('timeout', v);
      if (o.opTimeoutMs < 1000) throw bad(`timeout=${v}`, 'must be at least 1 second');
    },
  },
  { name: 'nonempty', help: 'mount over a folder that is not empty', apply: o => { o.nonempty = true; } },
  {
    name: 'writeback_cache', help: "let the kernel gather writes (faster small writes, looser ordering); the kernel's cache, not -o writeback",
    apply: o => { o.writebackCache = true; },
  },
  {
    name: 'kernel_cache', help: 'keep the kernel page cache across opens (dropped when the mount sees the file change)',
    apply: o => { o.kernelCache = true; },
  },
  {
    name: 'cto', help: "opens, and lookups of names missing from a listing, ask the remote, so that changes made there outside rmount show at once (not within the watch's latency, about 50 ms, or cache_timeout without it)",
    apply: o => { o.cto = true; },
  },
  {
    name: 'agent', value: 'auto|yes|no', help: 'serve files through rmount-agent (yes), the sftp subsystem (no), or the agent when needed (auto, default)',
    apply: (o, v) => {
      if (v !== 'yes' && v !== 'no' && v !== 'auto') throw bad(`agent=${v}`, 'expects yes, no or auto');
      o.agent = v;
    },
  },
  {
    name: 'grace', value: 'S', help: `how long rmount-agent keeps open files for a reconnect after the link drops (${secondsDefault(AGENT_GRACE_DEFAULT_MS)}; 0: reopen by path)`,
    apply: (o, v) => { o.agentGraceMs = seconds('grace', v); },
  },
  {
    name: 'ssh_client', value: 'builtin|openssh',
    help: 'SSH: the client for file traffic: builtin (default; rmount\'s own, on its one connection) or openssh (your ssh, with all of ssh_config: ControlMaster, ProxyCommand, FIDO keys; exec stays builtin)',
    apply: (o, v) => {
      if (v !== 'builtin' && v !== 'openssh') throw bad(`ssh_client=${v}`, 'expects builtin or openssh');
      o.sshClient = v;
    },
  },
  {
    name: 'writeback', value: 'on|off',
    help: "on (default): a change is done once journaled on local disk and is sent to the remote behind (rmount sync waits for it); off: close-to-open, close waits for the remote. Not writeback_cache (the kernel's)",
    apply: (o, v) => {
      if (v !== 'on' && v !== 'off') throw bad(`writeback=${v}`, 'expects on or off');
      o.writeBack = v;
    },
  },
  {
    name: 'writeback_max', value: 'SIZE',
    help: `writers wait while the journal holds more unsent file content than this (${sizeDefault(WRITEBACK_MAX_DEFAULT_BYTES)}; bytes, or with K, M, G, KiB, MiB, GiB)`,
    apply: (o, v) => { o.writeBackMaxBytes = parseSize('writeback_max', v); },
  },
  { name: 'debug', help: 'libfuse and VFS debug output in the log', apply: o => { o.debug = true; } },
  // Accepted for compatibility with mount(8)/sshfs command lines; they change nothing here.
  ...['defaults', 'noatime', 'nosuid', 'nodev', 'reconnect'].map(name => ({ name, help: 'accepted and ignored (mount(8)/sshfs compatibility)', apply: () => {} })),
];

const BY_NAME = new Map(MOUNT_OPTIONS.map(spec => [spec.name, spec]));

/** The `-o` part of `rmount mount --help`, one option per line. */
export function renderMountOptionsHelp(): string {
  const label = (s: MountOptionSpec): string => (s.value === undefined ? s.name : `${s.name}=${s.value}`);
  const width = Math.max(...MOUNT_OPTIONS.map(s => label(s).length));
  return MOUNT_OPTIONS.map(s => `  ${label(s).padEnd(width)}  ${s.help}`).join('\n');
}

function seconds(name: string, value: string): number {
  if (!/^\d+(\.\d+)?$/.test(value)) throw bad(`${name}=${value}`, 'expects a number of seconds');
  return Math.round(Number(value) * 1000);
}

// Binary multiples either way: K and KiB are both 1024 (as sshfs's and mount(8)'s sizes read).
const SIZE_UNITS: Readonly<Record<string, number>> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** Parses `-o` SIZE: plain bytes, or a whole number with K, M, G, KiB, MiB or GiB; more than 0. */
function parseSize(name: string, value: string): number {
  const m = /^(\d+)(?:([KMG])(?:iB)?)?$/i.exec(value);
  const bytes = m === null ? NaN : Number(m[1]) * SIZE_UNITS[(m[2] ?? '').toLowerCase()]!;
  if (!Number.isSafeInteger(bytes) || bytes <= 0) {
    throw bad(`${name}=${value}`, 'expects a size above 0: bytes, or a whole number with K, M, G, KiB, MiB or GiB (512M, 2GiB)');
  }
  return bytes;
}
/** A size as the help text shows it: the largest binary unit that divides it (1GiB, 512MiB, 1000). */
function formatSize(bytes: number): string {
  for (const [unit, n] of [['GiB', 1024 ** 3], ['MiB', 1024 ** 2], ['KiB', 1024]] as const) {
    if (bytes % n === 0) return `${bytes / n}${unit}`;
  }
  return String(bytes);
}

function int(name: string, value: string, base = 10): number {
  const ok = base === 8 ? /^[0-7]+$/ : /^\d+$/;
  if (!ok.test(value)) throw bad(`${name}=${value}`, base === 8 ? 'expects an octal number' : 'expects a number');
  return parseInt(value, base);
}

function bad(option: string, why: string): UsageError {
  return new UsageError(`invalid mount option "${option}": ${why}`, {
    suggestion: `known options: ${MOUNT_OPTIONS.map(s => (s.value === undefined ? s.name : `${s.name}=`)).join(', ')} (rmount mount --help)`,
  });
}

/** Parses `-o` values (each may hold a comma list); later options win. Unknown ones are usage errors. */
export function parseMountOptions(lists: readonly string[]): MountOptions {
  const o: MountOptions = { ...DEFAULT_MOUNT_OPTIONS };
  for (const list of lists) {
    for (const item of list.split(',')) {
      const text = item.trim();
      if (text === '') continue;
      const eq = text.indexOf('=');
      const spec = BY_NAME.get(eq < 0 ? text : text.slice(0, eq));
      if (spec === undefined) throw bad(text, 'unknown option');
      if ((eq >= 0) !== (spec.value !== undefined)) throw bad(text, spec.value === undefined ? 'takes no value' : 'needs a value');
      spec.apply(o, eq < 0 ? '' : text.slice(eq + 1));
    }
  }
  return o;
}
