/**
 * Processes and mounts shared by bench/mount-workloads.ts and bench/large-tree.ts: commands in their
 * own process group with a deadline, a throwaway sshd with an OpenSSH client config, the latency
 * proxy, sshfs, and rmount from the sources through tsx with a private RMOUNT_RUNTIME_DIR.
 * Everything started here is registered on the caller's cleanup stack and stopped by its PID, and
 * every mount is unmounted (lazily as a last resort), also on failure and Ctrl-C.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { BenchCleanup } from './cleanup.ts';
import { processAlive } from '../src/mount/registry.ts';
import { renderClientConfig, startSshd } from '../test/helpers/sshd.ts';

export const HERE = dirname(fileURLToPath(import.meta.url));
export const REPO = resolve(HERE, '..');
export const TSX_ARGS = ['--import', 'tsx'];

// ---------------------------------------------------------------------------------------------
// Processes

/** Children running a command now; a signal kills them before the cleanup stack runs (they may hold a mount busy). */
export const running = new Set<ChildProcess>();

/** Kills a child we spawned (detached, so its process group is ours too), by PID only. */
export function killTree(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try { child.kill(signal); } catch { /* gone */ }
  }
}

export function killRunning(): void {
  for (const child of running) killTree(child, 'SIGKILL');
}

export interface RunResult { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; seconds: number; timedOut: boolean }

/** Runs a command in its own process group with a deadline; times it from spawn to exit. */
export function run(cmd: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; stdout?: 'capture' | 'ignore' } = {}): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const start = performance.now();
    const child = spawn(cmd, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      detached: true,
      stdio: ['ignore', options.stdout === 'ignore' ? 'ignore' : 'pipe', 'pipe'],
    });
    running.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (s: string) => { stdout = (stdout + s).slice(-256 * 1024); });
    child.stderr?.setEncoding('utf8').on('data', (s: string) => { stderr = (stderr + s).slice(-64 * 1024); });
    let timedOut = false;
    const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => { timedOut = true; killTree(child, 'SIGKILL'); }, options.timeoutMs);
    child.once('error', error => { clearTimeout(timer); running.delete(child); reject(error); });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      running.delete(child);
      resolvePromise({ code, signal, stdout, stderr, seconds: (performance.now() - start) / 1000, timedOut });
    });
  });
}

