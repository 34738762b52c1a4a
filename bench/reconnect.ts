/**
 * Reconnect: how soon a mount works again once the network is back, and how long one operation can
 * hang while it is gone. In one run, on one throwaway OpenSSH sshd on 127.0.0.1
 * (test/helpers/sshd.ts):
 *
 *   - rmount over the sftp subsystem (`-o agent=no,timeout=10`),
 *   - rmount with rmount-agent (`-o agent=yes,timeout=10`; the build in dist/agent),
 *   - sshfs with `-o reconnect,ServerAliveInterval=15,ServerAliveCountMax=3`.
 *
 * Each mount reaches sshd through its own fault proxy (test/helpers/fault-proxy.ts: cut, blackhole,
 * restore); at RTT N > 0 the fault proxies forward to bench/latency-proxy.ts (N/2 ms each way) in
 * front of sshd. Both clients read the same ssh_config (ServerAliveInterval 15, CountMax 3).
 *
 *   node --import tsx bench/reconnect.ts [--rtt 0] [--targets sshfs,rmount,rmount-agent] [--reps 3]
 *        [--only cut,blackhole,long] [--outage-s 5] [--blackhole-s 30] [--rmount-timeout-s 10]
 *        [--limit-s 30] [--poll-ms 10] [--rmount-opts o,p] [--keep]
 *
 * Phases, per mount, each --reps times (median and max reported):
 *   cut, blackhole  the link is cut (or blackholed) for --outage-s, then restored; from that instant
 *                   a probe makes a new file on the server's disk and stats it through the mount,
 *                   a new name every --poll-ms, until one stat succeeds: restore → first success.
 *   long            a blackhole of --blackhole-s; meanwhile three loops, each one operation after
 *                   another: stat of a file the mount just looked at (cached), stat of a name made
 *                   on the server just before (uncached), readdir of a folder made there just
 *                   before (uncached). The longest single operation of each kind; an operation still
 *                   hanging --limit-s after the restore counts with its time so far, and its
 *                   probe is killed. Then whether the mount works again without a remount (a new
 *                   name stats, a write through the mount reaches the server) and how soon.
 *
 * Every filesystem call on a mount runs in a probe child (this file with `--probe SPEC`, killed by
 * its process group's PID), so a hung FUSE call can never hang the bench. Needs root (sshd logs in
 * as the current user), fuse3 and sshfs. Everything started here (sshd, proxies, mounts, sshfs,
 * rmount daemons, probes, and any process left on the sshd side) is stopped by PID, every mount
 * unmounted and the temporary folder removed, also on failure and Ctrl-C.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { BenchCleanup } from './cleanup.ts';
import { startLatencyProxy } from './latency-proxy.ts';
import { defaultAgentDist, listDistBuilds } from '../src/agent/resolve.ts';
import { startFaultProxy, type FaultProxy } from '../test/helpers/fault-proxy.ts';
import { fuseSkipReason, isMounted, mountFor, statusRecords } from '../test/helpers/mount.ts';
import { renderClientConfig, sshdSkipReason, startSshd, type AfterHook } from '../test/helpers/sshd.ts';

const THIS_FILE = fileURLToPath(import.meta.url);
const REPO = resolve(dirname(THIS_FILE), '..');

// ---------------------------------------------------------------------------------------------
// Probe: the child process that touches the mount

type OpKind = 'cached stat' | 'uncached stat' | 'uncached readdir';
const OP_KINDS: OpKind[] = ['cached stat', 'uncached stat', 'uncached readdir'];

/** What a probe does; `folder` is relative to both `mount` and `backing` (the same folder on the server). */
interface ProbeSpec {
  mode: 'first' | 'churn';
  mount: string;
  backing: string;
  folder: string;
  /** first: names it makes are `<prefix>-N`. */
  prefix: string;
  pollMs: number;
  /** first: give up this long after `go`. */
  limitMs: number;
  /** first: after the first success, also write a file through the mount and check it on the server. */
  write: boolean;
}

type ProbeMessage =
  | { type: 'ready' }
  | { type: 'start'; id: number; kind: OpKind }
  | { type: 'end'; id: number; kind: OpKind; ms: number; ok: boolean; code?: string }
  | { type: 'first'; ok: boolean; ms: number; attempts: number; code?: string; write?: boolean }
  | { type: 'done' }
  | { type: 'error'; message: string };

const errCode = (error: unknown): string => (error as NodeJS.ErrnoException).code ?? (error as Error).message;

/**
 * The probe's side: warm the folder (as a user looking at it before the outage), say `ready`, wait
 * for `go` on stdin, then either stat new names until one succeeds (first) or run the three
 * operation loops until `stop` (churn). Names are made on the server's disk right before they are
 * asked for, so no cache of the mount can know them: only the remote can answer.
 */
