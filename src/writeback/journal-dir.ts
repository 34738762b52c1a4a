/**
 * Where journals live on local disk and what one holds, read without a mount: the daemon replays
 * journals a mount left behind, and `rmount status` lists those that wait for a destination.
 *
 * Layout: <root>/<key>/<instance>/ with `meta.json` (who wrote it), `log` (one JSON record a line,
 * appended in the order changes were accepted) and `data/<id>` (a staged file's content). `key`
 * names the remote folder, so a later mount of the same folder finds the journal; each mount
 * process has its own instance, so two mounts of one folder never write one log.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { JournalRecord } from './records.ts';

/** Who wrote a journal instance. */
export interface JournalMeta {
  destination: string;
  /** The backend's address and the remote folder: what the key is made of. */
  addr: string;
  remotePath: string;
  mountpoint: string;
  pid: number;
  /** The writer's start time in clock ticks since boot (/proc/PID/stat), so a reused PID is not taken for it. */
  pidStart: string;
  startedAt: string;
}

/** A journal instance as `rmount status` shows it. */
export interface JournalSummary {
  dir: string;
  meta: JournalMeta;
  /** True while the mount that writes it runs. */
  live: boolean;
  pendingOps: number;
  failedOps: number;
}

/** The folder holding every journal: $RMOUNT_STATE_DIR, else $XDG_STATE_HOME/rmount/journal, else ~/.local/state/rmount/journal. */
export function journalRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env['RMOUNT_STATE_DIR'] !== undefined && env['RMOUNT_STATE_DIR'] !== '') return join(env['RMOUNT_STATE_DIR'], 'journal');
  const state = env['XDG_STATE_HOME'] !== undefined && env['XDG_STATE_HOME'] !== '' ? env['XDG_STATE_HOME'] : join(env['HOME'] ?? homedir(), '.local', 'state');
  return join(state, 'rmount', 'journal');
}

/** The folder name for one remote folder of one destination. */
export function destinationKey(addr: string, remotePath: string): string {
  return createHash('sha256').update(`${addr}\0${remotePath}`).digest('hex').slice(0, 20);
}

/** This process's start time as /proc reports it ('' where there is no /proc). */
export async function processStart(pid: number): Promise<string> {
  try {
    const text = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count from its closing one.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return fields[19] ?? '';
  } catch {
    return '';
  }
}

/** True while the process that wrote `meta` still runs. */
export async function writerAlive(meta: JournalMeta): Promise<boolean> {
  if (meta.pid === process.pid) return true;
  const now = await processStart(meta.pid);
  return now !== '' && now === meta.pidStart;
}

/** Parses a journal log; a torn last line (the writer was killed mid-append) is ignored. */
export function parseLog(text: string): JournalRecord[] {
  const out: JournalRecord[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    try {
      out.push(JSON.parse(line) as JournalRecord);
    } catch {
      // Only the last line can be torn; a record is one write(2) of one line.
    }
  }
  return out;
}

/** Operations of a log not yet on the remote, and how many of them the remote refused. */
export function pendingOf(records: readonly JournalRecord[]): { pending: Set<number>; failed: Set<number> } {
  const pending = new Set<number>();
  const failed = new Set<number>();
  for (const r of records) {
    if (r.t === 'op') pending.add(r.seq);
    else if (r.t === 'done' || r.t === 'drop') {
      pending.delete(r.seq);
      failed.delete(r.seq);
    } else if (r.t === 'fail') failed.add(r.seq);
    else if (r.t === 'retry') failed.delete(r.seq);
  }
  return { pending, failed };
}

/** Every journal instance under `root` that still holds operations. */
export async function listJournals(root: string): Promise<JournalSummary[]> {
  const out: JournalSummary[] = [];
  for (const key of await names(root)) {
    for (const instance of await names(join(root, key))) {
      const dir = join(root, key, instance);
      const summary = await readSummary(dir);
      if (summary !== undefined && summary.pendingOps > 0) out.push(summary);
    }
  }
  return out;
}

/** One instance's summary; undefined when it is not a journal (no meta). */
export async function readSummary(dir: string): Promise<JournalSummary | undefined> {
  let meta: JournalMeta;
  try {
    meta = JSON.parse(await readFile(join(dir, 'meta.json'), 'utf8')) as JournalMeta;
  } catch {
    return undefined;
  }
  const log = await readFile(join(dir, 'log'), 'utf8').catch(() => '');
  const { pending, failed } = pendingOf(parseLog(log));
  return { dir, meta, live: await writerAlive(meta), pendingOps: pending.size, failedOps: failed.size };
}

async function names(dir: string): Promise<string[]> {
  try {
    const st = await stat(dir);
    if (!st.isDirectory()) return [];
    return (await readdir(dir)).sort();
  } catch {
    return [];
  }
}
