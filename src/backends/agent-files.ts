/**
 * The agent as a FileClient, for the backends that run it: `rmount-agent sftp` started over a
 * backend's exec channel, spoken to through the same SFTP codec as the `sftp` subsystem. No TTY:
 * the channel carries SFTP packets. Finding and uploading the build is src/agent's job.
 */
import { Duplex } from 'node:stream';
import { installAgent, type InstallOptions } from '../agent/install.ts';
import type { Backend } from '../remote/backend.ts';
import { PermissionError, UnsupportedError } from '../remote/errors.ts';
import type { ClosingFileClient, FileClient } from '../remote/file-client.ts';
import { ReconnectingFileClient } from '../remote/reconnecting-file-client.ts';
import { SftpFileClient } from '../sftp/sftp-file-client.ts';

/** The agent's client, which says when its exec stream is gone (as every SftpFileClient does). */
export type AgentFileClient = SftpFileClient & ClosingFileClient;

/** Options of `startAgentFiles`. */
export interface AgentFilesOptions {
  /** Extra arguments after `sftp` (e.g. `--root DIR`). */
  args?: string[];
  /** Receives the agent's stderr lines (its log). */
  log?: (line: string) => void;
}

/** Starts the agent at `remotePath` over `backend.exec` and resolves with a client over its stdio. */
export async function startAgentFiles(backend: Backend, remotePath: string, options: AgentFilesOptions = {}): Promise<AgentFileClient> {
  const session = await backend.exec([remotePath, 'sftp', ...(options.args ?? [])]);
  let pending = '';
  session.stderr.on('data', (chunk: Buffer) => {
    pending += chunk.toString('utf8');
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const line of lines) options.log?.(line);
  });
  const stream = Duplex.from({ readable: session.stdout, writable: session.stdin });
  // When the agent dies the exec stream ends: the codec fails every request with ENOTCONN and
  // resolves the client's `closed`.
  stream.once('close', () => session.close());
  return SftpFileClient.over(stream, { name: `rmount-agent on ${backend.addr}` });
}

/** Installs the agent if needed (see `installAgent`), then starts it. */
export async function agentFiles(backend: Backend, install: InstallOptions = {}, options: AgentFilesOptions = {}): Promise<AgentFileClient> {
  const { remotePath } = await installAgent(backend, install);
  return startAgentFiles(backend, remotePath, options);
}

/**
 * The agent where it can run, else `fallback()`: for backends whose own client is weaker (Docker's
 * agentless copy/exec). `connect` makes one agent client (and is called again to replace a killed
 * one). Falls back when there is no build for the platform (UnsupportedError) or no folder can hold
 * an executable (PermissionError: read-only or noexec everywhere); `onFallback` hears why.
 */
export async function agentOrFallback(
  connect: () => Promise<FileClient>,
  fallback: () => Promise<FileClient>,
  onFallback?: (reason: Error) => void,
): Promise<FileClient> {
  try {
    return await ReconnectingFileClient.create(connect);
  } catch (error) {
    if (!(error instanceof UnsupportedError) && !(error instanceof PermissionError)) throw error;
    onFallback?.(error);
    return fallback();
  }
}
