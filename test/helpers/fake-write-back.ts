/**
 * A WriteBack the test drives, and a real control server over a local backend that serves it:
 * the control socket, `rmount sync` and `rmount status` are tested against these without a
 * journal or a FUSE mount.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { LocalBackend } from '../../src/backends/local/backend.ts';
import { serveControl, type ControlServer } from '../../src/control/server.ts';
import { silentLogger, type Logger } from '../../src/remote/log.ts';
import {
  WriteBackFailedError, type FailedOperation, type SyncProgress, type WriteBack, type WriteBackStatus,
} from '../../src/remote/write-back.ts';
import { Counters } from '../../src/workspacefs/stats.ts';

/** A refused operation, as the journal would report it. */
export function failedOp(path: string, code = 'EACCES', op = 'put'): FailedOperation {
  return { op, path, code, message: `${code} on the remote`, at: '2024-05-01T10:00:00.000Z' };
}

/**
 * Holds `pendingOps` changes until `flush()`; a sync started meanwhile waits for it. With
 * `failed` set, a sync rejects with WriteBackFailedError listing them. `hang` makes sync wait
 * for nothing but its signal.
 */
export class FakeWriteBack implements WriteBack {
  pendingOps = 0;
  pendingBytes = 0;
  failed: FailedOperation[] = [];
  hang = false;
  readonly calls: string[] = [];
  /** The signals sync and retry were given, to check that a wait is ended. */
  readonly signals: AbortSignal[] = [];
  /** Runs at each flush before waiters go on, as a journal's last send would. */
  onFlush: () => Promise<void> = async () => {};
  #waiters: { resolve: () => void; reject: (e: Error) => void }[] = [];

  sync(options: { signal?: AbortSignal; onProgress?: (left: SyncProgress) => void } = {}): Promise<void> {
    this.calls.push('sync');
    return this.#wait(options.signal);
  }

  retry(options: { signal?: AbortSignal } = {}): Promise<void> {
    this.calls.push('retry');
    this.failed = [];
    return this.#wait(options.signal);
  }

  async discard(): Promise<string[]> {
    this.calls.push('discard');
    const paths = this.failed.map(f => f.path);
    this.pendingOps -= this.failed.length;
    this.failed = [];
    return paths;
  }

  status(): WriteBackStatus {
    return {
      mode: 'on', journal: '/state/journal/x/1', pendingOps: this.pendingOps, pendingBytes: this.pendingBytes,
      oldestAgeMs: this.pendingOps > 0 ? 1500 : 0, inFlight: Math.min(this.pendingOps, 1), sent: 7,
      failed: this.failed, conflicts: [{ path: '/w/a.txt', keptAs: '/w/a.txt.remote-1', at: '2024-05-01T10:00:00.000Z' }],
      maxBytes: 1024 ** 3,
    };
  }

  /** Sends everything that is not refused: waiting syncs resolve (or reject with the refused ones). */
  async flush(): Promise<void> {
    await this.onFlush();
    this.pendingOps = this.failed.length;
    this.pendingBytes = 0;
    for (const w of this.#waiters.splice(0)) this.#settle(w);
  }

  #wait(signal: AbortSignal | undefined): Promise<void> {
    if (signal !== undefined) this.signals.push(signal);
    return new Promise((resolve, reject) => {
      const waiter = { resolve, reject };
      signal?.addEventListener('abort', () => {
        this.#waiters = this.#waiters.filter(w => w !== waiter);
        reject(signal.reason as Error);
      }, { once: true });
      if (this.pendingOps > this.failed.length || this.hang) this.#waiters.push(waiter);
      else this.#settle(waiter);
    });
  }

  #settle(w: { resolve: () => void; reject: (e: Error) => void }): void {
    if (this.failed.length > 0) w.reject(new WriteBackFailedError(this.failed));
    else w.resolve();
  }
}

/** A control server over a local backend of a fresh folder, serving `writeBack`. */
export interface FakeMount {
  dir: string;
  mountpoint: string;
  server: ControlServer;
}

/** Serves a control socket for a pretend mount on `<dir>/mnt` of `local:<dir>`; closed after the test. */
export async function serveFakeMount(t: TestContext, options: { writeBack?: WriteBack; linkTimeoutMs?: number; log?: Logger; dir?: string } = {}): Promise<FakeMount> {
  const dir = options.dir ?? await mkdtemp(join(tmpdir(), 'rmount-fake-mount-'));
  if (options.dir === undefined) t.after(() => rm(dir, { recursive: true, force: true }));
  const backend = new LocalBackend({ type: 'local', host: '', raw: `local:${dir}`, path: dir });
  await backend.start();
  t.after(() => backend.close());
  const counters = new Counters();
  const mountpoint = join(dir, 'mnt');
  const server = await serveControl({
    destination: `local:${dir}`, mountpoint, remotePath: dir, startedAt: new Date().toISOString(),
    backend, filesystem: { stats: () => counters.snapshot({ inodes: 1, openFiles: 0, openDirs: 0, listings: 0, listingEntries: 0 }), flushCaches() {} },
    watching: false, linkTimeoutMs: options.linkTimeoutMs ?? 30_000, stop: async () => {},
    ...(options.writeBack === undefined ? {} : { writeBack: options.writeBack }),
  }, { socketPath: join(dir, `control-${Math.random().toString(36).slice(2)}.sock`), log: options.log ?? silentLogger });
  t.after(() => server.close());
  return { dir, mountpoint, server };
}
