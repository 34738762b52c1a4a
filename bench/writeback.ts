/**
 * Write-back: how long a write workload takes until the command returns, and until its data is on
 * the server, for sshfs (defaults), rmount with `-o writeback=on` and `-o writeback=off` (over the
 * sftp subsystem, `agent=no`, and over rmount-agent, `agent=yes`), and the local disk as the floor,
 * all on one throwaway sshd on 127.0.0.1, at RTT 0 (direct) and behind bench/latency-proxy.ts.
 *
 *   npm run build:ts && node --import tsx bench/writeback.ts [--rtt 0,20] [--json FILE]
 *        [--targets local,sshfs,rmount,agent] [--only unpack,small-files,saves,big-write]
 *
 * Sizes (one value, or one per --rtt entry): BENCH_FILES (2000: files of the unpacked tree),
 * BENCH_SMALL_FILES (1000), BENCH_SAVES (200), BENCH_BIG_MB (256); BENCH_TIMEOUT_S (1200) bounds
 * each row on each target. "returns" is the workload until it exits; "@server" adds, for rmount,
 * the time `rmount sync MOUNTPOINT` takes when the CLI has that command, else the time until a
 * poll of the server-side folder (every 20 ms) finds every path final (kind, size, link target);
 * for sshfs and local it is "returns" once the same check passes at once (else plus the poll).
 * When the CLI does not accept `-o writeback=`, rmount is measured once per transport (a message
 * says so). Every row's server-side content is then compared by SHA-256 (untimed).
 * BENCH_RMOUNT_CLI=src runs rmount from the sources through tsx instead of bin/rmount (lib/).
 * Needs root, sshd, FUSE, sshfs, tar, dd. Everything started is stopped by PID, also on failure.
 */
import { existsSync, statSync } from 'node:fs';
import { appendFile, mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BenchCleanup } from './cleanup.ts';
import { ROOT, benchArgs, loadNow, log, median, numberList, perRtt, startRig } from './exec-latency.ts';
import { generateTree, notYet, prepareSaves, savesManifest, sha256File, smallFilesManifest, wrongContent, type Manifest } from './writeback-data.ts';
import { killGroup, mountRmount, mountSshfs, rmount, run, running, startProxy, type Link, type Mounted, type RunResult } from './writeback-rig.ts';
import { renderClientConfig } from '../test/helpers/sshd.ts';

const ROWS = ['unpack', 'small-files', 'saves', 'big-write'] as const;
type RowId = typeof ROWS[number];
type Transport = 'local' | 'sshfs' | 'rmount' | 'agent';
interface Target { id: string; label: string; transport: Transport; opts: string[] }

interface Cell {
  rtt: number; row: RowId; rowLabel: string; target: string; label: string;
  returnsS?: number; atServerS?: number; returnsVsSshfs?: number; atServerVsSshfs?: number;
  /** What the server-side folder held: content check, and for saves what was there at fsync / after rename. */
  check: string;
}

const USAGE = 'usage: node --import tsx bench/writeback.ts [--rtt 0,20] [--json FILE] [--targets local,sshfs,rmount,agent] [--only unpack,small-files,saves,big-write]\n'
  + 'sizes from the environment: BENCH_FILES=2000 BENCH_SMALL_FILES=1000 BENCH_SAVES=200 BENCH_BIG_MB=256 BENCH_TIMEOUT_S=1200 (one value or one per RTT)';
const args = benchArgs(process.argv.slice(2), { rtt: '0,20', json: '', targets: 'local,sshfs,rmount,agent', only: ROWS.join(',') }, USAGE);
const envList = (name: string, fallback: string): number[] => numberList(process.env[name] ?? fallback, name);
const sizes = { files: envList('BENCH_FILES', '2000'), smallFiles: envList('BENCH_SMALL_FILES', '1000'), saves: envList('BENCH_SAVES', '200'), bigMb: envList('BENCH_BIG_MB', '256') };
const timeoutMs = envList('BENCH_TIMEOUT_S', '1200')[0]! * 1000;
const rtts = numberList(args.rtt, '--rtt');
const transports = args.targets.split(',').map(s => s.trim()) as Transport[];
const rows = args.only.split(',').map(s => s.trim()) as RowId[];
for (const t of transports) if (!['local', 'sshfs', 'rmount', 'agent'].includes(t)) fail(`unknown target ${t}`);
for (const r of rows) if (!ROWS.includes(r)) fail(`unknown row ${r}`);
const envShown = Object.keys(process.env).filter(k => k.startsWith('BENCH_')).sort().map(k => `${k}=${process.env[k]} `).join('');
const COMMAND = `${envShown}node --import tsx bench/writeback.ts ${process.argv.slice(2).join(' ')}`.trim();

