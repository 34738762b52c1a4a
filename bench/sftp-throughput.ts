/**
 * SFTP throughput over SSH: rmount's codec (SshBackend.files → SftpFileClient) against OpenSSH's
 * `sftp` client, both talking to the same throwaway sshd on 127.0.0.1 in one run.
 *
 *   node --import tsx bench/sftp-throughput.ts            # 256 MiB
 *   BENCH_SIZE_MIB=64 node --import tsx bench/sftp-throughput.ts
 *
 * Each side writes the file to the server, then reads it back; the codec's copy is checked by
 * SHA-256. Both run on the same machine, so the numbers measure protocol and client overhead
 * (pipelining, copies, encryption), not a network.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { SshBackend } from '../src/backends/ssh/backend.ts';
import type { FileClient } from '../src/remote/file-client.ts';
import { SSHD_HOST_ALIAS, sshdSkipReason, startSshd, type AfterHook } from '../test/helpers/sshd.ts';
import { readAll, writeAll } from './file-transfer.ts';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const SIZE = Number(process.env.BENCH_SIZE_MIB ?? 256) * MiB;
/** Bytes per write/read call handed to the codec; it splits and pipelines them itself. */

async function main(): Promise<void> {
  const skip = sshdSkipReason();
  if (skip !== false) {
    console.log(`sftp-throughput: skipped: ${skip}`);
    return;
  }
  // Cleanups run newest first in `finally`, on success and on failure alike.
  const cleanups: (() => Promise<void> | void)[] = [];
  const hook: AfterHook = { after: fn => { cleanups.push(fn); } };
  try {
    const sshd = await startSshd(hook);
    const data = randomBytes(SIZE);
    const digest = sha256(data);
    const local = join(sshd.dir, 'local.bin');
    await writeFile(local, data);

    const backend = new SshBackend({ type: 'ssh', host: SSHD_HOST_ALIAS, raw: SSHD_HOST_ALIAS }, { configFile: sshd.sshConfigFile, homeDir: join(sshd.dir, 'home') });
    hook.after(() => backend.close());
    await backend.start();
    const files = await backend.files();

    const codecPath = join(sshd.dir, 'codec.bin');
    const codecWrite = await timed(() => writeAll(files, codecPath, data));
    let readBack: Buffer | undefined;
    const codecRead = await timed(async () => { readBack = await readAll(files, codecPath, SIZE); });
    if (readBack === undefined || sha256(readBack) !== digest) throw new Error('codec read back different bytes');
    readBack = undefined;
    await rm(codecPath);

    const opensshPath = join(sshd.dir, 'openssh.bin');
    const fetched = join(sshd.dir, 'fetched.bin');
    const sftp = async (command: string): Promise<void> => {
      const batch = join(sshd.dir, 'batch');
      await writeFile(batch, `${command}\n`);
      await run('sftp', ['-q', '-F', sshd.sshConfigFile, '-b', batch, SSHD_HOST_ALIAS]);
    };
    const opensshWrite = await timed(() => sftp(`put ${local} ${opensshPath}`));
    const opensshRead = await timed(() => sftp(`get ${opensshPath} ${fetched}`));
    if (sha256(await readFile(fetched)) !== digest) throw new Error('OpenSSH sftp fetched different bytes');

    const mib = SIZE / MiB;
    const rate = (ms: number): number => mib / (ms / 1000);
    const rows: [string, number, number][] = [
      ['write', rate(codecWrite), rate(opensshWrite)],
      ['read', rate(codecRead), rate(opensshRead)],
    ];
    console.log(`sftp throughput, ${mib} MiB over ssh to 127.0.0.1 (sshd ${sshd.port}), MiB/s`);
    console.log('op     rmount codec   OpenSSH sftp   codec/openssh');
    for (const [op, codec, openssh] of rows) {
      console.log(`${op.padEnd(6)} ${codec.toFixed(1).padStart(12)}   ${openssh.toFixed(1).padStart(12)}   ${(codec / openssh).toFixed(2).padStart(13)}`);
    }
  } finally {
    for (const fn of cleanups.reverse()) await fn();
  }
}

async function timed(fn: () => Promise<void>): Promise<number> {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

await main();
