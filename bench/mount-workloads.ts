/**
 * Everyday workloads on a mounted remote folder: rmount (ssh) against sshfs (defaults and
 * `-o kernel_cache`), with the local disk as the floor, all on one throwaway OpenSSH sshd on
 * 127.0.0.1, at 0 ms added latency (direct) and behind bench/latency-proxy.ts (RTT N ms = N/2 each way).
 *
 *   node --import tsx bench/mount-workloads.ts [--rtt 0,20] [--size-mb 256] [--files 5000]
 *        [--only a,b] [--targets local,sshfs,sshfs-kc,rmount] [--timeout-s 600] [--rmount-opts o,p]
 *
 *        [--small-files 1000] [--saves 200] [--no-drop-caches] [--keep]
 *   node --import tsx bench/mount-workloads.ts --targets sshfs,rmount,rmount-agent …
 *   node --import tsx bench/mount-workloads.ts --docker [--targets local,docker-agent,docker-agentless] …
 *
 * Targets beyond the default list: `rmount-agent` (rmount with `-o agent=yes`: rmount-agent over an
 * SSH exec channel instead of the sftp subsystem). With `--docker` the run uses a private dockerd
 * (test/helpers/dockerd.ts) instead of sshd: one busybox container with the backing folder
 * bind-mounted at /work (`docker run -v backing:/work`), mounted as `docker://NAME/work` with
 * `-o agent=yes` (`docker-agent`) and `-o agent=no` (`docker-agentless`, the copy/exec client);
 * RTT 0 only, and by default only the workloads that suit the agentless client
 * (mount, seq-write, seq-read, small-files, find, ls-lR, git-status).
 *
 * --size-mb, --files, --small-files and --saves take one value, or one per --rtt entry
 * (`--rtt 0,20 --files 5000,500`), so the slow high-latency column can be made smaller.
 * Needs root (sshd logs in as the current user; drop_caches), fuse3, sshfs, git, tar, grep, find.
 *
 * Each workload gets a fresh mount (git status warm is the second run on the cold run's mount).
 * Everything this starts (sshd, proxy, sshfs, rmount daemons, workload processes) is stopped by
 * PID, every mount is unmounted and the temporary folder removed, also on failure and Ctrl-C.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo, cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { BenchCleanup } from './cleanup.ts';
import { renderClientConfig, startSshd } from '../test/helpers/sshd.ts';
import { dockerdSkipReason, startDockerd } from '../test/helpers/dockerd.ts';
import { EDITOR_FILES, NEEDLE, generateTree, prepareEditorFolder } from './fs-workloads.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, '..');
const TSX_ARGS = ['--import', 'tsx'];

// ---------------------------------------------------------------------------------------------
// Options

type TargetId = 'local' | 'sshfs' | 'sshfs-kc' | 'rmount' | 'rmount-agent' | 'docker-agent' | 'docker-agentless';
/** The default target list (unchanged); the others are asked for with --targets or --docker. */
const ALL_TARGETS: TargetId[] = ['local', 'sshfs', 'sshfs-kc', 'rmount'];
const SSH_TARGETS: TargetId[] = ['local', 'sshfs', 'sshfs-kc', 'rmount', 'rmount-agent'];
const DOCKER_TARGETS: TargetId[] = ['local', 'docker-agent', 'docker-agentless'];
/** Workloads reasonable for the agentless Docker client (one docker exec per metadata operation). */
const DOCKER_WORKLOADS = ['mount', 'seq-write', 'seq-read', 'small-files', 'find', 'ls-lR', 'git-status'];
const TARGET_LABEL: Record<TargetId, string> = {
  local: 'local', sshfs: 'sshfs', 'sshfs-kc': 'sshfs kernel_cache', rmount: 'rmount', 'rmount-agent': 'rmount agent',
  'docker-agent': 'docker agent', 'docker-agentless': 'docker agentless',
};

interface Options {
  rtts: number[];
  sizeMb: number[];
  files: number[];
  only?: Set<string>;
  targets: TargetId[];
  timeoutMs: number;
  smallFiles: number[];
  saves: number[];
  rmountOpts: string[];
  dropCaches: boolean;
  keep: boolean;
  /** A container on a private dockerd instead of sshd. */
  docker: boolean;
}

