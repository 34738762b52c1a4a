/**
 * Real FUSE mounts for end-to-end tests: `rmount mount` run through the CLI with a private
 * runtime folder, and a cleanup that leaves nothing mounted, running or on disk, even when the
 * test failed or the daemon hangs.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { processAlive, readRecord } from '../../src/mount/registry.ts';
import { readMounts } from '../../src/system/mountinfo.ts';
import { runCli, runLauncher, type CliResult } from './cli.ts';
import { requirePart, which } from './skip.ts';
import type { AfterHook } from './sshd.ts';
import { removeTree } from './tmp.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The compiled N-API addon the mount daemon loads. */
export const ADDON_PATH = join(ROOT, 'build/Release/fuse_binding.node');

/** Why real mounts cannot run here, or false. Under RMOUNT_TEST_REQUIRE=all a reason throws. */
export function fuseSkipReason(): string | false {
  if (!existsSync('/dev/fuse')) return requirePart('no /dev/fuse on this machine (FUSE)');
  if (!which('fusermount3')) return requirePart('fusermount3 not installed (FUSE; Debian package fuse3)');
  if (!existsSync(ADDON_PATH)) return requirePart(`FUSE addon not built: ${ADDON_PATH} missing (run npx node-gyp rebuild)`);
  return false;
}

/** A live mount made by {@link mountFor}. */
export interface TestMount {
  /** The mounted folder (absolute). */
  mountpoint: string;
  /** The daemon's pid, as `rmount status --json` reports it. */
  pid: number;
  /** The environment every CLI call about this mount must get (its private RMOUNT_RUNTIME_DIR). */
  env: NodeJS.ProcessEnv;
  /** Unmounts now (idempotent); the registered cleanup still runs afterwards. */
  unmount(): Promise<void>;
}

/** Options of {@link mountFor}. */
export interface MountForOptions {
  /** Values for `-o`, one flag each. */
  o?: string[];
  /** More CLI arguments (for ssh: -F, --known-hosts, -i). */
  extraArgs?: string[];
  /** Mount on this existing folder instead of a fresh empty one; it is not removed afterwards. */
  mountpoint?: string;
  /** Use this runtime folder (shared by several mounts); it is not removed afterwards. */
  runtimeDir?: string;
  /** More environment for the mount command (so for its daemon) and every later CLI call. */
  env?: NodeJS.ProcessEnv;
  /**
   * Mount without `-o cto`, trusting opens and missing names to the agent's watch as users get by
   * default. Tests mount with `cto` unless they say so: most change "the remote" straight on its
   * disk and read through the mount at once, as close-to-open allows; a trusted watch shows such a
   * change only within its latency (commands run through rmount exec show at once either way).
   */
  trustWatch?: boolean;
  /** Mount through bin/rmount as a command (its shell part), not `node src/cli/run.ts`. */
  launcher?: boolean;
}

/** One `rmount status --json` record. */
export interface StatusRecord {
  mountpoint: string;
  pid: number;
  state: string;
  destination: string;
}

/** The mountpoints the kernel lists in /proc/self/mountinfo (octal escapes decoded). */
export async function mountedPaths(): Promise<string[]> {
  return (await readMounts()).map(m => m.mountpoint);
}

/** True when `path` is a mountpoint right now. */
export async function isMounted(path: string): Promise<boolean> {
  return (await mountedPaths()).includes(resolve(path));
}

/** True when a process with this pid exists (zombies included). */
export const alive = processAlive;

/** Waits until `check` holds or `limitMs` passes; resolves with the last result. */
export async function waitFor(check: () => boolean | Promise<boolean>, limitMs: number, stepMs = 100): Promise<boolean> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await sleep(stepMs);
  }
}