function fail(message: string): never {
  process.stderr.write(`writeback: ${message}\n${USAGE}\n`);
  process.exit(2);
}

const cleanup = new BenchCleanup(() => { for (const child of running) killGroup(child, 'SIGKILL'); });

// ---------------------------------------------------------------------------------------------
// What this build of rmount offers

/** Newest .ts under src/ newer than lib/cli/run.js: lib/ (what bin/rmount runs) may predate it. */
async function libStale(): Promise<string | undefined> {
  if (process.env.BENCH_RMOUNT_CLI === 'src') return 'BENCH_RMOUNT_CLI=src: rmount from the sources through tsx, not lib/';
  const built = join(ROOT, 'lib', 'cli', 'run.js');
  if (!existsSync(built)) return 'lib/ is not built: bin/rmount runs the sources through tsx (npm run build:ts)';
  const builtAt = statSync(built).mtimeMs;
  for (const name of await readdir(join(ROOT, 'src'), { recursive: true })) {
    if (name.endsWith('.ts') && (await stat(join(ROOT, 'src', name))).mtimeMs > builtAt) return `lib/ is older than src/${name}: run npm run build:ts first, or bin/rmount measures an older build`;
  }
  return undefined;
}

async function capabilities(env: NodeJS.ProcessEnv): Promise<{ writeback: boolean; sync: boolean; cliStartS: number }> {
  const mountHelp = await rmount(['mount', '--help'], env);
  const help = await rmount(['--help'], env);
  const times: number[] = [];
  for (let i = 0; i < 3; i++) times.push((await rmount(['--version'], env)).seconds);
  return { writeback: /^\s*writeback=/m.test(mountHelp.stdout), sync: /^\s+sync\b/m.test(help.stdout), cliStartS: median(times) };
}

