/**
 * The Engine's archive API for one container: HEAD (the path-stat header), GET (a tar of a path)
 * and PUT (a tar extracted into a folder). Used by the agentless file client and by `uploadFile`.
 */
import { createWriteStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type Dockerode from 'dockerode';
import * as tar from 'tar-stream';
import {
  S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFREG, S_IFSOCK, type Timespec,
} from '../../remote/file-client.ts';

/** What `X-Docker-Container-Path-Stat` says of a path (lstat of its last component). */
export interface ArchivePathStat {
  name: string;
  size: number;
  /** POSIX st_mode, type bits included. */
  mode: number;
  mtime: Timespec;
  /** For a symlink: the absolute path it resolves to inside the container. */
  linkTarget: string;
}

// Go's io/fs.FileMode bits, as the header carries them.
const GO_DIR = 2 ** 31;
const GO_SYMLINK = 2 ** 27;
const GO_DEVICE = 2 ** 26;
const GO_NAMED_PIPE = 2 ** 25;
const GO_SOCKET = 2 ** 24;
const GO_SETUID = 2 ** 23;
const GO_SETGID = 2 ** 22;
const GO_CHAR_DEVICE = 2 ** 21;
const GO_STICKY = 2 ** 20;

function bit(mode: number, b: number): boolean {
  return Math.floor(mode / b) % 2 === 1;
}

/** Go FileMode → POSIX st_mode (type bits, setuid/setgid/sticky, permissions). */
export function posixModeFromGo(goMode: number): number {
  let type = S_IFREG;
  if (bit(goMode, GO_DIR)) type = S_IFDIR;
  else if (bit(goMode, GO_SYMLINK)) type = S_IFLNK;
  else if (bit(goMode, GO_DEVICE)) type = bit(goMode, GO_CHAR_DEVICE) ? S_IFCHR : S_IFBLK;
  else if (bit(goMode, GO_CHAR_DEVICE)) type = S_IFCHR;
  else if (bit(goMode, GO_NAMED_PIPE)) type = S_IFIFO;
  else if (bit(goMode, GO_SOCKET)) type = S_IFSOCK;
  let mode = type | (goMode % 0o1000);
  if (bit(goMode, GO_SETUID)) mode |= 0o4000;
  if (bit(goMode, GO_SETGID)) mode |= 0o2000;
  if (bit(goMode, GO_STICKY)) mode |= 0o1000;
  return mode;
}

/** RFC 3339 with up to nanoseconds → Timespec. */
export function timespecFromRfc3339(text: string): Timespec {
  const m = /^(.*?)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(text);
  if (!m) return { sec: 0, nsec: 0 };
  const ms = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(ms)) return { sec: 0, nsec: 0 };
  return { sec: Math.floor(ms / 1000), nsec: Number((m[2] ?? '').padEnd(9, '0').slice(0, 9)) };
}

/** Decodes the base64 JSON of `X-Docker-Container-Path-Stat`. */
export function parsePathStatHeader(value: string): ArchivePathStat {
  const raw = JSON.parse(Buffer.from(value, 'base64').toString('utf8')) as { name?: string; size?: number; mode?: number; mtime?: string; linkTarget?: string };
  return {
    name: raw.name ?? '',
    size: raw.size ?? 0,
    mode: posixModeFromGo(raw.mode ?? 0),
    mtime: timespecFromRfc3339(raw.mtime ?? ''),
    linkTarget: raw.linkTarget ?? '',
  };
}

/** An engine error from the archive API with its HTTP status. */
export interface EngineHttpError {
  statusCode?: number;
  message?: string;
}

/** HEAD /containers/{id}/archive: the path's stat. Rejects with the engine's error (404: no such path). */
export async function statPath(container: Dockerode.Container, path: string): Promise<ArchivePathStat> {
  const res = await container.infoArchive({ path }) as { headers: Record<string, string | undefined>; resume?: () => void };
  res.resume?.();
  const header = res.headers['x-docker-container-path-stat'];
  if (header === undefined) throw Object.assign(new Error(`no path-stat header for ${path}`), { statusCode: 500 });
  return parsePathStatHeader(header);
}

/**
 * GET /containers/{id}/archive: streams the first entry of the tar (the file itself) into
 * `localPath`. Memory stays at a chunk or two whatever the size.
 */
export async function downloadFile(container: Dockerode.Container, path: string, localPath: string): Promise<void> {
  const body = await container.getArchive({ path }) as unknown as Readable;
  const extract = tar.extract();
  let wrote = false;
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, stream, next) => {
      if (wrote || header.type !== 'file') {
        stream.on('end', () => next()).resume();
        return;
      }
      wrote = true;
      pipeline(stream, createWriteStream(localPath)).then(() => next(), reject);
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
  });
  await Promise.all([pipeline(body, extract), done]);
  if (!wrote) throw Object.assign(new Error(`${path} is not a regular file`), { statusCode: 400, notFile: true });
}

/** One direct child of a folder as the folder's tar shows it. */
export interface ArchiveEntry {
  name: string;
  header: tar.Header;
}

/**
 * GET of a folder: its direct children from the tar headers (the whole subtree is transferred and
 * skipped: the archive API has no depth limit). For containers without any shell.
 */
export async function listFolder(container: Dockerode.Container, path: string): Promise<ArchiveEntry[]> {
  const body = await container.getArchive({ path }) as unknown as Readable;
  const extract = tar.extract();
  const out: ArchiveEntry[] = [];
  extract.on('entry', (header, stream, next) => {
    const parts = header.name.replace(/\/+$/, '').split('/');
    if (parts.length === 2 && parts[1] !== '') out.push({ name: parts[1]!, header });
    stream.on('end', () => next()).resume();
  });
  await pipeline(body, extract);
  return out;
}

/** A file to put into a container. */
export interface PutEntry {
  /** Name inside the tar, relative to the folder it is extracted into. */
  name: string;
  type: 'file' | 'directory';
  mode: number;
  uid: number;
  gid: number;
  /** File content: bytes, or a stream of exactly `size` bytes. */
  data?: Buffer | { stream: Readable; size: number };
}

/** PUT /containers/{id}/archive: a tar of `entries` (built by tar-stream) extracted into `folder`. */
export async function putEntries(container: Dockerode.Container, folder: string, entries: readonly PutEntry[]): Promise<void> {
  const pack = tar.pack();
  const fill = (async () => {
    for (const e of entries) {
      const header = { name: e.name, type: e.type, mode: e.mode & 0o7777, uid: e.uid, gid: e.gid, mtime: new Date() } as tar.Header;
      if (e.type === 'directory') {
        await new Promise<void>((resolve, reject) => pack.entry(header, error => (error ? reject(error) : resolve())));
      } else if (e.data === undefined || Buffer.isBuffer(e.data)) {
        const data = e.data ?? Buffer.alloc(0);
        await new Promise<void>((resolve, reject) => pack.entry({ ...header, size: data.length }, data, error => (error ? reject(error) : resolve())));
      } else {
        const sink = pack.entry({ ...header, size: e.data.size });
        await pipeline(e.data.stream, sink);
      }
    }
    pack.finalize();
  })();
  fill.catch(error => pack.destroy(error as Error));
  const res = await container.putArchive(pack as unknown as NodeJS.ReadableStream, { path: folder, noOverwriteDirNonDir: false }) as unknown;
  (res as { resume?: () => void } | undefined)?.resume?.();
  await fill;
}
