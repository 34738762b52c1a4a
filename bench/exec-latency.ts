/**
 * Latency of a remote command from inside a mount, against OpenSSH, at RTT 0 and 20 ms: a path
 * stub `true` (sh shim → build/rmount-exec → the mount's control socket → `run` on rmount-agent's
 * process host over the mount's one connection), the same through the Node CLI, next to `ssh
 * host true` (a new connection each time) and `ssh -S ctl host true` (OpenSSH ControlMaster, the
 * fastest SSH peer), interleaved round after round in the same run. With `--docker`, also a
 * container mount of a private dockerd next to `docker exec NAME true`.
 *
 *   npm run build:ts && node --import tsx bench/exec-latency.ts [--rtt 0,20] [--rounds 30] [--docker]
 *
 * The Node rows call bin/rmount, which runs lib/ (build it first, or they measure tsx's start-up);
 * the mount itself and every other CLI call run from the sources. build/rmount-exec is built
 * when missing (needs Go). Needs root, sshd and FUSE.
 *
 * This file also holds the rig the process-host benches share (bench/sessions.ts,
 * bench/forward.ts): sshd, a latency proxy per RTT, ControlMaster, mounts whose host connection
 * is up, the wait for a quiet machine, and cleanup of all of it by PID.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { appendFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { BenchCleanup } from './cleanup.ts';
import { ControlSessionHost } from '../src/control/session-client.ts';
import { readRecord } from '../src/mount/registry.ts';
import { runCli, type CliResult } from '../test/helpers/cli.ts';
import { dockerdSkipReason, startDockerd } from '../test/helpers/dockerd.ts';
import { fuseSkipReason, mountFor } from '../test/helpers/mount.ts';
import { renderClientConfig, sshdSkipReason, startSshd, type AfterHook, type SshdFixture, type SshdOptions } from '../test/helpers/sshd.ts';

const execFileP = promisify(execFile);
export const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin', 'rmount');
export const EXEC_CLIENT = join(ROOT, 'build', 'rmount-exec');
const TSX = import.meta.resolve('tsx');
/** The Host alias of every ssh_config the rig writes. */
export const ALIAS = 'bench-host';

const T0 = performance.now();
export const log = (s: string): void => void process.stderr.write(`[${((performance.now() - T0) / 1000).toFixed(0).padStart(4)} s] ${s}\n`);

// ---------------------------------------------------------------------------------------------
// Numbers

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function pct(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor((s.length * p) / 100))]!;
}

export const ms = (n: number): string => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2));
export const ratio = (a: number, b: number): string => `${(a / b).toFixed(2)}×`;
export const mibs = (bytes: number, msTaken: number): number => bytes / 1048576 / (msTaken / 1000);
export const loadNow = (): string => loadavg().map(l => l.toFixed(2)).join(' ');

// ---------------------------------------------------------------------------------------------
// Arguments

/**
 * `--flag value` pairs and bare boolean flags, checked against `defaults` (a boolean default
 * makes a bare flag). Exits 2 with `usage` on anything else.
 */
export function benchArgs<T extends Record<string, string | boolean>>(argv: string[], defaults: T, usage: string): T {
  const out: Record<string, string | boolean> = { ...defaults };
  const fail = (m: string): never => {
    process.stderr.write(`${m}\n${usage}\n`);
    process.exit(2);
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const key = flag.replace(/^--/, '');
    if (flag === '-h' || flag === '--help') fail('');
    if (!flag.startsWith('--') || !(key in defaults)) fail(`unknown argument ${flag}`);
    if (typeof defaults[key] === 'boolean') out[key] = true;
    else out[key] = argv[++i] ?? fail(`${flag} needs a value`);
  }
  return out as T;
}

/** A comma list of numbers ≥ 0; one value per RTT, or one for all. */
export function numberList(text: string, what: string): number[] {
  const xs = text.split(',').map(s => Number(s.trim()));
  if (xs.length === 0 || xs.some(x => !Number.isFinite(x) || x < 0)) {
    process.stderr.write(`${what} expects numbers >= 0, got "${text}"\n`);
    process.exit(2);
  }
  return xs;
}

