/**
 * The SSH backend: ssh2 for the connection and exec channels, rmount's own SFTP codec over the
 * `sftp` subsystem channel for files. Settings come from ssh_config as OpenSSH reads them.
 */
import { randomBytes } from 'node:crypto';
import { homedir, userInfo } from 'node:os';
import { posix } from 'node:path';
import type { Duplex } from 'node:stream';
import type { Client, ClientChannel } from 'ssh2';
import type { Backend } from '../../remote/backend.ts';
import { normalizeRemotePath, type Destination } from '../../remote/destination.ts';
import { RmountError, TimeoutError, UnreachableError, UnsupportedError } from '../../remote/errors.ts';
import type { FileClient } from '../../remote/file-client.ts';
import { platformFromUname, type PlatformInfo } from '../../remote/platform.ts';
import type { ExecOptions, Session } from '../../remote/session.ts';
import { collectOutput } from '../../remote/session-output.ts';
import { quoteArg, renderCommand } from '../../remote/shell-quote.ts';
import type { Prompter } from './auth.ts';
import { resolveSshConfig, type SshHostConfig } from './config.ts';
import { addrOf, connectSsh, type SshConnection } from './connect.ts';
import { SshSession } from './session.ts';
import { openExec, openSubsystem } from './ssh2-calls.ts';

/** Options of an SSH backend; everything unset comes from ssh_config, then OpenSSH's defaults. */
export interface SshBackendOptions {
  /** An ssh_config to read instead of ~/.ssh/config (and then /etc/ssh/ssh_config is skipped, as with `ssh -F`). */
  configFile?: string;
  /** The known_hosts file to check and record keys in, instead of UserKnownHostsFile. */
  knownHostsFile?: string;
  /** A private key tried before the configured identity files (`ssh -i`). */
  identityFile?: string;
  /** Trust an unknown host key and record it (StrictHostKeyChecking=accept-new). */
  acceptNew?: boolean;
  /** Per-hop limit on TCP connect + SSH handshake, prompts excluded. Default: ConnectTimeout, else 30000. */
  connectTimeoutMs?: number;
  /** SSH keepalive interval; default ServerAliveInterval (0 = off). */
  keepAliveIntervalMs?: number;
  /** Asks for passphrases and passwords; give it only on a terminal. */
  prompt?: (question: string, echo: boolean) => Promise<string>;
  /** The local home folder (~, ~/.ssh); default os.homedir(). */
  homeDir?: string;
  /** The local user name (%u, default remote user); default os.userInfo().username. */
  localUser?: string;
  /**
   * How files() reaches the remote's files: 'no' (default here; mounts default to 'auto' through
   * `-o agent`) the `sftp` subsystem, 'yes' rmount-agent over an exec channel (uploaded when
   * missing), 'auto' the subsystem when the server has one, else the agent.
   */
  agent?: 'yes' | 'no' | 'auto';
  /** Where agent builds are (dist folder or template); default rmount's dist/agent. */
  agentFrom?: string;
  /** Remote folders the agent may be installed in, first usable wins; default ~/.cache/rmount, /tmp/.rmount, … */
  agentDirs?: readonly string[];
}

/** The system-wide client config OpenSSH reads after the user's. */
const SYSTEM_CONFIG = '/etc/ssh/ssh_config';
const DEFAULT_CONNECT_TIMEOUT_MS = 30_000;
const KEEPALIVE_PROOF_TIMEOUT_MS = 15_000;
/** Set in every exec'd command's environment: its session's id, for the `kill` fallback. */
export const EXEC_ID_VAR = 'RMOUNT_EXEC_ID';

/** A remote host reached over SSH. */
export class SshBackend implements Backend {
  readonly type = 'ssh';
  readonly destination: Destination;
  readonly #options: SshBackendOptions;
  readonly #config: SshHostConfig;
  #connection: SshConnection | undefined;
  #connected = false;
  #closed = false;
  #lastError: Error | undefined;
  #files: Promise<FileClient> | undefined;
  #home: Promise<string> | undefined;

  /** Resolves the destination through ssh_config; connects only in `start`. */
  constructor(dest: Destination, options: SshBackendOptions = {}) {
    this.destination = dest;
    this.#options = options;
    const homeDir = options.homeDir ?? homedir();
    const query: Parameters<typeof resolveSshConfig>[0] = {
      host: dest.host,
      homeDir,
      localUser: options.localUser ?? userInfo().username,
    };
    if (dest.user !== undefined) query.user = dest.user;
    if (dest.port !== undefined) query.port = dest.port;
    if (options.configFile !== undefined) query.configFile = options.configFile;
    else query.systemConfigFile = SYSTEM_CONFIG;
    this.#config = resolveSshConfig(query);
  }

