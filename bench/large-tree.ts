/**
 * A large tree through a mount (issue 13's large repositories): how long walks take and what the
 * process serving the mount holds, also after the kernel forgets what it looked up.
 *
 *   node --import tsx bench/large-tree.ts [--files 100000] [--folders 10000] [--big 10000] [--git-files 20000]
 *        [--targets disk,local,rmount-agent,rmount,sshfs] [--rtt 0] [--timeout-s 900]
 *
 * Targets: `disk` is the folder itself (the floor); `local` mounts it through the local backend
 * (the whole VFS and FUSE path, no network); `rmount-agent` and `rmount` mount it over SSH with
 * `-o agent=yes` (rmount-agent over an exec channel) and `-o agent=no` (the sftp subsystem), and
 * `sshfs` with its defaults, all on one throwaway sshd on 127.0.0.1 (test/helpers/sshd.ts),
 * behind bench/latency-proxy.ts when --rtt is above 0. Needs root for sshd and drop_caches.
 *
 * The tree (--files files in about --folders folders, 16 bytes to a few dozen each): one folder
 * `big/` of --big files; a git repository `repo/` of --git-files tracked files, committed and
 * packed on the server side; the rest in folders of about files/folders each, a hundred folders to a
 * parent. The repository's index is put back before each target, so every target's first
 * `git status` starts from the index git wrote on the server.
 *
 * Steps, each on a fresh mount per target: mount; `find` cold and warm; `ls -lR` of `big/`; `git
 * status` in `repo/` (the first on this mount, then warm); the kernel told to drop its dentry and
 * inode caches (`echo 2 > /proc/sys/vm/drop_caches`: it then forgets what it looked up through
 * the mount, and sends the forgets); a second walk; a second drop. After each step: the serving
 * process's RSS (rmount: also its JavaScript heap, inodes held and listing entries kept, from
 * `rmount status --json`, and heap and RSS per inode held above what the fresh mount held; sshfs:
 * its RSS from /proc).
 *
 * Everything started here (sshd, the proxy, mount daemons, sshfs, commands) is stopped by PID, every
 * mount unmounted and the temporary folder removed, also on failure and Ctrl-C.
 */
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BenchCleanup } from './cleanup.ts';
import { countTree } from './fs-workloads.ts';
import {
  REPO, killRunning, mountRmount, mountSshfs, mustRun, rmountCli, run, sshDest, startProxy, startSshServer,
  type Mounted, type Rig,
} from './mount-rig.ts';

const cleanup = new BenchCleanup(killRunning);

type TargetId = 'disk' | 'local' | 'rmount-agent' | 'rmount' | 'sshfs';
const TARGETS: TargetId[] = ['disk', 'local', 'rmount-agent', 'rmount', 'sshfs'];
const LABEL: Record<TargetId, string> = {
  disk: 'disk (the folder itself)', local: 'rmount, local backend', 'rmount-agent': 'rmount agent (ssh)', rmount: 'rmount sftp subsystem (ssh)', sshfs: 'sshfs',
};
/** Two of the idle collector's periods and some slack: long enough for it to have run once. */
const QUIET_MS = 12_000;
const SSH_TARGETS: TargetId[] = ['rmount-agent', 'rmount', 'sshfs'];

interface Options { files: number; folders: number; big: number; gitFiles: number; targets: TargetId[]; rtt: number; timeoutMs: number }

function usage(message: string): never {
  process.stderr.write(`large-tree: ${message}\n`
    + 'usage: node --import tsx bench/large-tree.ts [--files 100000] [--folders 10000] [--big 10000] [--git-files 20000]\n'
    + `       [--targets ${TARGETS.join(',')}] [--rtt 0] [--timeout-s 900]\n`);
  process.exit(2);
}

