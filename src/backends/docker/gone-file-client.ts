/**
 * The file client of a container that cannot come back (removed, or its engine is gone): every
 * call fails with EIO at once, the reason as its cause. The Docker backend hands it out in place of
 * a new agent client, so that the mount answers at once instead of each call waiting for a
 * reconnect that cannot happen. It has no `closed`: a reconnecting wrapper keeps it for good.
 */
import type {
  DirEntry, FileCapabilities, FileClient, FileHandle, FileStat, OpenFlags, RenameOptions, SetAttr, SetAttrOptions, StatFs,
} from '../../remote/file-client.ts';
import { FsError } from '../../remote/fs-error.ts';

const NOTHING: FileCapabilities = {
  fsync: false, hardlink: false, symlink: false, statvfs: false, posixRename: false, noFollowSetattr: false,
  copyData: false, expandPath: false, watch: false, inodes: false, specialFiles: false, nanoseconds: false, maxRead: 1 << 20, maxWrite: 1 << 20,
};

/** A FileClient whose every call rejects with EIO caused by why the container is gone. */
export class GoneFileClient implements FileClient {
  readonly capabilities = NOTHING;
  readonly #why: Error;

  /** `why` is the link's reason (it names the container); `addr` says where in the message. */
  constructor(addr: string, why: Error) {
    this.#why = new Error(`${addr} is gone for good: ${why.message}`, { cause: why });
  }

  #fail(syscall: string, path?: string): Promise<never> {
    return Promise.reject(new FsError('EIO', syscall, path, { cause: this.#why }));
  }

  open(path: string, _flags: OpenFlags, _mode?: number): Promise<FileHandle> { return this.#fail('open', path); }
  stat(path: string): Promise<FileStat> { return this.#fail('stat', path); }
  lstat(path: string): Promise<FileStat> { return this.#fail('lstat', path); }
  readdir(path: string): Promise<DirEntry[]> { return this.#fail('readdir', path); }
  readlink(path: string): Promise<string> { return this.#fail('readlink', path); }
  mkdir(path: string, _mode?: number): Promise<void> { return this.#fail('mkdir', path); }
  rmdir(path: string): Promise<void> { return this.#fail('rmdir', path); }
  unlink(path: string): Promise<void> { return this.#fail('unlink', path); }
  rename(from: string, _to: string, _options?: RenameOptions): Promise<void> { return this.#fail('rename', from); }
  symlink(_target: string, path: string): Promise<void> { return this.#fail('symlink', path); }
  link(_existing: string, newPath: string): Promise<void> { return this.#fail('link', newPath); }
  setattr(path: string, _attrs: SetAttr, _options?: SetAttrOptions): Promise<void> { return this.#fail('setattr', path); }
  statfs(path: string): Promise<StatFs> { return this.#fail('statfs', path); }
  realpath(path: string): Promise<string> { return this.#fail('realpath', path); }

  async close(): Promise<void> {}
}
