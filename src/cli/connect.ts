import { connectBackend, type BackendOptions } from '../backends/open.ts';
import type { Backend } from '../remote/backend.ts';
import { parseDestination } from '../remote/destination.ts';
import { UsageError } from '../remote/errors.ts';
import { terminalPrompt } from './prompt.ts';

/** Connection options shared by every command that reaches a remote. */
export interface ConnectFlags {
  acceptNew?: boolean;
  sshConfig?: string;
  identity?: string;
  knownHosts?: string;
  connectTimeout?: string;
}

/** Parses a duration such as "30", "30s", "500ms", "2m" into milliseconds. */
export function parseDuration(text: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw new UsageError(`invalid ${what} "${text}"`, { suggestion: 'use a number of seconds, or 500ms, 30s, 2m, 1h' });
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  return Math.round(n * (unit === 'ms' ? 1 : unit === 's' ? 1000 : unit === 'm' ? 60_000 : 3_600_000));
}

/** Backend options from command-line flags. */
export function backendOptions(flags: ConnectFlags): BackendOptions {
  const options: BackendOptions = {};
  if (flags.acceptNew) options.acceptNew = true;
  if (flags.sshConfig !== undefined) options.configFile = flags.sshConfig;
  if (flags.identity !== undefined) options.identityFile = flags.identity;
  if (flags.knownHosts !== undefined) options.knownHostsFile = flags.knownHosts;
  if (flags.connectTimeout !== undefined) options.connectTimeoutMs = parseDuration(flags.connectTimeout, 'connect timeout');
  const prompt = terminalPrompt();
  if (prompt !== undefined) options.prompt = prompt;
  return options;
}

/** Parses `text` and connects to it with the flags given. */
export async function connectFromCli(text: string, flags: ConnectFlags): Promise<Backend> {
  return connectBackend(parseDestination(text), backendOptions(flags));
}

/** Connects to `text`, runs `use` with the backend, and closes it however `use` ends. */
export async function withBackend<T>(text: string, flags: ConnectFlags, use: (backend: Backend) => Promise<T>): Promise<T> {
  const backend = await connectFromCli(text, flags);
  try {
    return await use(backend);
  } finally {
    await backend.close();
  }
}