function parseOptions(argv: string[]): Options {
  const o: Options = { files: 100_000, folders: 10_000, big: 10_000, gitFiles: 20_000, targets: [...TARGETS], rtt: 0, timeoutMs: 900_000 };
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i]!;
    const text = argv[i + 1];
    if (text === undefined) usage(`${flag} needs a value`);
    const n = Number(text);
    const count = (min: number): number => {
      if (!Number.isInteger(n) || n < min) usage(`${flag} expects a whole number >= ${min}, got "${text}"`);
      return n;
    };
    switch (flag) {
      case '--files': o.files = count(1); break;
      // --dirs: the name this option had before.
      case '--folders': case '--dirs': o.folders = count(1); break;
      case '--big': o.big = count(0); break;
      case '--git-files': o.gitFiles = count(0); break;
      case '--rtt': o.rtt = count(0); break;
      case '--timeout-s': o.timeoutMs = count(1) * 1000; break;
      case '--targets':
        o.targets = text.split(',').map(s => s.trim()) as TargetId[];
        for (const t of o.targets) if (!TARGETS.includes(t)) usage(`unknown target ${t} (known: ${TARGETS.join(', ')})`);
        break;
      default: usage(`unknown argument ${flag}`);
    }
  }
  if (o.big + o.gitFiles > o.files) usage('--big and --git-files are part of --files: their sum cannot pass it');
  return o;
}

// ---------------------------------------------------------------------------------------------
// The tree

interface Made { repo: string; big: string }

/** `count` folders below `parent`, a hundred to a group folder (folders made: count + groups). */
function folderNames(parent: string, count: number): { groups: string[]; folders: string[] } {
  const groups: string[] = [];
  const folders: string[] = [];
  for (let i = 0; i < count; i++) {
    if (i % 100 === 0) groups.push(join(parent, `g${String(i / 100).padStart(3, '0')}`));
    folders.push(join(groups.at(-1)!, `d${String(i).padStart(5, '0')}`));
  }
  return { groups, folders };
}

async function makeTree(root: string, o: Options): Promise<Made> {
  const perFolder = Math.max(1, Math.round(o.files / o.folders));
  const repoRoot = join(root, 'repo');
  const big = join(root, 'big');
  const repo = folderNames(repoRoot, Math.ceil(o.gitFiles / perFolder));
  // The root, big/, repo/ and the repository's folders are counted in --folders; the rest share what is left.
  const restFolders = Math.max(1, o.folders - 3 - repo.folders.length - repo.groups.length);
  const rest = folderNames(join(root, 'tree'), Math.max(1, Math.round(restFolders * 100 / 101)));
  const restFiles = o.files - o.big - o.gitFiles;

  const jobs: (() => Promise<void>)[] = [];
  const fill = (folders: string[], files: number, text: (path: string) => string): void => {
    const per = Math.ceil(files / folders.length);
    folders.forEach((folder, d) => jobs.push(async () => {
      await mkdir(folder, { recursive: true });
      for (let f = 0; f < per && d * per + f < files; f++) {
        const path = join(folder, `f${f}.txt`);
        await writeFile(path, text(path));
      }
    }));
  };
  await mkdir(big, { recursive: true });
  await mkdir(repoRoot, { recursive: true });
  fill(rest.folders, restFiles, () => '0123456789abcdef');
  fill([big], o.big, () => '0123456789abcdef');
  // Each tracked file its own contents, so git stores (and a cold status reads) one blob per file.
  fill(repo.folders, o.gitFiles, path => `${path.slice(repoRoot.length)}\n`);
  let next = 0;
  await Promise.all(Array.from({ length: 32 }, async () => { while (next < jobs.length) await jobs[next++]!(); }));
  return { repo: repoRoot, big };
}

// No automatic gc: one started in the background by the commit makes the bench's own gc fail, and
// would repack under the mounts.
const git = (repo: string, args: string[], timeoutMs = 900_000): Promise<unknown> =>
  mustRun('git', ['-c', 'gc.auto=0', '-c', 'maintenance.auto=false', '-c', 'user.name=bench', '-c', 'user.email=bench@127.0.0.1', '-c', 'init.defaultBranch=main', '-c', 'safe.directory=*', '-C', repo, ...args], { timeoutMs });

