/**
 * Gathers the changes the queue starts in one turn of the event loop into batch requests
 * (rmount-agent's batch@rmount): a hundred small files made by `tar -x` or `npm install` cost a few
 * requests instead of a hundred, which is what the daemon's one thread pays for at zero latency.
 */
import { BATCH_MAX_BYTES, BATCH_MAX_OPS, batchOpBytes, type BatchOp, type BatchingFileClient, type FileStat } from '../remote/file-client.ts';
import type { FsError } from '../remote/fs-error.ts';

/** What became of one change of a batch. */
export interface Sent {
  /** The remote's refusal; undefined when it was done. */
  refused: FsError | undefined;
  /** With `statAfter`: what an lstat sent right behind the batch saw (where the remote keeps order). */
  stat?: FileStat;
}

interface Waiting {
  op: BatchOp;
  bytes: number;
  statAfter: boolean;
  resolve(sent: Sent): void;
  reject(error: unknown): void;
}

export class Batcher {
  readonly #inner: BatchingFileClient;
  #waiting: Waiting[] = [];
  #scheduled = false;

  constructor(inner: BatchingFileClient) {
    this.#inner = inner;
  }

  /**
   * Sends `op` in the next batch. Resolves with the remote's refusal of it (undefined when it was
   * done) and rejects when the request as a whole failed (a lost link): then none of it is known
   * to be done.
   */
  send(op: BatchOp, statAfter = false): Promise<Sent> {
    return new Promise((resolve, reject) => {
      this.#waiting.push({ op, bytes: batchOpBytes(op), statAfter: statAfter && op.kind === 'put', resolve, reject });
      if (this.#scheduled) return;
      this.#scheduled = true;
      // After the queue's pump has started everything it may: they all go together.
      setImmediate(() => this.#flush());
    });
  }

  #flush(): void {
    this.#scheduled = false;
    const all = this.#waiting;
    this.#waiting = [];
    for (let i = 0; i < all.length;) {
      let bytes = 0;
      let j = i;
      while (j < all.length && j - i < BATCH_MAX_OPS && (j === i || bytes + all[j]!.bytes <= BATCH_MAX_BYTES)) bytes += all[j++]!.bytes;
      this.#request(all.slice(i, j));
      i = j;
    }
  }

  #request(items: Waiting[]): void {
    const sent = this.#inner.batch(items.map(w => w.op));
    // Behind the batch on the same channel: they see what it made, in the same round trip.
    const stats = items.map(w => w.statAfter && w.op.kind === 'put' ? this.#inner.lstat(w.op.path).catch(() => undefined) : undefined);
    sent.then(async results => {
      for (let k = 0; k < items.length; k++) {
        const stat = await stats[k];
        items[k]!.resolve({ refused: results[k], ...(stat === undefined ? {} : { stat }) });
      }
    }, (error: unknown) => {
      for (const w of items) w.reject(error);
    });
  }
}
