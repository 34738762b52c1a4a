/**
 * Everyday workloads on a mounted remote folder: rmount (ssh) against sshfs (defaults and
 * `-o kernel_cache`), with the local disk as the floor, all on one throwaway OpenSSH sshd on
 * 127.0.0.1, at 0 ms added latency (direct) and behind bench/latency-proxy.ts (RTT N ms = N/2 each way).
 *
 *   node --import tsx bench/mount-workloads.ts [--rtt 0,20] [--size-mb 256] [--files 5000] [--tree DIR]
 *        [--only a,b] [--targets local,sshfs,sshfs-kc,rmount] [--timeout-s 600] [--rmount-opts o,p]
 *        [--small-files 1000] [--saves 200] [--mix-ops 20000] [--no-drop-caches] [--keep]
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
 * --size-mb, --files, --small-files, --saves and --mix-ops take one value, or one per --rtt entry
 * (`--rtt 0,20 --files 5000,500`), so the slow high-latency column can be made smaller.
 * Needs root (sshd logs in as the current user; drop_caches), fuse3, sshfs, git, tar, grep, find,
 * python3 (the random mix, bench/random-mix.py).
 *
 * The tree rows (find, ls-lR, git-status, grep, missing-lookups, tar-x) run on a generated
 * source-like tree of --files files, or with `--tree DIR` on a copy of a real folder (/usr/include,
 * npm's package folder, a git checkout): a checkout is cloned (its index is git's own), another
 * folder copied with `cp -a` and, for git status, committed to a new repository. The header says
 * which tree and what it holds.
 *
 * Each workload gets a fresh mount (git status warm is the second run on the cold run's mount).
 * Everything this starts (sshd, proxy, sshfs, rmount daemons, workload processes) is stopped by
 * PID, every mount is unmounted and the temporary folder removed, also on failure and Ctrl-C.
 */
import { copyFile, mkdir, mkdtemp, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir, cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { BenchCleanup } from './cleanup.ts';
import { dockerdSkipReason, startDockerd } from '../test/helpers/dockerd.ts';
import { EDITOR_FILES, NEEDLE, countTree, generateTree, prepareEditorFolder, type TreeCount } from './fs-workloads.ts';
import {
  HERE, REPO, TSX_ARGS, killRunning, mountRmount as mountRmountAt, mountSshfs, mustRun, run, sshDest, startProxy, startSshServer,
  type Mounted, type Rig, type RunResult,
} from './mount-rig.ts';

const RANDOM_MIX = join(HERE, 'random-mix.py');

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
  mixOps: number[];
  /** A real folder whose copy the tree rows run on, instead of the generated tree. */
  tree?: string;
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
    + '       [--mix-ops 20000] [--tree DIR] [--rmount-opts opt,opt] [--no-drop-caches] [--docker]\n'
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
  const o: Options = { rtts: [0, 20], sizeMb: [256], files: [5000], targets: [...ALL_TARGETS], timeoutMs: 600_000, smallFiles: [1000], saves: [200], mixOps: [20_000], rmountOpts: [], dropCaches: true, keep: false, docker: false };
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
      case '--mix-ops': o.mixOps = numbers(flag, value()); break;
      case '--tree': o.tree = value(); break;
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
  for (const [name, list] of [['--size-mb', o.sizeMb], ['--files', o.files], ['--small-files', o.smallFiles], ['--saves', o.saves], ['--mix-ops', o.mixOps]] as const) {
    if (list.length !== 1 && list.length !== o.rtts.length) usage(`${name} takes one value or one per --rtt entry`);
  }
  return o;
}

const perRtt = (list: number[], index: number): number => list[list.length === 1 ? 0 : index]!;

// ---------------------------------------------------------------------------------------------
// Cleanup: one stack, run once, on normal exit, failure, or a signal.

// Children of ours that are running a workload are killed first (they may hold a mount busy).
const cleanup = new BenchCleanup(killRunning);
const onCleanup = (name: string, fn: () => Promise<void> | void): (() => void) => cleanup.add(name, fn);

