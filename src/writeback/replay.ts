/**
 * Opening a mount's journal: a new instance for this process, after taking over what earlier
 * mounts of the same remote folder left behind (a killed daemon, a reboot, a link that never came
 * back). Their operations are queued first, in their order, with their staged content.
 */
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { FileClient } from '../remote/file-client.ts';
import type { Logger } from '../remote/log.ts';
import { destinationKey, parseLog, pendingOf, readSummary } from './journal-dir.ts';
import { Journal } from './journal.ts';
import type { StagedMeta } from './records.ts';
import type { StagedFile } from './staged-file.ts';
import { WriteBackClient, type WriteBackOptions } from './write-back-client.ts';

/** What opening a journal needs. */
export interface OpenWriteBackOptions extends Omit<WriteBackOptions, 'journal'> {
  /** journalRoot() */
  root: string;
  destination: string;
  addr: string;
  remotePath: string;
  mountpoint: string;
}

/** A write-back client over `inner` with its journal, and how many operations it took over. */
export async function openWriteBack(inner: FileClient, options: OpenWriteBackOptions): Promise<{ client: WriteBackClient; adopted: number }> {
  const keyDir = join(options.root, destinationKey(options.addr, options.remotePath));
  const journal = await Journal.create(keyDir, {
    destination: options.destination, addr: options.addr, remotePath: options.remotePath, mountpoint: options.mountpoint,
  });
  const client = new WriteBackClient(inner, { ...options, journal });
  let adopted = 0;
  for (const name of (await readdir(keyDir).catch(() => [] as string[])).sort()) {
    const dir = join(keyDir, name);
    if (dir === journal.dir) continue;
    const summary = await readSummary(dir);
    if (summary === undefined || summary.live) continue;
    adopted += await adopt(client, dir, options.log);
    await rm(dir, { recursive: true, force: true });
  }
  return { client, adopted };
}

/** Queues the pending operations of the stopped journal in `dir`; resolves with how many. */
async function adopt(client: WriteBackClient, dir: string, log: Logger): Promise<number> {
  const records = parseLog(await readFile(join(dir, 'log'), 'utf8').catch(() => ''));
  const { pending } = pendingOf(records);
  const metas = new Map<number, StagedMeta>();
  const files = new Map<number, StagedFile>();
  let n = 0;
  // A file's last record wins, also over the put before it: attributes set after the put was queued.
  for (const r of records) {
    if (r.t !== 'file') continue;
    const { t: _t, id, ...meta } = r;
    metas.set(id, meta);
  }
  for (const r of records) {
    if (r.t !== 'op' || !pending.has(r.seq)) continue;
    const op = r.op;
    if (op.kind === 'put') {
      const meta = metas.get(op.file);
      if (meta === undefined) {
        log.warn(`journal ${dir}: a put of ${op.path} has no file record; skipped`);
        continue;
      }
      // One staged file may have several pending puts (sent, then changed again): they share its content.
      let file = files.get(op.file);
      if (file === undefined) {
        try {
          file = client.adoptFile(meta, join(dir, 'data', String(op.file)), op.path);
        } catch (error) {
          log.warn(`journal ${dir}: the content of ${op.path} is missing (${(error as Error).message}); skipped`);
          continue;
        }
        files.set(op.file, file);
      }
      file.path = op.path;
      client.adoptOp(op, r.at, file);
    } else {
      client.adoptOp(op, r.at);
    }
    n++;
  }
  if (n > 0) log.info(`journal: ${n} change(s) left by an earlier mount (${dir}) are being sent`);
  return n;
}
