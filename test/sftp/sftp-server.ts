import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { once } from 'node:events';
import { Duplex, Transform, type TransformCallback } from 'node:stream';
import type { TestContext } from 'node:test';
import { FXP } from '../../src/sftp/constants.ts';
import { PacketFramer, PacketReader, PacketWriter } from '../../src/sftp/packet.ts';
import { SftpFileClient, type SftpFileClientOptions } from '../../src/sftp/sftp-file-client.ts';
import { requirePart } from '../helpers/skip.ts';

/** OpenSSH's own SFTP server, spoken to over its stdio. */
export const SFTP_SERVER = '/usr/lib/openssh/sftp-server';

/** Why the sftp-server tests cannot run here, or false. */
export function sftpServerSkipReason(): string | false {
  return requirePart(existsSync(SFTP_SERVER) ? false : `openssh-sftp-server not installed (${SFTP_SERVER})`);
}

/** A running sftp-server and the duplex stream over its stdin/stdout. */
export interface SftpServerProcess {
  child: ChildProcessWithoutNullStreams;
  stream: Duplex;
}

/**
 * Spawns sftp-server and kills it after the test. `keepExtensions` filters the extensions its
 * VERSION packet advertises (to exercise the client's fallbacks against the real server).
 */
export function spawnSftpServer(t: Pick<TestContext, 'after'>, keepExtensions?: (name: string) => boolean): SftpServerProcess {
  const child = spawn(SFTP_SERVER, ['-e', '-l', 'ERROR'], { stdio: ['pipe', 'pipe', 'pipe'] });
  child.stderr.resume();
  const exited = once(child, 'exit').catch(() => undefined);
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  const readable = keepExtensions === undefined ? child.stdout : child.stdout.pipe(filterVersion(keepExtensions));
  return { child, stream: Duplex.from({ readable, writable: child.stdin }) };
}

/** An SftpFileClient over a fresh sftp-server, closed after the test. */
export async function startSftpClient(
  t: Pick<TestContext, 'after'>,
  options: SftpFileClientOptions & { keepExtensions?: (name: string) => boolean } = {},
): Promise<SftpFileClient & { server: SftpServerProcess }> {
  let client: SftpFileClient | undefined;
  // Hooks run in registration order: close the client (which ends sftp-server's stdin) before
  // the server's own hook makes sure it is gone.
  t.after(() => client?.close());
  const server = spawnSftpServer(t, options.keepExtensions);
  client = await SftpFileClient.over(server.stream, { name: 'sftp-server', ...options });
  return Object.assign(client, { server });
}

/** Rewrites the server's first packet (VERSION), keeping only the extensions `keep` accepts. */
function filterVersion(keep: (name: string) => boolean): Transform {
  const framer = new PacketFramer();
  let done = false;
  return new Transform({
    transform(chunk: Buffer, _enc, callback: TransformCallback) {
      if (done) return callback(null, chunk);
      // The VERSION packet comes alone: the server sends nothing else before the client's next request.
      framer.push(chunk, packet => {
        const r = new PacketReader(packet, 1);
        const w = new PacketWriter(FXP.VERSION).u32(r.u32());
        while (r.remaining > 0) {
          const name = r.string();
          const data = r.string();
          if (keep(name)) w.string(name).string(data);
        }
        this.push(Buffer.from(w.finish()));
        done = true;
      });
      callback();
    },
  });
}
