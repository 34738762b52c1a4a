/**
 * Cold walks on one daemon: what the first walk of a fresh mount pays that later cold walks do not.
 * mount-workloads gives every workload a fresh mount, so its cold rows include the daemon's own
 * warm-up; a mount kept for a week pays that once.
 *
 *   node --import tsx bench/cold-walks.ts [--tree /usr/lib/node_modules/npm] [--walks 6] [--targets local,rmount-agent,rmount,sshfs]
 *
 * The tree is copied into a temporary folder. Per target, one mount; then `find` of it --walks
 * times, each with every cache emptied first: `rmount cache flush` (the daemon's caches and the
 * kernel's for the mount) and `drop_caches` (the kernel's dentries and inodes, the server side's
 * too). sshfs cannot be told to drop its own cache, so it is mounted afresh for each walk.
 * Reported per walk: seconds, and the CPU the serving process used during it (/proc/PID/stat).
 * rmount runs from lib/ (`npm run build:ts`); targets `rmount-agent` and `rmount` are `-o
 * agent=yes` and `-o agent=no` on a throwaway sshd on 127.0.0.1 (needs root), `local` the local
 * backend. Everything started is stopped by PID and the folder removed, also on failure and Ctrl-C.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BenchCleanup } from './cleanup.ts';
import { killRunning, mountRmount, mountSshfs, mustRun, rmountCli, run, sshDest, startSshServer, type Mounted, type Rig } from './mount-rig.ts';

const cleanup = new BenchCleanup(killRunning);
const TARGETS = ['local', 'rmount-agent', 'rmount', 'sshfs'] as const;
type TargetId = typeof TARGETS[number];

function usage(message: string): never {
  process.stderr.write(`cold-walks: ${message}\nusage: node --import tsx bench/cold-walks.ts [--tree DIR] [--walks 6] [--targets ${TARGETS.join(',')}]\n`);
  process.exit(2);
}

function parse(argv: string[]): { tree: string; walks: number; targets: TargetId[] } {
  const o = { tree: '/usr/lib/node_modules/npm', walks: 6, targets: [...TARGETS] as TargetId[] };
  for (let i = 0; i < argv.length; i += 2) {
    const value = argv[i + 1];
    if (value === undefined) usage(`${argv[i]} needs a value`);
    if (argv[i] === '--tree') o.tree = value;
    else if (argv[i] === '--walks') {
      o.walks = Number(value);
      if (!Number.isInteger(o.walks) || o.walks < 1) usage(`--walks expects a whole number >= 1, got "${value}"`);
    } else if (argv[i] === '--targets') {
      o.targets = value.split(',') as TargetId[];
      const bad = o.targets.find(t => !TARGETS.includes(t));
      if (bad !== undefined) usage(`unknown target "${bad}"`);
    } else usage(`unknown option ${argv[i]}`);
  }
  return o;
}

/** CPU ms (user + system) process `pid` has used so far. */
async function cpuMs(pid: number | undefined): Promise<number> {
  if (pid === undefined) return NaN;
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

async function main(): Promise<void> {
  const o = parse(process.argv.slice(2));
  const dir = await mkdtemp(join(tmpdir(), 'rmount-bench-walks-'));
  cleanup.add(`remove ${dir}`, () => rm(dir, { recursive: true, force: true }));
  const tree = join(dir, 'tree');
  await mustRun('cp', ['-a', o.tree, tree]);
  const entries = (await mustRun('sh', ['-c', `find "${tree}" | wc -l`])).stdout.trim();
  const rig: Rig = { cleanup, dir, user: '', sshConfig: '', knownHosts: '', key: '', port: 0, rmountEnv: { ...process.env, RMOUNT_RUNTIME_DIR: join(dir, 'run') } };
  if (o.targets.some(t => t !== 'local')) {
    const sshd = await startSshServer(cleanup, dir);
    Object.assign(rig, { user: sshd.user, sshConfig: sshd.sshConfig, knownHosts: sshd.knownHosts, key: sshd.key, port: sshd.port });
  }
  const mount = (target: TargetId): Promise<Mounted> => {
    switch (target) {
      case 'local': return mountRmount(rig, `local:${tree}`);
      case 'rmount-agent': return mountRmount(rig, sshDest(rig, tree), ['agent=yes']);
      case 'rmount': return mountRmount(rig, sshDest(rig, tree), ['agent=no']);
      case 'sshfs': return mountSshfs(rig, tree);
    }
  };
  const rows: string[] = [];
  for (const target of o.targets) {
    if (cleanup.interrupted) return;
    let m: Mounted | undefined;
    const cells: string[] = [];
    try {
      for (let walk = 0; walk < o.walks; walk++) {
        if (target === 'sshfs' || m === undefined) {
          await m?.unmount();
          m = await mount(target);
          await mustRun('stat', [m.root], { timeoutMs: 60_000 });
        } else {
          const flushed = await rmountCli(['cache', 'flush', m.root], rig.rmountEnv);
          if (flushed.code !== 0) throw new Error(`rmount cache flush: ${flushed.stderr.trim()}`);
        }
        await writeFile('/proc/sys/vm/drop_caches', '2');
        const before = await cpuMs(m.pid);
        const r = await run('sh', ['-c', `find "${m.root}" | wc -l >/dev/null`], { timeoutMs: 600_000 });
        if (r.code !== 0) throw new Error(`find exited ${r.code}: ${r.stderr.trim()}`);
        cells.push(`${r.seconds.toFixed(3)} (${(await cpuMs(m.pid)) - before})`);
        process.stderr.write(`[${target}] walk ${walk + 1}: ${cells.at(-1)}\n`);
      }
    } finally {
      await m?.unmount();
    }
    rows.push(`| ${target === 'sshfs' ? 'sshfs (a fresh mount each walk)' : target} | ${cells.join(' | ')} |`);
  }
  process.stdout.write([
    `cold walks: \`find\` of a copy of ${o.tree} (${entries} names), every cache emptied before each; s (CPU ms of the serving process)`,
    '',
    `| target | ${Array.from({ length: o.walks }, (_, i) => `walk ${i + 1}`).join(' | ')} |`,
    `|---|${Array.from({ length: o.walks }, () => '---:').join('|')}|`,
    ...rows,
  ].join('\n') + '\n');
}

try {
  await main();
} catch (error) {
  process.stderr.write(`cold-walks: ${(error as Error).stack ?? String(error)}\n`);
  process.exitCode = 1;
} finally {
  killRunning();
  await cleanup.runAll();
}
process.exit(process.exitCode ?? 0);