export const perRtt = (xs: readonly number[], i: number): number => xs[Math.min(i, xs.length - 1)]!;

/** `p`, or undefined once `limitMs` passed; the timer is cleared, so it never holds the process open. */
export async function within<T>(p: Promise<T>, limitMs: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>(resolve => { timer = setTimeout(() => resolve(undefined), limitMs); });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------------------------
// Processes

/** A child this bench started; stopped by its own PID (TERM, then KILL after 3 s). */
export interface Child {
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
  stop(): Promise<void>;
}

export function startChild(cleanup: BenchCleanup, name: string, cmd: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; stdout?: 'pipe' | 'ignore' } = {}): Child {
  const child = spawn(cmd, args, { cwd: options.cwd ?? ROOT, env: options.env ?? process.env, stdio: ['ignore', options.stdout ?? 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => { stderr = (stderr + s).slice(-4096); });
  child.on('error', error => { stderr += String(error); });
  const exited = new Promise<void>(done => child.once('close', () => done()));
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => (stopping ??= (async () => {
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    if (await within(exited.then(() => true), 3000)) return;
    child.kill('SIGKILL');
    await exited;
  })());
  const forget = cleanup.add(name, stop);
  void exited.then(() => { if (child.exitCode !== 0 && child.signalCode === null && stderr.trim() !== '') log(`${name} exited ${child.exitCode}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`); });
  return { child, exited, stop: async () => { await stop(); forget(); } };
}

/** Wall time of one run of `argv` to its exit, in ms; throws when it does not exit 0. */
export function timeRun(argv: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn(argv[0]!, argv.slice(1), { cwd, env, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (b: Buffer) => { err += b; });
    child.on('error', reject);
    child.on('close', code => {
      const took = performance.now() - start;
      if (code === 0) resolve(took);
      else reject(new Error(`${argv.join(' ')} exited ${code}: ${err.trim()}`));
    });
  });
}

/** Runs `argv` with its stdout read here: ms to the first byte, ms to the exit, bytes read. */
export function timeOutput(argv: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): Promise<{ firstMs: number; totalMs: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn(argv[0]!, argv.slice(1), { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let first = NaN;
    let bytes = 0;
    let err = '';
    child.stdout.on('data', (b: Buffer) => {
      if (bytes === 0) first = performance.now() - start;
      bytes += b.length;
    });
    child.stderr.on('data', (b: Buffer) => { err = (err + b.toString()).slice(-2000); });
    child.on('error', reject);
    child.on('close', code => {
      const totalMs = performance.now() - start;
      if (code === 0) resolve({ firstMs: first, totalMs, bytes });
      else reject(new Error(`${argv.join(' ')} exited ${code}: ${err.trim()}`));
    });
  });
}

// ---------------------------------------------------------------------------------------------
// A quiet machine

/** PIDs of dockerd processes started by rmount's tests and benches (their command lines name rmount folders). */
async function testDockerds(): Promise<string[]> {
  try {
    const { stdout } = await execFileP('pgrep', ['-f', 'dockerd.*rmount']);
    return stdout.split('\n').filter(s => s.trim() !== '');
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

/**
 * Waits (up to `limitMs`) until the 1-minute load is below 3 and no test dockerd runs, so that a
 * run does not measure another engineer's Docker tests. Resolves with a line for the report.
 */
export async function waitQuiet(cleanup: BenchCleanup, limitMs = 20 * 60_000): Promise<string> {
  const started = Date.now();
  for (let said = false; ; said = true) {
    const load = loadavg()[0]!;
    const dockerds = await testDockerds();
    if (load < 3 && dockerds.length === 0) {
      const waited = (Date.now() - started) / 1000;
      return `load ${loadNow()} at the start${waited >= 1 ? ` (after waiting ${waited.toFixed(0)} s for a quiet machine)` : ''}`;
    }
    if (Date.now() - started > limitMs || cleanup.interrupted) {
      return `load ${loadNow()} at the start; NOT quiet after ${(limitMs / 60_000).toFixed(0)} min${dockerds.length > 0 ? `, test dockerd running (${dockerds.join(', ')})` : ''}`;
    }
    if (!said) log(`waiting for a quiet machine: load ${loadNow()}${dockerds.length > 0 ? `, test dockerd ${dockerds.join(', ')}` : ''}`);
    await sleep(15_000);
  }
}

// ---------------------------------------------------------------------------------------------
// The rig: sshd, links (RTT), mounts whose process-host connection is up

export interface Rig {
  readonly cleanup: BenchCleanup;
  readonly dir: string;
  readonly sshd: SshdFixture;
  readonly user: string;
  readonly knownHosts: string;
  /** In the names of the sessions this run starts, so its cleanup removes those and no others. */
  readonly tag: string;
  /** Ports of every sshd of this run (the sweep's mark of what ran through them). */
  readonly sshdPorts: number[];
  /** An AfterHook whose callbacks join the cleanup stack under `name`. */
  hook(name: string): AfterHook;
}

interface ProcInfo { pid: number; ppid: number; argv: string[]; sshConnection: string | undefined }

async function processes(): Promise<ProcInfo[]> {
  const out: ProcInfo[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, 'latin1').catch(() => '');
    // The command name in stat may hold spaces and parentheses: the ppid follows the last ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    const argv = (await readFile(`/proc/${name}/cmdline`, 'latin1').catch(() => '')).split('\0').filter(s => s !== '');
    const env = await readFile(`/proc/${name}/environ`, 'latin1').catch(() => '');
    out.push({ pid: Number(name), ppid, argv, sshConnection: env.split('\0').find(v => v.startsWith('SSH_CONNECTION='))?.slice(15) });
  }
  return out;
}

// Installed as ~/.cache/rmount/agent-VERSION (or a dist build named rmount-agent_…), run as `… host`.
const isHost = (p: ProcInfo): boolean => p.argv[1] === 'host' && /rmount|agent/.test(p.argv[0] ?? '');

/** Whether to stop the process host this run started: not while it holds another run's sessions. */
const hostState = { foreignSessions: false, unknown: false };

/**
 * Removes what is left on the "remote" (this machine) of what went through our sshd: processes
 * whose SSH_CONNECTION names its port. The process host is shared by every client of this uid
 * (one socket per user), so a host we started is stopped only when it holds no session but ours,
 * and its children (other runs' sessions) are left to it.
 */
async function sweepRemote(rig: Rig, hostsBefore: Set<number>): Promise<void> {
  const all = await processes();
  const ours = all.filter(p => rig.sshdPorts.some(port => p.sshConnection?.trim().endsWith(` ${port}`) === true) && p.pid !== process.pid);
  const hosts = ours.filter(isHost).filter(p => !hostsBefore.has(p.pid));
  const underHost = new Set<number>(hosts.map(h => h.pid));
  for (let grew = true; grew;) {
    grew = false;
    for (const p of all) if (!underHost.has(p.pid) && underHost.has(p.ppid)) { underHost.add(p.pid); grew = true; }
  }
  for (const p of ours) {
    if (underHost.has(p.pid) || isHost(p)) continue;
    try { process.kill(p.pid, 'SIGKILL'); } catch { /* gone */ }
  }
  for (const h of hosts) {
    if (hostState.foreignSessions || hostState.unknown) {
      log(`left the process host ${h.pid} running: ${hostState.unknown ? 'its sessions could not be listed' : 'it holds sessions of another run'} (it ends by itself a minute after its last client once it holds none)`);
      continue;
    }
    try { process.kill(h.pid, 'SIGTERM'); } catch { /* gone */ }
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && existsSync(`/proc/${h.pid}`)) await sleep(50);
    try { process.kill(h.pid, 'SIGKILL'); } catch { /* gone */ }
  }
}

/** A temporary folder, sshd, and the sweep of what ran through it; everything on `cleanup`. */
export async function startRig(cleanup: BenchCleanup, prefix: string): Promise<Rig> {
  const skip = fuseSkipReason() || sshdSkipReason();
  if (skip !== false) throw new Error(`cannot run here: ${skip}`);
  const dir = await mkdtemp(join(tmpdir(), `rmount-bench-${prefix}-`));
  cleanup.add('temporary folder', async () => {
    // Never remove through a mount: anything still mounted below dir stays, with a warning.
    if ((await readFile('/proc/self/mountinfo', 'utf8')).includes(` ${dir}/`)) return void log(`not removing ${dir}: something is still mounted below it`);
    await rm(dir, { recursive: true, force: true });
  });
  const hostsBefore = new Set((await processes()).filter(isHost).map(p => p.pid));
  const sshd = await startSshd({ after: fn => { cleanup.add('sshd', fn); } });
  const knownHosts = join(dir, 'known_hosts');
  await writeFile(knownHosts, `[127.0.0.1]:${sshd.port} ${sshd.hostPublicKey}\n`);
  const rig: Rig = {
    cleanup, dir, sshd, user: userInfo().username, knownHosts, tag: `bench${randomBytes(3).toString('hex')}`, sshdPorts: [sshd.port],
    hook: name => ({ after: fn => { cleanup.add(name, fn); } }),
  };
  // Registered before any mount, so it runs after every unmount and before sshd stops.
  cleanup.add('processes left on the sshd side', () => sweepRemote(rig, hostsBefore));
  log(`${prefix}: ${new Date().toISOString()}, ${cpus().length} CPUs, load ${loadNow()}; sshd 127.0.0.1:${sshd.port}; folder ${dir}`);
  return rig;
}

/** One more sshd for the run (e.g. with TCP forwarding refused); swept and stopped like the first. */
export async function addSshd(rig: Rig, options: SshdOptions): Promise<SshdFixture> {
  const sshd = await startSshd(rig.hook('sshd'), options);
  rig.sshdPorts.push(sshd.port);
  await appendFile(rig.knownHosts, `[127.0.0.1]:${sshd.port} ${sshd.hostPublicKey}\n`);
  return sshd;
}

/** The way to sshd at one RTT: the port to dial (sshd or a latency proxy), an ssh_config, ControlMaster. */
export interface Link {
  readonly rtt: number;
  readonly port: number;
  readonly sshConfig: string;
  /** `-F ssh_config`: with ALIAS, the arguments for OpenSSH to reach sshd at this RTT. */
  readonly ssh: string[];
  /** The ControlMaster socket (`ssh -S ctl ALIAS …`). */
  readonly ctl: string;
  /** Its login key. */
  readonly key: string;
  /** Closes the master and the proxy (also done by the cleanup stack). */
  close(): Promise<void>;
}

export async function openLink(rig: Rig, rtt: number, sshd: SshdFixture = rig.sshd): Promise<Link> {
  const { cleanup } = rig;
  let port = sshd.port;
  const name = sshd === rig.sshd ? `rtt${rtt}` : `${sshd.port}-rtt${rtt}`;
  let proxy: Child | undefined;
  if (rtt > 0) {
    // A process of its own: the bench's own loop (a throughput client) must not delay the proxy's timers.
    proxy = startChild(cleanup, `latency proxy ${rtt} ms`, process.execPath, ['--import', TSX, join(ROOT, 'bench', 'latency-proxy.ts'),
      '--target', `127.0.0.1:${sshd.port}`, '--delay-ms', String(rtt / 2)], { stdout: 'pipe' });
    const line = await within(Promise.race([
      new Promise<string>(resolve => createInterface({ input: proxy!.child.stdout! }).once('line', resolve)),
      proxy.exited.then(() => ''),
    ]), 30_000) ?? '';
    port = (JSON.parse(line === '' ? '{}' : line) as { port?: number }).port ?? NaN;
    if (!Number.isInteger(port)) throw new Error('the latency proxy did not say its port');
    await appendFile(rig.knownHosts, `[127.0.0.1]:${port} ${sshd.hostPublicKey}\n`);
  }
  const sshConfig = join(rig.dir, `ssh_config-${name}`);
  await writeFile(sshConfig, renderClientConfig({ hosts: `${ALIAS} 127.0.0.1`, port, user: rig.user, identityFile: sshd.userKey, knownHostsFile: rig.knownHosts }));
  const ssh = ['-F', sshConfig];
  const ctl = join(rig.dir, `ctl-${name}`);
  // In the foreground (no -f), so that its PID is ours to stop.
  const master = startChild(cleanup, `ssh ControlMaster ${rtt} ms`, 'ssh', [...ssh, '-M', '-S', ctl, '-o', 'ControlPersist=no', '-N', ALIAS]);
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (await execFileP('ssh', [...ssh, '-S', ctl, '-O', 'check', ALIAS]).then(() => true, () => false)) break;
    if (master.child.exitCode !== null || Date.now() > deadline) throw new Error('the ssh ControlMaster did not start');
    await sleep(100);
  }
  return {
    rtt, port, sshConfig, ssh, ctl, key: sshd.userKey,
    close: async () => {
      await master.stop();
      await proxy?.stop();
    },
  };
}

