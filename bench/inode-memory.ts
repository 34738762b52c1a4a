/**
 * Bytes the mount holds per inode after a walk, with garbage collected: the VFS over a local
 * folder in this process (no FUSE: the walk is the kernel's lookups and readdirplus, made as calls),
 * so the heap can be measured exactly around it. `bench/large-tree.ts` gives the daemon's RSS through
 * a real mount, which also counts garbage not yet collected.
 *
 *   node --expose-gc --import tsx bench/inode-memory.ts [--dirs 200] [--files 100]
 *
 * Prints the inodes and listing entries held and the heap per inode, and the heap per inode after
 * the kernel forgets every one of them.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalFileClient } from '../src/backends/local/file-client.ts';
import { ROOT_INO } from '../src/fuse/operations.ts';
import { WorkspaceFilesystem } from '../src/workspacefs/workspace-filesystem.ts';

const ctx = { uid: 0, gid: 0, pid: process.pid, umask: 0 };

async function main(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run with node --expose-gc');
  const arg = (name: string, fallback: number): number => {
    const i = process.argv.indexOf(`--${name}`);
    return i < 0 ? fallback : Number(process.argv[i + 1]);
  };
  const dirs = arg('dirs', 200);
  const files = arg('files', 100);
  const root = await mkdtemp(join(tmpdir(), 'rmount-bench-inodes-'));
  try {
    for (let d = 0; d < dirs; d++) {
      await mkdir(join(root, `d${d}`));
      for (let f = 0; f < files; f++) await writeFile(join(root, `d${d}`, `f${f}.txt`), 'x');
    }
    // Long lifetimes: nothing expires during the walk, as in a walk of a large tree that takes a while.
    const fs = new WorkspaceFilesystem(new LocalFileClient(), {
      root, attrTimeoutMs: 600_000, dirTimeoutMs: 600_000, entryTimeoutMs: 600_000, contentCacheBytes: 0, prefetchConcurrency: 0,
    });
    gc();
    const before = process.memoryUsage().heapUsed;
    const refs: number[] = [];
    for (let d = 0; d < dirs; d++) {
      const dir = await fs.lookup(ROOT_INO, `d${d}`, ctx);
      refs.push(dir.ino);
      const h = await fs.opendir(dir.ino, 0, ctx);
      for (const e of await fs.readdirplus(dir.ino, h.fh, 0, 1 << 24, ctx)) if (e.name !== '.' && e.name !== '..') refs.push(e.entry.ino);
      await fs.releasedir(dir.ino, h.fh, ctx);
    }
    gc();
    const walked = fs.stats();
    const perInode = (process.memoryUsage().heapUsed - before) / walked.inodes;
    for (const ino of refs.reverse()) fs.forget(ino, 1);
    gc();
    const forgot = fs.stats();
    process.stdout.write(`${dirs} folders x ${files} files: ${walked.inodes} inodes, ${walked.listingEntries} listing entries held; ${Math.round(perInode)} B of heap per inode\n`);
    process.stdout.write(`after the kernel forgot them: ${forgot.inodes} inodes, ${forgot.listingEntries} listing entries (fresh listings stay for their lifetime); ${Math.round((process.memoryUsage().heapUsed - before) / walked.inodes)} B per inode walked\n`);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

main().catch(error => {
  process.stderr.write(`inode-memory: ${(error as Error).stack ?? String(error)}\n`);
  process.exitCode = 1;
});
