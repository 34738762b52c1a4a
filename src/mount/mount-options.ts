import { UsageError } from '../remote/errors.ts';

/** Options of `rmount mount -o a,b=c`, in the spirit of mount(8) and sshfs. */
export interface MountOptions {
  readOnly: boolean;
  allowOther: boolean;
  /** Mount over a folder that is not empty. */
  nonempty: boolean;
  /** 'user': the remote owner of the mount root shows as the local user; 'none': ids as they are. */
  idmap: 'user' | 'none';
  /** Show every file as owned by this uid/gid. */
  uid?: number;
  gid?: number;
  /** Mask permission bits off every mode shown. */
  umask?: number;
  attrTimeoutMs: number;
  entryTimeoutMs: number;
  negativeTimeoutMs: number;
  dirTimeoutMs: number;
  /** Longest a remote operation may take before it fails (EIO), never a hang. */
  opTimeoutMs: number;
  /** Kernel writeback caching of writes. */
  writebackCache: boolean;
  /** Keep the kernel's page cache across opens when the file did not change. */
  kernelCache: boolean;
  /** SSH: use the agent ('yes'), the sftp subsystem ('no'), or the agent only when needed. */
  agent: 'yes' | 'no' | 'auto';
  /** libfuse debug output. */
  debug: boolean;
}

/** Defaults chosen for editor and git workloads; cache_timeout= changes all four lifetimes. */
export const DEFAULT_MOUNT_OPTIONS: MountOptions = {
  readOnly: false,
  allowOther: false,
  nonempty: false,
  idmap: 'user',
  attrTimeoutMs: 2000,
  entryTimeoutMs: 2000,
  negativeTimeoutMs: 2000,
  dirTimeoutMs: 2000,
  opTimeoutMs: 30_000,
  writebackCache: false,
  kernelCache: false,
  agent: 'auto',
  debug: false,
};

const FLAGS: Record<string, (o: MountOptions) => void> = {
  ro: o => { o.readOnly = true; },
  rw: o => { o.readOnly = false; },
  allow_other: o => { o.allowOther = true; },
  nonempty: o => { o.nonempty = true; },
  writeback_cache: o => { o.writebackCache = true; },
  kernel_cache: o => { o.kernelCache = true; },
  debug: o => { o.debug = true; },
  // Accepted for compatibility with mount(8)/sshfs command lines; they change nothing here.
  defaults: () => {},
  noatime: () => {},
  nosuid: () => {},
  nodev: () => {},
  reconnect: () => {},
};

function seconds(name: string, value: string): number {
  if (!/^\d+(\.\d+)?$/.test(value)) throw bad(`${name}=${value}`, 'expects a number of seconds');
  return Math.round(Number(value) * 1000);
}

function int(name: string, value: string, base = 10): number {
  const ok = base === 8 ? /^[0-7]+$/ : /^\d+$/;
  if (!ok.test(value)) throw bad(`${name}=${value}`, base === 8 ? 'expects an octal number' : 'expects a number');
  return parseInt(value, base);
}

const VALUES: Record<string, (o: MountOptions, v: string) => void> = {
  uid: (o, v) => { o.uid = int('uid', v); },
  gid: (o, v) => { o.gid = int('gid', v); },
  umask: (o, v) => { o.umask = int('umask', v, 8) & 0o777; },
  idmap: (o, v) => {
    if (v !== 'user' && v !== 'none') throw bad(`idmap=${v}`, 'expects user or none');
    o.idmap = v;
  },
  cache_timeout: (o, v) => {
    const ms = seconds('cache_timeout', v);
    o.attrTimeoutMs = o.entryTimeoutMs = o.negativeTimeoutMs = o.dirTimeoutMs = ms;
  },
  attr_timeout: (o, v) => { o.attrTimeoutMs = seconds('attr_timeout', v); },
  entry_timeout: (o, v) => { o.entryTimeoutMs = seconds('entry_timeout', v); },
  negative_timeout: (o, v) => { o.negativeTimeoutMs = seconds('negative_timeout', v); },
  dir_timeout: (o, v) => { o.dirTimeoutMs = seconds('dir_timeout', v); },
  timeout: (o, v) => {
    o.opTimeoutMs = seconds('timeout', v);
    if (o.opTimeoutMs < 1000) throw bad(`timeout=${v}`, 'must be at least 1 second');
  },
  agent: (o, v) => {
    if (v !== 'yes' && v !== 'no' && v !== 'auto') throw bad(`agent=${v}`, 'expects yes, no or auto');
    o.agent = v;
  },
};

function bad(option: string, why: string): UsageError {
  return new UsageError(`invalid mount option "${option}": ${why}`, {
    suggestion: `known options: ${[...Object.keys(FLAGS), ...Object.keys(VALUES).map(k => `${k}=`)].join(', ')}`,
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
      const name = eq < 0 ? text : text.slice(0, eq);
      if (eq < 0 && FLAGS[name] !== undefined) FLAGS[name](o);
      else if (eq >= 0 && VALUES[name] !== undefined) VALUES[name](o, text.slice(eq + 1));
      else throw bad(text, VALUES[name] !== undefined ? 'needs a value' : 'unknown option');
    }
  }
  return o;
}
