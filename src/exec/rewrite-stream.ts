import { Transform, type TransformCallback } from 'node:stream';
import { rewriteRemotePaths, type PathMapping } from './path-map.ts';

/** Longest stretch held back waiting for a newline before it is rewritten and passed on anyway. */
const MAX_HELD = 64 * 1024;

/**
 * A byte stream that rewrites remote paths into local ones (see rewriteRemotePaths). Works line
 * by line so a path split across two chunks is still found; a partial line is held until its
 * newline, the end, or MAX_HELD bytes.
 */
export class PathRewriteStream extends Transform {
  readonly #mapping: PathMapping;
  #held = '';

  constructor(mapping: PathMapping) {
    super();
    this.#mapping = mapping;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const text = this.#held + chunk.toString('latin1');
    const nl = text.lastIndexOf('\n');
    let out: string;
    if (nl >= 0) {
      out = text.slice(0, nl + 1);
      this.#held = text.slice(nl + 1);
    } else {
      out = '';
      this.#held = text;
    }
    if (this.#held.length > MAX_HELD) {
      out += this.#held;
      this.#held = '';
    }
    if (out !== '') this.push(Buffer.from(rewriteRemotePaths(this.#mapping, out), 'latin1'));
    callback();
  }

  override _flush(callback: TransformCallback): void {
    if (this.#held !== '') this.push(Buffer.from(rewriteRemotePaths(this.#mapping, this.#held), 'latin1'));
    this.#held = '';
    callback();
  }
}