/** A mount of sshd (or a container) whose connection to the agent's process host is up. */
export interface HostMount {
  readonly mountpoint: string;
  /** The runtime folder's environment, for CLI calls about this mount. */
  readonly env: NodeJS.ProcessEnv;
  /** Its control socket. */
  readonly socket: string;
  /** The mounted folder on the remote (a local folder: the remote is this machine). */
  readonly backing: string;
  /** How long the exec client needed until a command ran under the host, and how many tries. */
  readonly hostWait: { ms: number; tries: number };
  /** The CLI from the sources, in the mount's runtime folder. */
  cli(args: string[], timeoutMs?: number): Promise<CliResult>;
  unmount(): Promise<void>;
}

/** True when a command run in `cwd` through the exec client is a child of the process host. */
export async function runsUnderHost(m: Pick<HostMount, 'mountpoint' | 'env'>): Promise<boolean> {
  const { stdout } = await execFileP(EXEC_CLIENT, ['--', 'sh', '-c', 'tr "\\0" " " < /proc/$PPID/cmdline'], { cwd: m.mountpoint, env: { ...process.env, ...m.env } }).catch(() => ({ stdout: '' }));
  return ` ${stdout} `.includes(' host ');
}

/**
 * Mounts `dest` (`ssh://…` by default: the link's port) and waits until a command run inside goes
 * through the process host: the host connection is made at mount start, and until it is up an
 * exec takes an SSH channel instead. A cleanup before the unmount removes this run's sessions
 * (rmount session rm --force) and notes whether the host holds anybody else's.
 */
