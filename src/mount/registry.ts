import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';

/** What a running mount daemon records about itself for `status` and `unmount`. */
export interface MountRecord {
  pid: number;
  destination: string;
  mountpoint: string;
  remotePath: string;
  startedAt: string;
  /** Where the daemon's log goes. */
  logFile: string;
  /** The control socket, once one is served. */
  socket?: string;
}

/**
 * The per-user runtime folder: $XDG_RUNTIME_DIR/rmount, else ~/.rmount/run. Mode 0700.
 */
export async function runtimeDir(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const dir = env.RMOUNT_RUNTIME_DIR ?? (env.XDG_RUNTIME_DIR ? join(env.XDG_RUNTIME_DIR, 'rmount') : join(homedir(), '.rmount', 'run'));
  await mkdir(dir, { recursive: true, mode: 0o700 });
  return dir;
}

/** A short stable id for a mountpoint, used to name its files in the runtime folder. */
function mountId(mountpoint: string): string {
  return createHash('sha256').update(mountpoint).digest('hex').slice(0, 16);
}

/** The runtime files of one mount, all named after its id. */
export interface RuntimeFiles {
  /** The record (`MountRecord` as JSON). */
  record: string;
  /** The control socket. */
  socket: string;
  /** The daemon's log. */
  log: string;
}

const RECORD_SUFFIX = '.json';

/** Where the runtime files of the mount at `mountpoint` live in `dir`: the one spelling of their names. */
export function runtimeFiles(dir: string, mountpoint: string): RuntimeFiles {
  const base = join(dir, mountId(mountpoint));
  return { record: `${base}${RECORD_SUFFIX}`, socket: `${base}.sock`, log: `${base}.log` };
}

/** Writes (atomically) the record of a mount. */
export async function writeRecord(dir: string, record: MountRecord): Promise<void> {
  const file = runtimeFiles(dir, record.mountpoint).record;
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(record, null, 2), { mode: 0o600 });
  await rename(tmp, file);
}

/** Removes the record of a mount, if there is one. */
export async function removeRecord(dir: string, mountpoint: string): Promise<void> {
  await rm(runtimeFiles(dir, mountpoint).record, { force: true });
}

/** The record of the mount at `mountpoint`, if there is one. */
export async function readRecord(dir: string, mountpoint: string): Promise<MountRecord | undefined> {
  try {
    return JSON.parse(await readFile(runtimeFiles(dir, mountpoint).record, 'utf8')) as MountRecord;
  } catch {
    return undefined;
  }
}

/** Every recorded mount. */
export async function listRecords(dir: string): Promise<MountRecord[]> {
  const out: MountRecord[] = [];
  for (const name of await readdir(dir)) {
    if (!name.endsWith(RECORD_SUFFIX)) continue;
    try {
      out.push(JSON.parse(await readFile(join(dir, name), 'utf8')) as MountRecord);
    } catch {
      // A record being rewritten or a stray file: skip it.
    }
  }
  return out;
}

/** True when a process with this pid exists. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
