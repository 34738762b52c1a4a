/**
 * Freshness: how long after a change made on the remote (a write into the backing folder on the
 * server's disk, outside any mount) the change is visible through a mount, polled with async fs
 * calls. Mounts compared, each of its own backing folder on one throwaway OpenSSH sshd
 * (test/helpers/sshd.ts, 127.0.0.1, RTT 0):
 *
 *   - rmount with the agent (`-o agent=yes -o cache_timeout=600`): the mount subscribes to remote
 *     changes (watch) and invalidates its caches, so the 10-minute lifetime should not show;
 *   - rmount over the sftp subsystem (`-o agent=no`) with its default cache lifetimes;
 *   - sshfs 3.x with its defaults.
 *
 *   node --import tsx bench/freshness.ts [--trials 20] [--limit-s 30] [--poll-ms 10] [--only agent,sftp,sshfs]
 *
 * One trial: warm the mount (read content.txt, stat size.txt, list list/), wait 100 ms, then at
 * t0 change three things on the server side at once — content.txt rewritten with new bytes of the
 * same length (content), size.txt appended to (size), a new file in list/ (listing) — and poll each
 * through the mount (readFile / stat / readdir, then 10 ms pause) until it shows the change, or give
 * up after --limit-s (counted as "> 30 s"). The caches were filled just before the change, so for
 * cache-lifetime mounts this is close to the full lifetime (a change at a random moment would see
 * about half). Prints median, p90, min and max per mount and kind, and a markdown table.
 *
 * Needs root (sshd), fuse3, sshfs. Everything started here (sshd, sshfs, rmount daemons, mounts) is
 * stopped by PID / unmounted, and the temporary folder removed, also on failure and Ctrl-C.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFile, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { BenchCleanup } from './cleanup.ts';
import { processAlive } from '../src/mount/registry.ts';
import { startSshd, type SshdFixture } from '../test/helpers/sshd.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, '..');

type MountId = 'agent' | 'sftp' | 'sshfs';
const MOUNTS: MountId[] = ['agent', 'sftp', 'sshfs'];
const LABEL: Record<MountId, string> = {
  agent: 'rmount agent (watch), cache_timeout=600',
  sftp: 'rmount sftp subsystem, default cache',
  sshfs: 'sshfs, defaults',
};
type Kind = 'content' | 'size' | 'listing';
const KINDS: Kind[] = ['content', 'size', 'listing'];

// ---------------------------------------------------------------------------------------------
// Options

interface Options { trials: number; limitMs: number; pollMs: number; only: MountId[] }

function usage(message: string): never {
  process.stderr.write(`freshness: ${message}\nusage: node --import tsx bench/freshness.ts [--trials 20] [--limit-s 30] [--poll-ms 10] [--only agent,sftp,sshfs]\n`);
  process.exit(2);
}

function parseOptions(argv: string[]): Options {
  const o: Options = { trials: 20, limitMs: 30_000, pollMs: 10, only: [...MOUNTS] };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = (): string => argv[++i] ?? usage(`${flag} needs a value`);
    const num = (): number => {
      const n = Number(value());
      if (!Number.isFinite(n) || n <= 0) usage(`${flag} expects a number > 0`);
      return n;
    };
    switch (flag) {
      case '--trials': o.trials = Math.floor(num()); break;
      case '--limit-s': o.limitMs = num() * 1000; break;
      case '--poll-ms': o.pollMs = num(); break;
      case '--only': o.only = value().split(',').map(s => s.trim()) as MountId[]; break;
      default: usage(`unknown argument ${flag}`);
    }
  }
  for (const m of o.only) if (!MOUNTS.includes(m)) usage(`unknown mount ${m} (known: ${MOUNTS.join(', ')})`);
  return o;
}

// ---------------------------------------------------------------------------------------------
// Cleanup stack: run once, on exit, failure or a signal.

const cleanup = new BenchCleanup();
const onCleanup = (name: string, fn: () => Promise<void> | void): void => { cleanup.add(name, fn); };

// ---------------------------------------------------------------------------------------------
// Processes and mounts

function runCmd(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env, timeoutMs = 60_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((ok, fail) => {
    const child = spawn(cmd, args, { env, cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => { stdout += s; });
    child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr = (stderr + s).slice(-8192); });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', e => { clearTimeout(timer); fail(e); });
    child.once('close', code => { clearTimeout(timer); ok({ code, stdout, stderr }); });
  });
}

async function isMounted(path: string): Promise<boolean> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  return text.split('\n').some(l => l.split(' ')[4]?.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))) === path);
}

async function fusermountU(path: string): Promise<void> {
  if (!(await isMounted(path))) return;
  const r = await runCmd('fusermount3', ['-u', path], process.env, 20_000);
  if (r.code !== 0 || (await isMounted(path))) await runCmd('fusermount3', ['-u', '-z', path], process.env, 20_000);
}

interface Ctx { dir: string; sshd: SshdFixture; rmountEnv: NodeJS.ProcessEnv }

const rmountCli = (ctx: Ctx, args: string[], timeoutMs = 60_000): ReturnType<typeof runCmd> =>
  runCmd(process.execPath, ['--import', 'tsx', join(REPO, 'src', 'cli', 'run.ts'), ...args], ctx.rmountEnv, timeoutMs);

async function mountRmount(ctx: Ctx, backing: string, mountpoint: string, opts: string[]): Promise<void> {
  let pid: number | undefined;
  onCleanup(`rmount ${mountpoint}`, async () => {
    if (await isMounted(mountpoint)) await rmountCli(ctx, ['unmount', mountpoint], 30_000);
    await fusermountU(mountpoint);
    if (pid !== undefined && processAlive(pid)) {
      process.kill(pid, 'SIGTERM');
      for (let i = 0; i < 50 && processAlive(pid); i++) await sleep(100);
      if (processAlive(pid)) process.kill(pid, 'SIGKILL');
    }
  });
  const dest = `ssh://${ctx.sshd.user}@127.0.0.1:${ctx.sshd.port}${backing}`;
  const r = await rmountCli(ctx, ['mount', dest, mountpoint, '-F', ctx.sshd.sshConfigFile, '--known-hosts', ctx.sshd.knownHostsFile, '-i', ctx.sshd.userKey, ...opts.flatMap(o => ['-o', o])]);
  // The daemon's PID from its record in our private runtime folder, to stop it even if unmount cannot.
  const runDir = ctx.rmountEnv.RMOUNT_RUNTIME_DIR!;
  for (const name of await readdir(runDir).catch(() => [] as string[])) {
    if (!name.endsWith('.json')) continue;
    const rec = JSON.parse(await readFile(join(runDir, name), 'utf8')) as { mountpoint?: string; pid?: number };
    if (rec.mountpoint === mountpoint && typeof rec.pid === 'number') pid = rec.pid;
  }
  if (r.code !== 0 || !(await isMounted(mountpoint))) throw new Error(`rmount mount ${opts.join(',')} failed: ${r.stderr.trim().slice(-1500)}`);
}

async function mountSshfs(ctx: Ctx, backing: string, mountpoint: string): Promise<void> {
  const child: ChildProcess = spawn('sshfs', ['-f', '-F', ctx.sshd.sshConfigFile, `${ctx.sshd.user}@127.0.0.1:${backing}`, mountpoint], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (s: string) => { stderr = (stderr + s).slice(-4096); });
  const exited = new Promise<void>(done => child.once('exit', () => done()));
  onCleanup(`sshfs ${mountpoint}`, async () => {
    await fusermountU(mountpoint);
    if (child.exitCode === null && child.signalCode === null) {
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      child.kill('SIGTERM');
      await exited;
      clearTimeout(t);
    }
  });
  const deadline = Date.now() + 30_000;
  while (!(await isMounted(mountpoint))) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`sshfs did not mount: ${stderr.trim()}`);
    await sleep(25);
  }
  await stat(mountpoint); // the SSH session is up
}

// ---------------------------------------------------------------------------------------------
// Trials

/** Milliseconds until `visible()` is true, polling every pollMs, or Infinity after limitMs. */
async function pollUntil(t0: number, limitMs: number, pollMs: number, visible: () => Promise<boolean>): Promise<number> {
  for (;;) {
    let ok = false;
    try {
      ok = await visible();
    } catch { /* e.g. a file read half-written: not visible yet */ }
    const elapsed = performance.now() - t0;
    if (ok) return elapsed;
    if (elapsed > limitMs || cleanup.interrupted) return Infinity;
    await sleep(pollMs);
  }
}