export async function mustRun(cmd: string, args: string[], options: Parameters<typeof run>[2] = {}): Promise<RunResult> {
  const r = await run(cmd, args, { timeoutMs: 120_000, ...options });
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.timedOut ? 'timeout' : r.code ?? r.signal}): ${r.stderr.trim().slice(-2000)}`);
  return r;
}

/** TERM, up to 5 s, then KILL: one process, by its PID. */
async function stopPid(pid: number | undefined): Promise<void> {
  if (pid === undefined || !processAlive(pid)) return;
  try { process.kill(pid, 'SIGTERM'); } catch { return; }
  for (let i = 0; i < 50 && processAlive(pid); i++) await sleep(100);
  if (processAlive(pid)) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
}

// ---------------------------------------------------------------------------------------------
// Mounts

/** The filesystem type mounted at `path` per /proc/self/mountinfo (octal escapes decoded), if any. */
export async function mountedAt(path: string): Promise<string | undefined> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  for (const line of text.split('\n')) {
    const fields = line.split(' ');
    const point = fields[4]?.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (point === path) {
      const dash = fields.indexOf('-');
      return fields[dash + 1];
    }
  }
  return undefined;
}

async function detach(mountpoint: string): Promise<void> {
  if ((await mountedAt(mountpoint)) === undefined) return;
  const r = await run('fusermount3', ['-u', mountpoint], { timeoutMs: 20_000 });
  if (r.code === 0 && (await mountedAt(mountpoint)) === undefined) return;
  await run('fusermount3', ['-u', '-z', mountpoint], { timeoutMs: 20_000 });
}

export interface Mounted {
  /** The folder that shows the remote folder. */
  root: string;
  /** The process serving the mount (sshfs, or the rmount daemon), for its memory. */
  pid?: number;
  unmount(): Promise<void>;
}

/** What the mounts of one run share. */
export interface Rig {
  cleanup: BenchCleanup;
  /** The run's temporary folder: mountpoints are made in it. */
  dir: string;
  user: string;
  sshConfig: string;
  knownHosts: string;
  key: string;
  /** The port clients use now: sshd's own, or a latency proxy's. */
  port: number;
  /** Environment of every rmount CLI call: RMOUNT_RUNTIME_DIR is private to the run. */
  rmountEnv: NodeJS.ProcessEnv;
}

let mountSeq = 0;

export async function newMountpoint(rig: Rig): Promise<string> {
  const path = join(rig.dir, `mnt${++mountSeq}`);
  await mkdir(path);
  return path;
}

async function waitMounted(mountpoint: string, child: ChildProcess | undefined, limitMs: number): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (Date.now() < deadline) {
    if ((await mountedAt(mountpoint)) !== undefined) return;
    if (child !== undefined && (child.exitCode !== null || child.signalCode !== null)) throw new Error(`exited with ${child.exitCode ?? child.signalCode} before mounting`);
    await sleep(25);
  }
  throw new Error(`not mounted after ${limitMs / 1000} s`);
}

/** sshfs 3.7 in the foreground as our child, of `remotePath` on the rig's sshd; `-o` options as given. */
export async function mountSshfs(rig: Rig, remotePath: string, opts: string[] = []): Promise<Mounted> {
  const mountpoint = await newMountpoint(rig);
  const args = ['-f', '-F', rig.sshConfig, '-p', String(rig.port), `${rig.user}@127.0.0.1:${remotePath}`, mountpoint, ...opts.flatMap(o => ['-o', o])];
  const child = spawn('sshfs', args, { detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (s: string) => { stderr = (stderr + s).slice(-8192); });
  const exited = new Promise<void>(done => child.once('exit', () => done()));
  // Memoised: the cleanup stack (on a signal) and the caller may both ask.
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => (stopping ??= stopOnce());
  const stopOnce = async (): Promise<void> => {
    await detach(mountpoint);
    if (child.exitCode === null && child.signalCode === null) {
      const t = setTimeout(() => killTree(child, 'SIGKILL'), 5000);
      killTree(child, 'SIGTERM');
      await exited;
      clearTimeout(t);
    }
  };
  const forget = rig.cleanup.add(`sshfs ${mountpoint}`, stop);
  try {
    await waitMounted(mountpoint, child, 30_000);
  } catch (error) {
    await stop();
    forget();
    throw new Error(`sshfs: ${(error as Error).message}: ${stderr.trim()}`);
  }
  return { root: mountpoint, pid: child.pid, unmount: async () => { forget(); await stop(); } };
}

/** BENCH_NODE_FLAGS (e.g. `--cpu-prof --cpu-prof-dir=DIR`) reach the daemon too: it starts with the CLI's execArgv. */
const NODE_FLAGS = (process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean);

/**
 * Runs the rmount CLI as users do: the compiled one in lib/ (build it first: `npm run build:ts`),
 * else the sources through tsx, whose loader adds to every start and shows in profiles.
 */
export function rmountCli(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 60_000): Promise<RunResult> {
  return run(process.execPath, [...NODE_FLAGS, ...cliEntry(), ...args], { env, timeoutMs, cwd: REPO });
}

let entry: string[] | undefined;

/** lib/cli/run.js when it is newer than every source file, else the sources through tsx (said once). */
function cliEntry(): string[] {
  if (entry !== undefined) return entry;
  const compiled = join(REPO, 'lib', 'cli', 'run.js');
  const built = existsSync(compiled) ? statSync(compiled).mtimeMs : 0;
  const newest = (dir: string): number => readdirSync(dir, { withFileTypes: true })
    .reduce((most, e) => Math.max(most, e.isDirectory() ? newest(join(dir, e.name)) : statSync(join(dir, e.name)).mtimeMs), 0);
  if (built > 0 && built >= newest(join(REPO, 'src'))) return (entry = [compiled]);
  process.stderr.write('bench: lib/ is missing or older than src/ (npm run build:ts): rmount runs through tsx\n');
  return (entry = [...TSX_ARGS, join(REPO, 'src', 'cli', 'run.ts')]);
}

async function rmountDaemonPid(rig: Rig, mountpoint: string): Promise<number | undefined> {
  const dir = rig.rmountEnv.RMOUNT_RUNTIME_DIR!;
  try {
    for (const name of await readdir(dir)) {
      if (!name.endsWith('.json')) continue;
      const record = JSON.parse(await readFile(join(dir, name), 'utf8')) as { mountpoint?: string; pid?: number };
      if (record.mountpoint === mountpoint && typeof record.pid === 'number') return record.pid;
    }
  } catch { /* no record: cleanup relies on rmount unmount and fusermount3 */ }
  return undefined;
}

/** `ssh://` of `remotePath` on the rig's sshd, at the rig's current port. */
export const sshDest = (rig: Rig, remotePath: string): string => `ssh://${rig.user}@127.0.0.1:${rig.port}${remotePath}`;

