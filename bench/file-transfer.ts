/** Whole-file transfers through a FileClient in 8 MiB calls (the codec splits and pipelines them), for the SFTP benches. */
import type { FileClient } from '../src/remote/file-client.ts';

const CHUNK = 8 * 1024 * 1024;

/** Writes `data` to `path` (created or truncated). */
export async function writeAll(files: FileClient, path: string, data: Buffer): Promise<void> {
  const handle = await files.open(path, { read: false, write: true, create: true, truncate: true });
  try {
    for (let pos = 0; pos < data.length; pos += CHUNK) await handle.write(data, pos, Math.min(CHUNK, data.length - pos), pos);
  } finally {
    await handle.close();
  }
}

/** Reads `size` bytes of `path`. @throws Error when it is shorter. */
export async function readAll(files: FileClient, path: string, size: number): Promise<Buffer> {
  const out = Buffer.alloc(size);
  const handle = await files.open(path, { read: true, write: false });
  try {
    for (let pos = 0; pos < size;) {
      const n = await handle.read(out, pos, Math.min(CHUNK, size - pos), pos);
      if (n === 0) throw new Error(`short read at ${pos}`);
      pos += n;
    }
  } finally {
    await handle.close();
  }
  return out;
}