// ---------------------------------------------------------------------------------------------
// Readings

interface Reading { rssBytes: number; heapUsedBytes?: number; inodes?: number; listingEntries?: number }

/** The serving process's memory: rmount's own report, or sshfs's RSS from /proc. */
async function reading(target: TargetId, mounted: Mounted, rmountEnv: NodeJS.ProcessEnv): Promise<Reading | undefined> {
  if (target === 'disk') return undefined;
  if (target === 'sshfs') {
    const status = await readFile(`/proc/${mounted.pid}/status`, 'utf8').catch(() => '');
    const kb = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
    return kb === undefined ? undefined : { rssBytes: Number(kb) * 1024 };
  }
  const r = await rmountCli(['status', '--json'], rmountEnv, 60_000);
  const s = (JSON.parse(r.stdout) as (Reading & { mountpoint: string })[]).find(m => m.mountpoint === mounted.root);
  if (s?.rssBytes === undefined) throw new Error(`status does not report memory: ${r.stdout.slice(0, 500)}`);
  return s;
}

async function dropCaches(): Promise<void> {
  await writeFile('/proc/sys/vm/drop_caches', '2');
  // The kernel sends its forgets in batches; give them time to arrive.
  await sleep(3000);
}

interface Row { step: string; seconds?: number | 'timeout' | 'error'; r?: Reading }