const pad = (text: string): string => text.padEnd(63, '.') + '\n';

async function trial(backing: string, root: string, n: number, o: Options): Promise<Record<Kind, number>> {
  // Warm: what a user or tool looked at just before the change.
  await readFile(join(root, 'content.txt'), 'utf8');
  await stat(join(root, 'size.txt'));
  await readdir(join(root, 'list'));
  await sleep(100);
  const content = pad(`trial ${n}`);
  const sizeBefore = (await stat(join(backing, 'size.txt'))).size;
  const newName = `new-${n}.txt`;
  const t0 = performance.now();
  await Promise.all([
    writeFile(join(backing, 'content.txt'), content),
    appendFile(join(backing, 'size.txt'), 'more\n'),
    writeFile(join(backing, 'list', newName), 'x\n'),
  ]);
  const [c, s, l] = await Promise.all([
    pollUntil(t0, o.limitMs, o.pollMs, async () => (await readFile(join(root, 'content.txt'), 'utf8')) === content),
    pollUntil(t0, o.limitMs, o.pollMs, async () => (await stat(join(root, 'size.txt'))).size === sizeBefore + 5),
    pollUntil(t0, o.limitMs, o.pollMs, async () => (await readdir(join(root, 'list'))).includes(newName)),
  ]);
  return { content: c, size: s, listing: l };
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * (sorted.length - 1) + 0.5))]!;
}
function median(sorted: number[]): number {
  const m = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[m]! : (sorted[m - 1]! + sorted[m]!) / 2;
}
function fmtMs(ms: number, limitMs: number): string {
  if (!Number.isFinite(ms)) return `> ${limitMs / 1000} s`;
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`;
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  if (process.getuid?.() !== 0) usage('needs root (the test sshd)');
  const started = new Date();
  const dir = await mkdtemp(join(tmpdir(), 'rmount-fresh-'));
  onCleanup('temporary folder', async () => {
    const info = await readFile('/proc/self/mountinfo', 'utf8');
    if (info.includes(` ${dir}/`)) return void process.stderr.write(`not removing ${dir}: something is still mounted below it\n`);
    await rm(dir, { recursive: true, force: true });
  });
  const sshd = await startSshd({ after: fn => { onCleanup('sshd', fn); } });
  const ctx: Ctx = { dir, sshd, rmountEnv: { ...process.env, RMOUNT_RUNTIME_DIR: join(dir, 'rmount-run') } };
  process.stderr.write(`freshness: ${started.toISOString()}, ${cpus().length} CPUs, load ${loadavg().map(l => l.toFixed(2)).join(' ')}; user ${userInfo().username}, sshd 127.0.0.1:${sshd.port}\n`);

  const results = new Map<MountId, Record<Kind, number[]>>();
  for (const id of o.only) {
    if (cleanup.interrupted) return;
    const backing = join(dir, `back-${id}`);
    const mountpoint = join(dir, `mnt-${id}`);
    await mkdir(join(backing, 'list'), { recursive: true });
    await mkdir(mountpoint);
    await writeFile(join(backing, 'content.txt'), pad('initial'));
    await writeFile(join(backing, 'size.txt'), 'start\n');
    if (id === 'sshfs') await mountSshfs(ctx, backing, mountpoint);
    else await mountRmount(ctx, backing, mountpoint, id === 'agent' ? ['agent=yes', 'cache_timeout=600'] : ['agent=no']);
    if (id !== 'sshfs') {
      const st = await rmountCli(ctx, ['status']);
      const line = st.stdout.split('\n').find(l => l.includes(mountpoint)) ?? st.stdout.trim();
      process.stderr.write(`  rmount status: ${line.trim()}\n`);
    }
    const samples: Record<Kind, number[]> = { content: [], size: [], listing: [] };
    for (let n = 1; n <= o.trials && !cleanup.interrupted; n++) {
      const r = await trial(backing, mountpoint, n, o);
      for (const k of KINDS) samples[k].push(r[k]);
      process.stderr.write(`  ${id} trial ${n}: ${KINDS.map(k => `${k} ${fmtMs(r[k], o.limitMs)}`).join(', ')}\n`);
    }
    results.set(id, samples);
  }

  const lines = [
    `freshness, ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC, RTT 0 (direct to the test sshd), ${o.trials} trials, poll every ${o.pollMs} ms, limit ${o.limitMs / 1000} s; load at the end ${loadavg().map(l => l.toFixed(2)).join(' ')}`,
    '',
    '| mount | change | median | p90 | min | max | gave up |',
    '|---|---|---:|---:|---:|---:|---:|',
  ];
  for (const [id, samples] of results) {
    for (const k of KINDS) {
      const sorted = [...samples[k]].sort((a, b) => a - b);
      const f = (x: number): string => fmtMs(x, o.limitMs);
      lines.push(`| ${LABEL[id]} | ${k} | ${f(median(sorted))} | ${f(quantile(sorted, 0.9))} | ${f(sorted[0]!)} | ${f(sorted[sorted.length - 1]!)} | ${sorted.filter(x => !Number.isFinite(x)).length}/${sorted.length} |`);
    }
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

try {
  await main();
} catch (error) {
  process.stderr.write(`freshness: ${(error as Error).stack ?? String(error)}\n`);
  process.exitCode = 1;
} finally {
  await cleanup.runAll();
}
process.exit(process.exitCode ?? 0);
