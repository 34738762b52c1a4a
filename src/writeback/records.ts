/**
 * The journal's records and operations, as written to its log: one JSON object a line. Replay
 * rebuilds the queue from them, so every field an operation needs at the remote is here.
 */
import type { SetAttr, Timespec } from '../remote/file-client.ts';

/** A change to send to the remote. `put` sends a staged file's whole content and attributes. */
export type Op =
  | { kind: 'put'; file: number; path: string }
  | { kind: 'mkdir'; path: string; mode: number }
  | { kind: 'symlink'; target: string; path: string }
  | { kind: 'unlink'; path: string }
  | { kind: 'rmdir'; path: string }
  | { kind: 'link'; existing: string; path: string }
  | { kind: 'rename'; from: string; to: string }
  | { kind: 'setattr'; path: string; attrs: JournalSetAttr; noFollow?: boolean };

/** SetAttr with 'now' resolved to the time it was accepted (a replay must not move times). */
export interface JournalSetAttr {
  mode?: number;
  uid?: number;
  gid?: number;
  size?: number;
  atime?: Timespec;
  mtime?: Timespec;
}

/** What a staged file's put needs besides its content: written again whenever it changes. */
export interface StagedMeta {
  mode: number;
  uid: number;
  gid: number;
  atime: Timespec;
  mtime: Timespec;
  /** The owner was set (chown): the put sends uid and gid; else the remote login owns it. */
  owned?: boolean;
  /** True when the file did not exist on the remote when it was made here: it is created exclusively. */
  isNew: boolean;
  /** The remote file's size and mtime when we began to replace it; a different one at send time is a conflict. */
  baseline?: { size: number; mtime: Timespec };
}

export type JournalRecord =
  | { t: 'op'; seq: number; op: Op; at: number }
  | ({ t: 'file'; id: number } & StagedMeta)
  | { t: 'done'; seq: number }
  | { t: 'drop'; seq: number }
  | { t: 'fail'; seq: number; code: string; message: string; at: number }
  | { t: 'retry'; seq: number };

/** The remote paths an operation touches: another operation on one of them, above or below, waits for it. */
export function opPaths(op: Op): string[] {
  return op.kind === 'rename' ? [op.from, op.to] : op.kind === 'link' ? [op.existing, op.path] : [op.path];
}

/** `attrs` with 'now' made a time, for the journal. */
export function journalAttrs(attrs: SetAttr, now: Timespec): JournalSetAttr {
  const out: JournalSetAttr = {};
  if (attrs.mode !== undefined) out.mode = attrs.mode;
  if (attrs.uid !== undefined) out.uid = attrs.uid;
  if (attrs.gid !== undefined) out.gid = attrs.gid;
  if (attrs.size !== undefined) out.size = attrs.size;
  if (attrs.atime !== undefined) out.atime = attrs.atime === 'now' ? now : attrs.atime;
  if (attrs.mtime !== undefined) out.mtime = attrs.mtime === 'now' ? now : attrs.mtime;
  return out;
}

/** Times as the remote keeps them: whole seconds where it stores no nanoseconds (SFTP v3, busybox). */
export type TimeFit = (t: Timespec) => Timespec;

export function timeFit(nanoseconds: boolean): TimeFit {
  return nanoseconds ? t => t : t => (t.nsec === 0 ? t : { sec: t.sec, nsec: 0 });
}

/** The current time as a Timespec. */
export function nowSpec(): Timespec {
  const ms = Date.now();
  return { sec: Math.floor(ms / 1000), nsec: (ms % 1000) * 1_000_000 };
}