export async function mountWithHost(rig: Rig, link: Link | undefined, name: string, dest?: string): Promise<HostMount> {
  const backing = join(rig.dir, `back-${name}`);
  await mkdir(backing, { recursive: true });
  const m = await mountFor(rig.hook(`mount ${name}`), dest ?? `ssh://${rig.user}@127.0.0.1:${link!.port}${backing}`, {
    extraArgs: link === undefined ? [] : ['-F', link.sshConfig, '--known-hosts', rig.knownHosts, '-i', link.key],
  });
  const socket = (await readRecord(m.env.RMOUNT_RUNTIME_DIR!, m.mountpoint))?.socket;
  if (socket === undefined) throw new Error(`the mount ${m.mountpoint} has no control socket in its record`);
  const cli = (args: string[], timeoutMs = 120_000): Promise<CliResult> => runCli(args, { env: m.env, cwd: m.mountpoint, timeoutMs });
  let dropping: Promise<void> | undefined;
  const dropSessions = (): Promise<void> => (dropping ??= (async () => {
    const host = new ControlSessionHost(socket);
    try {
      for (const s of await host.list()) {
        if (!s.name.startsWith(rig.tag)) { hostState.foreignSessions = true; continue; }
        const r = await cli(['session', 'rm', '--force', s.name, '--in', m.mountpoint], 60_000);
        if (r.code !== 0) log(`rmount session rm --force ${s.name}: ${r.stderr.trim()}`);
      }
    } catch (error) {
      hostState.unknown = true;
      log(`could not list the sessions of ${name}: ${(error as Error).message}`);
    }
  })());
  const forgetSessions = rig.cleanup.add(`sessions of ${name}`, dropSessions);
  const unmount = async (): Promise<void> => {
    await dropSessions();
    forgetSessions();
    await m.unmount();
  };
  const started = performance.now();
  let tries = 0;
  for (;;) {
    tries++;
    if (await runsUnderHost(m)) break;
    if (performance.now() - started > 60_000) throw new Error(`${name}: commands still do not run through the agent's process host after 60 s`);
    await sleep(100);
  }
  return { mountpoint: m.mountpoint, env: m.env, socket, backing, hostWait: { ms: performance.now() - started, tries }, cli, unmount };
}

