/**
 * The agentless FileClient of a container ("Docker copy/exec"). File data comes through the
 * archive API (GET into a local spool file, so memory stays bounded whatever the size); every
 * other operation is one exec of POSIX tools that busybox and GNU coreutils both have. Paths
 * travel only as argv entries or as "$1"-style positional parameters of a constant `sh -c`
 * script, never spliced into a shell line. Without any shell in the container, reading (stat,
 * listing, file data) still works through the archive API and everything else fails with ENOTSUP
 * naming the rmount agent.
 *
 * Writes are gathered per handle in a local spool file and reach the container on flush
 * (sync/close) through `cat > FILE` fed from stdin: that truncates and rewrites the same inode, so
 * mode, owner, hard links and other processes' open handles stay intact (an archive PUT would
 * unlink and re-create the file). `uploadFile` in backend.ts is the archive PUT path.
 */
import { createReadStream } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import type Dockerode from 'dockerode';
import { RmountError, UnsupportedError } from '../../remote/errors.ts';
import { FsError, type ErrnoName } from '../../remote/fs-error.ts';
import {
  isDirMode, isSymlinkMode, S_IFDIR, S_IFLNK, S_IFREG,
  type DirEntry, type FileCapabilities, type FileClient, type FileHandle, type FileStat, type OpenFlags,
  type RenameOptions, type SetAttr, type SetAttrOptions, type StatFs, type Timespec,
} from '../../remote/file-client.ts';
import { downloadFile, listFolder, statPath, type ArchivePathStat } from './container-archive.ts';

