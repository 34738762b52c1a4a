/**
 * Mount start: from starting the mount command until a `stat` of the fresh mount answers, for
 * rmount over SSH, rmount of a local folder (the embedded default) and sshfs on the same
 * throwaway sshd, with `node -e 0` as the floor of one Node start, at RTT 0 and behind
 * bench/latency-proxy.ts. Targets are interleaved round by round, so load from elsewhere falls
 * on all of them alike.
 *
 *   node --import tsx bench/mount-start.ts [--rtt 0,20] [--rounds 10] [--base REV] [--tsx]
 *
 * rmount runs as users run it: bin/rmount over lib/, compiled from the working tree's src/ into
 * a temporary folder (so a stale lib/ is never measured). `--base REV` also compiles src/ of a
 * git revision (git archive) and measures it in the same rounds, for before/after numbers;
 * `--tsx` adds rmount from the sources through tsx, as the tests and mount-workloads run it.
 * sshfs runs in its background mode, which connects before it mounts and returns, like
 * `rmount mount`. Needs root (sshd logs in as the current user), fuse3 and sshfs.
 *
 * Everything this starts (sshd, the proxy, sshfs, rmount daemons) is stopped by PID and every
 * mount unmounted, also on failure and Ctrl-C; the temporary folder is removed.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { BenchCleanup } from './cleanup.ts';
import { startLatencyProxy } from './latency-proxy.ts';
import { processAlive, readRecord } from '../src/mount/registry.ts';
import { findMount } from '../src/system/mountinfo.ts';
import { fuseSkipReason } from '../test/helpers/mount.ts';
import { renderClientConfig, sshdSkipReason, startSshd } from '../test/helpers/sshd.ts';

const execFileP = promisify(execFile);
const REPO = fileURLToPath(new URL('..', import.meta.url));
const TSX = import.meta.resolve('tsx');

interface Options {
  rtts: number[];
  rounds: number;
  base?: string;
  tsx: boolean;
}

function usage(message: string): never {
  process.stderr.write(`mount-start: ${message}\nusage: node --import tsx bench/mount-start.ts [--rtt 0,20] [--rounds 10] [--base REV] [--tsx]\n`);
  process.exit(2);
}

function parseOptions(argv: string[]): Options {
  const o: Options = { rtts: [0, 20], rounds: 10, tsx: false };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = (): string => argv[++i] ?? usage(`${flag} needs a value`);
    switch (flag) {
      case '--rtt': o.rtts = value().split(',').map(Number); break;
      case '--rounds': o.rounds = Number(value()); break;
      case '--base': o.base = value(); break;
      case '--tsx': o.tsx = true; break;
      default: usage(`unknown argument ${flag}`);
    }
  }
  if (o.rtts.some(r => !Number.isFinite(r) || r < 0) || !(o.rounds >= 1)) usage('--rtt takes numbers >= 0, --rounds a number >= 1');
  return o;
}

const cleanup = new BenchCleanup();
const log = (s: string): void => void process.stderr.write(`${s}\n`);

/** Runs a command to its end; resolves with its exit code and what it wrote to stderr. */
function run(file: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr = (stderr + s).slice(-4096); });
    child.once('error', reject);
    child.once('close', code => resolve({ code, stderr }));
  });
}

/**
 * bin/rmount over lib/ compiled from `src` (a folder holding src/), in a new folder under `dir`
 * that links the checkout's node_modules, native builds and agent builds.
 */
async function compile(dir: string, name: string, src: string): Promise<string> {
  const root = join(dir, name);
  await mkdir(root);
  // tsc emits even when it reports type errors (in files someone else is editing); lib/ is what counts.
  await run(process.execPath, [join(REPO, 'node_modules/typescript/bin/tsc'), '-p', join(src, 'tsconfig.build.json'), '--outDir', join(root, 'lib')]);
  if (!existsSync(join(root, 'lib/cli/run.js'))) throw new Error(`compiling ${src} into ${root}/lib failed`);
  // The revision's own bin/rmount: its shell part and its lib/ speak to each other.
  await cp(join(src, 'bin'), join(root, 'bin'), { recursive: true });
  await cp(join(REPO, 'package.json'), join(root, 'package.json'));
  for (const link of ['node_modules', 'build', 'dist']) {
    if (existsSync(join(REPO, link))) await symlink(join(REPO, link), join(root, link));
  }
  return root;
}

/** src/ and the tsconfigs of git revision `rev`, in a new folder under `dir`. */
async function checkout(dir: string, rev: string): Promise<string> {
  const root = join(dir, 'base-src');
  await mkdir(root);
  const archive = join(dir, 'base.tar');
  await execFileP('git', ['-C', REPO, 'archive', '--output', archive, rev, 'src', 'bin', 'package.json', 'tsconfig.json', 'tsconfig.build.json']);
  await execFileP('tar', ['-xf', archive, '-C', root]);
  await symlink(join(REPO, 'node_modules'), join(root, 'node_modules'));
  return root;
}

