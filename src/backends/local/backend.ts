import { homedir, machine, type as osType, userInfo } from 'node:os';
import { posix } from 'node:path';
import type { Backend } from '../../remote/backend.ts';
import type { Destination } from '../../remote/destination.ts';
import type { FileClient } from '../../remote/file-client.ts';
import { platformFromUname, type PlatformInfo } from '../../remote/platform.ts';
import type { ExecOptions, Session } from '../../remote/session.ts';
import { LocalFileClient } from './file-client.ts';
import { LocalSession } from './session.ts';

/** A folder on this machine, served through node:fs and child_process. */
export class LocalBackend implements Backend {
  readonly type = 'local';
  readonly addr: string;
  readonly user: string;
  #files: LocalFileClient | undefined;
  #connected = false;

  constructor(readonly destination: Destination) {
    this.addr = `local:${destination.path ?? '~'}`;
    this.user = userInfo().username;
  }

  async start(): Promise<void> {
    this.#connected = true;
  }

  isConnected(): boolean {
    return this.#connected;
  }

  lastError(): Error | undefined {
    return undefined;
  }

  async exec(argv: readonly string[], options: ExecOptions = {}): Promise<Session> {
    const cwd = options.cwd === undefined ? undefined : expandHome(options.cwd);
    return LocalSession.start(argv, { ...options, cwd: cwd ?? homedir() });
  }

  async files(): Promise<FileClient> {
    this.#files ??= new LocalFileClient();
    return this.#files;
  }

  async detectPlatform(): Promise<PlatformInfo> {
    return platformFromUname(osType(), machine());
  }

  async resolvePath(path?: string): Promise<string> {
    return posix.resolve(homedir(), expandHome(path ?? '~'));
  }

  async close(): Promise<void> {
    this.#connected = false;
    await this.#files?.close();
  }
}

function expandHome(p: string): string {
  if (p === '~') return homedir();
  if (p.startsWith('~/')) return posix.join(homedir(), p.slice(2));
  return p;
}