/** A finished command's output. */
export interface RunResult {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/** What the file client needs from its backend: the transport is handed in, never opened here. */
export interface ContainerAccess {
  container(): Dockerode.Container;
  run(argv: readonly string[], options?: { stdin?: Buffer | NodeJS.ReadableStream; user?: string }): Promise<RunResult>;
  home(): Promise<string>;
  workingDir(): string;
}

// stat(1) format, the same for busybox and GNU: mode in hex, then numbers, then the three
// times with their fractions, then the name (last, so that a '|' in it cannot shift a field).
const STAT_FORMAT = '%f|%s|%u|%g|%X|%Y|%Z|%i|%h|%b|%t|%T|%x|%y|%z|%n';
const STAT_FIELDS = 15;
const ERR = 'E() { printf "rmount-errno:%s\\n" "$1" >&2; exit 3; }; ';

const SCRIPTS = {
  readdir: `${ERR}cd -- "$1" 2>/dev/null || { if [ -d "$1" ]; then E EACCES; elif [ -e "$1" ]; then E ENOTDIR; else E ENOENT; fi; }
printf '%s\\0' .* *; printf '\\0'; stat -c "$2" -- .* * 2>/dev/null; exit 0`,
  unlink: `${ERR}if [ -d "$1" ] && [ ! -L "$1" ]; then E EISDIR; fi; exec rm -- "$1"`,
  rename: `${ERR}if [ "$3" = n ] && { [ -e "$2" ] || [ -L "$2" ]; }; then E EEXIST; fi
[ -e "$1" ] || [ -L "$1" ] || E ENOENT
if [ -d "$2" ] && [ ! -L "$2" ]; then if [ ! -d "$1" ] || [ -L "$1" ]; then E EISDIR; fi
elif [ -e "$2" ] || [ -L "$2" ]; then if [ -d "$1" ] && [ ! -L "$1" ]; then E ENOTDIR; fi; fi
if [ "$3" = n ]; then mv -n -T -- "$1" "$2" || exit; if [ -e "$1" ] || [ -L "$1" ]; then E EEXIST; fi; else exec mv -f -T -- "$1" "$2"; fi`,
  symlink: `${ERR}if [ -e "$2" ] || [ -L "$2" ]; then E EEXIST; fi; exec ln -s -- "$1" "$2"`,
  link: `${ERR}if [ -e "$2" ] || [ -L "$2" ]; then E EEXIST; fi; [ -e "$1" ] || [ -L "$1" ] || E ENOENT
if [ -d "$1" ] && [ ! -L "$1" ]; then E EPERM; fi; exec ln -- "$1" "$2"`,
  readlink: `${ERR}[ -L "$1" ] || { if [ -e "$1" ]; then E EINVAL; fi; stat -c %n -- "$1" >/dev/null || exit; E ENOENT; }; exec readlink "$1"`,
  realpath: `${ERR}[ -e "$1" ] || { stat -L -c %n -- "$1" >/dev/null || exit; E ENOENT; }; exec readlink -f "$1"`,
  // $1 path, $2 '' | c (create) | x (create exclusive), $3 umask for the new file, $4 t = truncate,
  // $5 stat format, $6 final permission bits of a new file.
  open: `${ERR}if [ -n "$2" ]; then
  if [ "$2" = x ]; then if [ -e "$1" ] || [ -L "$1" ]; then E EEXIST; fi; set -C; fi
  new=; if [ ! -e "$1" ]; then new=1; fi
  if [ -d "$1" ]; then E EISDIR; fi
  if [ "$2" = x ] || [ "$4" = t ]; then (umask "$3"; : > "$1") || exit 4; else (umask "$3"; : >> "$1") || exit 4; fi
  if [ -n "$new" ]; then chmod "$6" "$1" || exit 4; fi
elif [ "$4" = t ]; then
  stat -L -c %n -- "$1" >/dev/null || exit 4
  if [ -d "$1" ]; then E EISDIR; fi
  : > "$1" || exit 4
fi
stat -L -c "$5" -- "$1" || exit 4; readlink -f "$1"`,
  // $1 path, $2 mode, $3 uid, $4 gid, $5 size, $6 atime, $7 mtime ('' = leave, 'now', or 'SEC.NSEC'), $8 h = no-follow.
  setattr: `${ERR}[ -e "$1" ] || [ -L "$1" ] || { stat -c %n -- "$1" >/dev/null || exit; E ENOENT; }
H=; if [ "$8" = h ] && [ -L "$1" ]; then H=-h; fi
if [ -n "$5" ]; then if [ -n "$H" ]; then E EINVAL; fi; if [ -d "$1" ]; then E EISDIR; fi; truncate -s "$5" "$1" || exit; fi
if [ -n "$3" ] && [ -n "$4" ]; then chown $H "$3:$4" "$1" || exit; elif [ -n "$3" ]; then chown $H "$3" "$1" || exit; elif [ -n "$4" ]; then chgrp $H "$4" "$1" || exit; fi
if [ -n "$2" ]; then if [ -n "$H" ]; then E ENOTSUP; fi; chmod "$2" "$1" || exit; fi
t() { if [ "$2" = now ]; then touch -c $H "$1" "$3"; else touch -c $H "$1" -d "@$2" "$3" 2>/dev/null || touch -c $H "$1" -d "@\${2%.*}" "$3"; fi; }
if [ -n "$6" ]; then t -a "$6" "$1" || exit; fi
if [ -n "$7" ]; then t -m "$7" "$1" || exit; fi
exit 0`,
  write: 'cat > "$1"',
  sync: 'sync "$1" 2>/dev/null || sync',
  probe: 'umask; if touch --version 2>/dev/null | grep -q GNU; then echo gnu; else echo other; fi',
} as const;

// strerror(3) texts (glibc and musl agree on these) and busybox ash's own phrasing → errno names.
const MESSAGES: readonly [RegExp, ErrnoName][] = [
  [/No such file or directory|nonexistent directory|directory nonexistent/, 'ENOENT'],
  [/File exists/, 'EEXIST'],
  [/Not a directory/, 'ENOTDIR'],
  [/Is a directory/, 'EISDIR'],
  [/Directory not empty/, 'ENOTEMPTY'],
  [/Permission denied/, 'EACCES'],
  [/Operation not permitted/, 'EPERM'],
  [/File name too long/, 'ENAMETOOLONG'],
  [/Too many levels of symbolic links|Symbolic link loop/, 'ELOOP'],
  [/No space left on device/, 'ENOSPC'],
  [/quota exceeded/i, 'EDQUOT'],
  [/Read-only file system/, 'EROFS'],
  [/[Cc]ross-device link/, 'EXDEV'],
  [/Device or resource busy/, 'EBUSY'],
  [/Too many links/, 'EMLINK'],
  [/File too large/, 'EFBIG'],
  [/Text file busy/, 'ETXTBSY'],
  [/Operation not supported|Not supported/, 'ENOTSUP'],
  [/Invalid argument|subdirectory of itself/, 'EINVAL'],
  [/applet not found|command not found|not found/, 'ENOSYS'],
];

/** The errno a failed tool reported on stderr (`rmount-errno:NAME` from our scripts first). */
export function errnoFromStderr(stderr: string): ErrnoName {
  const own = /rmount-errno:([A-Z]+)/.exec(stderr);
  if (own) return own[1] as ErrnoName;
  for (const [re, code] of MESSAGES) if (re.test(stderr)) return code;
  return 'EIO';
}

function timespecFrom(sec: string, text: string): Timespec {
  const frac = /\.(\d+)/.exec(text);
  return { sec: Number(sec), nsec: frac ? Number(frac[1]!.padEnd(9, '0').slice(0, 9)) : 0 };
}

/** One stat(1) record (without its name) → FileStat. */
export function parseStatFields(f: readonly string[]): FileStat {
  const major = parseInt(f[10]!, 16) || 0;
  const minor = parseInt(f[11]!, 16) || 0;
  return {
    mode: parseInt(f[0]!, 16), size: Number(f[1]), uid: Number(f[2]), gid: Number(f[3]),
    atime: timespecFrom(f[4]!, f[12]!), mtime: timespecFrom(f[5]!, f[13]!), ctime: timespecFrom(f[6]!, f[14]!),
    ino: Number(f[7]), nlink: Number(f[8]), blocks: Number(f[9]),
    rdev: major * 256 + minor,
  };
}

/** Splits one record at `pos`: its fields and where the name starts; undefined when malformed. */
function fieldsAt(text: string, pos: number): { fields: string[]; nameAt: number } | undefined {
  const fields: string[] = [];
  let at = pos;
  for (let i = 0; i < STAT_FIELDS; i++) {
    const bar = text.indexOf('|', at);
    if (bar < 0) return undefined;
    fields.push(text.slice(at, bar));
    at = bar + 1;
  }
  return { fields, nameAt: at };
}

/**
 * Parses the readdir script's output: NUL-separated names, an extra NUL, then one stat record
 * per name that still existed. Names are known exactly, so a newline or '|' in a name cannot
 * misalign the records; a name without a record (removed meanwhile, or an unmatched glob) is left out.
 */
export function parseListing(out: string): DirEntry[] {
  const end = out.indexOf('\0\0');
  const names = (end < 0 ? out : out.slice(0, end)).split('\0').filter(n => n !== '');
  const stats = end < 0 ? '' : out.slice(end + 2);
  const entries: DirEntry[] = [];
  let pos = 0;
  for (const name of names) {
    const rec = fieldsAt(stats, pos);
    if (rec === undefined || !stats.startsWith(`${name}\n`, rec.nameAt)) continue;
    pos = rec.nameAt + name.length + 1;
    if (name === '.' || name === '..') continue;
    entries.push({ name, stat: parseStatFields(rec.fields) });
  }
  return entries;
}

const MiB = 1 << 20;

/** FileClient over the archive API and exec of POSIX tools. */
export class DockerFileClient implements FileClient {
  readonly capabilities: FileCapabilities;
  readonly #access: ContainerAccess;
  readonly #shell: boolean;
  readonly #umask: number;
  readonly #addr: string;
  #closed = false;
  readonly #handles = new Set<DockerFileHandle>();
  // Uploads of closed handles still under way, by path: the VFS releases a handle after close(2)
  // has returned, so a following open or stat of the same file waits for them.
  readonly #uploads = new Map<string, Promise<void>>();

