/**
 * The agentless FileClient of a container ("Docker copy/exec"). Every operation is a constant
 * script of POSIX tools that busybox and GNU coreutils both have, run by one of a few long-lived
 * shells (shell-pool.ts: a round trip, not a new exec, per operation). Paths travel only as
 * "$1"-style positional parameters of that script, never spliced into a shell line. Without any
 * shell in the container, reading (stat, listing, file data) still works through the archive API
 * and everything else fails with ENOTSUP naming the rmount agent.
 *
 * A handle's bytes live in a local spool file from its first read or write: filled through a
 * shell for a small file, else by an archive GET (memory stays bounded whatever the size). Writes
 * reach the container on flush (sync/close) as `printf > FILE` through a shell for a small file,
 * else `cat > FILE` in an exec of its own fed from stdin: either truncates and rewrites the same
 * inode, so mode, owner, hard links and other processes' open handles stay intact (an archive PUT
 * would unlink and re-create the file). `uploadFile` in backend.ts is the archive PUT path.
 */
import { createReadStream } from 'node:fs';
import { readFile, stat as localStat, writeFile } from 'node:fs/promises';
import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import type Dockerode from 'dockerode';
import { RmountError, UnsupportedError } from '../../remote/errors.ts';
import { FsError, isFsError } from '../../remote/fs-error.ts';
import {
  isDirMode, isSymlinkMode, type DirEntry, type FileCapabilities, type FileClient, type FileHandle, type FileStat,
  type OpenFlags, type RenameOptions, type SetAttr, type SetAttrOptions, type StatFs, type Timespec,
} from '../../remote/file-client.ts';
import type { ContainerAccess, RunResult } from './container-access.ts';
import { downloadByArchive, readdirByArchive, statByArchive } from './archive-reads.ts';
import { DockerFileHandle, type SpoolOwner } from './file-handle.ts';
import { printfFormat, ShellPool } from './shell-pool.ts';
import { SCRIPTS } from './shell-scripts.ts';
import { errnoFromStderr, fieldsAt, parseListing, parseStatFields, STAT_FORMAT } from './tool-output.ts';

export type { ContainerAccess, RunResult } from './container-access.ts';

const MiB = 1 << 20;
/** Tries of one operation while the container keeps going down under it. */
const TRIES = 3;
/** Files up to this size are read and written through the shells instead of the archive API or an exec. */
const SMALL_FILE = 64 * 1024;
/** Runs a tool's argv as it is, through the same path as the scripts. */
const ARGV = '"$@"';

/** How `#run` sends a command: its stdin (made anew for each try) and whether it may run twice. */
interface Run {
  stdin?: () => Buffer | Readable;
  repeatable?: boolean;
}
const REPEATABLE: Run = { repeatable: true };

