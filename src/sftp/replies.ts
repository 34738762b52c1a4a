/**
 * What SFTP replies carry and how each is decoded: one decoder per reply shape, run by the reader
 * loop against the packet that answers a request. A decoder throws the request's failure.
 */

import type { StatFs } from '../remote/file-client.ts';
import { FXP, STATUS, packetTypeName } from './constants.ts';
import { SftpProtocolError, type PacketReader, type SftpAttrs } from './packet.ts';
import { SftpStatusError } from './status.ts';

/** One entry of an SSH_FXP_NAME reply (its `longname`, an `ls -l` line, is skipped: nothing reads it). */
export interface SftpName {
  filename: string;
  attrs: SftpAttrs;
}

/** The reply of statvfs@openssh.com / fstatvfs@openssh.com: statvfs(3) plus the file system id. */
export interface SftpStatvfs extends StatFs {
  fsid: number;
}

/** One entry of a tree@rmount or readdir@rmount reply. */
export interface SftpTreeEntry {
  /** A name (readdir@rmount) or a path relative to the requested folder (tree@rmount). */
  path: string;
  attrs: SftpAttrs;
}

/** One file of a readfiles@rmount reply: its errno name on failure, else attributes and bytes. */
export interface SftpSmallFile {
  error?: string;
  attrs?: SftpAttrs;
  data?: Buffer;
}

/** Turns the packet answering `request` into its value, or throws the request's failure. */
export type Decode<T> = (type: number, r: PacketReader, request: string) => T;

/** Throws: the server answered with a packet type the request cannot have. */
export function unexpected(type: number, request: string): never {
  throw new SftpProtocolError(`${request}: unexpected reply ${packetTypeName(type)}`);
}

/** Reads a STATUS body: undefined for OK, else the failure. */
export function readStatus(r: PacketReader, request: string): SftpStatusError | undefined {
  const code = r.u32();
  if (code === STATUS.OK) return undefined;
  // Some old servers omit message and language tag.
  const message = r.remaining >= 4 ? r.string() : '';
  return new SftpStatusError(code, message, request);
}

/** For requests answered by a STATUS alone. */
export const expectStatus: Decode<void> = (type, r, request) => {
  if (type !== FXP.STATUS) unexpected(type, request);
  const error = readStatus(r, request);
  if (error !== undefined) throw error;
};

/** A decoder for requests answered by a `want` packet, or by a STATUS failure. */
export function expect<T>(want: number, body: (r: PacketReader) => T): Decode<T> {
  return (type, r, request) => {
    if (type === want) return body(r);
    if (type === FXP.STATUS) throw readStatus(r, request) ?? new SftpProtocolError(`${request}: OK status without data`);
    return unexpected(type, request);
  };
}

// Handles are copied out of the packet so that they do not pin the stream's receive chunk.
export const expectHandle = expect(FXP.HANDLE, r => Buffer.from(r.bytes()));
export const expectAttrs = expect(FXP.ATTRS, r => r.attrs());
export const expectExtendedReply = expect(FXP.EXTENDED_REPLY, r => r);
export const expectFirstName = expect(FXP.NAME, r => {
  const names = readNames(r);
  if (names.length === 0) throw new SftpProtocolError('empty NAME reply');
  return names[0]!.filename;
});

// uint32 count, (string filename, string longname, ATTRS attrs)*
export function readNames(r: PacketReader): SftpName[] {
  const count = r.u32();
  const names: SftpName[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const filename = r.string();
    // A string per entry that nobody reads: decoding it cost a walk over a big tree garbage.
    r.skipString();
    names[i] = { filename, attrs: r.attrs() };
  }
  return names;
}

// uint64 f_bsize, f_frsize, f_blocks, f_bfree, f_bavail, f_files, f_ffree, f_favail, f_fsid, f_flag, f_namemax
export function readStatvfs(r: PacketReader): SftpStatvfs {
  return {
    bsize: r.u64(),
    frsize: r.u64(),
    blocks: r.u64(),
    bfree: r.u64(),
    bavail: r.u64(),
    files: r.u64(),
    ffree: r.u64(),
    favail: r.u64(),
    fsid: r.u64(),
    flag: r.u64(),
    namemax: r.u64(),
  };
}