  private constructor(access: ContainerAccess, addr: string, shell: boolean, umask: number, gnu: boolean) {
    this.#access = access;
    this.#addr = addr;
    this.#shell = shell;
    this.#umask = umask;
    this.capabilities = {
      fsync: shell, hardlink: shell, symlink: shell, statvfs: shell, posixRename: shell, noFollowSetattr: shell,
      copyData: false, expandPath: true, watch: false, inodes: shell,
      // busybox touch takes whole seconds only; GNU touch keeps nanoseconds.
      nanoseconds: shell && gnu,
      maxRead: MiB, maxWrite: MiB,
    };
  }

  /** Probes the container (a shell? GNU or busybox tools? the umask) and makes the client. */
  static async open(access: ContainerAccess, addr: string): Promise<DockerFileClient> {
    let shell = false;
    let umask = 0o022;
    let gnu = false;
    try {
      const r = await access.run(['sh', '-c', SCRIPTS.probe]);
      if (r.code === 0) {
        shell = true;
        const [mask = '0022', kind = ''] = r.stdout.toString().split('\n');
        umask = parseInt(mask.trim(), 8) || 0;
        gnu = kind.trim() === 'gnu';
      }
    } catch (error) {
      // No shell at all makes the exec fail to start (not found): archive-only, read-only.
      if (!(error instanceof RmountError && error.code === 'ERR_NOT_FOUND' && /cannot run/.test(error.message))) throw error;
    }
    return new DockerFileClient(access, addr, shell, umask, gnu);
  }

