/**
 * Agent transfer: put a local build on the remote at a per-version path, skipping the upload when
 * the remote copy already has the same SHA-256, writing to a temporary name, verifying, then
 * renaming (so a running agent is never overwritten in place). Works over any backend that can
 * exec a POSIX shell; a backend with `uploadFile` (Docker's archive API) uploads through that.
 * The agent is run by path long after its checksum was checked, so it only goes into a folder no
 * one but the login and root can change (agent-dir.ts).
 */
import { createHash } from 'node:crypto';
import { createReadStream, readFileSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Backend } from '../remote/backend.ts';
import { PermissionError, StateError } from '../remote/errors.ts';
import { formatPlatform, type PlatformInfo } from '../remote/platform.ts';
import { collectOutput } from '../remote/session-output.ts';
import { AGENT_DIR_FNS, formatRefusals, readRefusals, REFUSED_SUGGESTION, UID_PLACEHOLDER } from './agent-dir.ts';
import { defaultAgentDist, resolveBinary, type ResolvedBinary } from './resolve.ts';

/** rmount's version: the agent's remote file name carries it. */
export const RMOUNT_VERSION: string = (JSON.parse(readFileSync(resolve(import.meta.dirname, '../../package.json'), 'utf8')) as { version: string }).version;

/**
 * Folders tried in order over SSH; the first safe one (see agent-dir.ts) that allows exec wins.
 * Shared places carry the login's uid, filled in on the remote, so that no one else can own the name.
 */
export const SSH_AGENT_DIRS = ['~/.cache/rmount', `/tmp/.rmount-${UID_PLACEHOLDER}`, `/var/tmp/.rmount-${UID_PLACEHOLDER}`, `/dev/shm/.rmount-${UID_PLACEHOLDER}`];
/** Folders tried in order in containers, under the same rules (the login need not be root there). */
export const CONTAINER_AGENT_DIRS = [`/tmp/.rmount-${UID_PLACEHOLDER}`, `/var/tmp/.rmount-${UID_PLACEHOLDER}`, `/dev/shm/.rmount-${UID_PLACEHOLDER}`, `/run/.rmount-${UID_PLACEHOLDER}`, `/.rmount-${UID_PLACEHOLDER}`];

/** Options of `installAgent`. */
export interface InstallOptions {
  /** Where the builds are: an rmount dist folder, a goreleaser dist folder, or a template. Default dist/agent. */
  from?: string;
  /** The remote's platform; default `backend.detectPlatform()`. */
  platform?: PlatformInfo;
  /** Exact remote path (`agent push --to`), in a folder that passes the same checks; otherwise `<first usable folder>/<name>`. */
  remotePath?: string;
  /** Remote file name in the chosen folder; default `agent-<version>`. */
  name?: string;
  /** Remote folders to try; default by backend type. `~/` is the remote home, `{uid}` the login's uid. */
  candidates?: readonly string[];
  /** File mode; default 0o755. */
  mode?: number;
  /** Called as bytes go out (exec uploads only). */
  onProgress?: (sent: number, total: number) => void;
}

/** What `installAgent` did. */
export interface InstallResult {
  /** Absolute remote path of the executable. */
  remotePath: string;
  /** False when the remote copy already matched. */
  uploaded: boolean;
  sha256: string;
  build: ResolvedBinary;
}

/** SHA-256 of a local file, hex. */
export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  await pipeline(createReadStream(path), h);
  return h.digest('hex');
}

/** Runs `argv` on the remote with optional stdin; collects output. */
export async function runRemote(backend: Backend, argv: readonly string[], stdin?: NodeJS.ReadableStream): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const { code, stdout, stderr } = await collectOutput(await backend.exec(argv), stdin);
  return { code, stdout: stdout.toString('utf8'), stderr: stderr.toString('utf8') };
}