/** Builds build/rmount-exec when it is missing; throws when it cannot (Go missing). */
export async function ensureExecClient(): Promise<void> {
  if (existsSync(EXEC_CLIENT)) return;
  await execFileP('bash', [join(ROOT, 'scripts', 'build-exec-client.sh')], { cwd: ROOT });
}

// ---------------------------------------------------------------------------------------------
// exec-latency

interface Case {
  name: string;
  argv: string[];
  cwd: string;
  env?: NodeJS.ProcessEnv;
  peer?: 'master' | 'docker';
  /** Run untimed right before `argv`: the timed run then starts while the mount still closes the previous one. */
  prime?: string[];
}

/**
 * Runs the cases interleaved, `rounds` times after one warm-up each; per case the times in ms.
 * The order matters: a command on a mount right after another one there can wait for the
 * previous one's close (see the back-to-back rows), so the cases alternate mount and non-mount.
 */
async function interleave(cleanup: BenchCleanup, cases: Case[], rounds: number): Promise<number[][]> {
  const times = cases.map(() => [] as number[]);
  const once = async (c: Case): Promise<number> => {
    if (c.prime !== undefined) await timeRun(c.prime, c.cwd, c.env);
    return timeRun(c.argv, c.cwd, c.env);
  };
  for (const c of cases) await once(c).catch(e => { throw new Error(`${c.name}: ${(e as Error).message}`); });
  for (let round = 0; round < rounds && !cleanup.interrupted; round++) {
    for (const [i, c] of cases.entries()) times[i]!.push(await once(c));
  }
  return times;
}