// ---------------------------------------------------------------------------------------------
// Main

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  const root = process.getuid?.() === 0;
  if (!root && o.targets.some(t => SSH_TARGETS.includes(t))) usage('the ssh targets need root (sshd logs in as the current user)');
  const log = (s: string): void => void process.stderr.write(`${s}\n`);
  const startedAt = new Date();
  log(`rmount large-tree: ${startedAt.toISOString()}, ${cpus().length} CPUs, load ${loadavg().map(l => l.toFixed(2)).join(' ')}`);

  const dir = await mkdtemp(join(tmpdir(), 'rmount-bench-tree-'));
  cleanup.add('temporary folder', async () => {
    // Never remove through a mount: anything still mounted below dir stays, with a warning.
    const info = await readFile('/proc/self/mountinfo', 'utf8');
    if (info.includes(` ${dir}/`)) return void process.stderr.write(`not removing ${dir}: something is still mounted below it\n`);
    await rm(dir, { recursive: true, force: true });
  });
  const tree = join(dir, 'tree');
  log(`making ${o.files} files in about ${o.folders} folders (one of ${o.big}, a git repository of ${o.gitFiles}) in ${tree}…`);
  const made = await makeTree(tree, o);
  if (o.gitFiles > 0) {
    await git(made.repo, ['init', '-q']);
    await git(made.repo, ['add', '-A']);
    await git(made.repo, ['commit', '-q', '--no-verify', '-m', 'tree']);
    // Packed, as a clone is: not 20,000 loose objects in the walk.
    await git(made.repo, ['gc', '-q', '--prune=now']);
    await git(made.repo, ['status', '--porcelain']);
    await copyFile(join(made.repo, '.git', 'index'), join(dir, 'index.orig'));
  }
  const count = countTree(tree);
  const inGit = o.gitFiles > 0 ? countTree(join(made.repo, '.git')) : undefined;
  const treeText = `${count.files} files in ${count.dirs} folders (${inGit === undefined ? 'no repository' : `${inGit.files} files and ${inGit.dirs} folders of them in repo/.git`}), ${(count.bytes / 1e6).toFixed(1)} MB`;
  log(`tree: ${treeText}`);
  const gitStatus = (path: string): string => `git -c safe.directory='*' -C "${path}" status >/dev/null`;

  const rig: Rig = {
    cleanup, dir, user: '', sshConfig: '', knownHosts: '', key: '', port: 0,
    rmountEnv: { ...process.env, RMOUNT_RUNTIME_DIR: join(dir, 'rmount-run') },
  };
  if (o.targets.some(t => SSH_TARGETS.includes(t))) {
    const sshd = await startSshServer(cleanup, dir);
    Object.assign(rig, { user: sshd.user, sshConfig: sshd.sshConfig, knownHosts: sshd.knownHosts, key: sshd.key, port: sshd.port });
    if (o.rtt > 0) {
      const proxy = await startProxy(cleanup, sshd.port, o.rtt);
      await sshd.trust(proxy.port);
      rig.port = proxy.port;
      log(`RTT ${o.rtt} ms: latency proxy 127.0.0.1:${proxy.port} → sshd ${sshd.port}`);
    }
  }

  const results = new Map<TargetId, Row[]>();
  for (const target of o.targets) {
    if (cleanup.interrupted) return;
    if (o.gitFiles > 0) await copyFile(join(dir, 'index.orig'), join(made.repo, '.git', 'index'));
    await mustRun('sync', []);
    // The server side warm for every target (the last one's drop_caches evicted it): the walks
    // measure the mount, not this machine's disk.
    await mustRun('sh', ['-c', 'tar -cf - . | cat >/dev/null'], { cwd: tree, timeoutMs: o.timeoutMs });
    const rows: Row[] = [];
    results.set(target, rows);
    let mounted: Mounted | undefined;
    try {
      const start = performance.now();
      switch (target) {
        case 'disk': mounted = { root: tree, unmount: async () => {} }; break;
        case 'local': mounted = await mountRmount(rig, `local:${tree}`); break;
        case 'rmount-agent': mounted = await mountRmount(rig, sshDest(rig, tree), ['agent=yes']); break;
        case 'rmount': mounted = await mountRmount(rig, sshDest(rig, tree), ['agent=no']); break;
        case 'sshfs': mounted = await mountSshfs(rig, tree); break;
      }
      // sshfs shows in mountinfo before its session is up: the first timed walk must not pay for it.
      await mustRun('stat', [mounted.root], { timeoutMs: 60_000 });
      const m = mounted;
      const mountSeconds = (performance.now() - start) / 1000;
      rows.push({ step: 'mounted', seconds: target === 'disk' ? undefined : mountSeconds, r: await reading(target, m, rig.rmountEnv) });
      const step = async (name: string, script?: string): Promise<void> => {
        let seconds: Row['seconds'];
        if (script !== undefined) {
          const r = await run('sh', ['-c', script], { timeoutMs: o.timeoutMs, stdout: 'ignore', cwd: REPO });
          seconds = r.timedOut ? 'timeout' : r.code !== 0 ? 'error' : r.seconds;
          if (seconds === 'error') log(`  ${name} on ${target}: exit ${r.code ?? r.signal}: ${r.stderr.trim().slice(-300)}`);
        }
        rows.push({ step: name, seconds, r: await reading(target, m, rig.rmountEnv) });
        log(`[${target}] ${name}${typeof seconds === 'number' ? `: ${seconds.toFixed(2)} s` : seconds === undefined ? '' : `: ${seconds}`}`);
      };
      // The daemon gives memory back once it has been quiet for a while (src/mount/idle-collector.ts).
      const quiet = async (): Promise<void> => {
        await sleep(QUIET_MS);
        await step(`then quiet for ${QUIET_MS / 1000} s`);
      };
      const find = `find "${m.root}" | wc -l >/dev/null`;
      await step('find, cold', find);
      await step('find, warm', find);
      await step(`ls -lR of ${o.big} entries`, `ls -lR "${join(m.root, 'big')}" >/dev/null`);
      if (o.gitFiles > 0) {
        await step(`git status, first (${o.gitFiles} files)`, gitStatus(join(m.root, 'repo')));
        await step('git status, warm', gitStatus(join(m.root, 'repo')));
      }
      await quiet();
      if (root) {
        await dropCaches();
        await step('kernel forgot (drop_caches)');
      }
      await step('find, second walk', find);
      if (root) {
        await dropCaches();
        await step('kernel forgot again');
        await quiet();
      }
    } catch (error) {
      log(`  ${target}: ${(error as Error).message.split('\n')[0]}`);
      rows.push({ step: 'failed', seconds: 'error' });
    } finally {
      await mounted?.unmount().catch(error => log(`  unmount ${target}: ${(error as Error).message}`));
    }
  }

  // ---- output
  const fmtS = (s: Row['seconds']): string => (s === undefined ? '-' : typeof s === 'number' ? s.toFixed(2) : s);
  const MB = (b: number | undefined): string => (b === undefined ? '-' : (b / (1 << 20)).toFixed(0));
  const out: string[] = [
    `## large-tree, ${startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    '',
    `\`node --import tsx bench/large-tree.ts ${process.argv.slice(2).join(' ')}\``,
    '',
    `${treeText}: big/ of ${o.big}, repo/ of ${o.gitFiles} tracked files (packed), the rest about ${Math.round(o.files / o.folders)} to a folder; `
      + `ssh targets at RTT ${o.rtt} ms${o.rtt > 0 ? ' (latency proxy)' : ' (direct)'}. Seconds, lower is better.`,
    '',
  ];
  const steps = [...new Set([...results.values()].flatMap(rows => rows.map(r => r.step)))].filter(s => !s.startsWith('kernel forgot') && !s.startsWith('then quiet'));
  out.push(`| step | ${o.targets.map(t => LABEL[t]).join(' | ')} |`, `|---|${o.targets.map(() => '---:').join('|')}|`);
  for (const s of steps) out.push(`| ${s} | ${o.targets.map(t => fmtS(results.get(t)?.find(r => r.step === s)?.seconds)).join(' | ')} |`);
  for (const target of o.targets) {
    const rows = results.get(target) ?? [];
    if (target === 'disk' || rows.length === 0) continue;
    const base = rows[0]!.r;
    out.push('', `${LABEL[target]}: memory of the ${target === 'sshfs' ? 'sshfs process' : 'mount daemon'} after each step`, '');
    if (target === 'sshfs') {
      out.push('| step | RSS MB |', '|---|---:|', ...rows.map(({ step, r }) => `| ${step} | ${MB(r?.rssBytes)} |`));
      continue;
    }
    const per = (r: Reading | undefined, key: 'heapUsedBytes' | 'rssBytes'): string => {
      const held = (r?.inodes ?? 0) - (base?.inodes ?? 0);
      return r === undefined || base === undefined || held <= 0 ? '-' : `${Math.round(((r[key] ?? 0) - (base[key] ?? 0)) / held)} B`;
    };
    out.push('| step | RSS MB | heap MB | inodes | listing entries | heap per inode held | RSS per inode held |', '|---|---:|---:|---:|---:|---:|---:|');
    for (const { step, r } of rows) {
      out.push(`| ${step} | ${MB(r?.rssBytes)} | ${MB(r?.heapUsedBytes)} | ${r?.inodes ?? '-'} | ${r?.listingEntries ?? '-'} | ${per(r, 'heapUsedBytes')} | ${per(r, 'rssBytes')} |`);
    }
  }
  if (!root) out.push('', 'Not root: the kernel was not told to drop its caches.');
  process.stdout.write(`${out.join('\n')}\n`);
}

try {
  await main();
} catch (error) {
  process.stderr.write(`large-tree: ${(error as Error).stack ?? String(error)}\n`);
  process.exitCode = 1;
} finally {
  killRunning();
  await cleanup.runAll();
}
process.exit(process.exitCode ?? 0);
