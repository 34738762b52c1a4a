/**
 * A large tree through a mount: how long walks take and what the mount daemon's memory does, also
 * after the kernel forgets what it looked up. A local folder is mounted through the local backend
 * (the whole VFS and FUSE path, no network), so the numbers are the mount's own costs; the same
 * commands on the folder itself are the floor.
 *
 *   node --import tsx bench/large-tree.ts [--files 100000] [--dirs 5000] [--big 10000]
 *
 * The tree: --files files of 16 bytes spread over --dirs folders, plus one folder of --big files.
 * Rows: mount; `find` cold and warm; `ls -l` of the big folder; the kernel told to drop its dentry
 * and inode caches (`echo 2 > /proc/sys/vm/drop_caches`, root only: the kernel then forgets what it
 * looked up through the mount); a second walk; a second drop. Each row gives its time and the
 * daemon's RSS, JavaScript heap, inodes held and listing entries kept (from `rmount status --json`),
 * and the heap per inode held.
 *
 * Everything started here (the mount daemon, the mount) is stopped by PID / unmounted, and the
 * temporary folder removed, also on failure and Ctrl-C.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { BenchCleanup } from './cleanup.ts';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const cleanup = new BenchCleanup();

interface Options { files: number; dirs: number; big: number }

function parseOptions(argv: string[]): Options {
  const o: Options = { files: 100_000, dirs: 5000, big: 10_000 };
  for (let i = 0; i < argv.length; i += 2) {
    const value = Number(argv[i + 1]);
    const key = argv[i]?.replace(/^--/, '') as keyof Options;
    if (!(key in o) || !Number.isInteger(value) || value < 1) {
      process.stderr.write('usage: node --import tsx bench/large-tree.ts [--files 100000] [--dirs 5000] [--big 10000]\n');
      process.exit(2);
    }
    o[key] = value;
  }
  return o;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env, timeoutMs = 600_000): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  const start = performance.now();
  return new Promise((ok, fail) => {
    const child = spawn(cmd, args, { env, cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => { stdout = (stdout + s).slice(-1 << 20); });
    child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr = (stderr + s).slice(-8192); });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', e => { clearTimeout(timer); fail(e); });
    child.once('close', code => { clearTimeout(timer); ok({ code, stdout, stderr, ms: performance.now() - start }); });
  });
}

/** Runs `sh -c script` and returns its time in ms; fails on a non-zero exit. */
async function timed(script: string, ...args: string[]): Promise<number> {
  const r = await run('sh', ['-c', script, 'sh', ...args]);
  if (r.code !== 0) throw new Error(`${script}: exit ${r.code}: ${r.stderr}`);
  return r.ms;
}

async function makeTree(root: string, o: Options): Promise<void> {
  const jobs: (() => Promise<void>)[] = [];
  for (let d = 0; d < o.dirs; d++) {
    const dir = join(root, `d${String(d).padStart(5, '0')}`);
    jobs.push(async () => {
      await mkdir(dir, { recursive: true });
      const per = Math.ceil(o.files / o.dirs);
      for (let f = 0; f < per && d * per + f < o.files; f++) await writeFile(join(dir, `f${f}.txt`), '0123456789abcdef');
    });
  }
  jobs.push(async () => {
    await mkdir(join(root, 'big'));
    for (let f = 0; f < o.big; f++) await writeFile(join(root, 'big', `f${f}`), '0123456789abcdef');
  });
  let next = 0;
  await Promise.all(Array.from({ length: 32 }, async () => { while (next < jobs.length) await jobs[next++]!(); }));
}