// The remote's SHA-256 of "$1": sha256sum where it exists, else the agent's own answer.
const SUM_FN = 'sum() { if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" 2>/dev/null | cut -d" " -f1; elif command -v shasum >/dev/null 2>&1; then shasum -a 256 "$1" 2>/dev/null | cut -d" " -f1; else "$1" version --sha256 2>/dev/null; fi; }';

// $1 file name, then candidate folders. Prints "UID\t<uid>", a "REFUSED\t<folder>\t<why…>" line
// for each folder that is unsafe (agent-dir.ts) or cannot be written or executed from (a probe
// script must run: noexec mounts refuse it), then "DIR\t<real path>" and "SUM\t<sum or ->" for
// the first one that passes; exit 3 when none does. A copy already there that someone else could
// have written gets no sum, so it is replaced rather than trusted.
const PROBE = `${SUM_FN}
${AGENT_DIR_FNS}
name=$1; shift
printf 'UID\\t%s\\n' "$uid"
[ -n "$uid" ] || exit 4
for c in "$@"; do
  ad_expand "$c"
  if ! ad_use "$e"; then printf 'REFUSED\\t%s\\t%s\\n' "$e" "$why"; continue; fi
  p="$r/.rmount-probe-$$"
  if ! (umask 077; printf '#!/bin/sh\\nexit 0\\n' > "$p") 2>/dev/null; then printf 'REFUSED\\t%s\\tNOWRITE\\n' "$e"; continue; fi
  chmod 700 "$p" 2>/dev/null
  if "$p" 2>/dev/null; then rm -f "$p"; else rm -f "$p"; printf 'REFUSED\\t%s\\tNOEXEC\\n' "$e"; continue; fi
  printf 'DIR\\t%s\\n' "$r"
  s=-; ad_file_ok "$r/$name" && s=$(sum "$r/$name"); printf 'SUM\\t%s\\n' "\${s:--}"
  exit 0
done
exit 3`;

/** What the quick start prints instead of starting an agent: none of ours is where an install would put it. */
export const AGENT_MISSING = 'rmount-agent-missing';

// $1 file name, $2 the sums of our builds (space-separated), $3 how many agent arguments follow,
// those arguments, then the candidate folders. Runs the first agent found in a folder the probe
// above would accept that is one of our builds and that nobody else could have written; else
// prints AGENT_MISSING. No folder is made, and none is checked for exec: an exec that fails ends
// the script as well.
// One exec instead of three (the platform, the probe, the start) for a remote that has the agent.
const QUICK_START = `${SUM_FN}
${AGENT_DIR_FNS}
name=$1; sums=" $2 "; k=$3; shift 3
i=0
for c do
  i=$((i + 1))
  [ "$i" -le "$k" ] && continue
  ad_expand "$c"
  [ -d "$e" ] && ad_use "$e" || continue
  f="$r/$name"
  ad_file_ok "$f" || continue
  s=$(sum "$f")
  case $sums in *" \${s:--} "*) ;; *) continue ;; esac
  # Keep only the agent's arguments: append them, then drop the whole list before them.
  j=0
  for a do j=$((j + 1)); [ "$j" -le "$k" ] && set -- "$@" "$a"; done
  shift "$j"
  exec "$f" "$@"
done
echo ${AGENT_MISSING}`;

/**
 * The argv that starts the agent already installed on the remote with `agentArgs` in one exec
 * (see QUICK_START), or undefined when the builds' sums cannot be had cheaply (an exact --to path,
 * builds named by a template, none found).
 */
export async function quickStartArgv(backend: Pick<Backend, 'type'>, agentArgs: readonly string[], options: InstallOptions = {}): Promise<string[] | undefined> {
  if (options.remotePath !== undefined) return undefined;
  const sums = await buildSums(options.from ?? defaultAgentDist());
  if (sums.length === 0) return undefined;
  const name = options.name ?? `agent-${RMOUNT_VERSION}`;
  const candidates = options.candidates ?? (backend.type === 'ssh' ? SSH_AGENT_DIRS : CONTAINER_AGENT_DIRS);
  return ['sh', '-c', QUICK_START, 'sh', name, sums.join(' '), String(agentArgs.length), ...agentArgs, ...candidates];
}