function usage(message: string): never {
  process.stderr.write(`mount-workloads: ${message}\n`
    + 'usage: node --import tsx bench/mount-workloads.ts [--rtt 0,20] [--size-mb 256] [--files 5000] [--only a,b]\n'
    + '       [--targets local,sshfs,sshfs-kc,rmount] [--timeout-s 600] [--small-files 1000] [--saves 200]\n'
    + '       [--rmount-opts opt,opt] [--no-drop-caches] [--docker]\n'
    + `targets: ${SSH_TARGETS.join(', ')}; with --docker: ${DOCKER_TARGETS.join(', ')}\n`
    + `workloads: ${WORKLOAD_IDS.join(', ')}\n`);
  process.exit(2);
}

function numbers(flag: string, text: string): number[] {
  const out = text.split(',').map(s => Number(s.trim()));
  if (out.length === 0 || out.some(n => !Number.isFinite(n) || n < 0)) usage(`${flag} expects numbers >= 0, got "${text}"`);
  return out;
}

function parseOptions(argv: string[]): Options {
  const o: Options = { rtts: [0, 20], sizeMb: [256], files: [5000], targets: [...ALL_TARGETS], timeoutMs: 600_000, smallFiles: [1000], saves: [200], rmountOpts: [], dropCaches: true, keep: false, docker: false };
  let targetsGiven = false;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) usage(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--rtt': o.rtts = numbers(flag, value()); break;
      case '--size-mb': o.sizeMb = numbers(flag, value()); break;
      case '--files': o.files = numbers(flag, value()); break;
      case '--only': o.only = new Set(value().split(',').map(s => s.trim())); break;
      case '--targets': o.targets = value().split(',').map(s => s.trim()) as TargetId[]; targetsGiven = true; break;
      case '--timeout-s': o.timeoutMs = numbers(flag, value())[0]! * 1000; break;
      case '--small-files': o.smallFiles = numbers(flag, value()); break;
      case '--saves': o.saves = numbers(flag, value()); break;
      case '--rmount-opts': o.rmountOpts = [value()]; break;
      case '--no-drop-caches': o.dropCaches = false; break;
      case '--keep': o.keep = true; break;
      case '--docker': o.docker = true; break;
      case '-h': case '--help': usage('help');
      // eslint-disable-next-line no-fallthrough
      default: usage(`unknown argument ${flag}`);
    }
  }
  if (o.docker) {
    if (!targetsGiven) o.targets = [...DOCKER_TARGETS];
    if (o.only === undefined) o.only = new Set(DOCKER_WORKLOADS);
    if (o.rtts.some(r => r !== 0)) {
      if (argv.includes('--rtt')) usage('--docker runs at RTT 0 only (the engine is reached over a unix socket)');
      o.rtts = [0];
    }
  }
  const known = o.docker ? DOCKER_TARGETS : SSH_TARGETS;
  for (const t of o.targets) if (!known.includes(t)) usage(`unknown target ${t}${o.docker ? ' with --docker' : ''} (known: ${known.join(', ')})`);
  for (const w of o.only ?? []) if (!WORKLOAD_IDS.includes(w)) usage(`unknown workload ${w}`);
  for (const [name, list] of [['--size-mb', o.sizeMb], ['--files', o.files], ['--small-files', o.smallFiles], ['--saves', o.saves]] as const) {
    if (list.length !== 1 && list.length !== o.rtts.length) usage(`${name} takes one value or one per --rtt entry`);
  }
  return o;
}

const perRtt = (list: number[], index: number): number => list[list.length === 1 ? 0 : index]!;

// ---------------------------------------------------------------------------------------------
// Cleanup: one stack, run once, on normal exit, failure, or a signal.

// Children of ours that are running a workload are killed first (they may hold a mount busy).
const cleanup = new BenchCleanup(() => { for (const child of running) killTree(child, 'SIGKILL'); });
const onCleanup = (name: string, fn: () => Promise<void> | void): (() => void) => cleanup.add(name, fn);

// ---------------------------------------------------------------------------------------------
// Processes

const running = new Set<ChildProcess>();

/** Kills a child we spawned (detached, so its process group is ours too), by PID only. */
function killTree(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try { child.kill(signal); } catch { /* gone */ }
  }
}

interface RunResult { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; seconds: number; timedOut: boolean }