/** What one target mounts and how it is undone. */
interface Target {
  label: string;
  /** Starts the mount and resolves once the command returned; undefined: nothing to mount (the Node floor). */
  mount(mountpoint: string): Promise<void>;
  unmount(mountpoint: string): Promise<void>;
}

interface Rig {
  dir: string;
  backing: string;
  user: string;
  port: number;
  sshConfig: string;
  knownHosts: string;
  key: string;
  env: NodeJS.ProcessEnv;
}

/** Detaches `mountpoint` if it is still mounted, lazily as a last resort. */
async function detach(mountpoint: string): Promise<void> {
  if ((await findMount(mountpoint)) === undefined) return;
  if ((await run('fusermount3', ['-u', mountpoint])).code === 0) return;
  await run('fusermount3', ['-u', '-z', mountpoint]);
}

/** TERM, then KILL after 5 s: one process, by its PID. */
async function stopPid(pid: number): Promise<void> {
  if (!processAlive(pid)) return;
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 50 && processAlive(pid); i++) await sleep(100);
  if (processAlive(pid)) process.kill(pid, 'SIGKILL');
}

/** PIDs of processes whose command line holds `word` as one argument and an argument ending in one of `programs`. */
async function pidsWithArg(word: string, programs: readonly string[]): Promise<number[]> {
  const out: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const argv = (await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '')).split('\0');
    if (argv.includes(word) && argv.some(a => programs.some(p => a.endsWith(p)))) out.push(Number(name));
  }
  return out;
}

/** `command`: the program and its first arguments (bin/rmount run as users run it, or node with tsx). */
function rmountTarget(label: string, rig: Rig, command: string[], ssh: boolean): Target {
  const cli = (args: string[]): Promise<{ code: number | null; stderr: string }> => run(command[0]!, [...command.slice(1), ...args], rig.env);
  return {
    label,
    async mount(mountpoint) {
      const dest = ssh ? `ssh://${rig.user}@127.0.0.1:${rig.port}${rig.backing}` : `local:${rig.backing}`;
      const sshArgs = ssh ? ['-F', rig.sshConfig, '--known-hosts', rig.knownHosts, '-i', rig.key] : [];
      const r = await cli(['mount', dest, mountpoint, ...sshArgs]);
      if (r.code !== 0) throw new Error(`${label}: rmount mount exited ${r.code}: ${r.stderr.trim()}`);
    },
    async unmount(mountpoint) {
      const pid = (await readRecord(rig.env.RMOUNT_RUNTIME_DIR!, mountpoint))?.pid;
      if ((await findMount(mountpoint)) !== undefined) await cli(['unmount', mountpoint]);
      await detach(mountpoint);
      // A daemon that has not written its record yet is found by its command line.
      for (const p of new Set([...(pid === undefined ? [] : [pid]), ...await pidsWithArg(mountpoint, ['bin/rmount', 'cli/run.ts'])])) await stopPid(p);
    },
  };
}

function sshfsTarget(rig: Rig): Target {
  return {
    label: 'sshfs',
    async mount(mountpoint) {
      const r = await run('sshfs', ['-F', rig.sshConfig, '-p', String(rig.port), `${rig.user}@127.0.0.1:${rig.backing}`, mountpoint]);
      if (r.code !== 0) throw new Error(`sshfs exited ${r.code}: ${r.stderr.trim()}`);
    },
    async unmount(mountpoint) {
      await detach(mountpoint);
      for (const p of await pidsWithArg(mountpoint, ['sshfs'])) await stopPid(p);
    },
  };
}