/** `rmount status --json` with `env`; throws when it fails or prints something else than JSON. */
export async function statusRecords(env: NodeJS.ProcessEnv): Promise<StatusRecord[]> {
  const r = await runCli(['status', '--json'], { env });
  if (r.code !== 0) throw new Error(`rmount status --json exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout.toString()) as StatusRecord[];
}

/** The daemon logs in a runtime folder, for failure messages. */
export async function daemonLogs(runtimeDir: string): Promise<string> {
  let out = '';
  for (const name of await readdir(runtimeDir).catch(() => [] as string[])) {
    if (name.endsWith('.log')) out += `--- ${name}\n${await readFile(join(runtimeDir, name), 'utf8').catch(() => '')}`;
  }
  return out.slice(-16 * 1024);
}

/** A fresh private runtime folder, removed by the cleanup registered with `t`. */
export async function runtimeDirFor(t: AfterHook): Promise<{ dir: string; env: NodeJS.ProcessEnv }> {
  const dir = await mkdtemp(join(tmpdir(), 'rmount-run-'));
  t.after(() => removeTree(dir));
  return { dir, env: { RMOUNT_RUNTIME_DIR: dir } };
}

/** `rmount mount` arguments for `dest` on `mountpoint` with `opts`. */
export function mountArgs(dest: string, mountpoint: string, opts: MountForOptions = {}): string[] {
  const o = opts.trustWatch === true ? opts.o ?? [] : ['cto', ...(opts.o ?? [])];
  return ['mount', ...o.flatMap(v => ['-o', v]), ...(opts.extraArgs ?? []), dest, mountpoint];
}

/** What {@link attemptMount} returns: the CLI's answer and where it tried to mount. */
export interface MountAttempt {
  result: CliResult;
  mountpoint: string;
  env: NodeJS.ProcessEnv;
  /** The private runtime folder (records and daemon logs). */
  runtimeDir: string;
  /** Unmounts if mounted and stops the daemon (idempotent); the registered cleanup does it too. */
  unmount(): Promise<void>;
}

/**
 * Runs `rmount mount` for `dest` on a fresh empty folder (or `opts.mountpoint`) and registers
 * with `t.after` a cleanup that runs even when the test failed: `rmount unmount`, then
 * `fusermount3 -uz` as a last resort, then SIGKILL of the daemon (by its own pid, from the
 * private runtime folder) if it is still alive, then removal of the temporary folders. A
 * mountpoint that is still mounted is never removed, let alone recursively.
 * Resolves with the CLI's result whatever it was: for tests of failing mounts.
 */
export async function attemptMount(t: AfterHook, dest: string, opts: MountForOptions = {}): Promise<MountAttempt> {
  const stack = cleanupStack(t);
  let dir: string;
  let env: NodeJS.ProcessEnv;
  if (opts.runtimeDir === undefined) ({ dir, env } = await runtimeDirFor(stack));
  else ({ dir, env } = { dir: opts.runtimeDir, env: { RMOUNT_RUNTIME_DIR: opts.runtimeDir } });
  // Write-back journals go to the test's own folder, never to the user's state folder.
  env = { RMOUNT_STATE_DIR: join(dir, 'state'), ...opts.env, ...env };
  const ownMountpoint = opts.mountpoint === undefined;
  const mountpoint = ownMountpoint ? await mkdtemp(join(tmpdir(), 'rmount-mnt-')) : resolve(opts.mountpoint!);
  if (ownMountpoint) stack.after(async () => { if (!(await isMounted(mountpoint))) await rmdir(mountpoint).catch(() => {}); });

  let knownPid: number | undefined;
  let unmounting: Promise<void> | undefined;
  const unmount = (): Promise<void> => {
    unmounting ??= (async () => {
      if (await isMounted(mountpoint)) {
        const r = await runCli(['unmount', mountpoint], { env, timeoutMs: 60_000 }).catch(() => undefined);
        if (r?.code !== 0 && (await isMounted(mountpoint))) await fusermountLazy(mountpoint);
      }
      const pid = await recordedPid(dir, mountpoint) ?? knownPid;
      if (pid !== undefined && !(await waitFor(() => !alive(pid), 10_000))) {
        process.kill(pid, 'SIGKILL');
        await waitFor(() => !alive(pid), 10_000);
      }
      if (await isMounted(mountpoint)) await fusermountLazy(mountpoint);
    })();
    return unmounting;
  };
  // Registered before the mount starts, so a half-made mount is cleaned up too (last in, first out).
  stack.after(unmount);

  const result = await (opts.launcher === true ? runLauncher : runCli)(mountArgs(dest, mountpoint, opts), { env, timeoutMs: 120_000 });
  // The record disappears when the daemon stops itself; remember the pid while it is there.
  knownPid = await recordedPid(dir, mountpoint);
  return { result, mountpoint, env, runtimeDir: dir, unmount };
}

/**
 * Mounts `dest` through `rmount mount` on a fresh empty folder (see {@link attemptMount} for the
 * cleanup), and reads the daemon's pid from `rmount status --json`. Throws with the CLI's stderr
 * and the daemon log when the mount fails.
 */
export async function mountFor(t: AfterHook, dest: string, opts: MountForOptions = {}): Promise<TestMount> {
  const a = await attemptMount(t, dest, opts);
  if (a.result.code !== 0) throw new Error(`rmount mount ${dest} failed (exit ${a.result.code}): ${a.result.stderr}\n${await daemonLogs(a.runtimeDir)}`);
  const record = (await statusRecords(a.env)).find(s => s.mountpoint === a.mountpoint);
  if (record === undefined) throw new Error(`rmount status --json does not list ${a.mountpoint}\n${await daemonLogs(a.runtimeDir)}`);
  return { mountpoint: a.mountpoint, pid: record.pid, env: a.env, unmount: a.unmount };
}

/**
 * An {@link AfterHook} whose callbacks run last-in-first-out in one `t.after` (node:test runs
 * `after` callbacks first-in-first-out), so a folder is removed after the mount over it.
 */
export function cleanupStack(t: AfterHook): AfterHook {
  const fns: (() => Promise<void> | void)[] = [];
  t.after(async () => {
    const errors: unknown[] = [];
    for (const fn of fns.reverse()) {
      try {
        await fn();
      } catch (error) {
        errors.push(error);
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, 'cleanup failed');
  });
  return { after: fn => { fns.push(fn); } };
}

/** `rmount` CLI run with a mount's env; the result as runCli gives it. */
export function cliFor(mount: Pick<TestMount, 'env'>, args: string[]): Promise<CliResult> {
  return runCli(args, { env: mount.env });
}

async function recordedPid(dir: string, mountpoint: string): Promise<number | undefined> {
  return (await readRecord(dir, mountpoint))?.pid;
}

function fusermountLazy(mountpoint: string): Promise<void> {
  return new Promise(done => execFile('fusermount3', ['-uz', mountpoint], { timeout: 30_000 }, () => done()));
}

/** A backing folder holding `hello.txt` ("hello\n"), removed after the mounts over it (LIFO stack). */
export async function helloBacking(stack: AfterHook): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rmount-back-'));
  stack.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'hello.txt'), 'hello\n');
  return dir;
}