async function runProbe(spec: ProbeSpec): Promise<void> {
  const emit = (m: ProbeMessage): void => { process.stdout.write(`${JSON.stringify(m)}\n`); };
  const onMount = join(spec.mount, spec.folder);
  const onServer = join(spec.backing, spec.folder);
  const lines: string[] = [];
  let wake: (() => void) | undefined;
  let stopped = false;
  createInterface({ input: process.stdin }).on('line', line => {
    if (line.trim() === 'stop') stopped = true;
    lines.push(line.trim());
    wake?.();
  });
  const command = async (): Promise<string> => {
    while (lines.length === 0) await new Promise<void>(r => { wake = r; });
    return lines.shift()!;
  };

  // Retried: the mount may still be on its way back from the previous round.
  const warmUntil = performance.now() + 60_000;
  for (;;) {
    try {
      await readdir(onMount);
      await stat(join(onMount, 'known'));
      break;
    } catch (error) {
      if (performance.now() > warmUntil) {
        emit({ type: 'error', message: `warm-up of ${onMount}: ${errCode(error)}` });
        process.exit(1);
      }
      await sleep(100);
    }
  }
  emit({ type: 'ready' });
  while ((await command()) !== 'go') { /* only go starts the clock */ }
  const go = performance.now();

  if (spec.mode === 'first') {
    let code: string | undefined;
    for (let n = 0; ; n++) {
      const name = `${spec.prefix}-${n}`;
      writeFileSync(join(onServer, name), '');
      try {
        await stat(join(onMount, name));
        const ms = performance.now() - go;
        emit({ type: 'first', ok: true, ms, attempts: n + 1, ...(spec.write ? { write: await writeReachesServer(onMount, onServer) } : {}) });
        break;
      } catch (error) {
        code = errCode(error);
      }
      if (performance.now() - go > spec.limitMs) {
        emit({ type: 'first', ok: false, ms: performance.now() - go, attempts: n + 1, ...(code === undefined ? {} : { code }) });
        break;
      }
      await sleep(spec.pollMs);
    }
  } else {
    let nextId = 0;
    const loop = async (kind: OpKind): Promise<void> => {
      for (let n = 0; !stopped; n++) {
        const op = prepareOp(kind, onMount, onServer, n);
        const id = nextId++;
        emit({ type: 'start', id, kind });
        const t = performance.now();
        let ok = true;
        let code: string | undefined;
        try {
          await op();
        } catch (error) {
          ok = false;
          code = errCode(error);
        }
        emit({ type: 'end', id, kind, ms: performance.now() - t, ok, ...(code === undefined ? {} : { code }) });
        if (!stopped) await sleep(spec.pollMs);
      }
    };
    await Promise.all(OP_KINDS.map(loop));
  }
  emit({ type: 'done' });
  process.exit(0);
}

/** One operation of `kind`; what the uncached ones ask for is made on the server first. */
function prepareOp(kind: OpKind, onMount: string, onServer: string, n: number): () => Promise<unknown> {
  switch (kind) {
    case 'cached stat':
      return () => stat(join(onMount, 'known'));
    case 'uncached stat':
      writeFileSync(join(onServer, `s-${n}`), '');
      return () => stat(join(onMount, `s-${n}`));
    case 'uncached readdir':
      mkdirSync(join(onServer, `d-${n}`));
      writeFileSync(join(onServer, `d-${n}`, 'f'), '');
      return async () => {
        // A listing without the file is an answer from a cache, not from the remote.
        if (!(await readdir(join(onMount, `d-${n}`))).includes('f')) throw Object.assign(new Error('stale listing'), { code: 'STALE' });
      };
  }
}

async function writeReachesServer(onMount: string, onServer: string): Promise<boolean> {
  const text = `written through the mount after the restore ${Date.now()}\n`;
  try {
    await writeFile(join(onMount, 'written'), text);
    return readFileSync(join(onServer, 'written'), 'utf8') === text;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Options

type TargetId = 'sshfs' | 'rmount' | 'rmount-agent';
const TARGETS: TargetId[] = ['sshfs', 'rmount', 'rmount-agent'];
const TARGET_LABEL: Record<TargetId, string> = { sshfs: 'sshfs', rmount: 'rmount', 'rmount-agent': 'rmount agent' };
type Phase = 'cut' | 'blackhole' | 'long';
const PHASES: Phase[] = ['cut', 'blackhole', 'long'];
const SSHFS_OPTS = 'reconnect,ServerAliveInterval=15,ServerAliveCountMax=3';

interface Options {
  rtts: number[];
  targets: TargetId[];
  reps: number;
  only: Phase[];
  outageMs: number;
  blackholeMs: number;
  rmountTimeoutS: number;
  limitMs: number;
  pollMs: number;
  /** More `-o` options for both rmount targets. */
  rmountOpts: string[];
  keep: boolean;
}

const USAGE = 'usage: node --import tsx bench/reconnect.ts [--rtt 0] [--targets sshfs,rmount,rmount-agent] [--reps 3]\n'
  + '       [--only cut,blackhole,long] [--outage-s 5] [--blackhole-s 30] [--rmount-timeout-s 10]\n'
  + '       [--limit-s 30] [--poll-ms 10] [--rmount-opts o,p] [--keep]\n';

function usage(message: string): never {
  process.stderr.write(`reconnect: ${message}\n${USAGE}`);
  process.exit(2);
}

function parseOptions(argv: string[]): Options {
  const o: Options = { rtts: [0], targets: [...TARGETS], reps: 3, only: [...PHASES], outageMs: 5000, blackholeMs: 30_000, rmountTimeoutS: 10, limitMs: 30_000, pollMs: 10, rmountOpts: [], keep: false };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = (): string => argv[++i] ?? usage(`${flag} needs a value`);
    const num = (min: number): number => {
      const n = Number(value());
      if (!Number.isFinite(n) || n < min) usage(`${flag} expects a number >= ${min}`);
      return n;
    };
    const list = (): string[] => value().split(',').map(s => s.trim()).filter(s => s !== '');
    switch (flag) {
      case '--rtt': o.rtts = list().map(Number); break;
      case '--targets': o.targets = list() as TargetId[]; break;
      case '--reps': o.reps = Math.floor(num(1)); break;
      case '--only': o.only = list() as Phase[]; break;
      case '--outage-s': o.outageMs = num(0.1) * 1000; break;
      case '--blackhole-s': o.blackholeMs = num(1) * 1000; break;
      case '--rmount-timeout-s': o.rmountTimeoutS = num(1); break;
      case '--limit-s': o.limitMs = num(1) * 1000; break;
      case '--poll-ms': o.pollMs = num(1); break;
      case '--rmount-opts': o.rmountOpts = list(); break;
      case '--keep': o.keep = true; break;
      case '-h': case '--help': usage('help');
      // eslint-disable-next-line no-fallthrough
      default: usage(`unknown argument ${flag}`);
    }
  }
  if (o.rtts.length === 0 || o.rtts.some(r => !Number.isFinite(r) || r < 0)) usage('--rtt expects numbers >= 0');
  for (const t of o.targets) if (!TARGETS.includes(t)) usage(`unknown target ${t} (known: ${TARGETS.join(', ')})`);
  for (const p of o.only) if (!PHASES.includes(p)) usage(`unknown phase ${p} (known: ${PHASES.join(', ')})`);
  return o;
}

// ---------------------------------------------------------------------------------------------
// Processes

const running = new Set<ChildProcess>();

/** Kills a child we spawned detached (its process group is ours), by PID only. */
function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try { child.kill(signal); } catch { /* gone */ }
  }
}

