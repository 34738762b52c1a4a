/**
 * Local ↔ remote path mapping for a mount: `mountpoint/sub` is `remotePath/sub`. Pure.
 */
import { posix } from 'node:path';

/** The two roots of one mount. `mountpoint` is an absolute local path, `remotePath` an absolute remote one. */
export interface PathMapping {
  mountpoint: string;
  remotePath: string;
}

/** The remote path for absolute local `path`, or undefined when it is not under the mount. */
export function toRemotePath(m: PathMapping, path: string): string | undefined {
  if (path === m.mountpoint) return m.remotePath;
  const prefix = m.mountpoint === '/' ? '/' : `${m.mountpoint}/`;
  if (!path.startsWith(prefix)) return undefined;
  return posix.join(m.remotePath, path.slice(prefix.length));
}

/** The local path for absolute remote `path`, or undefined when it is not under the mounted folder. */
export function toLocalPath(m: PathMapping, path: string): string | undefined {
  return toRemotePath({ mountpoint: m.remotePath, remotePath: m.mountpoint }, path);
}

/**
 * Maps the arguments that name local paths under the mount to remote paths: an absolute path
 * (`/mnt/src/a.c`), or the value of `--opt=/mnt/src/a.c` and `-I/mnt/src/include`. Relative paths
 * stay as they are: the remote command runs in the mapped folder, so they resolve the same.
 */
export function mapArguments(m: PathMapping, argv: readonly string[]): string[] {
  return argv.map(arg => {
    if (arg.startsWith('/')) return toRemotePath(m, arg) ?? arg;
    const eq = /^(--?[A-Za-z0-9][A-Za-z0-9_.-]*=)(\/.*)$/s.exec(arg);
    if (eq !== null) {
      const mapped = toRemotePath(m, eq[2]!);
      return mapped === undefined ? arg : eq[1]! + mapped;
    }
    const short = /^(-[A-Za-z])(\/.*)$/s.exec(arg);
    if (short !== null) {
      const mapped = toRemotePath(m, short[2]!);
      return mapped === undefined ? arg : short[1]! + mapped;
    }
    return arg;
  });
}

/**
 * Replaces the remote root with the local mountpoint wherever it starts a path in `text` (bytes
 * held as latin1, so any encoding survives): `/srv/app/main.go:12` → `/home/me/app/main.go:12`.
 * A remote root of `/` is never rewritten: every absolute path would match.
 */
export function rewriteRemotePaths(m: PathMapping, text: string): string {
  if (m.remotePath === '/' || m.remotePath === '') return text;
  const from = Buffer.from(m.remotePath, 'utf8').toString('latin1');
  const to = Buffer.from(m.mountpoint, 'utf8').toString('latin1');
  const escaped = from.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  // Not preceded by a path character (so /x/srv/app is left alone), followed by / or the path's end.
  return text.replace(new RegExp(`(?<![\\w./-])${escaped}(?=/|[^\\w.-]|$)`, 'g'), to);
}