// ---------------------------------------------------------------------------------------------
// Mounts

interface Env extends Rig {
  /** The folder every target shows: the server side of the mounts, and the local target itself. */
  backing: string;
  timeoutMs: number;
  rmountOpts: string[];
  /** With --docker: the container folder to mount (`docker://NAME/work`). */
  dockerDest?: string;
}

const mountRmount = (env: Env, agent?: 'yes' | 'no'): Promise<Mounted> =>
  mountRmountAt(env, env.dockerDest ?? sshDest(env, env.backing), [...(agent === undefined ? [] : [`agent=${agent}`]), ...env.rmountOpts]);

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
    case 'sshfs': mounted = await mountSshfs(env, env.backing); break;
    case 'sshfs-kc': mounted = await mountSshfs(env, env.backing, ['kernel_cache']); break;
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
  /** The tree on the backing folder (relative), its git template (relative), its tarball. */
  tree: string;
  gitTemplate: string;
  tarball: string;
  /** What the tree rows call it: `5000 files`, or a real tree's path and count. */
  treeLabel: string;
  /** A copy of a real folder (--tree), not the generated tree: no file holds {@link NEEDLE}. */
  realTree: boolean;
  dropCaches: boolean;
  smallFiles: number;
  saves: number;
  mixOps: number;
}

/** The workloads that run on the tree (and need it prepared). */
const TREE_WORKLOADS = ['find', 'ls-lR', 'git-status', 'grep', 'tar-x', 'missing-lookups'];

interface PreparedTree {
  tree: string;
  gitTemplate: string;
  tarball: string;
  treeLabel: string;
  realTree: boolean;
  /** For the output header: where the tree came from, how it was copied, what is in it. */
  description: string;
}

const gitIn = (repo: string, args: string[]): Promise<RunResult> =>
  mustRun('git', ['-c', 'user.name=bench', '-c', 'user.email=bench@127.0.0.1', '-c', 'init.defaultBranch=main', '-c', 'safe.directory=*', '-C', repo, ...args], { timeoutMs: 600_000 });

/** Commits everything in `repo` to a new repository, ignored files too, so it tracks the whole tree. */
async function commitAll(repo: string): Promise<void> {
  await gitIn(repo, ['init', '-q']);
  await gitIn(repo, ['add', '-A', '-f']);
  await gitIn(repo, ['commit', '-q', '--no-verify', '-m', 'tree']);
}

const describeCount = (c: TreeCount): string =>
  `${c.files} files, ${c.dirs} folders, ${c.symlinks} symlinks, ${(c.bytes / 1e6).toFixed(1)} MB`;

async function prepareGeneratedTree(dir: string, backing: string, files: number): Promise<PreparedTree> {
  const tree = `tree-${files}`;
  const gitTemplate = `git-template-${files}`;
  const tarball = join(dir, `tree-${files}.tar`);
  const made = generateTree(join(backing, tree), files);
  await mustRun('tar', ['-cf', tarball, '-C', join(backing, tree), '.']);
  await mustRun('cp', ['-a', join(backing, tree), join(backing, gitTemplate)]);
  await commitAll(join(backing, gitTemplate));
  return {
    tree, gitTemplate, tarball, treeLabel: `${files} files`, realTree: false,
    description: `generated, ${files} files in ${made.dirs} folders, ${(made.bytes / 1e6).toFixed(1)} MB`,
  };
}

/**
 * A copy of `source` in the backing folder. A git checkout (`source` is the top of its work tree)
 * is cloned, so `.git` and an index written by git come along and `git status` works on a real
 * repository; any other folder is copied with `cp -a` and committed to a new repository for
 * git status, as the generated tree is. The clone holds what HEAD holds: changes not committed in
 * `source` are not in it.
 */
