/**
 * Processes and mounts of bench/writeback.ts: commands in their own process group with a
 * deadline, the latency proxy, sshfs, and rmount through bin/rmount (the CLI built in lib/).
 * Everything started here is registered on the bench's cleanup stack and stopped by its own PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BenchCleanup } from './cleanup.ts';
import { ROOT, startChild, within } from './exec-latency.ts';
import { processAlive, readRecord } from '../src/mount/registry.ts';

const TSX = import.meta.resolve('tsx');
/** bin/rmount (lib/), or with BENCH_RMOUNT_CLI=src the sources through tsx (a build not in lib/ yet). */
const FROM_SRC = process.env.BENCH_RMOUNT_CLI === 'src';
export const BIN = FROM_SRC ? join(ROOT, 'src', 'cli', 'run.ts') : join(ROOT, 'bin', 'rmount');
/** BENCH_NODE_FLAGS (e.g. `--cpu-prof --cpu-prof-dir=DIR`) reach the daemon too: it starts with the CLI's execArgv. */
const NODE_FLAGS = (process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean);
const CLI = FROM_SRC ? [...NODE_FLAGS, '--import', TSX, BIN] : [...NODE_FLAGS, BIN];

/** Children running a command now; killed first on a signal (they may hold a mount busy). */
export const running = new Set<ChildProcess>();

/** Kills a child we spawned detached (its process group is its PID), by PID only. */
export function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try { child.kill(signal); } catch { /* gone */ }
  }
}

export interface RunResult { code: number | null; stdout: string; stderr: string; seconds: number; timedOut: boolean }

/** Runs a command in its own process group, killed at `timeoutMs`; times it from spawn to exit. */
export function run(cmd: string, args: string[], o: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn(cmd, args, { cwd: o.cwd ?? ROOT, env: o.env ?? process.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => { stdout = (stdout + s).slice(-65536); });
    child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr = (stderr + s).slice(-16384); });
    let timedOut = false;
    const timer = setTimeout(() => { timedOut = true; killGroup(child, 'SIGKILL'); }, o.timeoutMs ?? 120_000);
    child.once('error', error => { clearTimeout(timer); running.delete(child); reject(error); });
    child.once('close', code => {
      clearTimeout(timer);
      running.delete(child);
      resolve({ code, stdout, stderr, seconds: (performance.now() - start) / 1000, timedOut });
    });
  });
}

/** bin/rmount with `args` (lib/ when built, else the sources through tsx). */
export const rmount = (args: string[], env: NodeJS.ProcessEnv, timeoutMs = 120_000): Promise<RunResult> => run(process.execPath, [...CLI, ...args], { env, timeoutMs });

/** Starts bench/latency-proxy.ts in front of `port` (RTT/2 each way); resolves with its port. */
export async function startProxy(cleanup: BenchCleanup, port: number, rtt: number): Promise<{ port: number; stop: () => Promise<void> }> {
  const proxy = startChild(cleanup, `latency proxy ${rtt} ms`, process.execPath, ['--import', TSX, join(ROOT, 'bench', 'latency-proxy.ts'),
    '--target', `127.0.0.1:${port}`, '--delay-ms', String(rtt / 2)], { stdout: 'pipe' });
  const line = await within(Promise.race([
    new Promise<string>(resolve => createInterface({ input: proxy.child.stdout! }).once('line', resolve)),
    proxy.exited.then(() => ''),
  ]), 30_000) ?? '';
  const proxyPort = (JSON.parse(line === '' ? '{}' : line) as { port?: number }).port;
  if (proxyPort === undefined) {
    await proxy.stop();
    throw new Error('the latency proxy did not say its port');
  }
  return { port: proxyPort, stop: proxy.stop };
}

async function isMounted(path: string): Promise<boolean> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  return text.split('\n').some(line => line.split(' ')[4]?.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))) === path);
}

async function detach(mountpoint: string): Promise<void> {
  if (!(await isMounted(mountpoint))) return;
  const r = await run('fusermount3', ['-u', mountpoint], { timeoutMs: 20_000 });
  if (r.code === 0 && !(await isMounted(mountpoint))) return;
  await run('fusermount3', ['-u', '-z', mountpoint], { timeoutMs: 20_000 });
}

/** TERM, up to 5 s, then KILL: one process, by its PID. */
async function stopPid(pid: number | undefined): Promise<void> {
  if (pid === undefined || !processAlive(pid)) return;
  try { process.kill(pid, 'SIGTERM'); } catch { return; }
  for (let i = 0; i < 50 && processAlive(pid); i++) await sleep(100);
  if (processAlive(pid)) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
}