  /** `user@host[:port]` of the target after ssh_config. */
  get addr(): string {
    return addrOf(this.#config);
  }

  /** The remote login user. */
  get user(): string {
    return this.#config.user;
  }

  /** The settings this backend connects with (after ssh_config). */
  get config(): Readonly<SshHostConfig> {
    return this.#config;
  }

  /** `user@host:port` of every ProxyJump hop and then the target; set once connected. */
  get route(): readonly string[] {
    return this.#connection?.route ?? [];
  }

  /** The ssh2 keepalive interval in ms (ssh2 sends the pings itself); 0 when off. */
  get keepAliveInterval(): number {
    return this.#keepAliveMs();
  }

  #keepAliveMs(): number {
    return this.#options.keepAliveIntervalMs ?? this.#config.serverAliveInterval * 1000;
  }

  /** Connects (through ProxyJump hops), checks the host key and authenticates. Rejects with UnreachableError, TimeoutError (also when `signal` aborts), HostKeyError or AuthError. */
  async start(signal?: AbortSignal): Promise<void> {
    if (this.#closed) throw new UnreachableError(`${this.addr}: the backend was closed`, { suggestion: 'make a new backend' });
    if (this.#connection) return;
    const homeDir = this.#options.homeDir ?? homedir();
    const timeout = this.#options.connectTimeoutMs
      ?? (this.#config.connectTimeout !== undefined ? this.#config.connectTimeout * 1000 : DEFAULT_CONNECT_TIMEOUT_MS);
    try {
      this.#connection = await connectSsh(this.#config, {
        acceptNew: this.#options.acceptNew === true,
        connectTimeoutMs: timeout,
        keepAliveIntervalMs: this.#keepAliveMs(),
        keepAliveCountMax: this.#config.serverAliveCountMax,
        homeDir,
        localUser: this.#options.localUser ?? userInfo().username,
        env: process.env,
        ...(this.#options.configFile !== undefined ? { configFile: this.#options.configFile } : { systemConfigFile: SYSTEM_CONFIG }),
        ...(this.#options.knownHostsFile !== undefined ? { knownHostsFile: this.#options.knownHostsFile } : {}),
        ...(this.#options.identityFile !== undefined ? { identityFile: this.#options.identityFile } : {}),
        ...(this.#options.prompt !== undefined ? { prompt: this.#options.prompt as Prompter } : {}),
        ...(signal !== undefined ? { signal } : {}),
      });
    } catch (error) {
      this.#lastError = error as Error;
      throw error;
    }
    this.#connected = true;
    const { client } = this.#connection;
    client.on('error', (error: Error) => this.#lost(error));
    client.on('close', () => this.#lost());
  }

  // The connection ended after `start`: record why, once, so status and later calls can tell.
  #lost(cause?: Error): void {
    if (!this.#connected) return;
    this.#connected = false;
    if (!this.#closed) {
      const timeout = (cause as { level?: string } | undefined)?.level === 'client-timeout';
      const Err = timeout ? TimeoutError : UnreachableError;
      this.#lastError = new Err(`connection to ${this.addr} lost${cause ? `: ${cause.message}` : ''}`, {
        cause,
        suggestion: timeout ? 'the server stopped answering keepalives; check the network' : 'reconnect; if it keeps happening, check the server\'s logs and ServerAliveInterval',
      });
    }
  }

  /** True between a successful `start` and the connection's end. */
  isConnected(): boolean {
    return this.#connected;
  }

  /** Why the connection failed or ended, if it did. */
  lastError(): Error | undefined {
    return this.#lastError;
  }

  /** Proves the connection answers (one global-request round trip); rejects with TimeoutError and closes it when not. */
  async sendKeepAlive(): Promise<void> {
    const client = this.#client();
    // A global request with want-reply is a full round trip with no side effect: cancelling a
    // forward that does not exist is answered (with a failure) by any live server.
    const alive = await new Promise<boolean>(resolve => {
      const timer = setTimeout(() => resolve(false), KEEPALIVE_PROOF_TIMEOUT_MS);
      try {
        client.unforwardIn('127.0.0.1', 0, () => { clearTimeout(timer); resolve(true); });
      } catch {
        clearTimeout(timer);
        resolve(false);
      }
    });
    if (!alive) {
      const error = new TimeoutError(`${this.addr} did not answer a keepalive within ${KEEPALIVE_PROOF_TIMEOUT_MS} ms`, { suggestion: 'check the network; the connection is closed' });
      this.#lastError = error;
      this.#connected = false;
      client.destroy();
      throw error;
    }
  }

  /** Starts `argv` on one exec channel: quoted into `cd CWD && exec env K=V argv…`, never spliced. `options.user` does not apply over SSH. */
  async exec(argv: readonly string[], options: ExecOptions = {}): Promise<Session> {
    if (options.signal?.aborted) {
      throw new TimeoutError(`exec on ${this.addr} was cancelled before it started`, { cause: options.signal.reason });
    }
    const execId = randomBytes(9).toString('base64url');
    // RMOUNT_EXEC_ID marks the command's processes so `kill` can find them from a second channel.
    const renderOptions: Parameters<typeof renderCommand>[1] = { env: { [EXEC_ID_VAR]: execId, ...options.env } };
    if (options.cwd !== undefined) renderOptions.cwd = options.cwd;
    // Environment goes through `env K=V` in the command line: sshd refuses most setenv requests.
    const command = renderCommand(argv, renderOptions);
    const pty = options.pty
      ? { cols: options.pty.cols, rows: options.pty.rows, width: 0, height: 0, term: options.pty.term ?? process.env.TERM ?? 'xterm-256color' }
      : undefined;
    let channel: ClientChannel;
    try {
      channel = await openExec(this.#client(), command, pty ? { pty } : {});
    } catch (error) {
      throw this.#channelError(error, `could not start ${argv[0]}`);
    }
    return new SshSession(channel, pty !== undefined, {
      ...(options.signal ? { signal: options.signal } : {}),
      fallbackKill: name => this.#killMarked(execId, name),
    });
  }

  // Signals every process whose environment carries the session's mark (Linux /proc; elsewhere
  // this finds nothing and the session falls back to closing its channel).
  async #killMarked(execId: string, name: string): Promise<void> {
    if (!/^[A-Z0-9]+$/.test(name)) return;
    const script = `for f in /proc/[0-9]*/environ; do if tr '\\000' '\\n' < "$f" 2>/dev/null | grep -qx '${EXEC_ID_VAR}=${execId}'; then p=\${f#/proc/}; kill -s ${name} "\${p%/environ}" 2>/dev/null; fi; done; true`;
    await this.#collect(new SshSession(await openExec(this.#client(), `sh -c ${quoteArg(script)}`), false));
  }

  /** The file client, opened on first call and shared: the `sftp` subsystem or rmount-agent over exec, as the `agent` option says. Rejects with UnsupportedError when neither can be used. */
  files(): Promise<FileClient> {
    this.#files ??= this.#openFiles().catch((error: unknown) => {
      this.#files = undefined; // let a later call try again
      throw error;
    });
    return this.#files;
  }

  async #openFiles(): Promise<FileClient> {
    const mode = this.#options.agent ?? 'no';
    if (mode === 'yes') return this.#openAgentFiles();
    try {
      return await this.#openSubsystemFiles();
    } catch (error) {
      if (mode === 'no' || !(error instanceof UnsupportedError)) throw error;
      try {
        return await this.#openAgentFiles();
      } catch (agentError) {
        throw new UnsupportedError(`${error.message}; the rmount agent could not be used either: ${(agentError as Error).message}`, {
          cause: agentError,
          suggestion: (agentError as RmountError).suggestion ?? error.suggestion ?? '',
        });
      }
    }
  }

  // rmount-agent over an exec channel, uploaded first when the remote copy is missing or differs;
  // a killed agent is replaced on the next call.
  async #openAgentFiles(): Promise<FileClient> {
    const { agentFiles } = await import('../agent-files.ts');
    const { ReconnectingFileClient } = await import('../../remote/reconnecting-file-client.ts');
    const install = {
      ...(this.#options.agentFrom !== undefined ? { from: this.#options.agentFrom } : {}),
      ...(this.#options.agentDirs !== undefined ? { candidates: this.#options.agentDirs } : {}),
    };
    return ReconnectingFileClient.create(() => agentFiles(this, install));
  }

  async #openSubsystemFiles(): Promise<FileClient> {
    let channel: ClientChannel;
    try {
      channel = await openSubsystem(this.#client(), 'sftp');
    } catch (error) {
      if (error instanceof RmountError) throw error;
      throw new UnsupportedError(`${this.addr} offers no sftp subsystem: ${(error as Error).message}`, {
        cause: error,
        suggestion: 'enable it in the server\'s sshd_config ("Subsystem sftp internal-sftp" or the sftp-server path), or use the rmount agent',
      });
    }
    // The codec sees only a duplex stream; it never knows it runs over SSH.
    const { SftpFileClient } = await import('../../sftp/sftp-file-client.ts');
    return SftpFileClient.over(channel as Duplex, { name: `sftp over ssh://${this.addr}` });
  }

  /** `uname -s; uname -m` mapped to GOOS/GOARCH; on a server without a POSIX shell, Windows' `ver` and PROCESSOR_ARCHITECTURE. */
  async detectPlatform(): Promise<PlatformInfo> {
    const unix = await this.#run(['sh', '-c', 'uname -s; uname -m']);
    if (unix.code === 0) {
      const [sysname = '', machine = ''] = unix.stdout.split('\n').map(s => s.trim());
      return platformFromUname(sysname, machine);
    }
    // No POSIX shell: a Windows OpenSSH server runs commands with cmd.exe, so no quoting here.
    const ver = await this.#runRaw('cmd /c ver');
    const arch = await this.#runRaw('echo %PROCESSOR_ARCHITECTURE%');
    if (/windows/i.test(ver.stdout)) {
      return platformFromUname('windows', arch.stdout.trim());
    }
    return { os: '', arch: '', variant: '' };
  }

  /** An absolute path stays as it is (normalised); `~`, `~/x`, relative and missing paths resolve against the login folder, found through SFTP realpath('.'). */
  async resolvePath(path?: string): Promise<string> {
    if (path !== undefined && path.startsWith('/')) return normalizeRemotePath(posix.normalize(path));
    const home = await this.#homeDir();
    if (path === undefined || path === '' || path === '~' || path === '.') return home;
    return posix.join(home, path.startsWith('~/') ? path.slice(2) : path);
  }

  // The login folder, from the SFTP server's realpath('.') (where sshd starts a session).
  #homeDir(): Promise<string> {
    this.#home ??= this.files().then(files => files.realpath('.')).catch((error: unknown) => {
      this.#home = undefined;
      throw error;
    });
    return this.#home;
  }