function targetsFor(writeback: boolean): Target[] {
  const out: Target[] = [];
  const order: Transport[] = ['sshfs', 'local', 'rmount', 'agent'];
  for (const t of order.filter(x => transports.includes(x))) {
    if (t === 'local' || t === 'sshfs') { out.push({ id: t, label: t === 'local' ? 'local disk' : 'sshfs', transport: t, opts: [] }); continue; }
    const via = t === 'rmount' ? 'sftp' : 'agent';
    const agent = `agent=${t === 'rmount' ? 'no' : 'yes'}`;
    if (!writeback) out.push({ id: t, label: `rmount (${via})`, transport: t, opts: [agent] });
    else for (const mode of ['on', 'off']) out.push({ id: `${t}-${mode}`, label: `rmount wb=${mode} (${via})`, transport: t, opts: [agent, `writeback=${mode}`] });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// One row on one target

interface Data { tarball: string; tree: Manifest; treeLabel: string; big: string; bigSha: string }
interface Ctx { rtt: number; link: Link; data: Data; smallFiles: number; saves: number; bigMb: number; sync: boolean }

const rowLabel = (row: RowId, c: Ctx): string => ({
  unpack: `unpack: tar -x of ${c.data.treeLabel}`, 'small-files': `create ${c.smallFiles} small files`,
  saves: `${c.saves} editor saves (tmp, fsync, rename)`, 'big-write': `sequential write ${c.bigMb} MiB`,
})[row];

class Timeout extends Error {}

/** Seconds from now until a check of the server-side folder passes (0 when the first one does). */
async function untilOnServer(server: string, manifest: Manifest, deadline: number): Promise<number> {
  const t0 = performance.now();
  for (let first = true; ; first = false) {
    const started = performance.now();
    if (notYet(server, manifest, 1).length === 0) return first ? 0 : (started - t0) / 1000;
    if (Date.now() > deadline) throw new Timeout(`not on the server after ${(timeoutMs / 1000).toFixed(0)} s: ${notYet(server, manifest, 3).join(', ')}…`);
    await sleep(20);
  }
}

async function must(r: Promise<RunResult>, what: string): Promise<RunResult> {
  const done = await r;
  if (done.timedOut) throw new Timeout(`${what}: timeout`);
  if (done.code !== 0) throw new Error(`${what} exited ${done.code}: ${done.stderr.trim().slice(-600)}`);
  return done;
}

/** Runs the row's workload in `dir` (the mount's view of `server`); seconds until it returned. */
async function workload(row: RowId, c: Ctx, dir: string, server: string, deadline: number): Promise<{ returns: number; manifest: Manifest; note: string }> {
  const left = (): number => Math.max(1000, deadline - Date.now());
  const child = async (...a: string[]): Promise<Record<string, number>> => {
    const r = await must(run(process.execPath, ['--import', 'tsx', join(ROOT, 'bench', 'writeback-data.ts'), ...a], { timeoutMs: left() }), a[0]!);
    return JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, number>;
  };
  switch (row) {
    case 'unpack':
      return { returns: (await must(run('tar', ['--no-same-owner', '-xf', c.data.tarball, '-C', dir], { timeoutMs: left() }), 'tar -x')).seconds, manifest: c.data.tree, note: '' };
    case 'small-files':
      return { returns: (await child('small-files', dir, String(c.smallFiles))).seconds!, manifest: smallFilesManifest(c.smallFiles), note: '' };
    case 'saves': {
      const r = await child('saves', dir, server, String(c.saves));
      return { returns: r.seconds!, manifest: savesManifest(c.saves), note: `on server at fsync ${r.atFsync}/${c.saves}, after rename ${r.afterRename}/${c.saves}; ` };
    }
    case 'big-write': {
      const r = await must(run('dd', [`if=${c.data.big}`, `of=${join(dir, 'big.bin')}`, 'bs=1M', 'status=none'], { timeoutMs: left() }), 'dd');
      return { returns: r.seconds, manifest: new Map([['big.bin', { kind: 'file', size: c.bigMb * 1048576, sha256: c.data.bigSha }]]), note: '' };
    }
  }
}

async function measure(row: RowId, target: Target, c: Ctx): Promise<Cell> {
  const cell: Cell = { rtt: c.rtt, row, rowLabel: rowLabel(row, c), target: target.id, label: target.label, check: '' };
  const tag = `${row}-${target.id}-rtt${c.rtt}`;
  const server = join(c.link.backing, tag);
  if (row === 'saves') prepareSaves(server);
  else await mkdir(server);
  await run('sync', []);
  let mounted: Mounted | undefined;
  try {
    const mountpoint = join(c.link.backing, '..', `mnt-${tag}`);
    mounted = target.transport === 'local' ? { root: c.link.backing, unmount: async () => {} }
      : target.transport === 'sshfs' ? await mountSshfs(cleanup, c.link, mountpoint)
        : await mountRmount(cleanup, c.link, mountpoint, target.opts);
    const deadline = Date.now() + timeoutMs;
    const w = await workload(row, c, join(mounted.root, tag), server, deadline);
    cell.returnsS = w.returns;
    let extra = 0;
    let note = w.note;
    if (c.sync && target.transport !== 'local' && target.transport !== 'sshfs') {
      const r = await rmount(['sync', mounted.root], c.link.rmountEnv, Math.max(1000, deadline - Date.now()));
      if (r.code !== 0) throw new Error(`rmount sync exited ${r.timedOut ? 'timeout' : r.code}: ${r.stderr.trim().slice(-400)}`);
      extra = r.seconds;
      note += `rmount sync ${r.seconds.toFixed(3)} s; `;
      const missing = notYet(server, w.manifest);
      if (missing.length > 0) {
        note += `${missing.length} paths not final right after rmount sync returned; `;
        extra += await untilOnServer(server, w.manifest, deadline);
      }
    } else {
      extra = await untilOnServer(server, w.manifest, deadline);
      if (extra > 0 && (target.transport === 'local' || target.transport === 'sshfs')) note += `complete ${extra.toFixed(3)} s after it returned; `;
    }
    cell.atServerS = w.returns + extra;
    const wrong = await wrongContent(server, w.manifest);
    cell.check = `${note}${wrong.length === 0 ? 'content ok' : `${wrong.length} files with wrong content (${wrong.slice(0, 2).join(', ')})`}`;
  } catch (error) {
    cell.check = error instanceof Timeout ? `timeout: ${error.message}` : `error: ${(error as Error).message.split('\n')[0]}`;
    log(`  ${tag}: ${cell.check}`);
  } finally {
    try { await mounted?.unmount(); } catch (error) { log(`  unmount after ${tag}: ${(error as Error).message}`); }
    await rm(server, { recursive: true, force: true });
  }
  return cell;
}

// ---------------------------------------------------------------------------------------------
// Output

const secs = (s: number | undefined): string => s === undefined ? '–' : s < 10 ? s.toFixed(3) : s.toFixed(1);
const times = (r: number | undefined): string => r === undefined ? '–' : `${r.toFixed(r < 0.1 ? 3 : 2)}×`;

function table(cells: Cell[]): string {
  const out = ['| row | target | returns (s) | × sshfs | @server (s) | × sshfs | on the server |', '|---|---|---:|---:|---:|---:|---|'];
  for (const c of cells) out.push(`| ${c.rowLabel} | ${c.label} | ${secs(c.returnsS)} | ${times(c.returnsVsSshfs)} | ${secs(c.atServerS)} | ${times(c.atServerVsSshfs)} | ${c.check} |`);
  return out.join('\n');
}

/** The goals, judged for every write-back-on target (or every rmount target when the option is missing). */
function goals(cells: Cell[], writeback: boolean): string[] {
  const wanted: { rtt: number; row: RowId; what: 'returns' | '@server'; max: number }[] = [
    { rtt: 20, row: 'unpack', what: 'returns', max: 0.1 }, { rtt: 20, row: 'unpack', what: '@server', max: 0.3 },
    { rtt: 20, row: 'small-files', what: 'returns', max: 0.1 }, { rtt: 20, row: 'small-files', what: '@server', max: 0.2 },
    { rtt: 20, row: 'saves', what: 'returns', max: 0.5 },
    ...ROWS.flatMap(row => (['returns', '@server'] as const).map(what => ({ rtt: 0, row, what, max: 1 }))),
  ];
  const out: string[] = [];
  for (const g of wanted) {
    const judged = cells.filter(c => c.rtt === g.rtt && c.row === g.row && /^(rmount|agent)/.test(c.target) && (!writeback || c.target.endsWith('-on')));
    if (judged.length === 0) continue;
    const parts = judged.map(c => {
      const r = g.what === 'returns' ? c.returnsVsSshfs : c.atServerVsSshfs;
      return `${c.label} ${times(r)} ${r === undefined ? 'not measured' : r <= g.max ? 'met' : 'NOT met'}`;
    });
    out.push(`- RTT ${g.rtt} ms, ${g.row} ${g.what} ≤ ${g.max}× sshfs: ${parts.join('; ')}`);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Main

async function main(): Promise<void> {
  for (const tool of ['sshfs', 'tar', 'dd', 'fusermount3']) if ((await run('sh', ['-c', `command -v ${tool}`])).code !== 0) fail(`${tool} is not installed`);
  const startedAt = new Date();
  const rig = await startRig(cleanup, 'writeback');
  const backing = join(rig.dir, 'backing');
  await mkdir(backing);
  const rmountEnv = { ...process.env, RMOUNT_RUNTIME_DIR: join(rig.dir, 'rmount-run'), RMOUNT_STATE_DIR: join(rig.dir, 'rmount-state') };
  const stale = await libStale();
  if (stale !== undefined) log(`warning: ${stale}`);
  const cap = await capabilities(rmountEnv);
  const method = cap.sync ? `rmount sync MOUNTPOINT (its time, including the CLI's start-up of ${cap.cliStartS.toFixed(3)} s, is added to "returns")`
    : 'no `rmount sync` in this CLI: polled the server-side folder every 20 ms until every path was final';
  if (!cap.writeback) log('NOTE: bin/rmount does not accept -o writeback= (not in `rmount mount --help`): rmount is measured once per transport with its current write path; the writeback=on/off columns are skipped');
  log(`@server for rmount: ${method}`);
  const targets = targetsFor(cap.writeback);
  const cells: Cell[] = [];
  const prepared = new Map<string, Data>();
  const loads = [loadNow()];
  for (const [i, rtt] of rtts.entries()) {
    const files = perRtt(sizes.files, i);
    const bigMb = perRtt(sizes.bigMb, i);
    let data = prepared.get(`${files}/${bigMb}`);
    if (data === undefined) {
      const treeDir = join(rig.dir, `tree-${files}`);
      const made = generateTree(treeDir, files);
      const tarball = `${treeDir}.tar`;
      await must(run('tar', ['-cf', tarball, '-C', treeDir, '.']), 'tar -c');
      const big = join(rig.dir, `big-${bigMb}.bin`);
      await must(run('dd', ['if=/dev/urandom', `of=${big}`, 'bs=1M', `count=${bigMb}`, 'status=none']), 'dd');
      const treeLabel = `${files} files (${made.dirs} folders, ${made.links} symlinks, ${(made.bytes / 1048576).toFixed(1)} MiB)`;
      data = { tarball, tree: made.manifest, treeLabel, big, bigSha: await sha256File(big) };
      prepared.set(`${files}/${bigMb}`, data);
      log(`tree: ${treeLabel}`);
    }
    let port = rig.sshd.port;
    let stopProxy: (() => Promise<void>) | undefined;
    if (rtt > 0) {
      ({ port, stop: stopProxy } = await startProxy(cleanup, rig.sshd.port, rtt));
      await appendFile(rig.knownHosts, `[127.0.0.1]:${port} ${rig.sshd.hostPublicKey}\n`);
    }
    const sshConfig = join(rig.dir, `ssh_config-rtt${rtt}`);
    await writeFile(sshConfig, renderClientConfig({ hosts: '127.0.0.1', port, user: rig.user, identityFile: rig.sshd.userKey, knownHostsFile: rig.knownHosts }));
    const link: Link = { port, sshConfig, knownHosts: rig.knownHosts, key: rig.sshd.userKey, user: rig.user, backing, rmountEnv };
    const ctx: Ctx = { rtt, link, data, smallFiles: perRtt(sizes.smallFiles, i), saves: perRtt(sizes.saves, i), bigMb, sync: cap.sync };
    log(`RTT ${rtt} ms: ${rtt === 0 ? `direct to sshd ${port}` : `latency proxy ${port}, ${rtt / 2} ms each way`}; load ${loadNow()}`);
    for (const row of rows) {
      const rowCells: Cell[] = [];
      for (const target of targets) {
        if (cleanup.interrupted) return;
        const cell = await measure(row, target, ctx);
        rowCells.push(cell);
        log(`[RTT ${rtt}] ${cell.rowLabel} / ${cell.label}: returns ${secs(cell.returnsS)} s, @server ${secs(cell.atServerS)} s; ${cell.check}`);
      }
      const base = rowCells.find(c => c.target === 'sshfs');
      for (const c of rowCells) {
        if (base?.returnsS !== undefined && c.returnsS !== undefined) c.returnsVsSshfs = c.returnsS / base.returnsS;
        if (base?.atServerS !== undefined && c.atServerS !== undefined) c.atServerVsSshfs = c.atServerS / base.atServerS;
      }
      cells.push(...rowCells);
    }
    await stopProxy?.();
    loads.push(loadNow());
  }

  const out = [`## writeback, ${startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC`, '', '```', COMMAND, '```', '',
    `${cpus().length} CPUs; 1-minute load ${loads.join(' → ')}. bin/rmount: ${stale ?? 'lib/ current with src/'}.`,
    `-o writeback=: ${cap.writeback ? 'accepted (on/off columns)' : 'NOT accepted by this build: one rmount column per transport, no on/off distinction'}.`,
    `@server for rmount: ${method}; for sshfs and local: "returns" once a check of the server-side folder passed (no sync).`];
  for (const rtt of rtts) {
    out.push('', `### RTT ${rtt} ms${rtt === 0 ? ' (direct)' : ` (latency proxy, ${rtt / 2} ms each way)`}`, '', table(cells.filter(c => c.rtt === rtt)));
  }
  const judged = goals(cells, cap.writeback);
  if (judged.length > 0) out.push('', `Goals (${cap.writeback ? 'writeback=on targets' : 'rmount without the writeback option'}):`, '', ...judged);
  process.stdout.write(`\n${out.join('\n')}\n`);
  if (args.json !== '') {
    await writeFile(args.json, `${JSON.stringify({ command: COMMAND, startedAt: startedAt.toISOString(), cpus: cpus().length, loads, libStale: stale ?? null,
      writebackOption: cap.writeback, atServerMethod: cap.sync ? 'rmount sync' : 'poll', cliStartS: cap.cliStartS, sizes, rtts, cells, goals: judged }, null, 2)}\n`);
    log(`wrote ${args.json}`);
  }
}

try {
  await main();
} catch (error) {
  log(`writeback: ${(error as Error).stack ?? String(error)}`);
  process.exitCode = 1;
} finally {
  for (const child of running) killGroup(child, 'SIGKILL');
  await cleanup.runAll();
}
process.exit(process.exitCode ?? 0);