/** Runs a command in its own process group with a deadline; times it from spawn to exit. */
function run(cmd: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; stdout?: 'capture' | 'ignore' } = {}): Promise<RunResult> {
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

async function mustRun(cmd: string, args: string[], options: Parameters<typeof run>[2] = {}): Promise<RunResult> {
  const r = await run(cmd, args, { timeoutMs: 120_000, ...options });
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.timedOut ? 'timeout' : r.code ?? r.signal}): ${r.stderr.trim().slice(-2000)}`);
  return r;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

// ---------------------------------------------------------------------------------------------
// Mounts

/** Mount points in /proc/self/mountinfo (octal escapes decoded). */
async function mountedAt(path: string): Promise<string | undefined> {
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

interface Mounted {
  /** The folder that shows the backing folder. */
  root: string;
  unmount(): Promise<void>;
}

interface Env {
  dir: string;
  backing: string;
  sshConfig: string;
  knownHosts: string;
  key: string;
  user: string;
  /** The port clients use at this RTT: sshd's own, or the proxy's. */
  port: number;
  timeoutMs: number;
  rmountOpts: string[];
  rmountEnv: NodeJS.ProcessEnv;
  /** With --docker: the container folder to mount (`docker://NAME/work`). */
  dockerDest?: string;
}

let mountSeq = 0;