/**
 * Starts the agent with `args` through `start` (which runs an argv on the remote and fails when
 * what it ran is not the agent): the copy already there in one exec (the quick start), else after
 * installing it. `remotePath` says where it was installed; undefined after a quick start.
 */
export async function startAgent<T>(backend: Backend, install: InstallOptions, args: readonly string[], start: (argv: string[]) => Promise<T>,
  onQuickFailed?: (error: unknown) => void): Promise<{ started: T; remotePath: string | undefined }> {
  const quick = await quickStartArgv(backend, args, install);
  if (quick !== undefined) {
    try {
      return { started: await start(quick), remotePath: undefined };
    } catch (error) {
      // Not installed (the script said so and ended), or it did not start: install, then run that.
      onQuickFailed?.(error);
    }
  }
  const { remotePath } = await installAgent(backend, install);
  return { started: await start([remotePath, ...args]), remotePath };
}

/** buildSums per dist folder: asked on every connect and reconnect, and builds do not change under a running daemon. */
const sumsOf = new Map<string, Promise<string[]>>();

/** The SHA-256 of every build in dist folder `from` (see {@link readBuildSums}), read once. */
function buildSums(from: string): Promise<string[]> {
  let sums = sumsOf.get(from);
  if (sums === undefined) sumsOf.set(from, sums = readBuildSums(from));
  return sums;
}

/** The SHA-256 of every build in dist folder `from`: its SHA256SUMS (written by the build), else each build hashed. */
async function readBuildSums(from: string): Promise<string[]> {
  if (from.includes('{')) return [];
  const isSum = (s: string): boolean => /^[0-9a-f]{64}$/.test(s);
  try {
    return (await readFile(join(from, 'SHA256SUMS'), 'utf8')).split('\n').map(l => l.split(/\s+/)[0]!).filter(isSum);
  } catch {
    // No list: a folder of builds made otherwise (tests, a copy).
  }
  try {
    const names = (await readdir(from)).filter(n => n.startsWith('rmount-agent_'));
    return await Promise.all(names.map(n => sha256File(join(from, n))));
  } catch {
    return [];
  }
}

// $1 exact path. The same for its folder alone (made when missing, no exec probe: a pushed file
// need not run there): "UID", then "DIR" and "SUM" or one "REFUSED" line and exit 3.
const PROBE_PATH = `${SUM_FN}
${AGENT_DIR_FNS}
f=$1; case $f in "~/"*) f="$HOME/\${f#"~/"}" ;; esac
printf 'UID\\t%s\\n' "$uid"
[ -n "$uid" ] || exit 4
case $f in */*) d=\${f%/*}; d=\${d:-/} ;; *) d=. ;; esac
if ! ad_use "$d"; then printf 'REFUSED\\t%s\\t%s\\n' "$d" "$why"; exit 3; fi
printf 'DIR\\t%s\\n' "$r"
s=-; ad_file_ok "$r/\${f##*/}" && s=$(sum "$r/\${f##*/}"); printf 'SUM\\t%s\\n' "\${s:--}"`;

// $1 temporary file, $2 final path, $3 expected sum: verify, then rename over the final path.
const COMMIT = `${SUM_FN}
s=$(sum "$1")
if [ "$s" = "$3" ]; then mv -f "$1" "$2" && echo OK; else rm -f "$1"; printf 'BAD\\t%s\\n' "$s"; fi`;

// Why a probe found no folder, in words: each refused folder and its reason.
function refusalText(r: { code: number | null; stdout: string; stderr: string }, tried?: readonly string[]): string {
  if (r.code === 4) return 'cannot tell the login\'s uid (no `id -u`, no /proc/self/status)';
  const refused = readRefusals(r.stdout);
  if (refused.length > 0) return formatRefusals(refused);
  const said = r.stderr.trim() || `exit ${r.code}`;
  return tried === undefined ? said : `tried ${tried.join(', ')}: ${said}`;
}