/** How a mount reaches sshd at one RTT. */
export interface Link {
  port: number;
  sshConfig: string;
  knownHosts: string;
  key: string;
  user: string;
  backing: string;
  /** Environment of every bin/rmount call: private runtime and journal folders. */
  rmountEnv: NodeJS.ProcessEnv;
}

export interface Mounted {
  root: string;
  unmount(): Promise<void>;
}

/** Runs `mount`, registers `stop` for cleanup, waits until a stat of the root answers. */
async function ready(cleanup: BenchCleanup, mountpoint: string, name: string, stop: () => Promise<void>, mount: () => Promise<void>): Promise<Mounted> {
  let stopping: Promise<void> | undefined;
  const once = (): Promise<void> => (stopping ??= stop());
  const forget = cleanup.add(name, once);
  try {
    await mount();
    // sshfs shows in mountinfo before its SSH session is up: the first timed call must not pay for it.
    const r = await run('stat', [mountpoint], { timeoutMs: 60_000 });
    if (r.code !== 0) throw new Error(`stat of the fresh mount failed: ${r.stderr.trim()}`);
  } catch (error) {
    await once();
    forget();
    throw error;
  }
  return { root: mountpoint, unmount: async () => { await once(); forget(); } };
}

/** sshfs 3.7 with its defaults, in the foreground as our child. */
export async function mountSshfs(cleanup: BenchCleanup, link: Link, mountpoint: string): Promise<Mounted> {
  await mkdir(mountpoint, { recursive: true });
  const child = spawn('sshfs', ['-f', '-F', link.sshConfig, '-p', String(link.port), `${link.user}@127.0.0.1:${link.backing}`, mountpoint],
    { detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => { stderr = (stderr + s).slice(-4096); });
  const exited = new Promise<void>(done => child.once('close', () => done()));
  return ready(cleanup, mountpoint, `sshfs ${mountpoint}`, async () => {
    await detach(mountpoint);
    killGroup(child, 'SIGTERM');
    if ((await within(exited.then(() => true), 5000)) === undefined) killGroup(child, 'SIGKILL');
  }, async () => {
    for (const deadline = Date.now() + 30_000; !(await isMounted(mountpoint));) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`sshfs did not mount: ${stderr.trim()}`);
      await sleep(25);
    }
  });
}

/** PIDs of the rmount daemons started for `mountpoint` (`bin/rmount mount --foreground … MOUNTPOINT`). */
async function daemonsFor(mountpoint: string): Promise<number[]> {
  const out: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const argv = (await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '')).split('\0');
    if (argv.includes(mountpoint) && argv.includes('--foreground') && argv.includes(BIN)) out.push(Number(name));
  }
  return out;
}

/** rmount through bin/rmount: `-o` options as given (agent=…, writeback=…). */
export async function mountRmount(cleanup: BenchCleanup, link: Link, mountpoint: string, opts: string[]): Promise<Mounted> {
  await mkdir(mountpoint, { recursive: true });
  let pid: number | undefined;
  return ready(cleanup, mountpoint, `rmount ${mountpoint}`, async () => {
    if (await isMounted(mountpoint)) {
      // With write-back on, unmount sends what is left first: give it time.
      const r = await rmount(['unmount', mountpoint], link.rmountEnv, 300_000);
      if (r.code !== 0) process.stderr.write(`  rmount unmount ${mountpoint}: ${r.stderr.trim()}\n`);
    }
    await detach(mountpoint);
    // No record yet (the mount was cut off while starting): the daemon whose argv names this mountpoint.
    for (const p of new Set([...(pid === undefined ? [] : [pid]), ...await daemonsFor(mountpoint)])) await stopPid(p);
  }, async () => {
    const dest = `ssh://${link.user}@127.0.0.1:${link.port}${link.backing}`;
    const r = await rmount(['mount', dest, mountpoint, '-F', link.sshConfig, '--known-hosts', link.knownHosts, '-i', link.key,
      ...opts.flatMap(o => ['-o', o])], link.rmountEnv, 120_000);
    // The daemon's PID from its record in our private runtime folder, to stop it if unmount cannot.
    pid = (await readRecord(link.rmountEnv.RMOUNT_RUNTIME_DIR!, mountpoint))?.pid;
    if (r.code !== 0 || !(await isMounted(mountpoint))) throw new Error(`rmount mount ${opts.join(',')} failed (${r.timedOut ? 'timeout' : r.code}): ${r.stderr.trim().slice(-800)}`);
  });
}