  /** Closes the file client, the connection and its jump hosts. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const files = this.#files;
    this.#files = undefined;
    if (files) await files.then(f => f.close()).catch(() => {});
    const connection = this.#connection;
    this.#connection = undefined;
    this.#connected = false;
    if (!connection) return;
    const ended = new Promise<void>(resolve => connection.client.once('close', () => resolve()));
    connection.client.end();
    // A server that never answers the disconnect must not hold close() up.
    await Promise.race([ended, new Promise(resolve => setTimeout(resolve, 2000).unref())]);
    connection.client.destroy();
    for (const jump of [...connection.jumps].reverse()) jump.end();
  }

  #client(): Client {
    const connection = this.#connection;
    if (!connection || !this.#connected) {
      throw this.#lastError instanceof RmountError && this.#connection
        ? this.#lastError
        : new UnreachableError(`${this.addr}: not connected`, { cause: this.#lastError, suggestion: this.#closed ? 'the backend was closed' : 'call start() first' });
    }
    return connection.client;
  }

  #channelError(error: unknown, what: string): RmountError {
    if (error instanceof RmountError) return error;
    return new UnreachableError(`${this.addr}: ${what}: ${(error as Error).message}`, {
      cause: error,
      suggestion: 'the server refused a new channel; it may limit sessions per connection (MaxSessions in sshd_config)',
    });
  }

  async #run(argv: string[]): Promise<{ code: number | null; stdout: string }> {
    return this.#collect(await this.exec(argv));
  }

  async #runRaw(command: string): Promise<{ code: number | null; stdout: string }> {
    let channel: ClientChannel;
    try {
      channel = await openExec(this.#client(), command);
    } catch (error) {
      throw this.#channelError(error, 'could not run a command');
    }
    return this.#collect(new SshSession(channel, false));
  }

  async #collect(session: Session): Promise<{ code: number | null; stdout: string }> {
    const { code, stdout } = await collectOutput(session);
    return { code, stdout: stdout.toString('utf8') };
  }
}