interface Reading { rssBytes: number; heapUsedBytes: number; inodes: number; listingEntries: number }

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  const dir = await mkdtemp(join(tmpdir(), 'rmount-bench-tree-'));
  cleanup.add('temporary folder', () => rm(dir, { recursive: true, force: true }));
  const tree = join(dir, 'tree');
  const mnt = join(dir, 'mnt');
  await mkdir(mnt);
  const env = { ...process.env, RMOUNT_RUNTIME_DIR: join(dir, 'run') };
  const cli = (args: string[]) => run(process.execPath, ['--import', 'tsx', join(REPO, 'src', 'cli', 'run.ts'), ...args], env);
  process.stderr.write(`making ${o.files} files in ${o.dirs} folders and one folder of ${o.big}…\n`);
  await makeTree(tree, o);

  let pid: number | undefined;
  cleanup.add('mount', async () => {
    await cli(['unmount', mnt]).catch(() => undefined);
    await run('fusermount3', ['-u', '-z', mnt]).catch(() => undefined);
    if (pid !== undefined) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  });
  const mounted = await cli(['mount', `local:${tree}`, mnt]);
  if (mounted.code !== 0) throw new Error(`mount failed: ${mounted.stderr}`);
  for (const name of await readdir(env.RMOUNT_RUNTIME_DIR)) {
    if (!name.endsWith('.json')) continue;
    const rec = JSON.parse(await readFile(join(env.RMOUNT_RUNTIME_DIR, name), 'utf8')) as { mountpoint?: string; pid?: number };
    if (rec.mountpoint === mnt) pid = rec.pid;
  }
  const reading = async (): Promise<Reading> => {
    const r = await cli(['status', '--json']);
    const s = (JSON.parse(r.stdout) as (Reading & { mountpoint: string })[]).find(m => m.mountpoint === mnt);
    if (s === undefined || s.rssBytes === undefined) throw new Error(`status does not report memory: ${r.stdout}`);
    return s;
  };
  const dropCaches = async (): Promise<void> => {
    await writeFile('/proc/sys/vm/drop_caches', '2');
    // The kernel sends its forgets in batches; give them time to arrive.
    await sleep(3000);
  };

  const rows: { step: string; ms?: number; r: Reading }[] = [];
  const floorCold = await timed('find "$1" | wc -l >/dev/null', tree);
  const floorWarm = await timed('find "$1" | wc -l >/dev/null', tree);
  const floorLs = await timed('ls -l "$1" >/dev/null', join(tree, 'big'));
  rows.push({ step: 'mounted', r: await reading() });
  rows.push({ step: 'find, cold', ms: await timed('find "$1" | wc -l >/dev/null', mnt), r: await reading() });
  rows.push({ step: 'find, warm', ms: await timed('find "$1" | wc -l >/dev/null', mnt), r: await reading() });
  rows.push({ step: `ls -l of ${o.big} entries`, ms: await timed('ls -l "$1" >/dev/null', join(mnt, 'big')), r: await reading() });
  const root = process.getuid?.() === 0;
  if (root) {
    await dropCaches();
    rows.push({ step: 'kernel forgot (drop_caches)', r: await reading() });
  }
  rows.push({ step: 'find, second walk', ms: await timed('find "$1" | wc -l >/dev/null', mnt), r: await reading() });
  if (root) {
    await dropCaches();
    rows.push({ step: 'kernel forgot again', r: await reading() });
  }

  const MB = (b: number) => (b / (1 << 20)).toFixed(0);
  const base = rows[0]!.r;
  const out = [
    `large tree: ${o.files} files in ${o.dirs} folders + one folder of ${o.big}; local backend; floor (the folder itself): find cold ${(floorCold / 1000).toFixed(2)} s, warm ${(floorWarm / 1000).toFixed(2)} s, ls -l ${(floorLs / 1000).toFixed(2)} s`,
    '',
    '| step | time | RSS MB | heap MB | inodes | listing entries | heap per inode held |',
    '|---|---|---|---|---|---|---|',
    ...rows.map(({ step, ms, r }) => {
      const perInode = r.inodes > base.inodes ? `${Math.round((r.heapUsedBytes - base.heapUsedBytes) / (r.inodes - base.inodes))} B` : '-';
      return `| ${step} | ${ms === undefined ? '-' : `${(ms / 1000).toFixed(2)} s`} | ${MB(r.rssBytes)} | ${MB(r.heapUsedBytes)} | ${r.inodes} | ${r.listingEntries} | ${perInode} |`;
    }),
  ];
  process.stdout.write(`${out.join('\n')}\n`);
}

main().then(() => cleanup.runAll(), async error => {
  process.stderr.write(`large-tree: ${(error as Error).stack ?? String(error)}\n`);
  await cleanup.runAll();
  process.exitCode = 1;
});
