/**
 * One mount's journal on local disk: the log of accepted changes and the staged files' content.
 *
 * A record is appended with one write(2) before the change is acknowledged to the program, so a
 * killed daemon loses nothing: the kernel holds the bytes. The log is not fsync'ed per record
 * (that would cost a disk flush per write); a program that needs its data past a power cut calls
 * fsync, and fsync waits until the data is on the remote, which is stronger.
 */
import { closeSync, mkdirSync, openSync, writeSync, ftruncateSync } from 'node:fs';
import { mkdir, rm, rmdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { processStart, type JournalMeta } from './journal-dir.ts';
import type { JournalRecord } from './records.ts';

export class Journal {
  readonly dir: string;
  readonly dataDir: string;
  /** The log's descriptor (O_APPEND); undefined once closed. */
  #fd: number | undefined;
  /** Records appended since the log was last emptied. */
  #records = 0;

  private constructor(dir: string) {
    this.dir = dir;
    this.dataDir = join(dir, 'data');
    mkdirSync(this.dataDir, { recursive: true, mode: 0o700 });
    this.#fd = openSync(join(dir, 'log'), 'a', 0o600);
  }

  /** Makes this process's instance under `keyDir` and records who writes it. */
  static async create(keyDir: string, meta: Omit<JournalMeta, 'pid' | 'pidStart' | 'startedAt'>): Promise<Journal> {
    const dir = join(keyDir, `${process.pid}-${randomBytes(4).toString('hex')}`);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const full: JournalMeta = { ...meta, pid: process.pid, pidStart: await processStart(process.pid), startedAt: new Date().toISOString() };
    await writeFile(join(dir, 'meta.json'), `${JSON.stringify(full, null, 2)}\n`, { mode: 0o600 });
    return new Journal(dir);
  }

  /** The staging file of staged file `id`. */
  dataPath(id: number): string {
    return join(this.dataDir, String(id));
  }

  /** Appends `record`; synchronous so that records land in the order changes were accepted. */
  append(record: JournalRecord): void {
    if (this.#fd === undefined) return;
    writeSync(this.#fd, `${JSON.stringify(record)}\n`);
    this.#records++;
  }

  /**
   * Empties the log: called when nothing is pending, so its records say nothing a replay needs.
   * A staged file still open keeps its content, and is journaled again when it changes.
   */
  compact(): void {
    if (this.#fd === undefined || this.#records === 0) return;
    ftruncateSync(this.#fd, 0);
    this.#records = 0;
  }

  /** Closes the log; with `remove`, deletes the instance (nothing was left to send). */
  async close(remove: boolean): Promise<void> {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
    if (remove) {
      await rm(this.dir, { recursive: true, force: true });
      // The folder of the destination goes too once no instance is left in it.
      await rmdir(dirname(this.dir)).catch(() => {});
    }
  }
}