function table(cases: Case[], times: number[][], peer: 'master' | 'docker', peerLabel: string): string {
  const ref = median(times[cases.findIndex(c => c.peer === peer)]!);
  const rows = [`| case | median ms | p90 ms | × ${peerLabel} |`, '|---|---:|---:|---:|'];
  for (const [i, c] of cases.entries()) rows.push(`| ${c.name} | ${ms(median(times[i]!))} | ${ms(pct(times[i]!, 90))} | ${(median(times[i]!) / ref).toFixed(2)} |`);
  return rows.join('\n');
}

/** Writes `true` stubs for the Node CLI and for rmount-exec into two folders; checks lib/ has the native branch. */
async function writeStubs(m: HostMount, dir: string): Promise<{ node: string; native: string }> {
  const node = join(dir, 'stubs-node');
  const native = join(dir, 'stubs-native');
  await mkdir(node, { recursive: true });
  await mkdir(native, { recursive: true });
  const env = { ...process.env, ...m.env };
  // Written by the compiled CLI (bin/rmount) as a user's stubs would be; RMOUNT_EXEC_CLIENT='' keeps the native branch out.
  await execFileP(process.execPath, [BIN, 'stubs', m.mountpoint, '--dir', node, 'true'], { env: { ...env, RMOUNT_EXEC_CLIENT: '' } });
  await execFileP(process.execPath, [BIN, 'stubs', m.mountpoint, '--dir', native, 'true'], { env: { ...env, RMOUNT_EXEC_CLIENT: EXEC_CLIENT } });
  if (!(await readFile(join(native, 'true'), 'utf8')).includes('rmount_client=')) {
    throw new Error('the stub has no native client branch: lib/ predates it (npm run build:ts)');
  }
  return { node: join(node, 'true'), native: join(native, 'true') };
}