/** Runs a tool in its own process group, killed after `timeoutMs`; resolves with its exit code (null: killed). */
function runTool(cmd: string, args: string[], timeoutMs: number): Promise<{ code: number | null; stderr: string }> {
  return new Promise((ok, fail) => {
    const child = spawn(cmd, args, { detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
    running.add(child);
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (s: string) => { stderr = (stderr + s).slice(-4096); });
    const timer = setTimeout(() => killGroup(child, 'SIGKILL'), timeoutMs);
    child.once('error', error => { clearTimeout(timer); running.delete(child); fail(error); });
    child.once('close', code => { clearTimeout(timer); running.delete(child); ok({ code, stderr }); });
  });
}

/** The parent's handle on a probe child: its messages, and the operations it has started but not finished. */
class Probe {
  /** Operations started and not ended, with the parent's clock when the start was reported. */
  readonly open = new Map<number, { kind: OpKind; at: number }>();
  readonly ended: Extract<ProbeMessage, { type: 'end' }>[] = [];
  readonly #backlog: ProbeMessage[] = [];
  readonly #listeners = new Set<() => void>();
  readonly #exited: Promise<void>;
  #closed = false;
  #stderr = '';

  private constructor(readonly child: ChildProcess) {
    // 'close', not 'exit': a probe exits right after its last line, which may still be in the pipe.
    this.#exited = new Promise(done => child.once('close', () => { this.#closed = true; running.delete(child); this.#notify(); done(); }));
    let partial = '';
    child.stdout!.setEncoding('utf8').on('data', (s: string) => {
      partial += s;
      let nl: number;
      while ((nl = partial.indexOf('\n')) >= 0) {
        const line = partial.slice(0, nl);
        partial = partial.slice(nl + 1);
        if (!line.startsWith('{')) continue;
        try {
          this.#receive(JSON.parse(line) as ProbeMessage);
        } catch { /* not one of ours: a warning from the runtime */ }
      }
    });
    child.stderr!.setEncoding('utf8').on('data', (s: string) => { this.#stderr = (this.#stderr + s).slice(-4096); });
    child.stdin!.on('error', () => {});
  }

  /** Starts a probe and resolves once it warmed its folder; throws (after killing it) if it could not. */
  static async start(spec: ProbeSpec): Promise<Probe> {
    const child = spawn(process.execPath, ['--import', 'tsx', THIS_FILE, '--probe', JSON.stringify(spec)], { cwd: REPO, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
    running.add(child);
    const probe = new Probe(child);
    const ready = await probe.next('ready', 90_000);
    if (ready === undefined) {
      const error = probe.#backlog.find(m => m.type === 'error');
      await probe.stop();
      throw new Error(`probe of ${spec.folder} not ready: ${error?.type === 'error' ? error.message : 'no answer'} ${probe.#stderr.trim().slice(-500)}`);
    }
    return probe;
  }

  #receive(m: ProbeMessage): void {
    if (m.type === 'start') this.open.set(m.id, { kind: m.kind, at: performance.now() });
    if (m.type === 'end') {
      this.open.delete(m.id);
      this.ended.push(m);
    }
    this.#backlog.push(m);
    this.#notify();
  }

  #notify(): void {
    for (const l of [...this.#listeners]) l();
  }

  get alive(): boolean {
    return !this.#closed;
  }

  send(line: string): void {
    this.child.stdin!.write(`${line}\n`);
  }

  /** The first message of `type` not taken yet, or undefined after `ms` or once the probe exited. */
  async next<T extends ProbeMessage['type']>(type: T, ms: number): Promise<Extract<ProbeMessage, { type: T }> | undefined> {
    const deadline = performance.now() + ms;
    for (;;) {
      const i = this.#backlog.findIndex(m => m.type === type);
      if (i >= 0) return this.#backlog.splice(i, 1)[0] as Extract<ProbeMessage, { type: T }>;
      const left = deadline - performance.now();
      if (left <= 0 || !this.alive) return undefined;
      await new Promise<void>(done => {
        const listener = (): void => { clearTimeout(timer); this.#listeners.delete(listener); done(); };
        const timer = setTimeout(listener, left);
        this.#listeners.add(listener);
      });
    }
  }

  /** Kills the probe's process group; a process stuck in a FUSE call is waited for at most 5 s. */
  async stop(): Promise<void> {
    killGroup(this.child, 'SIGKILL');
    await Promise.race([this.#exited, sleep(5000)]);
  }
}

/** PIDs of processes started through `sshdPort` (their SSH_CONNECTION names it): sftp-server, the agent. */
async function sessionProcesses(sshdPort: number): Promise<{ pid: number; cmd: string }[]> {
  const out: { pid: number; cmd: string }[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const env = await readFile(`/proc/${name}/environ`, 'latin1').catch(() => '');
    const conn = env.split('\0').find(v => v.startsWith('SSH_CONNECTION='));
    if (conn === undefined || !conn.trim().endsWith(` ${sshdPort}`)) continue;
    const cmd = (await readFile(`/proc/${name}/cmdline`, 'latin1').catch(() => '')).split('\0').join(' ').trim();
    out.push({ pid: Number(name), cmd });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Mounts

interface Ctx {
  o: Options;
  cleanup: BenchCleanup;
  dir: string;
  user: string;
  key: string;
  sshConfig: string;
  knownHosts: string;
}

interface Mounted {
  root: string;
  /** One line for the log about the mount after the run (rmount status), or ''. */
  describe(): Promise<string>;
  unmount(): Promise<void>;
}

/** An AfterHook whose callbacks join the bench's cleanup stack. */
const hookOf = (ctx: Ctx, name: string): AfterHook => ({ after: fn => { ctx.cleanup.add(name, fn); } });

async function detach(mountpoint: string): Promise<void> {
  if (!(await isMounted(mountpoint))) return;
  const r = await runTool('fusermount3', ['-u', mountpoint], 20_000);
  if (r.code === 0 && !(await isMounted(mountpoint))) return;
  await runTool('fusermount3', ['-u', '-z', mountpoint], 20_000);
}

async function mountSshfs(ctx: Ctx, backing: string, port: number, tag: string): Promise<Mounted> {
  const mountpoint = join(ctx.dir, `mnt-${tag}`);
  await mkdir(mountpoint);
  const args = ['-f', '-F', ctx.sshConfig, '-p', String(port), '-o', SSHFS_OPTS, `${ctx.user}@127.0.0.1:${backing}`, mountpoint];
  // Not in `running`: killed before it is unmounted, sshfs would leave a dead mount behind.
  const child = spawn('sshfs', args, { detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (s: string) => { stderr = (stderr + s).slice(-8192); });
  const exited = new Promise<void>(done => child.once('exit', () => done()));
  // Memoised: the cleanup stack (on a signal) and the target loop may both ask.
  let stopping: Promise<void> | undefined;
  const stopOnce = async (): Promise<void> => {
    await detach(mountpoint);
    if (child.exitCode === null && child.signalCode === null) {
      killGroup(child, 'SIGTERM');
      await Promise.race([exited, sleep(5000)]);
      killGroup(child, 'SIGKILL');
      await Promise.race([exited, sleep(5000)]);
    }
  };
  const stop = (): Promise<void> => (stopping ??= stopOnce());
  const forget = ctx.cleanup.add(`sshfs ${mountpoint}`, stop);
  try {
    const deadline = Date.now() + 30_000;
    while (!(await isMounted(mountpoint))) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error('not mounted');
      await sleep(25);
    }
    // sshfs shows in mountinfo before its SSH session is up; a stat waits for it.
    const r = await runTool('stat', [mountpoint], 60_000);
    if (r.code !== 0) throw new Error(`stat of the fresh mount failed: ${r.stderr.trim()}`);
  } catch (error) {
    await stop();
    forget();
    throw new Error(`sshfs: ${(error as Error).message}: ${stderr.trim()}`);
  }
  return { root: mountpoint, describe: async () => (stderr.trim() === '' ? '' : `sshfs said: ${stderr.trim().split('\n').slice(-3).join(' | ')}`), unmount: async () => { forget(); await stop(); } };
}

async function mountRmount(ctx: Ctx, backing: string, port: number, agent: 'yes' | 'no', tag: string): Promise<Mounted> {
  const m = await mountFor(hookOf(ctx, `rmount ${tag}`), `ssh://${ctx.user}@127.0.0.1:${port}${backing}`, {
    o: [`agent=${agent}`, `timeout=${ctx.o.rmountTimeoutS}`, ...ctx.o.rmountOpts],
    extraArgs: ['-F', ctx.sshConfig, '--known-hosts', ctx.knownHosts, '-i', ctx.key],
  });
  const runtimeDir = m.env.RMOUNT_RUNTIME_DIR!;
  return {
    root: m.mountpoint,
    describe: async () => {
      // Kept in the bench folder (--keep), for a look at what the daemon did during the outages.
      for (const name of await readdir(runtimeDir).catch(() => [] as string[])) {
        if (name.endsWith('.log')) await copyFile(join(runtimeDir, name), join(ctx.dir, `daemon-${tag}.log`)).catch(() => undefined);
      }
      try {
        const s = (await statusRecords(m.env)).find(r => r.mountpoint === m.mountpoint) as unknown as (Record<string, unknown> | undefined);
        if (s === undefined) return 'rmount status does not list the mount';
        const last = s.lastError as { code?: string } | undefined;
        return `rmount status: ${String(s.health)}, ${String(s.reconnects ?? 0)} reconnects${last?.code === undefined ? '' : `, last error ${last.code}`}`;
      } catch (error) {
        return `rmount status failed: ${(error as Error).message}`;
      }
    },
    unmount: () => m.unmount(),
  };
}

// ---------------------------------------------------------------------------------------------
// Phases

/** Longest operation of one kind in one round; `hung` when it had not ended when its probe was killed. */
interface Longest { ms: number; hung: boolean }

interface LongRound {
  longest: Partial<Record<OpKind, Longest>>;
  /** Per kind: how its operations ended, e.g. "3 ok, 2 EIO" (for the log). */
  outcomes: Partial<Record<OpKind, string>>;
  ok: number;
  failed: number;
  /** Restore → first successful uncached stat, ms; Infinity when none within the limit. */
  firstMs: number;
  /** The stat and a write through the mount both worked after the restore. */
  works: boolean;
}

interface TargetResult {
  cut: number[];
  blackhole: number[];
  long: LongRound[];
  notes: string[];
}

const log = (s: string): void => void process.stderr.write(`${s}\n`);

/** The link goes down (`fault`) for outageMs; from the restore a probe stats new names until one answers. */
async function restoreRound(ctx: Ctx, m: Mounted, backing: string, proxy: FaultProxy, fault: 'cut' | 'blackhole', folder: string): Promise<number> {
  const { o } = ctx;
  const probe = await Probe.start({ mode: 'first', mount: m.root, backing, folder, prefix: 'f', pollMs: o.pollMs, limitMs: o.limitMs, write: false });
  try {
    if (fault === 'cut') proxy.cut();
    else proxy.blackhole();
    await sleep(o.outageMs);
    proxy.restore();
    probe.send('go');
    const r = await probe.next('first', o.limitMs + 15_000);
    if (r === undefined) return Infinity;
    if (!r.ok) log(`    no success within ${o.limitMs / 1000} s (${r.attempts} tries, last ${r.code ?? '?'})`);
    return r.ok ? r.ms : Infinity;
  } finally {
    proxy.restore();
    await probe.stop();
  }
}

/** A blackhole of blackholeMs with the three operation loops running, then the check after the restore. */
async function longRound(ctx: Ctx, m: Mounted, backing: string, proxy: FaultProxy, folder: string): Promise<LongRound> {
  const { o } = ctx;
  const churn = await Probe.start({ mode: 'churn', mount: m.root, backing, folder, prefix: '', pollMs: o.pollMs, limitMs: o.limitMs, write: false });
  let after: Probe | undefined;
  try {
    after = await Probe.start({ mode: 'first', mount: m.root, backing, folder, prefix: 'a', pollMs: o.pollMs, limitMs: o.limitMs, write: true });
    proxy.blackhole();
    churn.send('go');
    await sleep(o.blackholeMs);
    proxy.restore();
    churn.send('stop');
    after.send('go');
    const first = await after.next('first', o.limitMs + 15_000);
    // Operations that hung through the outage normally end right after the restore; give them the limit.
    await churn.next('done', o.limitMs);
    const killedAt = performance.now();
    const longest: Partial<Record<OpKind, Longest>> = {};
    const consider = (kind: OpKind, ms: number, hung: boolean): void => {
      const l = longest[kind];
      if (l === undefined || ms > l.ms) longest[kind] = { ms, hung };
    };
    for (const e of churn.ended) consider(e.kind, e.ms, false);
    for (const { kind, at } of churn.open.values()) consider(kind, killedAt - at, true);
    const outcomes: Partial<Record<OpKind, string>> = {};
    for (const kind of OP_KINDS) {
      const counts = new Map<string, number>();
      for (const e of churn.ended) if (e.kind === kind) counts.set(e.ok ? 'ok' : e.code ?? 'failed', (counts.get(e.ok ? 'ok' : e.code ?? 'failed') ?? 0) + 1);
      for (const op of churn.open.values()) if (op.kind === kind) counts.set('hanging', (counts.get('hanging') ?? 0) + 1);
      outcomes[kind] = [...counts].map(([what, n]) => `${n} ${what}`).join(', ');
    }
    return {
      longest,
      outcomes,
      ok: churn.ended.filter(e => e.ok).length,
      failed: churn.ended.filter(e => !e.ok).length + churn.open.size,
      firstMs: first?.ok === true ? first.ms : Infinity,
      works: first?.ok === true && first.write === true,
    };
  } finally {
    proxy.restore();
    await churn.stop();
    await after?.stop();
  }
}

async function runTarget(ctx: Ctx, target: TargetId, rtt: number, upstreamPort: number, sshdHostKey: string, knownLines: string[]): Promise<TargetResult> {
  const { o } = ctx;
  const result: TargetResult = { cut: [], blackhole: [], long: [], notes: [] };
  const tag = `${target}-rtt${rtt}`;
  const proxy = await startFaultProxy(hookOf(ctx, `fault proxy ${tag}`), upstreamPort);
  knownLines.push(`[127.0.0.1]:${proxy.port} ${sshdHostKey}`);
  await writeFile(ctx.knownHosts, `${knownLines.join('\n')}\n`);
  const backing = join(ctx.dir, `back-${tag}`);
  // Every round's folder exists before the mount, so none is a name the mount must discover.
  for (const phase of o.only) {
    for (let rep = 1; rep <= o.reps; rep++) {
      await mkdir(join(backing, `${phase}-${rep}`), { recursive: true });
      await writeFile(join(backing, `${phase}-${rep}`, 'known'), 'known\n');
    }
  }
  const mounted = target === 'sshfs'
    ? await mountSshfs(ctx, backing, proxy.port, tag)
    : await mountRmount(ctx, backing, proxy.port, target === 'rmount-agent' ? 'yes' : 'no', tag);
  log(`[RTT ${rtt} ms] ${TARGET_LABEL[target]} mounted at ${mounted.root} through fault proxy 127.0.0.1:${proxy.port}`);
  try {
    for (const phase of o.only) {
      for (let rep = 1; rep <= o.reps && !ctx.cleanup.interrupted; rep++) {
        const folder = `${phase}-${rep}`;
        try {
          if (phase === 'long') {
            const r = await longRound(ctx, mounted, backing, proxy, folder);
            result.long.push(r);
            log(`  ${TARGET_LABEL[target]} long blackhole #${rep}: longest ${OP_KINDS.map(k => `${k} ${fmtLongest(r.longest[k])} (${r.outcomes[k] ?? '–'})`).join(', ')}; after the restore ${fmtMs(r.firstMs)}, works ${r.works ? 'yes' : 'no'}`);
          } else {
            const ms = await restoreRound(ctx, mounted, backing, proxy, phase, folder);
            result[phase].push(ms);
            log(`  ${TARGET_LABEL[target]} ${phase} #${rep}: restore → first stat ${fmtMs(ms)}`);
          }
        } catch (error) {
          result.notes.push(`${phase} #${rep}: ${(error as Error).message.split('\n')[0]}`);
          log(`  ${TARGET_LABEL[target]} ${phase} #${rep} failed: ${(error as Error).message.split('\n')[0]}`);
        }
      }
    }
  } finally {
    proxy.restore();
    const about = await mounted.describe();
    if (about !== '') {
      log(`  ${about}`);
      result.notes.push(about);
    }
    await mounted.unmount();
    await proxy.close();
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// Results

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? Number.NaN : s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
const max = (xs: number[]): number => (xs.length === 0 ? Number.NaN : Math.max(...xs));

function fmtMs(ms: number): string {
  if (Number.isNaN(ms)) return '–';
  if (!Number.isFinite(ms)) return 'never';
  return ms < 10_000 ? `${(ms / 1000).toFixed(3)} s` : `${(ms / 1000).toFixed(1)} s`;
}
const fmtLongest = (l: Longest | undefined): string => (l === undefined ? '–' : `${fmtMs(l.ms)}${l.hung ? ' (still hanging, killed)' : ''}`);

interface Row {
  name: string;
  /** Samples per target (ms) for median/max, or a ready-made cell. */
  cells: Partial<Record<TargetId, number[] | string>>;
}

function cellText(c: number[] | string | undefined): string {
  if (c === undefined) return '–';
  if (typeof c === 'string') return c;
  if (c.length === 0) return '–';
  if (c.length === 1) return fmtMs(c[0]!);
  return `${fmtMs(median(c))} (max ${fmtMs(max(c))})`;
}

function ratioText(a: number[] | string | undefined, b: number[] | string | undefined): string {
  if (!Array.isArray(a) || !Array.isArray(b) || a.length === 0 || b.length === 0) return '–';
  const x = median(a);
  const y = median(b);
  if (!Number.isFinite(x) || !Number.isFinite(y) || y <= 0) return '–';
  return `${(x / y).toFixed(x / y < 0.1 ? 3 : 2)}×`;
}

function buildRows(o: Options, results: Map<TargetId, TargetResult>): Row[] {
  const rows: Row[] = [];
  const per = (f: (r: TargetResult) => number[] | string): Row['cells'] => {
    const cells: Row['cells'] = {};
    for (const [t, r] of results) cells[t] = f(r);
    return cells;
  };
  const outage = `${o.outageMs / 1000} s`;
  const hole = `${o.blackholeMs / 1000} s`;
  if (o.only.includes('cut')) rows.push({ name: `restore → first successful stat, after a ${outage} cut`, cells: per(r => r.cut) });
  if (o.only.includes('blackhole')) rows.push({ name: `restore → first successful stat, after a ${outage} blackhole`, cells: per(r => r.blackhole) });
  if (o.only.includes('long')) {
    const longestOf = (round: LongRound): number => Math.max(...OP_KINDS.map(k => round.longest[k]?.ms ?? 0));
    rows.push({ name: `longest single operation during a ${hole} blackhole`, cells: per(r => r.long.map(longestOf)) });
    for (const k of OP_KINDS) {
      rows.push({
        name: `… longest ${k}`,
        cells: per(r => {
          const xs = r.long.map(round => round.longest[k]?.ms).filter((x): x is number => x !== undefined);
          const hung = r.long.filter(round => round.longest[k]?.hung === true).length;
          return hung === 0 ? xs : `${cellText(xs)}, ${hung}× still hanging`;
        }),
      });
    }
    rows.push({ name: '… operations during it (ok / failed)', cells: per(r => `${r.long.reduce((n, x) => n + x.ok, 0)} / ${r.long.reduce((n, x) => n + x.failed, 0)}`) });
    rows.push({ name: `restore → first successful stat, after the ${hole} blackhole`, cells: per(r => r.long.map(x => x.firstMs)) });
    rows.push({ name: 'works after the restore without a remount (stat + write)', cells: per(r => `${r.long.filter(x => x.works).length}/${r.long.length}`) });
  }
  return rows;
}

function ratioColumns(targets: TargetId[]): [string, TargetId, TargetId][] {
  const out: [string, TargetId, TargetId][] = [];
  if (targets.includes('rmount') && targets.includes('sshfs')) out.push(['rmount/sshfs', 'rmount', 'sshfs']);
  if (targets.includes('rmount-agent') && targets.includes('sshfs')) out.push(['agent/sshfs', 'rmount-agent', 'sshfs']);
  return out;
}

function renderText(rows: Row[], targets: TargetId[]): string {
  const ratios = ratioColumns(targets);
  const head = ['measure', ...targets.map(t => TARGET_LABEL[t]), ...ratios.map(([l]) => l)];
  const body = rows.map(r => [r.name, ...targets.map(t => cellText(r.cells[t])), ...ratios.map(([, a, b]) => ratioText(r.cells[a], r.cells[b]))]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map(b => b[i]!.length)));
  const line = (cols: string[]): string => cols.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(head), line(widths.map(w => '-'.repeat(w))), ...body.map(line)].join('\n');
}

function renderMarkdown(rows: Row[], targets: TargetId[]): string {
  const ratios = ratioColumns(targets);
  const head = ['measure', ...targets.map(t => TARGET_LABEL[t]), ...ratios.map(([l]) => l.replace('/', ' / '))];
  return [
    `| ${head.join(' | ')} |`,
    `|${head.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`,
    ...rows.map(r => `| ${[r.name, ...targets.map(t => cellText(r.cells[t])), ...ratios.map(([, a, b]) => ratioText(r.cells[a], r.cells[b]))].join(' | ')} |`),
  ].join('\n');
}

/** The issue's goals for the rmount targets, one line each: met or not, with the numbers. */
function goals(o: Options, results: Map<TargetId, TargetResult>): string[] {
  const out: string[] = [];
  const limit = (o.rmountTimeoutS + 1) * 1000;
  for (const [t, r] of results) {
    if (t === 'sshfs') continue;
    for (const phase of ['cut', 'blackhole'] as const) {
      if (r[phase].length === 0) continue;
      const worst = max(r[phase]);
      out.push(`${TARGET_LABEL[t]}, ${phase}: restore → first success < 1 s: ${worst < 1000 ? 'met' : median(r[phase]) < 1000 ? 'met by the median, not by the max' : 'NOT met'} (median ${fmtMs(median(r[phase]))}, max ${fmtMs(worst)})`);
    }
    if (r.long.length > 0) {
      const worst = max(r.long.map(x => Math.max(...OP_KINDS.map(k => x.longest[k]?.ms ?? 0))));
      out.push(`${TARGET_LABEL[t]}, long blackhole: longest operation ≤ timeout + 1 s = ${o.rmountTimeoutS + 1} s: ${worst <= limit ? 'met' : 'NOT met'} (max ${fmtMs(worst)}); works after the restore without a remount: ${r.long.filter(x => x.works).length}/${r.long.length}`);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Main

async function main(cleanup: BenchCleanup): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  if (process.getuid?.() !== 0) usage('needs root (the test sshd logs in as the current user)');
  const skip = fuseSkipReason() || sshdSkipReason();
  if (skip !== false) usage(skip);
  if (o.targets.includes('sshfs') && (await runTool('sh', ['-c', 'command -v sshfs'], 10_000)).code !== 0) usage('sshfs is not installed (or leave it out of --targets)');
  if (o.targets.includes('rmount-agent') && !listDistBuilds(defaultAgentDist()).some(b => b.os === 'linux')) {
    usage(`no agent build in ${defaultAgentDist()} (npm run build:agent), or leave rmount-agent out of --targets`);
  }

  const started = new Date();
  const dir = await mkdtemp(join(tmpdir(), 'rmount-reconnect-'));
  cleanup.add('temporary folder', async () => {
    if (o.keep) return void log(`kept ${dir}`);
    // Never remove through a mount: anything still mounted below dir stays, with a warning.
    const info = await readFile('/proc/self/mountinfo', 'utf8');
    if (info.includes(` ${dir}/`)) return void log(`not removing ${dir}: something is still mounted below it`);
    await rm(dir, { recursive: true, force: true });
  });
  const user = userInfo().username;
  const sshd = await startSshd({ after: fn => { cleanup.add('sshd', fn); } });
  // After the mounts are gone and before sshd stops: whatever still runs through our sshd
  // (a session kept for a reconnect that never came) is ours to stop.
  cleanup.add('processes left on the sshd side', async () => {
    for (const { pid } of await sessionProcesses(sshd.port)) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }
  });
  const knownHosts = join(dir, 'known_hosts');
  const sshConfig = join(dir, 'ssh_config');
  // No Port: each mount is pointed at its own fault proxy. The same keepalives for both clients;
  // rmount would pick 15 × 3 by itself, sshfs gets them on its command line too.
  await writeFile(sshConfig, `${renderClientConfig({ hosts: '127.0.0.1', user, identityFile: sshd.userKey, knownHostsFile: knownHosts })}  ServerAliveInterval 15\n  ServerAliveCountMax 3\n`);
  const ctx: Ctx = { o, cleanup, dir, user, key: sshd.userKey, sshConfig, knownHosts };
  const knownLines: string[] = [];

  log(`reconnect: ${started.toISOString()}, ${cpus().length} CPUs, load ${loadavg().map(l => l.toFixed(2)).join(' ')}; sshd 127.0.0.1:${sshd.port}; folder ${dir}`);
  log(`rmount: -o timeout=${o.rmountTimeoutS}; sshfs: -o ${SSHFS_OPTS}; outage ${o.outageMs / 1000} s, long blackhole ${o.blackholeMs / 1000} s, ${o.reps} reps, limit ${o.limitMs / 1000} s, poll ${o.pollMs} ms`);

  const tables: { rtt: number; rows: Row[]; goals: string[]; notes: string[] }[] = [];
  for (const rtt of o.rtts) {
    let upstream = sshd.port;
    let closeLatency: (() => Promise<void>) | undefined;
    if (rtt > 0) {
      const latency = await startLatencyProxy({ targetPort: sshd.port, delayMs: rtt / 2 });
      const forget = cleanup.add('latency proxy', () => latency.close());
      closeLatency = async () => { forget(); await latency.close(); };
      upstream = latency.port;
      log(`RTT ${rtt} ms: fault proxies → latency proxy 127.0.0.1:${latency.port} (${rtt / 2} ms each way) → sshd`);
    }
    const results = new Map<TargetId, TargetResult>();
    const notes: string[] = [];
    for (const target of o.targets) {
      if (cleanup.interrupted) return;
      try {
        const r = await runTarget(ctx, target, rtt, upstream, sshd.hostPublicKey, knownLines);
        results.set(target, r);
        notes.push(...r.notes.map(n => `${TARGET_LABEL[target]}: ${n}`));
      } catch (error) {
        log(`  ${TARGET_LABEL[target]} at RTT ${rtt} ms failed: ${(error as Error).message}`);
        notes.push(`${TARGET_LABEL[target]}: ${(error as Error).message.split('\n')[0]}`);
      }
    }
    await closeLatency?.();
    const rows = buildRows(o, results);
    const g = goals(o, results);
    tables.push({ rtt, rows, goals: g, notes });
    process.stdout.write(`\nRTT ${rtt} ms (${rtt === 0 ? 'fault proxy → sshd' : `fault proxy → latency proxy, ${rtt / 2} ms each way → sshd`}); median (max) of ${o.reps}\n`);
    process.stdout.write(`${renderText(rows, o.targets)}\n`);
    for (const line of g) process.stdout.write(`  goal: ${line}\n`);
  }

  // The mounts are gone; a clean unmount should have ended every session on the server.
  let left = await sessionProcesses(sshd.port);
  for (let i = 0; i < 50 && left.length > 0; i++) {
    await sleep(100);
    left = await sessionProcesses(sshd.port);
  }
  const leftLine = left.length === 0
    ? 'processes left on the sshd side after every unmount: none'
    : `processes left on the sshd side 5 s after every unmount (killed at cleanup): ${left.map(p => `${p.pid} ${p.cmd}`).join('; ')}`;
  process.stdout.write(`\n${leftLine}\n`);

  process.stdout.write(`\n## reconnect, ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC, load at the end ${loadavg().map(l => l.toFixed(2)).join(' ')}\n\n`);
  process.stdout.write(`\`node --import tsx bench/reconnect.ts ${process.argv.slice(2).join(' ')}\`\n`);
  for (const t of tables) {
    process.stdout.write(`\n### RTT ${t.rtt} ms, median (max) of ${o.reps}\n\n${renderMarkdown(t.rows, o.targets)}\n\n`);
    for (const line of t.goals) process.stdout.write(`- ${line}\n`);
    for (const line of t.notes) process.stdout.write(`- note: ${line}\n`);
  }
  process.stdout.write(`- ${leftLine}\n`);
}

if (process.argv[2] === '--probe') {
  await runProbe(JSON.parse(process.argv[3] ?? '{}') as ProbeSpec);
} else {
  // Probes first: they may hold a mount busy, which would keep it from unmounting.
  const cleanup = new BenchCleanup(() => { for (const child of running) killGroup(child, 'SIGKILL'); });
  try {
    await main(cleanup);
  } catch (error) {
    process.stderr.write(`reconnect: ${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = 1;
  } finally {
    for (const child of running) killGroup(child, 'SIGKILL');
    await cleanup.runAll();
  }
  process.exit(process.exitCode ?? 0);
}