function field(out: string, key: string): string | undefined {
  for (const line of out.split('\n')) if (line.startsWith(`${key}\t`)) return line.slice(key.length + 1);
  return undefined;
}

/**
 * Puts the build for the remote's platform on the remote (see the module comment) and resolves
 * with its absolute path.
 * @throws UnsupportedError (no build for the platform), PermissionError (no folder that is safe,
 * writable and exec-able; the message names each folder refused and why), StateError (the
 * uploaded copy does not verify).
 */
export async function installAgent(backend: Backend, options: InstallOptions = {}): Promise<InstallResult> {
  const platform = options.platform ?? (await backend.detectPlatform());
  const build = resolveBinary(platform, options.from);
  const sha256 = await sha256File(build.path);
  const mode = options.mode ?? 0o755;
  const name = options.name ?? `agent-${RMOUNT_VERSION}`;
  let dir: string;
  let remotePath: string;
  let remoteSum: string;
  if (options.remotePath !== undefined) {
    const r = await runRemote(backend, ['sh', '-c', PROBE_PATH, 'sh', options.remotePath]);
    const d = field(r.stdout, 'DIR');
    if (r.code !== 0 || d === undefined) {
      throw new PermissionError(`cannot put ${options.remotePath} on ${backend.addr}: ${refusalText(r)}`, { suggestion: REFUSED_SUGGESTION });
    }
    dir = d;
    remotePath = `${dir}/${options.remotePath.split('/').pop()}`;
    remoteSum = field(r.stdout, 'SUM') ?? '-';
  } else {
    const candidates = options.candidates ?? (backend.type === 'ssh' ? SSH_AGENT_DIRS : CONTAINER_AGENT_DIRS);
    const r = await runRemote(backend, ['sh', '-c', PROBE, 'sh', name, ...candidates]);
    const d = field(r.stdout, 'DIR');
    if (r.code !== 0 || d === undefined) {
      throw new PermissionError(`no folder on ${backend.addr} can hold an executable agent: ${refusalText(r, candidates)}`, { suggestion: REFUSED_SUGGESTION });
    }
    dir = d;
    remotePath = `${dir}/${name}`;
    remoteSum = field(r.stdout, 'SUM') ?? '-';
  }
  if (remoteSum === sha256) return { remotePath, uploaded: false, sha256, build };

  const tmp = `${dir}/.${remotePath.split('/').pop()}.tmp-${process.pid}-${Date.now().toString(36)}`;
  const size = (await stat(build.path)).size;
  const upload = (backend as Backend & { uploadFile?: (local: string, remote: string, mode: number) => Promise<string> }).uploadFile;
  if (upload !== undefined) {
    await upload.call(backend, build.path, tmp, mode);
    options.onProgress?.(size, size);
  } else {
    let sent = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, callback) {
        sent += chunk.length;
        options.onProgress?.(sent, size);
        callback(null, chunk);
      },
    });
    const octal = mode.toString(8);
    const r = await runRemote(backend, ['sh', '-c', 'umask 077; cat > "$1" && chmod "$2" "$1"', 'sh', tmp, octal], createReadStream(build.path).pipe(counter));
    if (r.code !== 0) throw new PermissionError(`upload of ${formatPlatform(build)} agent to ${tmp} on ${backend.addr} failed: ${r.stderr.trim() || `exit ${r.code}`}`);
  }
  const v = await runRemote(backend, ['sh', '-c', COMMIT, 'sh', tmp, remotePath, sha256]);
  if (!/^OK$/m.test(v.stdout)) {
    throw new StateError(`the agent uploaded to ${remotePath} on ${backend.addr} does not verify (SHA-256 ${field(v.stdout, 'BAD') || 'unknown'}, expected ${sha256})`, {
      suggestion: 'the transfer corrupted it or the folder is not writable; try again or choose another folder with --to',
    });
  }
  return { remotePath, uploaded: true, sha256, build };
}