async function execLatency(cleanup: BenchCleanup): Promise<void> {
  const o = benchArgs(process.argv.slice(2), { rtt: '0,20', rounds: process.env.BENCH_ROUNDS ?? '30', docker: false },
    'usage: node --import tsx bench/exec-latency.ts [--rtt 0,20] [--rounds 30] [--docker]');
  const rtts = numberList(o.rtt, '--rtt');
  const rounds = Math.max(1, Math.floor(numberList(o.rounds, '--rounds')[0]!));
  if (o.docker) {
    const skip = dockerdSkipReason();
    if (skip !== false) throw new Error(`--docker: ${skip}`);
  }
  if (!existsSync(join(ROOT, 'lib', 'cli', 'run.js'))) log('exec-latency: lib/ is not built; the Node rows run the sources through tsx (npm run build:ts)');
  await ensureExecClient();
  const rig = await startRig(cleanup, 'exec');
  const out: string[] = [`## exec-latency, ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, ${cpus().length} CPUs`, '',
    `\`node --import tsx bench/exec-latency.ts ${process.argv.slice(2).join(' ')}\``];

  for (const rtt of rtts) {
    if (cleanup.interrupted) return;
    const link = await openLink(rig, rtt);
    const m = await mountWithHost(rig, link, `rtt${rtt}`);
    const stubs = await writeStubs(m, join(rig.dir, `stubs-rtt${rtt}`));
    const menv = { ...process.env, ...m.env };
    // Run in this order (mount and non-mount alternate, so each mount row but the back-to-back
    // one starts well after the previous command on the mount ended).
    const cases: Case[] = [
      { name: '**stub true via rmount-exec (agent host)**', argv: [stubs.native], cwd: m.mountpoint, env: menv },
      { name: 'ssh host true (new connection)', argv: ['ssh', ...link.ssh, ALIAS, 'true'], cwd: rig.dir },
      { name: 'rmount-exec -- true (agent host, no shim)', argv: [EXEC_CLIENT, '--', 'true'], cwd: m.mountpoint, env: menv },
      { name: 'ssh -S ctl host true (ControlMaster)', argv: ['ssh', ...link.ssh, '-S', link.ctl, ALIAS, 'true'], cwd: rig.dir, peer: 'master' },
      { name: 'stub true right after another one (back-to-back)', argv: [stubs.native], prime: [stubs.native], cwd: m.mountpoint, env: menv },
      // Node's start-up (~100 ms) keeps these two apart from the mount command before them.
      { name: 'stub true via the Node CLI (agent host)', argv: [stubs.node], cwd: m.mountpoint, env: menv },
      { name: 'rmount exec -- true (Node CLI, agent host)', argv: [process.execPath, BIN, 'exec', '--', 'true'], cwd: m.mountpoint, env: menv },
      { name: 'node -e 0 (Node start-up alone)', argv: [process.execPath, '-e', '0'], cwd: rig.dir },
    ];
    const quiet = await waitQuiet(cleanup);
    log(`RTT ${rtt} ms: ${quiet}; host up ${ms(m.hostWait.ms)} ms after the mount returned (${m.hostWait.tries} tries)`);
    const times = await interleave(cleanup, cases, rounds);
    const still = await runsUnderHost(m);
    out.push('', `### RTT ${rtt} ms (${rtt === 0 ? 'direct to sshd' : `latency proxy, ${rtt / 2} ms each way`}), ${rounds} rounds interleaved; ${quiet}, ${loadNow()} at the end`, '',
      table(cases, times, 'master', 'ControlMaster'), '',
      `- host path: the first command ran under the process host ${ms(m.hostWait.ms)} ms after \`rmount mount\` returned (${m.hostWait.tries} tries); after the rounds: ${still ? 'still under the host' : '**no longer under the host**'}`);
    const master = median(times[cases.findIndex(c => c.peer === 'master')]!);
    const stub = median(times[0]!) / master;
    const b2b = median(times[cases.findIndex(c => c.prime !== undefined)]!) / master;
    out.push(`- goal stub true ≤ 0.2× ControlMaster: ${stub <= 0.2 ? 'met' : 'not met'} (${stub.toFixed(2)}×; back-to-back ${b2b.toFixed(2)}×)`);
    await m.unmount();
    await link.close();
  }

  if (o.docker && !cleanup.interrupted) {
    // Before our own dockerd exists: it would match the wait's pattern too.
    const quiet = await waitQuiet(cleanup);
    const d = await startDockerd(rig.hook('private dockerd'));
    // The mount helper runs the CLI with this process's environment: it reaches our engine so.
    Object.assign(process.env, d.env);
    const backing = join(rig.dir, 'docker-work');
    await mkdir(backing);
    const name = await d.run({ args: ['-v', `${backing}:/work`, '-w', '/work'] });
    const m = await mountWithHost(rig, undefined, 'docker', `docker://${name}/work`);
    const stubs = await writeStubs(m, join(rig.dir, 'stubs-docker'));
    const menv = { ...process.env, ...m.env };
    const cases: Case[] = [
      { name: '**stub true via rmount-exec (container mount, agent host)**', argv: [stubs.native], cwd: m.mountpoint, env: menv },
      { name: `docker exec ${name} true`, argv: ['docker', 'exec', name, 'true'], cwd: rig.dir, peer: 'docker' },
      { name: 'rmount-exec -- true (container mount, no shim)', argv: [EXEC_CLIENT, '--', 'true'], cwd: m.mountpoint, env: menv },
      { name: 'stub true right after another one (back-to-back)', argv: [stubs.native], prime: [stubs.native], cwd: m.mountpoint, env: menv },
    ];
    log(`docker: ${quiet}; host up ${ms(m.hostWait.ms)} ms after the mount returned`);
    const times = await interleave(cleanup, cases, rounds);
    const still = await runsUnderHost(m);
    out.push('', `### Container (private dockerd, busybox, \`docker://${name}/work\`), ${rounds} rounds interleaved; ${quiet}, ${loadNow()} at the end`, '',
      table(cases, times, 'docker', 'docker exec'), '',
      `- host path after the rounds: ${still ? 'still under the host' : '**no longer under the host**'}`);
    const stub = median(times[0]!) / median(times[1]!);
    const b2b = median(times[3]!) / median(times[1]!);
    out.push(`- goal stub true ≤ 1.2× docker exec: ${stub <= 1.2 ? 'met' : 'not met'} (${stub.toFixed(2)}×; back-to-back ${b2b.toFixed(2)}×)`);
    await m.unmount();
  }
  process.stdout.write(`${out.join('\n')}\n`);
}

/** Runs `main` with a cleanup stack that also runs on failure and on a signal; exits 1 on failure. */
export async function runBench(main: (cleanup: BenchCleanup) => Promise<void>): Promise<void> {
  const cleanup = new BenchCleanup();
  let failed = false;
  try {
    await main(cleanup);
  } catch (error) {
    failed = true;
    log(`failed: ${(error as Error).stack ?? String(error)}`);
  } finally {
    await cleanup.runAll();
  }
  if (failed) process.exitCode = 1;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await runBench(execLatency);