/** FileClient over the archive API and exec of POSIX tools. */
export class DockerFileClient implements FileClient, SpoolOwner {
  readonly capabilities: FileCapabilities;
  readonly #access: ContainerAccess;
  readonly #shell: boolean;
  readonly #pool: ShellPool | undefined;
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
    this.#pool = shell ? new ShellPool(() => access.exec(['sh'])) : undefined;
    this.#umask = umask;
    this.capabilities = {
      fsync: shell, hardlink: shell, symlink: shell, statvfs: shell, posixRename: shell, noFollowSetattr: shell,
      copyData: false, expandPath: true, watch: false, inodes: shell, specialFiles: false,
      // busybox touch takes whole seconds only; GNU touch keeps nanoseconds.
      nanoseconds: shell && gnu,
      maxRead: MiB, maxWrite: MiB,
      // Shell commands and docker's archive API take whole paths.
      shortPaths: true,
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

  /**
   * False while the container is down (stopped, restarting, removed): the VFS then answers from its
   * caches past their lifetime, and calls that need the container wait for it (see `#ready`).
   */
  linkUp(): boolean {
    return !this.#closed && this.#access.up();
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

  /**
   * Waits until the container runs. One that is gone for good, or stays down longer than the
   * backend waits, is EIO: this client outlives restarts, so ENOTCONN ("gone until a new client is
   * made") would be a lie.
   */
  async #ready(syscall: string, path: string): Promise<void> {
    try {
      await this.#access.ready();
    } catch (error) {
      throw new FsError('EIO', syscall, path, { cause: error });
    }
  }

  /**
   * Runs a command once the container runs. When the container went down under it, the command is
   * sent again once it runs: always when the exec never started (nothing ran), and when it broke
   * off midway only if `repeatable` (a second run does no harm; mkdir or rename would fail or
   * misreport). What cannot be sent is EIO. `stdin` is a factory, since each try needs its own; a
   * command with stdin gets an exec of its own, since a shell's stdin carries its commands.
   */
  async #run(syscall: string, path: string, script: string, args: readonly string[], options: Run = {}): Promise<RunResult> {
    for (let tries = 1; ; tries++) {
      await this.#ready(syscall, path);
      const stdin = options.stdin?.();
      let r: RunResult;
      try {
        r = stdin === undefined && this.#pool !== undefined ? await this.#pool.run(script, args)
          : await this.#access.run(['sh', '-c', script, 'sh', ...args], stdin === undefined ? {} : { stdin });
      } catch (error) {
        if (tries < TRIES && !(await this.#access.running())) continue;
        throw new FsError('EIO', syscall, path, { cause: error });
      } finally {
        if (stdin !== undefined && !Buffer.isBuffer(stdin)) stdin.destroy();
      }
      // Cut off (no status) or killed (128+N, as a stopping container's processes are): perhaps
      // the container went down under it. Tools answer errors with small codes, so those cost no look.
      if (r.code !== null && r.code < 128) return r;
      if (options.repeatable === true && tries < TRIES && !(await this.#access.running())) continue;
      if (r.code !== null) return r;
      throw new FsError('EIO', syscall, path, { cause: new Error(r.stderr.trim() || 'the exec broke off without an exit status') });
    }
  }

  /** Runs a script; rejects with the errno its stderr names when it fails. */
  async #sh(syscall: string, path: string, script: string, args: readonly string[], options: Run = {}): Promise<Buffer> {
    const r = await this.#run(syscall, path, script, args, options);
    if (r.code !== 0) throw this.#failed(syscall, path, r);
    return r.stdout;
  }

  #failed(syscall: string, path: string, r: RunResult): FsError {
    return new FsError(errnoFromStderr(r.stderr), syscall, path, { cause: new Error(r.stderr.trim() || `exit ${r.code}`) });
  }

  /** An archive API read once the container runs, sent again when the container went down under it. */
  async #archive<T>(syscall: string, path: string, read: (container: Dockerode.Container) => Promise<T>): Promise<T> {
    for (let tries = 1; ; tries++) {
      await this.#ready(syscall, path);
      try {
        return await read(this.#access.container());
      } catch (error) {
        if (isFsError(error) && error.code !== 'ENOTCONN') throw error;
        if (tries < TRIES && !(await this.#access.running())) continue;
        throw new FsError('EIO', syscall, path, { cause: error });
      }
    }
  }

  async #statExec(syscall: string, path: string, follow: boolean): Promise<FileStat> {
    const r = await this.#run(syscall, path, ARGV, ['stat', ...(follow ? ['-L'] : []), '-c', STAT_FORMAT, '--', path], REPEATABLE);
    if (r.code !== 0) throw this.#failed(syscall, path, r);
    const rec = fieldsAt(r.stdout.toString('utf8'), 0);
    if (rec === undefined) throw new FsError('EIO', syscall, path, { cause: new Error(`unexpected stat output: ${r.stdout.toString().slice(0, 200)}`) });
    return parseStatFields(rec.fields);
  }

  #statArchive(syscall: string, path: string, follow: boolean): Promise<FileStat> {
    return this.#archive(syscall, path, c => statByArchive(c, syscall, path, follow));
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
    if (!this.#shell) return this.#archive('readdir', path, c => readdirByArchive(c, path));
    await Promise.all([...this.#uploads.entries()].filter(([p]) => posix.dirname(p) === path).map(([, u]) => u));
    const out = await this.#sh('readdir', path, SCRIPTS.readdir, [path, STAT_FORMAT], REPEATABLE);
    return parseListing(out.toString('utf8'));
  }

  async readlink(path: string): Promise<string> {
    this.#check('readlink', path);
    if (!this.#shell) {
      const st = await this.#statArchive('readlink', path, false);
      if (!isSymlinkMode(st.mode)) throw new FsError('EINVAL', 'readlink', path);
      this.#needShell('readlink', path);
    }
    const out = (await this.#sh('readlink', path, SCRIPTS.readlink, [path], REPEATABLE)).toString('utf8');
    return out.endsWith('\n') ? out.slice(0, -1) : out;
  }

  async mkdir(path: string, mode = 0o777): Promise<void> {
    this.#needShell('mkdir', path);
    const r = await this.#run('mkdir', path, ARGV, ['mkdir', '-m', (mode & 0o7777).toString(8), '--', path]);
    if (r.code !== 0) throw this.#failed('mkdir', path, r);
  }

  async rmdir(path: string): Promise<void> {
    this.#needShell('rmdir', path);
    const r = await this.#run('rmdir', path, ARGV, ['rmdir', '--', path]);
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
    ], REPEATABLE);
  }

  async statfs(path: string): Promise<StatFs> {
    this.#needShell('statfs', path);
    const r = await this.#run('statfs', path, ARGV, ['stat', '-f', '-c', '%S %b %f %a %c %d %l', '--', path], REPEATABLE);
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
    const out = (await this.#sh('realpath', p, SCRIPTS.realpath, [p], REPEATABLE)).toString('utf8');
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
      // Creating or truncating twice is harmless; a second exclusive create would answer EEXIST.
      const again: Run = { repeatable: flags.exclusive !== true };
      const out = (await this.#sh('open', path, SCRIPTS.open, [
        path, create, ((0o777 & ~mode) | this.#umask).toString(8).padStart(4, '0'), truncate, STAT_FORMAT,
        // Exactly the mode asked for: the kernel already applied the caller's umask.
        (mode & 0o7777).toString(8).padStart(4, '0'),
      ], again)).toString('utf8');
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

  /**
   * @internal Fills `local` with the file's bytes: a small file through a shell, else (or when that
   * fails or finds it grown) an archive GET, which also tells the errors apart as it always did.
   */
  async download(path: string, local: string, size: number): Promise<void> {
    if (this.#pool !== undefined && size <= SMALL_FILE) {
      const r = await this.#run('read', path, SCRIPTS.read, [path, String(SMALL_FILE + 1)], REPEATABLE);
      if (r.code === 0 && r.stdout.length <= SMALL_FILE) return writeFile(local, r.stdout);
    }
    return this.#archive('read', path, c => downloadByArchive(c, path, local));
  }

  /** @internal Rewrites the file in place from `local` (`printf`, or `cat` from stdin, `> FILE` on the same inode). */
  async upload(path: string, local: string): Promise<void> {
    this.#needShell('write', path);
    const previous = this.#uploads.get(path);
    const done = (async () => {
      await previous?.catch(() => {});
      // The whole content again: a second run after a broken first one leaves the same file.
      if ((await localStat(local)).size <= SMALL_FILE) await this.#sh('write', path, SCRIPTS.put, [path, printfFormat(await readFile(local))], REPEATABLE);
      else await this.#sh('write', path, SCRIPTS.write, [path], { stdin: () => createReadStream(local), repeatable: true });
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
    await this.#sh('sync', path, SCRIPTS.sync, [path], REPEATABLE);
  }

  /** @internal */
  forget(handle: DockerFileHandle): void {
    this.#handles.delete(handle);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.allSettled([...this.#handles].map(h => h.discard()));
    await this.#pool?.close();
  }
}
