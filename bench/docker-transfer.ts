/**
 * Docker transfer: a 64 MiB file written and read through a mount of a container folder (the
 * agentless copy/exec client), and a 2,000-entry folder listed through it, next to `docker cp`
 * and `docker exec cat` on the same private engine in the same run. Prints times and ratios.
 *
 *   node --import tsx bench/docker-transfer.ts
 *   BENCH_SIZE_MIB=16 node --import tsx bench/docker-transfer.ts
 */
import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { dockerdSkipReason, startDockerd } from '../test/helpers/dockerd.ts';
import { fuseSkipReason, mountFor } from '../test/helpers/mount.ts';
import type { AfterHook } from '../test/helpers/sshd.ts';

const execFileP = promisify(execFile);
const SIZE = Number(process.env.BENCH_SIZE_MIB ?? 64) << 20;
const ENTRIES = 2000;

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return (performance.now() - t) / 1000;
}

async function sha(path: string): Promise<string> {
  const h = createHash('sha256');
  await pipeline(createReadStream(path), h);
  return h.digest('hex');
}

async function main(): Promise<void> {
  const reason = dockerdSkipReason() || fuseSkipReason();
  if (reason) throw new Error(`cannot run: ${reason}`);
  const cleanups: (() => Promise<void> | void)[] = [];
  const hook: AfterHook = { after: fn => { cleanups.push(fn); } };
  try {
    const d = await startDockerd(hook);
    process.env.DOCKER_HOST = d.host;
    const work = await mkdtemp(join(tmpdir(), 'rmount-bench-'));
    hook.after(() => rm(work, { recursive: true, force: true }));
    const name = await d.run({ args: ['-w', '/data'], cmd: ['sh', '-c', 'mkdir -p /data/list && exec sleep 1000000'] });
    await d.docker(['exec', name, 'sh', '-c', `cd /data/list && i=0; while [ $i -lt ${ENTRIES} ]; do echo $i > f$i; i=$((i+1)); done`]);
    const src = join(work, 'src.bin');
    await writeFile(src, randomBytes(SIZE));
    const want = await sha(src);
    const { mountpoint } = await mountFor(hook, `docker://${name}/data`);
    const env = { ...process.env, ...d.env };

    const rows: [string, number, number, string][] = [];
    // Write: through the mount vs docker cp into the container.
    // Writes reach the container when the kernel releases the handle, just after close(2): the
    // time runs until the container holds every byte.
    const wMount = await timed(async () => {
      await pipeline(createReadStream(src), createWriteStream(join(mountpoint, 'm.bin')));
      for (;;) {
        const { stdout } = await execFileP('docker', ['exec', name, 'stat', '-c', '%s', '/data/m.bin'], { env });
        if (Number(stdout.trim()) === SIZE) break;
      }
    });
    const wCp = await timed(() => execFileP('docker', ['cp', src, `${name}:/data/c.bin`], { env }));
    const wCat = await timed(() => new Promise<void>((resolve, reject) => {
      const p = spawn('docker', ['exec', '-i', name, 'sh', '-c', 'cat > /data/e.bin'], { env, stdio: ['pipe', 'ignore', 'inherit'] });
      createReadStream(src).pipe(p.stdin);
      p.on('close', code => (code === 0 ? resolve() : reject(new Error(`exit ${code}`))));
    }));
    rows.push(['write 64 MiB: mount vs docker cp', wMount, wCp, 'docker cp'], ['write 64 MiB: mount vs docker exec -i cat >', wMount, wCat, 'exec cat']);
    // Read: a fresh name so no page cache of the mount holds it.
    await d.docker(['exec', name, 'cp', '/data/c.bin', '/data/r.bin']);
    const rMount = await timed(() => pipeline(createReadStream(join(mountpoint, 'r.bin')), createWriteStream(join(work, 'm.out'))));
    const rCp = await timed(() => execFileP('docker', ['cp', `${name}:/data/c.bin`, join(work, 'c.out')], { env }));
    const rCat = await timed(() => new Promise<void>((resolve, reject) => {
      const p = spawn('docker', ['exec', name, 'cat', '/data/e.bin'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
      p.stdout.pipe(createWriteStream(join(work, 'e.out')));
      p.on('close', code => (code === 0 ? resolve() : reject(new Error(`exit ${code}`))));
    }));
    rows.push(['read 64 MiB: mount vs docker cp', rMount, rCp, 'docker cp'], ['read 64 MiB: mount vs docker exec cat', rMount, rCat, 'exec cat']);
    for (const f of ['m.out', 'c.out', 'e.out']) if (await sha(join(work, f)) !== want) throw new Error(`${f}: wrong SHA-256`);
    // Listing with attributes (ls -l) of 2,000 entries: mount vs docker exec ls -l.
    const lMount = await timed(async () => {
      const names = await readdir(join(mountpoint, 'list'), { withFileTypes: true });
      if (names.length !== ENTRIES) throw new Error(`listed ${names.length}`);
      await execFileP('ls', ['-l', join(mountpoint, 'list')], { maxBuffer: 16 << 20 });
    });
    const lExec = await timed(() => execFileP('docker', ['exec', name, 'ls', '-l', '/data/list'], { env, maxBuffer: 16 << 20 }));
    rows.push(['ls -l 2,000 entries: mount vs docker exec ls -l', lMount, lExec, 'exec ls']);

    console.log(`| case | mount (s) | other (s) | mount/other time |`);
    console.log(`|---|---:|---:|---:|`);
    for (const [what, a, b] of rows) console.log(`| ${what} | ${a.toFixed(2)} | ${b.toFixed(2)} | ${(a / b).toFixed(2)} |`);
    console.log(`\nMiB/s: write mount ${(SIZE / (1 << 20) / wMount).toFixed(0)}, docker cp ${(SIZE / (1 << 20) / wCp).toFixed(0)}, exec cat ${(SIZE / (1 << 20) / wCat).toFixed(0)}; read mount ${(SIZE / (1 << 20) / rMount).toFixed(0)}, docker cp ${(SIZE / (1 << 20) / rCp).toFixed(0)}, exec cat ${(SIZE / (1 << 20) / rCat).toFixed(0)}`);
  } finally {
    for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch(e => console.error('cleanup:', e));
  }
}

await main();
