/**
 * The "transport in a worker" variant of bench/ssh-transport.ts: ssh2's connection and the `sftp`
 * subsystem channel live in a worker_thread, and the channel's bytes cross to the main thread
 * through postMessage (copied once each way, then transferred). The SFTP codec stays on the main
 * thread, as the VFS would keep it. A bench rig only: no reconnect, no error mapping.
 *
 * `workerFileClient(configFile, host, homeDir)` starts the worker and resolves with a FileClient and
 * a `close()` that ends the channel, the connection and the worker.
 */
import { userInfo } from 'node:os';
import { Duplex } from 'node:stream';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { resolveSshConfig } from '../src/backends/ssh/config.ts';
import { connectSsh } from '../src/backends/ssh/connect.ts';
import { openSubsystem } from '../src/backends/ssh/ssh2-calls.ts';
import type { FileClient } from '../src/remote/file-client.ts';
import { SftpFileClient } from '../src/sftp/sftp-file-client.ts';

interface WorkerInput { configFile: string; host: string; homeDir: string }
/** Worker → main: a chunk of the channel's output, 'ready', 'end', or an error message. */
type FromWorker = Uint8Array | 'ready' | 'end' | { error: string };

/** A FileClient whose SSH transport runs in a worker thread. */
export async function workerFileClient(configFile: string, host: string, homeDir: string): Promise<{ files: FileClient; close(): Promise<void> }> {
  // A worker does not inherit the parent's module hooks: tsx is registered in it first.
  const boot = `import('tsx/esm/api').then(api => { api.register(); return import(${JSON.stringify(import.meta.url)}); })`;
  const worker = new Worker(boot, { eval: true, workerData: { configFile, host, homeDir } satisfies WorkerInput });
  const exited = new Promise<void>(resolve => worker.once('exit', () => resolve()));
  const stream = new Duplex({
    read() {},
    write(chunk: Buffer, _encoding, callback) {
      const copy = new Uint8Array(chunk);
      worker.postMessage(copy, [copy.buffer]);
      callback();
    },
    final(callback) {
      worker.postMessage('end');
      callback();
    },
  });
  await new Promise<void>((resolve, reject) => {
    worker.on('message', (m: FromWorker) => {
      if (m instanceof Uint8Array) stream.push(Buffer.from(m.buffer, m.byteOffset, m.byteLength));
      else if (m === 'ready') resolve();
      else if (m === 'end') stream.push(null);
      else reject(new Error(m.error));
    });
    worker.once('error', reject);
  });
  const files = await SftpFileClient.over(stream, { name: 'sftp over ssh2 in a worker' });
  return {
    files,
    close: async () => {
      await files.close();
      worker.postMessage('close');
      await Promise.race([exited, new Promise(resolve => setTimeout(resolve, 2000))]);
      await worker.terminate();
    },
  };
}

async function runWorker(input: WorkerInput, port: NonNullable<typeof parentPort>): Promise<void> {
  const localUser = userInfo().username;
  const config = resolveSshConfig({ host: input.host, configFile: input.configFile, homeDir: input.homeDir, localUser });
  const connection = await connectSsh(config, {
    acceptNew: false, connectTimeoutMs: 10_000, keepAliveIntervalMs: 15_000, keepAliveCountMax: 3,
    homeDir: input.homeDir, localUser, configFile: input.configFile, env: process.env,
  });
  const channel = await openSubsystem(connection.client, 'sftp');
  channel.on('data', (chunk: Buffer) => {
    const copy = new Uint8Array(chunk);
    port.postMessage(copy, [copy.buffer]);
  });
  channel.once('close', () => port.postMessage('end'));
  port.on('message', (m: Uint8Array | 'end' | 'close') => {
    if (m instanceof Uint8Array) channel.write(Buffer.from(m.buffer, m.byteOffset, m.byteLength));
    else if (m === 'end') channel.end();
    else {
      connection.client.end();
      port.close();
    }
  });
  port.postMessage('ready');
}

if (!isMainThread && parentPort !== null) {
  const port = parentPort;
  runWorker(workerData as WorkerInput, port).catch((error: unknown) => port.postMessage({ error: (error as Error).message }));
}