async function newMountpoint(env: Env): Promise<string> {
  const path = join(env.dir, `mnt${++mountSeq}`);
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

async function mountSshfs(env: Env, kernelCache: boolean): Promise<Mounted> {
  const mountpoint = await newMountpoint(env);
  const args = ['-f', '-F', env.sshConfig, '-p', String(env.port), `${env.user}@127.0.0.1:${env.backing}`, mountpoint];
  if (kernelCache) args.push('-o', 'kernel_cache');
  const child = spawn('sshfs', args, { detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (s: string) => { stderr = (stderr + s).slice(-8192); });
  const exited = new Promise<void>(done => child.once('exit', () => done()));
  // Memoised: the cleanup stack (on a signal) and the workload loop may both ask.
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
  const forget = onCleanup(`sshfs ${mountpoint}`, stop);
  try {
    await waitMounted(mountpoint, child, 30_000);
  } catch (error) {
    await stop();
    forget();
    throw new Error(`sshfs: ${(error as Error).message}: ${stderr.trim()}`);
  }
  return { root: mountpoint, unmount: async () => { forget(); await stop(); } };
}

function rmountCli(args: string[], env: Env, timeoutMs = 60_000): Promise<RunResult> {
  return run(process.execPath, [...TSX_ARGS, join(REPO, 'src', 'cli', 'run.ts'), ...args], { env: env.rmountEnv, timeoutMs, cwd: REPO });
}

async function rmountDaemonPid(env: Env, mountpoint: string): Promise<number | undefined> {
  const dir = env.rmountEnv.RMOUNT_RUNTIME_DIR!;
  try {
    for (const name of await readdir(dir)) {
      if (!name.endsWith('.json')) continue;
      const record = JSON.parse(await readFile(join(dir, name), 'utf8')) as { mountpoint?: string; pid?: number };
      if (record.mountpoint === mountpoint && typeof record.pid === 'number') return record.pid;
    }
  } catch { /* no record: cleanup relies on rmount unmount and fusermount3 */ }
  return undefined;
}

async function mountRmount(env: Env, agent?: 'yes' | 'no'): Promise<Mounted> {
  const mountpoint = await newMountpoint(env);
  const dest = env.dockerDest ?? `ssh://${env.user}@127.0.0.1:${env.port}${env.backing}`;
  const opts = [...(agent === undefined ? [] : [`agent=${agent}`]), ...env.rmountOpts].flatMap(o => ['-o', o]);
  const sshArgs = env.dockerDest === undefined ? ['-F', env.sshConfig, '--known-hosts', env.knownHosts, '-i', env.key] : [];
  let pid: number | undefined;
  // Memoised: the cleanup stack (on a signal) and the workload loop may both ask.
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => (stopping ??= stopOnce());
  const stopOnce = async (): Promise<void> => {
    if ((await mountedAt(mountpoint)) !== undefined) {
      const r = await rmountCli(['unmount', mountpoint], env, 30_000);
      if (r.code !== 0) process.stderr.write(`  rmount unmount ${mountpoint}: ${r.stderr.trim()}\n`);
    }
    await detach(mountpoint);
    if (pid !== undefined && processAlive(pid)) {
      process.kill(pid, 'SIGTERM');
      for (let i = 0; i < 50 && processAlive(pid); i++) await sleep(100);
      if (processAlive(pid)) process.kill(pid, 'SIGKILL');
    }
  };
  const forget = onCleanup(`rmount ${mountpoint}`, stop);
  const r = await rmountCli(['mount', dest, mountpoint, ...sshArgs, ...opts], env, 60_000);
  // The daemon's PID (from its record in our private runtime folder, as `rmount status` reads it),
  // so it can be stopped even if `rmount unmount` cannot.
  pid = await rmountDaemonPid(env, mountpoint);
  if (r.code !== 0 || (await mountedAt(mountpoint)) === undefined) {
    await stop();
    forget();
    throw new Error(`rmount mount failed (${r.timedOut ? 'timeout' : r.code}): ${r.stderr.trim().slice(-1500)}`);
  }
  return { root: mountpoint, unmount: async () => { forget(); await stop(); } };
}

/**
 * Mounts and waits until a `stat` of the root answers: sshfs shows in mountinfo before its SSH
 * session is up, so without this its first timed operation would pay for the connection.
 * Returns the mount and the seconds from starting the mount to that first answer.
 */
async function mount(target: TargetId, env: Env): Promise<{ mounted: Mounted; seconds: number }> {
  const start = performance.now();
  let mounted: Mounted;
  switch (target) {
    case 'local': return { mounted: { root: env.backing, unmount: async () => {} }, seconds: Number.NaN };
    case 'sshfs': mounted = await mountSshfs(env, false); break;
    case 'sshfs-kc': mounted = await mountSshfs(env, true); break;
    case 'rmount': mounted = await mountRmount(env); break;
    case 'rmount-agent': mounted = await mountRmount(env, 'yes'); break;
    case 'docker-agent': mounted = await mountRmount(env, 'yes'); break;
    case 'docker-agentless': mounted = await mountRmount(env, 'no'); break;
  }
  const r = await run('stat', [mounted.root], { timeoutMs: 60_000, stdout: 'ignore' });
  if (r.code !== 0) {
    await mounted.unmount();
    throw new Error(`stat of the fresh mount failed (${r.timedOut ? 'timeout' : r.code}): ${r.stderr.trim()}`);
  }
  return { mounted, seconds: (performance.now() - start) / 1000 };
}

// ---------------------------------------------------------------------------------------------
// Workloads

interface Shared {
  /** Random data for sequential I/O, in the page cache. */
  source: string;
  sizeMb: number;
  files: number;
  /** The source-like tree on the backing folder (relative), its git template, its tarball. */
  tree: string;
  gitTemplate: string;
  tarball: string;
  dropCaches: boolean;
  smallFiles: number;
  saves: number;
}

interface Job {
  env: Env;
  shared: Shared;
  target: TargetId;
  /** A name unique to this workload × target × RTT, for its files. */
  tag: string;
  deadline: number;
  /** Seconds from starting the mount until it answered a stat (NaN for local). */
  mountSeconds: number;
}

interface Workload {
  id: string;
  /** The rows it reports (a workload with a warm variant reports two). */
  rows: (s: Shared) => string[];
  /** Untimed preparation on the backing folder (server side), before the mount. */
  prepare?(job: Job): Promise<void>;
  /** Timed part; returns seconds per row. */
  run(job: Job, root: string): Promise<number[]>;
}

class TimeoutError extends Error {}

function remaining(job: Job): number {
  const left = job.deadline - Date.now();
  if (left <= 0) throw new TimeoutError('timeout');
  return left;
}

const LC = { ...process.env, LC_ALL: 'C' };

/** Times a command; a non-zero exit other than `okCodes` is a failure. */
async function timed(job: Job, cmd: string, args: string[], opts: { cwd?: string; okCodes?: number[]; env?: NodeJS.ProcessEnv } = {}): Promise<number> {
  const r = await run(cmd, args, { cwd: opts.cwd, env: opts.env ?? LC, timeoutMs: remaining(job), stdout: 'ignore' });
  if (r.timedOut) throw new TimeoutError('timeout');
  if (r.code === null || !(opts.okCodes ?? [0]).includes(r.code)) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code ?? r.signal}: ${r.stderr.trim().slice(-600)}`);
  return r.seconds;
}

/** Runs a workload of bench/fs-workloads.ts in a child that times itself. */
async function selfTimed(job: Job, name: string, dir: string, count: number): Promise<number> {
  const r = await run(process.execPath, [...TSX_ARGS, join(HERE, 'fs-workloads.ts'), name, dir, String(count)], { cwd: REPO, timeoutMs: remaining(job) });
  if (r.timedOut) throw new TimeoutError('timeout');
  if (r.code !== 0) throw new Error(`${name} exited ${r.code ?? r.signal}: ${r.stderr.trim().slice(-600)}`);
  const last = r.stdout.trim().split('\n').pop() ?? '';
  return (JSON.parse(last) as { seconds: number }).seconds;
}

async function dropCaches(shared: Shared): Promise<void> {
  if (!shared.dropCaches) return;
  await mustRun('sync', []);
  await writeFile('/proc/sys/vm/drop_caches', '3\n');
}

const WORKLOADS: Workload[] = [
  {
    id: 'mount',
    rows: () => ['mount until the first stat answers'],
    async run(job) {
      return [job.mountSeconds];
    },
  },
  {
    id: 'seq-write',
    rows: s => [`sequential write ${s.sizeMb} MiB`],
    async run(job, root) {
      return [await timed(job, 'dd', [`if=${job.shared.source}`, `of=${join(root, `${job.tag}.bin`)}`, 'bs=1M', 'status=none'])];
    },
  },
  {
    id: 'seq-read',
    rows: s => [`sequential read ${s.sizeMb} MiB (cold)`],
    async prepare(job) {
      await copyFile(job.shared.source, join(job.env.backing, `${job.tag}.bin`));
    },
    async run(job, root) {
      await dropCaches(job.shared);
      return [await timed(job, 'dd', [`if=${join(root, `${job.tag}.bin`)}`, 'of=/dev/null', 'bs=1M', 'status=none'])];
    },
  },
  {
    id: 'small-files',
    rows: s => [`create ${s.smallFiles} small files + read back`],
    async run(job, root) {
      return [await selfTimed(job, 'small-files', join(root, job.tag), job.shared.smallFiles)];
    },
  },
  {
    id: 'find',
    rows: s => [`find (${s.files} files)`],
    async run(job, root) {
      return [await timed(job, 'find', [join(root, job.shared.tree)])];
    },
  },
  {
    id: 'ls-lR',
    rows: s => [`ls -lR (${s.files} files)`],
    async run(job, root) {
      return [await timed(job, 'ls', ['-lR', join(root, job.shared.tree)])];
    },
  },
  {
    id: 'git-status',
    rows: s => [`git status cold (${s.files} files)`, 'git status warm'],
    async prepare(job) {
      await mustRun('cp', ['-a', join(job.env.backing, job.shared.gitTemplate), join(job.env.backing, job.tag)]);
    },
    async run(job, root) {
      const repo = join(root, job.tag);
      const args = ['-c', 'safe.directory=*', '-C', repo, 'status'];
      const cold = await timed(job, 'git', args);
      const warm = await timed(job, 'git', args);
      return [cold, warm];
    },
  },
  {
    id: 'grep',
    rows: s => [`grep -r (${s.files} files)`],
    async run(job, root) {
      return [await timed(job, 'grep', ['-r', '-l', NEEDLE, join(root, job.shared.tree)])];
    },
  },
  {
    id: 'editor-saves',
    rows: s => [`${s.saves} editor saves (tmp+fsync+rename)`],
    async prepare(job) {
      prepareEditorFolder(join(job.env.backing, job.tag));
    },
    async run(job, root) {
      return [await selfTimed(job, 'editor-saves', join(root, job.tag), job.shared.saves)];
    },
  },
  {
    id: 'tar-x',
    rows: s => [`tar -x (${s.files} files)`],
    async prepare(job) {
      await mkdir(join(job.env.backing, job.tag));
    },
    async run(job, root) {
      return [await timed(job, 'tar', ['--no-same-owner', '-xf', job.shared.tarball, '-C', join(root, job.tag)])];
    },
  },
];
const WORKLOAD_IDS = WORKLOADS.map(w => w.id);
void EDITOR_FILES;

// ---------------------------------------------------------------------------------------------
// Results

type Cell = number | 'timeout' | 'error' | 'skipped';
interface Table { rtt: number; sizeMb: number; files: number; rows: { name: string; cells: Partial<Record<TargetId, Cell>> }[] }

const fmt = (c: Cell | undefined): string => c === undefined || Number.isNaN(c) ? '–' : typeof c === 'number' ? c < 10 ? c.toFixed(3) : c.toFixed(1) : c;
function ratio(r: Cell | undefined, s: Cell | undefined): string {
  if (typeof r !== 'number' || typeof s !== 'number' || !(s > 0) || Number.isNaN(r)) return '–';
  return `${(r / s).toFixed(r / s < 0.1 ? 3 : 2)}×`;
}

/** Ratio columns for the targets in the run: [label, numerator, denominator]. */
function ratioColumns(targets: TargetId[]): [string, TargetId, TargetId][] {
  const out: [string, TargetId, TargetId][] = [];
  const has = (x: TargetId): boolean => targets.includes(x);
  if (has('rmount') && has('sshfs')) out.push(['rmount/sshfs', 'rmount', 'sshfs']);
  if (has('rmount-agent') && has('sshfs')) out.push(['agent/sshfs', 'rmount-agent', 'sshfs']);
  if (has('rmount-agent') && has('rmount')) out.push(['agent/subsystem', 'rmount-agent', 'rmount']);
  if (has('docker-agent') && has('docker-agentless')) out.push(['agent/agentless', 'docker-agent', 'docker-agentless']);
  return out;
}

function renderText(t: Table, targets: TargetId[]): string {
  const ratios = ratioColumns(targets);
  const head = ['workload', ...targets.map(x => TARGET_LABEL[x]), ...ratios.map(([l]) => l)];
  const body = t.rows.map(r => [r.name, ...targets.map(x => fmt(r.cells[x])), ...ratios.map(([, a, b]) => ratio(r.cells[a], r.cells[b]))]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map(b => b[i]!.length)));
  const line = (cols: string[]): string => cols.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(head), line(widths.map(w => '-'.repeat(w))), ...body.map(line)].join('\n');
}

function renderMarkdown(t: Table, targets: TargetId[]): string {
  const ratios = ratioColumns(targets);
  const head = ['workload', ...targets.map(x => `${TARGET_LABEL[x]} (s)`), ...ratios.map(([l]) => l.replace('/', ' / '))];
  const rows = t.rows.map(r => [r.name, ...targets.map(x => fmt(r.cells[x])), ...ratios.map(([, a, b]) => ratio(r.cells[a], r.cells[b]))]);
  return [
    `| ${head.join(' | ')} |`,
    `|${head.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`,
    ...rows.map(r => `| ${r.join(' | ')} |`),
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------
// Main

/** Starts the latency proxy; resolves with its port and a function that stops it (also run at cleanup). */
async function startProxy(targetPort: number, rttMs: number): Promise<{ port: number; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, [...TSX_ARGS, join(HERE, 'latency-proxy.ts'), '--target', `127.0.0.1:${targetPort}`, '--delay-ms', String(rttMs / 2)], { cwd: REPO, detached: true, stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>(done => child.once('exit', () => done()));
  const kill = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    killTree(child, 'SIGTERM');
    const t = setTimeout(() => killTree(child, 'SIGKILL'), 3000);
    await exited;
    clearTimeout(t);
  };
  const forget = onCleanup('latency proxy', kill);
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

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  if (process.getuid?.() !== 0) usage('needs root (sshd logs in as the current user; drop_caches)');
  if (o.docker) {
    const reason = dockerdSkipReason();
    if (reason !== false) usage(`--docker: ${reason}`);
  }
  for (const tool of [...(o.docker ? [] : ['sshfs']), 'fusermount3', 'git', 'tar', 'grep', 'find', 'dd']) {
    const r = await run('sh', ['-c', `command -v ${tool}`]);
    if (r.code !== 0) usage(`${tool} is not installed`);
  }

  const startedAt = new Date();
  const dir = await mkdtemp(join(tmpdir(), 'rmount-bench-'));
  onCleanup('temporary folder', async () => {
    if (o.keep) return void process.stderr.write(`kept ${dir}\n`);
    // Never remove through a mount: anything still mounted below dir stays, with a warning.
    const info = await readFile('/proc/self/mountinfo', 'utf8');
    if (info.includes(` ${dir}/`)) return void process.stderr.write(`not removing ${dir}: something is still mounted below it\n`);
    await rm(dir, { recursive: true, force: true });
  });

  const user = userInfo().username;
  const knownHosts = join(dir, 'known_hosts');
  const sshConfig = join(dir, 'ssh_config');
  const backing = join(dir, 'backing');
  await mkdir(backing);
  const rmountEnv: NodeJS.ProcessEnv = { ...process.env, RMOUNT_RUNTIME_DIR: join(dir, 'rmount-run') };
  let dockerDest: string | undefined;
  if (o.docker) {
    // The helper's cleanup (registered on our stack, so it also runs on Ctrl-C, after the mounts
    // above it are gone) removes the container, stops this dockerd by its PID and removes its folder.
    const d = await startDockerd({ after: fn => { onCleanup('private dockerd', fn); } });
    Object.assign(rmountEnv, d.env);
    const name = await d.run({ args: ['-v', `${backing}:/work`, '-w', '/work'] });
    dockerDest = `docker://${name}/work`;
    process.stderr.write(`private dockerd ${d.host} (pid ${d.pid}); container ${name} with ${backing} at /work\n`);
  }
  const sshd = o.docker ? undefined : await startSshd({ after: fn => { onCleanup('sshd', fn); } });
  // No Port: sshfs and rmount are pointed at the sshd, or at the latency proxy, by -p / the URL.
  if (sshd !== undefined) await writeFile(sshConfig, renderClientConfig({ hosts: '127.0.0.1', user, identityFile: sshd.userKey, knownHostsFile: knownHosts }));
  const hostKeyLines = sshd === undefined ? [] : [`[127.0.0.1]:${sshd.port} ${sshd.hostPublicKey}`];
  await writeFile(knownHosts, `${hostKeyLines.join('\n')}\n`);

  const workloads = WORKLOADS.filter(w => o.only === undefined || o.only.has(w.id));
  const log = (s: string): void => void process.stderr.write(`${s}\n`);
  log(`rmount mount-workloads: ${startedAt.toISOString()}, ${cpus().length} CPUs, load ${loadavg().map(l => l.toFixed(2)).join(' ')}`);
  log(`temporary folder ${dir}; ${sshd === undefined ? dockerDest : `sshd 127.0.0.1:${sshd.port}`}`);

  // Source data for sequential I/O: random bytes, read once so they sit in the page cache.
  const preparedSizes = new Map<number, string>();
  const preparedTrees = new Map<number, { tree: string; gitTemplate: string; tarball: string }>();
  const localCache = new Map<string, Cell>();
  const tables: Table[] = [];

  for (const [index, rtt] of o.rtts.entries()) {
    const sizeMb = perRtt(o.sizeMb, index);
    const files = perRtt(o.files, index);
    let source = preparedSizes.get(sizeMb);
    if (source === undefined) {
      source = join(dir, `source-${sizeMb}.bin`);
      await mustRun('dd', ['if=/dev/urandom', `of=${source}`, 'bs=1M', `count=${sizeMb}`, 'status=none']);
      preparedSizes.set(sizeMb, source);
    }
    let prepared = preparedTrees.get(files);
    if (prepared === undefined && workloads.some(w => ['find', 'ls-lR', 'git-status', 'grep', 'tar-x'].includes(w.id))) {
      const tree = `tree-${files}`;
      const gitTemplate = `git-template-${files}`;
      const tarball = join(dir, `tree-${files}.tar`);
      const made = generateTree(join(backing, tree), files);
      await mustRun('tar', ['-cf', tarball, '-C', join(backing, tree), '.']);
      await mustRun('cp', ['-a', join(backing, tree), join(backing, gitTemplate)]);
      const git = (args: string[]): Promise<RunResult> => mustRun('git', ['-c', 'user.name=bench', '-c', 'user.email=bench@127.0.0.1', '-c', 'init.defaultBranch=main', '-C', join(backing, gitTemplate), ...args]);
      await git(['init', '-q']);
      await git(['add', '-A']);
      await git(['commit', '-q', '-m', 'tree']);
      log(`tree of ${files} files in ${made.dirs} folders, ${(made.bytes / 1e6).toFixed(1)} MB`);
      prepared = { tree, gitTemplate, tarball };
      preparedTrees.set(files, prepared);
    }
    const shared: Shared = { source, sizeMb, files, ...(prepared ?? { tree: '', gitTemplate: '', tarball: '' }), dropCaches: o.dropCaches, smallFiles: perRtt(o.smallFiles, index), saves: perRtt(o.saves, index) };

    let port = sshd?.port ?? 0;
    let stopProxy: (() => Promise<void>) | undefined;
    if (sshd !== undefined && rtt > 0 && o.targets.some(t => t !== 'local')) {
      ({ port, stop: stopProxy } = await startProxy(sshd.port, rtt));
      await writeFile(knownHosts, `${[...hostKeyLines, `[127.0.0.1]:${port} ${sshd.hostPublicKey}`].join('\n')}\n`);
      log(`RTT ${rtt} ms: latency proxy 127.0.0.1:${port} → ${sshd.port}, ${rtt / 2} ms each way`);
    }
    const env: Env = { dir, backing, sshConfig, knownHosts, key: sshd?.userKey ?? '', user, port, timeoutMs: o.timeoutMs, rmountOpts: o.rmountOpts, rmountEnv, dockerDest };
    const table: Table = { rtt, sizeMb, files, rows: [] };
    tables.push(table);

    for (const w of workloads) {
      const rowNames = w.rows(shared);
      const rows = rowNames.map(name => ({ name, cells: {} as Partial<Record<TargetId, Cell>> }));
      table.rows.push(...rows);
      for (const target of o.targets) {
        if (cleanup.interrupted) return;
        const cacheKey = `${w.id}/${sizeMb}/${files}/${shared.smallFiles}/${shared.saves}`;
        if (target === 'local' && localCache.has(`${cacheKey}/0`)) {
          rows.forEach((r, i) => { r.cells.local = localCache.get(`${cacheKey}/${i}`)!; });
          continue;
        }
        const tag = `${w.id}-${target}-rtt${rtt}`;
        const job: Job = { env, shared, target, tag, deadline: Date.now() + o.timeoutMs, mountSeconds: Number.NaN };
        let mounted: Mounted | undefined;
        let cells: Cell[];
        try {
          await w.prepare?.(job);
          await mustRun('sync', []);
          const m = await mount(target, env);
          mounted = m.mounted;
          job.mountSeconds = m.seconds;
          job.deadline = Date.now() + o.timeoutMs;
          cells = await w.run(job, mounted.root);
        } catch (error) {
          const timedOut = error instanceof TimeoutError;
          cells = rowNames.map(() => (timedOut ? 'timeout' : 'error'));
          if (!timedOut) log(`  ${w.id} on ${target}: ${(error as Error).message.split('\n')[0]}`);
        } finally {
          try {
            await mounted?.unmount();
          } catch (error) {
            log(`  unmount after ${w.id} on ${target}: ${(error as Error).message}`);
          }
        }
        rows.forEach((r, i) => {
          r.cells[target] = cells[i] ?? 'error';
          if (target === 'local') localCache.set(`${cacheKey}/${i}`, r.cells[target]!);
        });
        log(`[RTT ${rtt} ms] ${rowNames.map((n, i) => `${n}: ${TARGET_LABEL[target]} ${fmt(cells[i])}${typeof cells[i] === 'number' && !Number.isNaN(cells[i]) ? ' s' : ''}`).join('; ')}`);
        // Artifacts of this run (large files, extracted trees) go; the shared tree stays.
        await rm(join(backing, tag), { recursive: true, force: true });
        await rm(join(backing, `${tag}.bin`), { force: true });
      }
    }
    await stopProxy?.();

    process.stdout.write(`\nRTT ${rtt} ms (${o.docker ? 'private dockerd, unix socket' : rtt === 0 ? 'direct to sshd' : `latency proxy, ${rtt / 2} ms each way`}), ${sizeMb} MiB, ${files} files; seconds, lower is better\n`);
    process.stdout.write(`${renderText(table, o.targets)}\n`);
  }

  process.stdout.write(`\n## mount-workloads, ${startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC\n\n`);
  process.stdout.write(`\`node --import tsx bench/mount-workloads.ts ${process.argv.slice(2).join(' ')}\`\n`);
  for (const t of tables) {
    process.stdout.write(`\n### RTT ${t.rtt} ms${t.rtt === 0 ? ' (direct)' : ` (proxy, ${t.rtt / 2} ms each way)`}, ${t.sizeMb} MiB, ${t.files} files\n\n`);
    process.stdout.write(`${renderMarkdown(t, o.targets)}\n`);
  }
}

try {
  await main();
} catch (error) {
  process.stderr.write(`mount-workloads: ${(error as Error).stack ?? String(error)}\n`);
  process.exitCode = 1;
} finally {
  for (const child of running) killTree(child, 'SIGKILL');
  await cleanup.runAll();
}
process.exit(process.exitCode ?? 0);