  /** True when the container has a shell, so that more than reading works. */
  get hasShell(): boolean {
    return this.#shell;
  }

  #check(syscall: string, path?: string): void {
    if (this.#closed) throw new FsError('ENOTCONN', syscall, path);
  }

  #needShell(syscall: string, path?: string): void {
    this.#check(syscall, path);
    if (!this.#shell) {
      throw new FsError('ENOTSUP', syscall, path, {
        cause: new UnsupportedError(`${this.#addr} has no shell: without the rmount agent only reading works (stat, listing, file data through the archive API)`, {
          suggestion: 'use the rmount agent for this container (it needs no shell), or add a shell to the image',
        }),
      });
    }
  }

  /** Runs a command; a transport failure (container stopped or gone, engine away) is ENOTCONN. */
  async #run(syscall: string, path: string, argv: readonly string[], stdin?: Buffer | NodeJS.ReadableStream): Promise<RunResult> {
    try {
      return await this.#access.run(argv, stdin === undefined ? {} : { stdin });
    } catch (error) {
      throw new FsError('ENOTCONN', syscall, path, { cause: error });
    }
  }

  /** Runs a script; rejects with the errno its stderr names when it fails. */
  async #sh(syscall: string, path: string, script: string, args: readonly string[], stdin?: Buffer | NodeJS.ReadableStream): Promise<Buffer> {
    const r = await this.#run(syscall, path, ['sh', '-c', script, 'sh', ...args], stdin);
    if (r.code !== 0) throw this.#failed(syscall, path, r);
    return r.stdout;
  }

  #failed(syscall: string, path: string, r: RunResult): FsError {
    if (r.code === null) return new FsError('ENOTCONN', syscall, path, { cause: new Error(r.stderr || 'the exec ended without an exit code') });
    return new FsError(errnoFromStderr(r.stderr), syscall, path, { cause: new Error(r.stderr.trim() || `exit ${r.code}`) });
  }

  #archiveError(error: unknown, syscall: string, path: string): FsError {
    if (error instanceof FsError) return error;
    const status = (error as { statusCode?: number }).statusCode;
    if (status === 404) return new FsError('ENOENT', syscall, path, { cause: error });
    if (status === 409) return new FsError('ENOTCONN', syscall, path, { cause: error });
    const code = (error as { code?: string }).code;
    if (code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'ENOENT' || code === 'EPIPE') return new FsError('ENOTCONN', syscall, path, { cause: error });
    return new FsError('EIO', syscall, path, { cause: error });
  }

  async #statExec(syscall: string, path: string, follow: boolean): Promise<FileStat> {
    const r = await this.#run(syscall, path, ['stat', ...(follow ? ['-L'] : []), '-c', STAT_FORMAT, '--', path]);
    if (r.code !== 0) throw this.#failed(syscall, path, r);
    const rec = fieldsAt(r.stdout.toString('utf8'), 0);
    if (rec === undefined) throw new FsError('EIO', syscall, path, { cause: new Error(`unexpected stat output: ${r.stdout.toString().slice(0, 200)}`) });
    return parseStatFields(rec.fields);
  }

  async #statArchive(syscall: string, path: string, follow: boolean): Promise<FileStat> {
    let st: ArchivePathStat;
    try {
      st = await statPath(this.#access.container(), path);
      if (follow && isSymlinkMode(st.mode) && st.linkTarget !== '') st = await statPath(this.#access.container(), st.linkTarget);
    } catch (error) {
      throw this.#archiveError(error, syscall, path);
    }
    // The path-stat header carries no owner, atime, inode or link count.
    return { mode: st.mode, size: st.size, uid: 0, gid: 0, atime: st.mtime, mtime: st.mtime };
  }

  /** stat(1) -L through exec (owner, times, inode included); the archive HEAD without a shell. */
  async stat(path: string): Promise<FileStat> {
    this.#check('stat', path);
    await this.#settled(path);
    return this.#shell ? this.#statExec('stat', path, true) : this.#statArchive('stat', path, true);
  }

  async lstat(path: string): Promise<FileStat> {
    this.#check('lstat', path);
    await this.#settled(path);
    return this.#shell ? this.#statExec('lstat', path, false) : this.#statArchive('lstat', path, false);
  }

  /** One exec for the whole folder: every name and its attributes. */
  async readdir(path: string): Promise<DirEntry[]> {
    this.#check('readdir', path);
    if (!this.#shell) return this.#readdirArchive(path);
    await Promise.all([...this.#uploads.entries()].filter(([p]) => posix.dirname(p) === path).map(([, u]) => u));
    const out = await this.#sh('readdir', path, SCRIPTS.readdir, [path, STAT_FORMAT]);
    return parseListing(out.toString('utf8'));
  }

  async #readdirArchive(path: string): Promise<DirEntry[]> {
    const st = await this.#statArchive('readdir', path, true);
    if (!isDirMode(st.mode)) throw new FsError('ENOTDIR', 'readdir', path);
    try {
      const entries = await listFolder(this.#access.container(), path);
      return entries.map(({ name, header: h }) => ({
        name,
        stat: {
          mode: (h.type === 'directory' ? S_IFDIR : h.type === 'symlink' ? S_IFLNK : S_IFREG) | ((h.mode ?? 0) & 0o7777),
          size: h.size ?? 0, uid: h.uid ?? 0, gid: h.gid ?? 0,
          atime: { sec: Math.floor((h.mtime?.getTime() ?? 0) / 1000), nsec: 0 },
          mtime: { sec: Math.floor((h.mtime?.getTime() ?? 0) / 1000), nsec: 0 },
        },
      }));
    } catch (error) {
      throw this.#archiveError(error, 'readdir', path);
    }
  }

  async readlink(path: string): Promise<string> {
    this.#check('readlink', path);
    if (!this.#shell) {
      const st = await this.#statArchive('readlink', path, false);
      if (!isSymlinkMode(st.mode)) throw new FsError('EINVAL', 'readlink', path);
      this.#needShell('readlink', path);
    }
    const out = (await this.#sh('readlink', path, SCRIPTS.readlink, [path])).toString('utf8');
    return out.endsWith('\n') ? out.slice(0, -1) : out;
  }

  async mkdir(path: string, mode = 0o777): Promise<void> {
    this.#needShell('mkdir', path);
    const r = await this.#run('mkdir', path, ['mkdir', '-m', (mode & 0o7777).toString(8), '--', path]);
    if (r.code !== 0) throw this.#failed('mkdir', path, r);
  }

  async rmdir(path: string): Promise<void> {
    this.#needShell('rmdir', path);
    const r = await this.#run('rmdir', path, ['rmdir', '--', path]);
    if (r.code !== 0) throw this.#failed('rmdir', path, r);
  }

  async unlink(path: string): Promise<void> {
    this.#needShell('unlink', path);
    const open = await this.#retainOpen(path);
    await this.#sh('unlink', path, SCRIPTS.unlink, [path]);
    for (const h of open) h.orphan();
  }

  /** `mv -T` (rename(2) on one file system); RENAME_NOREPLACE as a check plus `mv -n`. */
  async rename(from: string, to: string, options: RenameOptions = {}): Promise<void> {
    this.#needShell('rename', from);
    const replaced = options.noReplace ? [] : await this.#retainOpen(to);
    await this.#sh('rename', from, SCRIPTS.rename, [from, to, options.noReplace ? 'n' : '']);
    for (const h of replaced) h.orphan();
    for (const h of this.#handles) if (h.targets(from)) h.moveTo(to);
  }

  /**
   * The open handles on `path`, each holding the file's content locally: an unlinked or replaced
   * file lives on for its holders (as its inode would) and must never be uploaded to the old name.
   */
  async #retainOpen(path: string): Promise<DockerFileHandle[]> {
    const open = [...this.#handles].filter(h => h.targets(path));
    await Promise.all(open.map(h => h.retain()));
    return open;
  }

  async symlink(target: string, path: string): Promise<void> {
    this.#needShell('symlink', path);
    await this.#sh('symlink', path, SCRIPTS.symlink, [target, path]);
  }

  async link(existing: string, newPath: string): Promise<void> {
    this.#needShell('link', newPath);
    await this.#sh('link', newPath, SCRIPTS.link, [existing, newPath]);
  }

  /** truncate, chown/chgrp, chmod, touch in one exec, in that order (chown may clear set-id bits). */
  async setattr(path: string, attrs: SetAttr, options: SetAttrOptions = {}): Promise<void> {
    this.#needShell('setattr', path);
    const time = (t: Timespec | 'now' | undefined): string => t === undefined ? '' : t === 'now' ? 'now' : `${t.sec}.${String(t.nsec).padStart(9, '0')}`;
    await this.#sh('setattr', path, SCRIPTS.setattr, [
      path,
      attrs.mode === undefined ? '' : (attrs.mode & 0o7777).toString(8).padStart(4, '0'),
      attrs.uid === undefined ? '' : String(attrs.uid),
      attrs.gid === undefined ? '' : String(attrs.gid),
      attrs.size === undefined ? '' : String(attrs.size),
      time(attrs.atime), time(attrs.mtime),
      options.noFollow ? 'h' : '',
    ]);
  }

  async statfs(path: string): Promise<StatFs> {
    this.#needShell('statfs', path);
    const r = await this.#run('statfs', path, ['stat', '-f', '-c', '%S %b %f %a %c %d %l', '--', path]);
    if (r.code !== 0) throw this.#failed('statfs', path, r);
    const [bsize = 4096, blocks = 0, bfree = 0, bavail = 0, files = 0, ffree = 0, namemax = 255] = r.stdout.toString().trim().split(/\s+/).map(Number);
    return { bsize, frsize: bsize, blocks, bfree, bavail, files, ffree, favail: ffree, flag: 0, namemax };
  }

  /** `~` and `~/x` against the user's home, `.` the container's working folder; then `readlink -f`. */
  async realpath(path: string): Promise<string> {
    this.#check('realpath', path);
    let p = path;
    if (p === '.' || p === '') p = this.#access.workingDir() || await this.#access.home();
    else if (p === '~') p = await this.#access.home();
    else if (p.startsWith('~/')) p = posix.join(await this.#access.home(), p.slice(2));
    if (!this.#shell) {
      await this.#statArchive('realpath', p, true);
      return posix.normalize(p);
    }
    const out = (await this.#sh('realpath', p, SCRIPTS.realpath, [p])).toString('utf8');
    return out.endsWith('\n') ? out.slice(0, -1) : out;
  }

  /** Opens a regular file: one exec checks, creates or truncates it and reports its attributes. */
  async open(path: string, flags: OpenFlags, mode = 0o666): Promise<FileHandle> {
    this.#check('open', path);
    await this.#settled(path);
    let st: FileStat;
    let real = path;
    if (this.#shell) {
      const create = flags.create ? (flags.exclusive ? 'x' : 'c') : '';
      const truncate = flags.truncate && flags.write ? 't' : '';
      const out = (await this.#sh('open', path, SCRIPTS.open, [
        path, create, ((0o777 & ~mode) | this.#umask).toString(8).padStart(4, '0'), truncate, STAT_FORMAT,
        // Exactly the mode asked for: the kernel already applied the caller's umask.
        (mode & 0o7777).toString(8).padStart(4, '0'),
      ])).toString('utf8');
      const rec = fieldsAt(out, 0);
      if (rec === undefined) throw new FsError('EIO', 'open', path, { cause: new Error(`unexpected output: ${out.slice(0, 200)}`) });
      st = parseStatFields(rec.fields);
      // After the name line (the path as given) comes readlink -f: the file the archive API must read.
      const resolved = out.slice(rec.nameAt + path.length + 1).replace(/\n$/, '');
      if (resolved.startsWith('/')) real = resolved;
    } else {
      if (flags.write || flags.create || flags.truncate) this.#needShell('open', path);
      st = await this.#statArchive('open', path, true);
    }
    if (isDirMode(st.mode)) throw new FsError('EISDIR', 'open', path);
    const handle = new DockerFileHandle(this, path, real, flags, st, flags.truncate === true && flags.write);
    this.#handles.add(handle);
    return handle;
  }

  /** @internal Fills `local` with the file's bytes (archive GET). */
  async download(path: string, local: string): Promise<void> {
    try {
      await downloadFile(this.#access.container(), path, local);
    } catch (error) {
      throw this.#archiveError(error, 'read', path);
    }
  }

  /** @internal Rewrites the file in place from `local` (`cat > FILE` on the same inode). */
  async upload(path: string, local: string): Promise<void> {
    this.#needShell('write', path);
    const previous = this.#uploads.get(path);
    const done = (async () => {
      await previous?.catch(() => {});
      await this.#sh('write', path, SCRIPTS.write, [path], createReadStream(local));
    })();
    const entry = done.catch(() => {});
    this.#uploads.set(path, entry);
    try {
      await done;
    } finally {
      if (this.#uploads.get(path) === entry) this.#uploads.delete(path);
    }
  }

  async #settled(path: string): Promise<void> {
    const pending = this.#uploads.get(path);
    if (pending) await pending;
  }

  /** @internal `sync FILE`. */
  async syncFile(path: string): Promise<void> {
    if (!this.#shell) return;
    await this.#sh('fsync', path, SCRIPTS.sync, [path]);
  }

  /** @internal */
  forget(handle: DockerFileHandle): void {
    this.#handles.delete(handle);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.allSettled([...this.#handles].map(h => h.discard()));
  }
}

/** An open file: a local spool holds its bytes from the first read or write until close. */
class DockerFileHandle implements FileHandle {
  readonly #client: DockerFileClient;
  #real: string;
  /** Unlinked or replaced while open: the content lives only in the spool from now on. */
  #orphaned = false;
  readonly #flags: OpenFlags;
  readonly #opened: FileStat;
  readonly #empty: boolean;
  #spool: Promise<{ dir: string; file: string; fh: fsp.FileHandle }> | undefined;
  #dirty = false;
  #closed = false;

  constructor(client: DockerFileClient, readonly path: string, real: string, flags: OpenFlags, st: FileStat, truncated: boolean) {
    this.#client = client;
    this.#real = real;
    this.#flags = flags;
    this.#opened = st;
    this.#empty = truncated || st.size === 0;
  }

  #check(syscall: string): void {
    if (this.#closed) throw new FsError('EBADF', syscall, this.path);
  }

  /** @internal True when this handle's file is `path` in the container. */
  targets(path: string): boolean {
    return !this.#orphaned && (this.#real === path || this.path === path);
  }

  /** @internal Loads the content into the spool (before the file is unlinked or replaced). */
  async retain(): Promise<void> {
    await this.#load();
  }

  /** @internal The file's name is gone: keep serving the spool, never upload it. */
  orphan(): void {
    this.#orphaned = true;
  }

  /** @internal The file was renamed: later uploads go to its new name. */
  moveTo(path: string): void {
    this.#real = path;
  }

  #load(): Promise<{ dir: string; file: string; fh: fsp.FileHandle }> {
    this.#spool ??= (async () => {
      const dir = await fsp.mkdtemp(join(tmpdir(), 'rmount-docker-'));
      const file = join(dir, 'spool');
      try {
        if (this.#empty) await fsp.writeFile(file, '');
        else await this.#client.download(this.#real, file);
        return { dir, file, fh: await fsp.open(file, 'r+') };
      } catch (error) {
        await fsp.rm(dir, { recursive: true, force: true });
        throw error;
      }
    })();
    this.#spool.catch(() => { this.#spool = undefined; });
    return this.#spool;
  }

  async read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    this.#check('read');
    if (!this.#flags.read) throw new FsError('EBADF', 'read', this.path);
    const { fh } = await this.#load();
    let total = 0;
    while (total < length) {
      const { bytesRead } = await fh.read(buffer, offset + total, length - total, position + total);
      if (bytesRead === 0) break;
      total += bytesRead;
    }
    return total;
  }

  async write(buffer: Uint8Array, offset: number, length: number, position: number): Promise<void> {
    this.#check('write');
    if (!this.#flags.write) throw new FsError('EBADF', 'write', this.path);
    const { fh } = await this.#load();
    const at = this.#flags.append ? (await fh.stat()).size : position;
    this.#dirty = true;
    let done = 0;
    while (done < length) {
      const { bytesWritten } = await fh.write(buffer, offset + done, length - done, at + done);
      done += bytesWritten;
    }
  }

  async stat(): Promise<FileStat> {
    this.#check('fstat');
    let st: FileStat;
    if (this.#orphaned) {
      const { fh } = await this.#load();
      return { ...this.#opened, size: (await fh.stat()).size, nlink: 0 };
    }
    try {
      st = await this.#client.stat(this.#real);
    } catch (error) {
      if (!(error instanceof FsError && error.code === 'ENOENT')) throw error;
      st = this.#opened; // unlinked while open
    }
    if (this.#spool && this.#dirty) {
      const { fh } = await this.#spool;
      return { ...st, size: (await fh.stat()).size };
    }
    return st;
  }

  async setattr(attrs: SetAttr): Promise<void> {
    this.#check('fsetattr');
    const { size, ...rest } = attrs;
    if (size !== undefined) {
      const { fh } = await this.#load();
      await fh.truncate(size);
      this.#dirty = true;
      await this.#flush();
    }
    if (Object.keys(rest).length > 0 && !this.#orphaned) await this.#client.setattr(this.#real, rest);
  }

  async #flush(): Promise<void> {
    if (!this.#dirty || this.#spool === undefined || this.#orphaned) return;
    const { file } = await this.#spool;
    this.#dirty = false;
    try {
      await this.#client.upload(this.#real, file);
    } catch (error) {
      this.#dirty = true;
      throw error;
    }
  }

  /** Sends the gathered writes (on close(2), so the container sees them at once). */
  async flush(): Promise<void> {
    this.#check('flush');
    await this.#flush();
  }

  /** Sends the gathered writes, then `sync FILE` in the container. */
  async sync(): Promise<void> {
    this.#check('fsync');
    await this.#flush();
    if (!this.#orphaned) await this.#client.syncFile(this.#real);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    try {
      await this.#flush();
    } finally {
      await this.discard();
    }
  }

  /** @internal Drops the spool without sending it. */
  async discard(): Promise<void> {
    this.#closed = true;
    this.#client.forget(this);
    const spool = this.#spool;
    this.#spool = undefined;
    if (spool) {
      const s = await spool.catch(() => undefined);
      if (s) {
        await s.fh.close().catch(() => {});
        await fsp.rm(s.dir, { recursive: true, force: true });
      }
    }
  }
}
