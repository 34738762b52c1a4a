import type { RequestContext } from '../../src/fuse/operations.ts';
import type { FileStat } from '../../src/remote/file-client.ts';
import { WorkspaceFilesystem } from '../../src/workspacefs/workspace-filesystem.ts';
import { resolveOptions, type WorkspaceOptions } from '../../src/workspacefs/options.ts';
import { assembleParts } from '../../src/workspacefs/parts.ts';
import { MemoryFileClient, type MemoryFileClientOptions } from '../helpers/memory-file-client.ts';

/** The request context the tests' "kernel" sends: local user 501/20, umask 022. */
export const ctx: RequestContext = { uid: 501, gid: 20, pid: 4242, umask: 0o022 };

/** Remote attributes of type `mode` (with the remote's inode number `ino`, if given), times at 0. */
export function fileStat(mode: number, ino?: number): FileStat {
  const t = { sec: 0, nsec: 0 };
  return { mode, size: 0, uid: 0, gid: 0, atime: t, mtime: t, ...(ino === undefined ? {} : { ino }) };
}

/** A settable clock for cache expiry. */
export interface FakeClock {
  now: () => number;
  advance(ms: number): void;
}

/** A VFS rooted at /work on a fresh MemoryFileClient, with a fake clock. */
export function makeFs(options: Partial<WorkspaceOptions> = {}, clientOptions: MemoryFileClientOptions = {}) {
  const client = new MemoryFileClient(clientOptions);
  client.putDir('/work');
  let t = 1_000;
  const clock: FakeClock = { now: () => t, advance: ms => { t += ms; } };
  const fs = new WorkspaceFilesystem(client, {
    root: '/work', localUid: 501, localGid: 20, now: clock.now, writeFlushDelayMs: 0, ...options,
  });
  return { client, fs, clock };
}

/** Records kernel notifications. */
export function recordingNotifier() {
  const calls: string[] = [];
  return {
    calls,
    invalInode(ino: number) { calls.push(`inode ${ino}`); },
    invalEntry(parent: number, name: string) { calls.push(`entry ${parent} ${name}`); },
  };
}

export const O_RDONLY = 0;
export const O_WRONLY = 1;
export const O_RDWR = 2;
export const O_CREAT = 0o100;
export const O_EXCL = 0o200;
export const O_TRUNC = 0o1000;
export const O_APPEND = 0o2000;
export const S_IFREG = 0o100000;

/** The VFS's parts, wired as the facade wires them, rooted at /work on a fresh MemoryFileClient. */
export function makeParts(options: Partial<WorkspaceOptions> = {}, clientOptions: MemoryFileClientOptions = {}) {
  const client = new MemoryFileClient(clientOptions);
  client.putDir('/work');
  let t = 1_000;
  const clock: FakeClock = { now: () => t, advance: ms => { t += ms; } };
  const parts = assembleParts(client, resolveOptions({ root: '/work', localUid: 501, localGid: 20, now: clock.now, ...options }));
  const notices = recordingNotifier();
  parts.notices.attach(notices);
  return { client, clock, kernel: notices, ...parts };
}