/** rmount (background mode, from the sources) of `dest`; an ssh:// destination gets the rig's ssh config, known_hosts and key. */
export async function mountRmount(rig: Rig, dest: string, opts: string[] = []): Promise<Mounted> {
  const mountpoint = await newMountpoint(rig);
  const sshArgs = dest.startsWith('ssh://') ? ['-F', rig.sshConfig, '--known-hosts', rig.knownHosts, '-i', rig.key] : [];
  let pid: number | undefined;
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => (stopping ??= stopOnce());
  const stopOnce = async (): Promise<void> => {
    if ((await mountedAt(mountpoint)) !== undefined) {
      const r = await rmountCli(['unmount', mountpoint], rig.rmountEnv, 30_000);
      if (r.code !== 0) process.stderr.write(`  rmount unmount ${mountpoint}: ${r.stderr.trim()}\n`);
    }
    await detach(mountpoint);
    await stopPid(pid);
  };
  const forget = rig.cleanup.add(`rmount ${mountpoint}`, stop);
  const r = await rmountCli(['mount', dest, mountpoint, ...sshArgs, ...opts.flatMap(o => ['-o', o])], rig.rmountEnv, 60_000);
  // From its record in our private runtime folder, as `rmount status` reads it: the daemon can then
  // be stopped even if `rmount unmount` cannot.
  pid = await rmountDaemonPid(rig, mountpoint);
  if (r.code !== 0 || (await mountedAt(mountpoint)) === undefined) {
    await stop();
    forget();
    throw new Error(`rmount mount failed (${r.timedOut ? 'timeout' : r.code}): ${r.stderr.trim().slice(-1500)}`);
  }
  return { root: mountpoint, pid, unmount: async () => { forget(); await stop(); } };
}

// ---------------------------------------------------------------------------------------------
// sshd and the latency proxy

/** Starts bench/latency-proxy.ts in front of `targetPort` (RTT/2 each way); resolves with its port and its stop (also on the cleanup stack). */
export async function startProxy(cleanup: BenchCleanup, targetPort: number, rttMs: number): Promise<{ port: number; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, [...TSX_ARGS, join(HERE, 'latency-proxy.ts'), '--target', `127.0.0.1:${targetPort}`, '--delay-ms', String(rttMs / 2)], { cwd: REPO, detached: true, stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>(done => child.once('exit', () => done()));
  const kill = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    killTree(child, 'SIGTERM');
    const t = setTimeout(() => killTree(child, 'SIGKILL'), 3000);
    await exited;
    clearTimeout(t);
  };
  const forget = cleanup.add('latency proxy', kill);
  const line = await new Promise<string>((ok, fail) => {
    let text = '';
    child.stdout!.setEncoding('utf8').on('data', (s: string) => {
      text += s;
      if (text.includes('\n')) ok(text.split('\n')[0]!);
    });
    child.once('exit', code => fail(new Error(`latency proxy exited with ${code}`)));
  });
  return { port: (JSON.parse(line) as { port: number }).port, stop: async () => { forget(); await kill(); } };
}

export interface SshServer {
  port: number;
  user: string;
  sshConfig: string;
  knownHosts: string;
  key: string;
  /** Adds `[127.0.0.1]:port` (a latency proxy in front of sshd) to known_hosts. */
  trust(port: number): Promise<void>;
}

/**
 * A throwaway sshd on 127.0.0.1 logging in as the current user (test/helpers/sshd.ts; its cleanup
 * goes on the stack), and in `dir` an ssh_config without Port (clients say `-p`) and a known_hosts.
 */
export async function startSshServer(cleanup: BenchCleanup, dir: string): Promise<SshServer> {
  const sshd = await startSshd({ after: fn => { cleanup.add('sshd', fn); } });
  const user = userInfo().username;
  const knownHosts = join(dir, 'known_hosts');
  const sshConfig = join(dir, 'ssh_config');
  await writeFile(sshConfig, renderClientConfig({ hosts: '127.0.0.1', user, identityFile: sshd.userKey, knownHostsFile: knownHosts }));
  const trusted = [sshd.port];
  const writeKnown = (): Promise<void> => writeFile(knownHosts, trusted.map(p => `[127.0.0.1]:${p} ${sshd.hostPublicKey}\n`).join(''));
  await writeKnown();
  return {
    port: sshd.port, user, sshConfig, knownHosts, key: sshd.userKey,
    trust: async port => { trusted.push(port); await writeKnown(); },
  };
}