const nodeFloor: Target = {
  label: 'node -e 0 (one Node start)',
  async mount() {
    await run(process.execPath, ['-e', '0']);
  },
  async unmount() {},
};

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  const skip = sshdSkipReason() || fuseSkipReason() || (existsSync('/usr/bin/sshfs') ? false : 'sshfs not installed (Debian package sshfs)');
  if (skip !== false) throw new Error(`cannot run here: ${skip}`);
  const startedAt = new Date();
  const dir = await mkdtemp(join(tmpdir(), 'rmount-mount-start-'));
  cleanup.add(`remove ${dir}`, async () => {
    // Never through a live mount: every mountpoint is detached first by its own entry.
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      if (name.startsWith('mnt') && (await findMount(join(dir, name))) !== undefined) return;
    }
    await rm(dir, { recursive: true, force: true });
  });

  log(`compiling src/ into ${dir}/current…`);
  const current = await compile(dir, 'current', REPO);
  const base = o.base === undefined ? undefined : await compile(dir, 'base', await checkout(dir, o.base));
  const sshd = await startSshd({ after: fn => { cleanup.add('sshd', fn); } });
  const backing = join(dir, 'backing');
  await mkdir(backing);
  await writeFile(join(backing, 'hello.txt'), 'hello\n');
  const sshConfig = join(dir, 'ssh_config');
  const knownHosts = join(dir, 'known_hosts');
  await writeFile(sshConfig, renderClientConfig({ hosts: '127.0.0.1', user: sshd.user, identityFile: sshd.userKey, knownHostsFile: knownHosts }));
  const env: NodeJS.ProcessEnv = { ...process.env, RMOUNT_RUNTIME_DIR: join(dir, 'run'), XDG_STATE_HOME: join(dir, 'state') };
  log(`rmount mount-start: ${startedAt.toISOString()}, ${cpus().length} CPUs, load ${loadavg().map(l => l.toFixed(2)).join(' ')}, node ${process.version}`
    + `${process.env.NODE_EXTRA_CA_CERTS === undefined ? '' : ', NODE_EXTRA_CA_CERTS set (every Node start reads it)'}`);

  const tables: { rtt: number; rows: { label: string; ms: number[] }[] }[] = [];
  let seq = 0;
  for (const rtt of o.rtts) {
    const proxy = rtt > 0 ? await startLatencyProxy({ targetPort: sshd.port, delayMs: rtt / 2 }) : undefined;
    const forgetProxy = proxy === undefined ? undefined : cleanup.add(`latency proxy ${proxy.port}`, () => proxy.close());
    const port = proxy?.port ?? sshd.port;
    await writeFile(knownHosts, [sshd.port, port].map(p => `[127.0.0.1]:${p} ${sshd.hostPublicKey}\n`).join(''));
    const rig: Rig = { dir, backing, user: sshd.user, port, sshConfig, knownHosts, key: sshd.userKey, env };
    // As a command, the way users run it: its shell part starts one node for a background mount.
    const bin = (root: string): string[] => [join(root, 'bin', 'rmount')];
    const sources = [process.execPath, '--import', TSX, join(REPO, 'src/cli/run.ts')];
    const targets: Target[] = [
      nodeFloor,
      sshfsTarget(rig),
      rmountTarget('rmount ssh', rig, bin(current), true),
      ...(base === undefined ? [] : [rmountTarget(`rmount ssh @ ${o.base}`, rig, bin(base), true)]),
      ...(o.tsx ? [rmountTarget('rmount ssh (tsx, sources)', rig, sources, true)] : []),
      rmountTarget('rmount local:', rig, bin(current), false),
      ...(base === undefined ? [] : [rmountTarget(`rmount local: @ ${o.base}`, rig, bin(base), false)]),
      ...(o.tsx ? [rmountTarget('rmount local: (tsx, sources)', rig, sources, false)] : []),
    ];
    const rows = targets.map(t => ({ label: t.label, ms: [] as number[] }));
    tables.push({ rtt, rows });
    for (let round = 0; round < o.rounds && !cleanup.interrupted; round++) {
      for (const [i, t] of targets.entries()) {
        const mountpoint = join(dir, `mnt${++seq}`);
        await mkdir(mountpoint);
        const forget = cleanup.add(`${t.label} on ${mountpoint}`, () => t.unmount(mountpoint));
        try {
          const started = performance.now();
          await t.mount(mountpoint);
          if (t !== nodeFloor) await stat(join(mountpoint, 'hello.txt'));
          rows[i]!.ms.push(performance.now() - started);
        } finally {
          forget();
          await t.unmount(mountpoint);
          await rm(mountpoint, { recursive: true, force: true }).catch(() => {});
        }
      }
      log(`RTT ${rtt} ms, round ${round + 1}/${o.rounds}: ${rows.map(r => `${r.label} ${r.ms.at(-1)!.toFixed(0)}`).join(', ')}`);
    }
    forgetProxy?.();
    await proxy?.close();
  }

  process.stdout.write(`\n## mount-start, ${startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC, load at the end ${loadavg().map(l => l.toFixed(2)).join(' ')}\n\n`);
  process.stdout.write(`\`node --import tsx bench/mount-start.ts ${process.argv.slice(2).join(' ')}\`\n`);
  for (const t of tables) {
    const sshfs = median(t.rows.find(r => r.label === 'sshfs')!.ms);
    process.stdout.write(`\n### RTT ${t.rtt} ms${t.rtt === 0 ? ' (direct)' : ` (proxy, ${t.rtt / 2} ms each way)`}, ${t.rows[0]!.ms.length} rounds; ms from start until a stat answers\n\n`);
    process.stdout.write('| target | median (ms) | min (ms) | max (ms) | median / sshfs |\n|---|---:|---:|---:|---:|\n');
    for (const r of t.rows) {
      const m = median(r.ms);
      process.stdout.write(`| ${r.label} | ${m.toFixed(0)} | ${Math.min(...r.ms).toFixed(0)} | ${Math.max(...r.ms).toFixed(0)} | ${(m / sshfs).toFixed(2)}× |\n`);
    }
  }
}

try {
  await main();
} catch (error) {
  process.stderr.write(`mount-start: ${(error as Error).stack ?? String(error)}\n`);
  process.exitCode = 1;
} finally {
  await cleanup.runAll();
}
process.exit(process.exitCode ?? 0);
