/**
 * The one decoding of native requests: the binding passes each op's arguments positionally (see
 * NativeOp in native.ts); here they become an object with named fields, once, so that the
 * dispatcher never indexes into an argument list.
 */
import { SET_ATTR, type NativeOp } from './native.ts';
import type { SetattrIn } from './operations.ts';

/** Each op's arguments, in the binding's order, by name. */
const FIELDS = {
  lookup: ['parent', 'name'],
  getattr: ['ino', 'maybeFh'],
  setattr: ['ino', 'valid', 'values', 'maybeFh'],
  readlink: ['ino'],
  mknod: ['parent', 'name', 'mode', 'rdev'],
  mkdir: ['parent', 'name', 'mode'],
  unlink: ['parent', 'name'],
  rmdir: ['parent', 'name'],
  symlink: ['target', 'parent', 'name'],
  rename: ['parent', 'name', 'newParent', 'newName', 'flags'],
  link: ['ino', 'newParent', 'newName'],
  open: ['ino', 'flags'],
  opendir: ['ino', 'flags'],
  create: ['parent', 'name', 'mode', 'flags'],
  read: ['ino', 'fh', 'offset', 'size'],
  readdir: ['ino', 'fh', 'offset', 'size'],
  readdirplus: ['ino', 'fh', 'offset', 'size'],
  write: ['ino', 'fh', 'data', 'offset'],
  flush: ['ino', 'fh'],
  release: ['ino', 'fh'],
  releasedir: ['ino', 'fh'],
  fsync: ['ino', 'fh', 'datasync'],
  fsyncdir: ['ino', 'fh', 'datasync'],
  statfs: ['ino'],
  access: ['ino', 'mask'],
  forget: ['ino', 'nlookup'],
  destroy: [],
} as const satisfies Record<NativeOp, readonly string[]>;

/** The type of each field name used in FIELDS. */
interface FieldTypes {
  parent: number;
  newParent: number;
  ino: number;
  name: string;
  newName: string;
  target: string;
  /** getattr/setattr: the open file the request came through, if any. */
  maybeFh: number | undefined;
  fh: number;
  valid: number;
  values: Float64Array;
  mode: number;
  rdev: number;
  flags: number;
  mask: number;
  offset: number;
  size: number;
  data: Buffer;
  /** 0 or 1 (fdatasync). */
  datasync: number;
  nlookup: number;
}

type Fields = typeof FIELDS;

/** One native request with named fields, discriminated by `op`. */
export type NativeRequest = {
  [K in NativeOp]: { op: K } & { [F in Fields[K][number]]: FieldTypes[F] };
}[NativeOp];

/** Names the arguments of request `op`; undefined for an op this build does not know. */
export function decodeRequest(op: string, args: readonly unknown[]): NativeRequest | undefined {
  if (!Object.hasOwn(FIELDS, op)) return undefined;
  const request: Record<string, unknown> = { op };
  FIELDS[op as NativeOp].forEach((field, i) => { request[field] = args[i]; });
  return request as NativeRequest;
}

/** Decodes setattr's FUSE_SET_ATTR_* bits and values (SETATTR_LEN layout) into SetattrIn. */
export function decodeSetattr(valid: number, v: Float64Array): SetattrIn {
  const changes: SetattrIn = {};
  if (valid & SET_ATTR.MODE) changes.mode = v[0]!;
  if (valid & SET_ATTR.UID) changes.uid = v[1]!;
  if (valid & SET_ATTR.GID) changes.gid = v[2]!;
  if (valid & SET_ATTR.SIZE) changes.size = v[3]!;
  // UTIME_NOW comes with both the time bit and the _NOW bit set.
  if (valid & SET_ATTR.ATIME_NOW) changes.atime = 'now';
  else if (valid & SET_ATTR.ATIME) changes.atime = { sec: v[4]!, nsec: v[5]! };
  if (valid & SET_ATTR.MTIME_NOW) changes.mtime = 'now';
  else if (valid & SET_ATTR.MTIME) changes.mtime = { sec: v[6]!, nsec: v[7]! };
  if (valid & SET_ATTR.CTIME) changes.ctime = { sec: v[8]!, nsec: v[9]! };
  return changes;
}