async function prepareRealTree(dir: string, backing: string, source: string): Promise<PreparedTree> {
  const path = await realpath(source);
  const top = await run('git', ['-c', 'safe.directory=*', '-C', path, 'rev-parse', '--show-toplevel'], { timeoutMs: 30_000 });
  const isCheckout = top.code === 0 && top.stdout.trim() === path;
  const tree = 'tree-real';
  let gitTemplate: string;
  let how: string;
  if (isCheckout) {
    await mustRun('git', ['-c', 'safe.directory=*', 'clone', '-q', '--no-hardlinks', path, join(backing, tree)], { timeoutMs: 600_000 });
    gitTemplate = tree;
    const head = (await gitIn(join(backing, tree), ['log', '-1', '--format=%h'])).stdout.trim();
    how = `git checkout, cloned at ${head}; find, ls -lR and grep walk .git too`;
  } else {
    await mustRun('cp', ['-a', path, join(backing, tree)], { timeoutMs: 600_000 });
    gitTemplate = 'git-template-real';
    await mustRun('cp', ['-a', path, join(backing, gitTemplate)], { timeoutMs: 600_000 });
    await commitAll(join(backing, gitTemplate));
    how = 'copied with cp -a; for git status a copy committed to a new repository';
  }
  const tarball = join(dir, 'tree-real.tar');
  await mustRun('tar', ['-cf', tarball, '-C', join(backing, tree), '.'], { timeoutMs: 600_000 });
  const count = countTree(join(backing, tree));
  if (isCheckout) how += `, ${countTree(join(backing, tree, '.git')).files} of the files in .git`;
  return {
    tree, gitTemplate, tarball, treeLabel: `${path}, ${count.files} files`, realTree: true,
    description: `${path}: ${how}; ${describeCount(count)}`,
  };
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

/** Runs a child that times itself and prints `{"seconds":S}` (or a list, one a row) as its last line. */
async function selfTimedCommand(job: Job, name: string, cmd: string, args: string[], report?: (result: Record<string, unknown>) => void): Promise<number[]> {
  const r = await run(cmd, args, { cwd: REPO, timeoutMs: remaining(job) });
  if (r.timedOut) throw new TimeoutError('timeout');
  if (r.code !== 0) throw new Error(`${name} exited ${r.code ?? r.signal}: ${r.stderr.trim().slice(-600)}`);
  const last = r.stdout.trim().split('\n').pop() ?? '';
  const result = JSON.parse(last) as { seconds: number | number[] };
  report?.(result);
  const seconds = result.seconds;
  return Array.isArray(seconds) ? seconds : [seconds];
}

/** Runs a workload of bench/fs-workloads.ts in a child that times itself. */
const selfTimed = (job: Job, name: string, dir: string, count: number): Promise<number[]> =>
  selfTimedCommand(job, name, process.execPath, [...TSX_ARGS, join(HERE, 'fs-workloads.ts'), name, dir, String(count)]);

/** Names the missing-lookups row stats in the tree's top folder, each pass. */
const MISSING_NAMES = 100;
/** The file the random mix works on starts at this size and stays below twice it. */
const MIX_FILE_BYTES = 256 * 1024;
const MIX_SEED = 13;

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
      return selfTimed(job, 'small-files', join(root, job.tag), job.shared.smallFiles);
    },
  },
  {
    id: 'find',
    rows: s => [`find (${s.treeLabel})`],
    async run(job, root) {
      return [await timed(job, 'find', [join(root, job.shared.tree)])];
    },
  },
  {
    id: 'ls-lR',
    rows: s => [`ls -lR (${s.treeLabel})`],
    async run(job, root) {
      return [await timed(job, 'ls', ['-lR', join(root, job.shared.tree)])];
    },
  },
  {
    id: 'git-status',
    rows: s => [`git status cold (${s.treeLabel})`, 'git status warm'],
    async prepare(job) {
      // A clone has an index git wrote for these very files, as a checkout someone works in has;
      // the status on the server side refreshes what the clone left racily clean.
      const repo = join(job.env.backing, job.tag);
      await mustRun('git', ['-c', 'safe.directory=*', 'clone', '-q', '--no-hardlinks', join(job.env.backing, job.shared.gitTemplate), repo], { timeoutMs: 600_000 });
      await gitIn(repo, ['status', '--porcelain']);
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
    rows: s => [`grep -r (${s.treeLabel})`],
    async run(job, root) {
      // A real tree holds no needle: grep then reads every file to its end, and exits 1.
      return [await timed(job, 'grep', ['-r', '-l', NEEDLE, join(root, job.shared.tree)], { okCodes: job.shared.realTree ? [0, 1] : [0] })];
    },
  },
  {
    id: 'missing-lookups',
    rows: () => [`stat ${MISSING_NAMES} missing names in a listed folder`, 'same names again'],
    async run(job, root) {
      return selfTimed(job, 'missing-lookups', join(root, job.shared.tree), MISSING_NAMES);
    },
  },
  {
    id: 'mix',
    rows: s => [`random mix: ${s.mixOps} reads, writes, truncates, mmap writes on one file`],
    async prepare(job) {
      await mustRun('python3', [RANDOM_MIX, 'init', join(job.env.backing, `${job.tag}.bin`), String(MIX_FILE_BYTES), String(MIX_SEED)]);
    },
    async run(job, root) {
      // Where the time went, by kind of operation, to the log: the row alone cannot say.
      const report = (result: Record<string, unknown>): void => {
        const ops = result.ops as Record<string, { count: number; seconds: number }>;
        process.stderr.write(`  mix on ${job.target}: ${Object.entries(ops).map(([k, v]) => `${k} ${v.count} in ${v.seconds.toFixed(3)} s`).join(', ')}\n`);
      };
      return selfTimedCommand(job, 'random mix', 'python3', [RANDOM_MIX, 'run', join(root, `${job.tag}.bin`), String(job.shared.mixOps), String(MIX_SEED), String(MIX_FILE_BYTES)], report);
    },
  },
  {
    id: 'editor-saves',
    rows: s => [`${s.saves} editor saves (tmp+fsync+rename)`],
    async prepare(job) {
      prepareEditorFolder(join(job.env.backing, job.tag));
    },
    async run(job, root) {
      return selfTimed(job, 'editor-saves', join(root, job.tag), job.shared.saves);
    },
  },
  {
    id: 'tar-x',
    rows: s => [`tar -x (${s.treeLabel})`],
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
interface Table { rtt: number; sizeMb: number; files: number; tree?: string; rows: { name: string; cells: Partial<Record<TargetId, Cell>> }[] }

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

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  if (process.getuid?.() !== 0) usage('needs root (sshd logs in as the current user; drop_caches)');
  if (o.docker) {
    const reason = dockerdSkipReason();
    if (reason !== false) usage(`--docker: ${reason}`);
  }
  for (const tool of [...(o.docker ? [] : ['sshfs']), 'fusermount3', 'git', 'tar', 'grep', 'find', 'dd', 'python3']) {
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
  const sshd = o.docker ? undefined : await startSshServer(cleanup, dir);

  const workloads = WORKLOADS.filter(w => o.only === undefined || o.only.has(w.id));
  const log = (s: string): void => void process.stderr.write(`${s}\n`);
  log(`rmount mount-workloads: ${startedAt.toISOString()}, ${cpus().length} CPUs, load ${loadavg().map(l => l.toFixed(2)).join(' ')}`);
  log(`temporary folder ${dir}; ${sshd === undefined ? dockerDest : `sshd 127.0.0.1:${sshd.port}`}`);

  const preparedSizes = new Map<number, string>();
  const preparedTrees = new Map<number | string, PreparedTree>();
  const localCache = new Map<string, Cell>();
  const tables: Table[] = [];

  for (const [index, rtt] of o.rtts.entries()) {
    const sizeMb = perRtt(o.sizeMb, index);
    const files = perRtt(o.files, index);
    // Random bytes for sequential I/O, read once so they sit in the page cache.
    let source = preparedSizes.get(sizeMb);
    if (source === undefined && workloads.some(w => ['seq-write', 'seq-read'].includes(w.id))) {
      source = join(dir, `source-${sizeMb}.bin`);
      await mustRun('dd', ['if=/dev/urandom', `of=${source}`, 'bs=1M', `count=${sizeMb}`, 'status=none']);
      preparedSizes.set(sizeMb, source);
    }
    const treeKey = o.tree ?? files;
    let prepared = preparedTrees.get(treeKey);
    if (prepared === undefined && workloads.some(w => TREE_WORKLOADS.includes(w.id))) {
      prepared = o.tree === undefined ? await prepareGeneratedTree(dir, backing, files) : await prepareRealTree(dir, backing, o.tree);
      log(`tree: ${prepared.description}`);
      preparedTrees.set(treeKey, prepared);
    }
    const shared: Shared = {
      source: source ?? '', sizeMb, files, tree: '', gitTemplate: '', tarball: '', treeLabel: `${files} files`, realTree: false, ...prepared,
      dropCaches: o.dropCaches, smallFiles: perRtt(o.smallFiles, index), saves: perRtt(o.saves, index), mixOps: perRtt(o.mixOps, index),
    };

    let port = sshd?.port ?? 0;
    let stopProxy: (() => Promise<void>) | undefined;
    if (sshd !== undefined && rtt > 0 && o.targets.some(t => t !== 'local')) {
      ({ port, stop: stopProxy } = await startProxy(cleanup, sshd.port, rtt));
      await sshd.trust(port);
      log(`RTT ${rtt} ms: latency proxy 127.0.0.1:${port} → ${sshd.port}, ${rtt / 2} ms each way`);
    }
    const env: Env = {
      cleanup, dir, backing, sshConfig: sshd?.sshConfig ?? '', knownHosts: sshd?.knownHosts ?? '', key: sshd?.key ?? '', user: sshd?.user ?? '',
      port, timeoutMs: o.timeoutMs, rmountOpts: o.rmountOpts, rmountEnv, dockerDest,
    };
    const table: Table = { rtt, sizeMb, files, tree: prepared?.description, rows: [] };
    tables.push(table);

    for (const w of workloads) {
      const rowNames = w.rows(shared);
      const rows = rowNames.map(name => ({ name, cells: {} as Partial<Record<TargetId, Cell>> }));
      table.rows.push(...rows);
      for (const target of o.targets) {
        if (cleanup.interrupted) return;
        const cacheKey = `${w.id}/${sizeMb}/${treeKey}/${shared.smallFiles}/${shared.saves}/${shared.mixOps}`;
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

    process.stdout.write(`\nRTT ${rtt} ms (${o.docker ? 'private dockerd, unix socket' : rtt === 0 ? 'direct to sshd' : `latency proxy, ${rtt / 2} ms each way`}), ${sizeMb} MiB${o.tree === undefined ? `, ${files} files` : ''}; seconds, lower is better\n`);
    if (table.tree !== undefined) process.stdout.write(`tree: ${table.tree}\n`);
    process.stdout.write(`${renderText(table, o.targets)}\n`);
  }

  process.stdout.write(`\n## mount-workloads, ${startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC\n\n`);
  process.stdout.write(`\`node --import tsx bench/mount-workloads.ts ${process.argv.slice(2).join(' ')}\`\n`);
  for (const t of tables) {
    process.stdout.write(`\n### RTT ${t.rtt} ms${t.rtt === 0 ? ' (direct)' : ` (proxy, ${t.rtt / 2} ms each way)`}, ${t.sizeMb} MiB${o.tree === undefined ? `, ${t.files} files` : ''}\n\n`);
    if (t.tree !== undefined) process.stdout.write(`Tree: ${t.tree}\n\n`);
    process.stdout.write(`${renderMarkdown(t, o.targets)}\n`);
  }
}

try {
  await main();
} catch (error) {
  process.stderr.write(`mount-workloads: ${(error as Error).stack ?? String(error)}\n`);
  process.exitCode = 1;
} finally {
  killRunning();
  await cleanup.runAll();
}
process.exit(process.exitCode ?? 0);
