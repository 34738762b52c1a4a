/**
 * The SSH backend: ssh2 for the connection and exec channels, rmount's own SFTP codec over the
 * `sftp` subsystem channel for files. Settings come from ssh_config as OpenSSH reads them.
 *
 * With `sshClient: 'openssh'` the file channel (the `sftp` subsystem, or rmount-agent with its
 * install) runs over a child `ssh` instead, with the user's whole ssh_config. The ssh2 connection
 * stays for exec, forwards, the platform check and the link's health: a TTY that resizes and
 * signals need a channel we hold, and a new `ssh` per command would cost a handshake each without
 * ControlMaster.
 */
import { randomBytes } from 'node:crypto';
import { homedir, userInfo } from 'node:os';
import { posix } from 'node:path';
import type { Duplex } from 'node:stream';
import type { ClientChannel } from 'ssh2';
import type { Backend, DialTarget, LinkHealth } from '../../remote/backend.ts';
import { normalizeRemotePath, type Destination } from '../../remote/destination.ts';
import { ForwardRefusedError, RmountError, TimeoutError, UnreachableError, UnsupportedError } from '../../remote/errors.ts';
import { reportsClose, type FileClient } from '../../remote/file-client.ts';
import type { Logger } from '../../remote/log.ts';
import { ReconnectingFileClient } from '../../remote/reconnecting-file-client.ts';
import { platformFromUname, type PlatformInfo } from '../../remote/platform.ts';
import type { ExecOptions, Session } from '../../remote/session.ts';
import { collectOutput } from '../../remote/session-output.ts';
import { quoteArg, renderCommand } from '../../remote/shell-quote.ts';
import type { Prompter } from './auth.ts';
import { resolveSshConfig, type SshHostConfig } from './config.ts';
import { addrOf, connectSsh, type SshConnection } from './connect.ts';
import { DEFAULT_SERVER_ALIVE_INTERVAL_S, keepAliveOf, SshLink, type LinkConnection } from './link-supervisor.ts';
import { SshSession, type LinkWatch } from './session.ts';
import { renderOpensshArgs, type OpensshRemote } from './openssh-command.ts';
import { OpensshSession } from './openssh-session.ts';
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
  /** SSH keepalive interval; default ServerAliveInterval, 15 s when unset (0 = off). */
  keepAliveIntervalMs?: number;
  /** Hears the link's steps: lost, reconnecting (attempt N), reconnected after Ns. */
  log?: Logger;
  /** Waits between failed reconnects, ms (the last repeats); default 1, 2, 4, 8, then 10 s. */
  reconnectBackoffMs?: readonly number[];
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
  /** Remote folders the agent may be installed in, first usable wins; default SSH_AGENT_DIRS (~/.cache/rmount, then per-user folders in shared places such as /tmp/.rmount-<uid>) */
  agentDirs?: readonly string[];
  /**
   * With the agent: how long it keeps open files (even unlinked or renamed ones) for a new
   * connection after the link dies, ms; 0 or absent: not at all (a new agent reopens by path).
   */
  agentGraceMs?: number;
  /**
   * Which SSH client carries the file channel: 'builtin' (default), ssh2 inside rmount, on the
   * backend's one connection; 'openssh', a child `ssh` per file channel, with the user's own
   * ssh_config (ControlMaster, ProxyCommand, FIDO and GSSAPI keys) and OpenSSH's crypto in its
   * own process. Exec and forwards use the built-in client either way.
   */
  sshClient?: 'builtin' | 'openssh';
  /** The OpenSSH client for `sshClient: 'openssh'`; default `ssh` from PATH. */
  sshCommand?: string;
}

/** The system-wide client config OpenSSH reads after the user's. */
const SYSTEM_CONFIG = '/etc/ssh/ssh_config';
const DEFAULT_CONNECT_TIMEOUT_MS = 30_000;
/** How long close() lets the file client end its channel before the connection goes. */
const FILES_CLOSE_GRACE_MS = 1000;
/** Set in every exec'd command's environment: its session's id, for the `kill` fallback. */
export const EXEC_ID_VAR = 'RMOUNT_EXEC_ID';

/** A remote host reached over SSH. */
export class SshBackend implements Backend {
  readonly type = 'ssh';
  readonly destination: Destination;
  readonly #options: SshBackendOptions;
  readonly #config: SshHostConfig;
  readonly #link: SshLink;
  #closed = false;
  #files: Promise<FileClient> | undefined;
  #home: Promise<string> | undefined;
  /** Every child `ssh` still running; stopped by close(). */
  readonly #opensshChildren = new Set<OpensshSession>();
  /** How many child `ssh` were started: only the first may prompt on the terminal. */
  #opensshStarts = 0;
  #lastOpenssh: OpensshSession | undefined;

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
    this.#link = new SshLink({
      addr: this.addr,
      connect: (signal, first) => this.#connect(signal, first),
      ...(options.log === undefined ? {} : { log: options.log }),
      ...(options.reconnectBackoffMs === undefined ? {} : { backoffMs: options.reconnectBackoffMs }),
    });
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
    return this.#link.connection?.route ?? [];
  }

  /** The ssh2 keepalive interval in ms (ssh2 sends the pings itself; the link reconnects when they go unanswered); 0 when off. */
  get keepAliveInterval(): number {
    return keepAliveOf(this.#config, this.#options.keepAliveIntervalMs).keepAliveIntervalMs;
  }

  #connectTimeoutMs(): number {
    return this.#options.connectTimeoutMs
      ?? (this.#config.connectTimeout !== undefined ? this.#config.connectTimeout * 1000 : DEFAULT_CONNECT_TIMEOUT_MS);
  }

  /** Connects (through ProxyJump hops), checks the host key and authenticates. Rejects with UnreachableError, TimeoutError (also when `signal` aborts), HostKeyError or AuthError. */
  async start(signal?: AbortSignal): Promise<void> {
    if (this.#closed) throw new UnreachableError(`${this.addr}: the backend was closed`, { suggestion: 'make a new backend' });
    if (this.#link.connection) return;
    await this.#link.start(signal);
  }

  // One connect, for `start` and for every reconnect: the same host-key check each time. A
  // reconnect never prompts (the daemon has nobody to ask) and has its own connect timeout.
  #connect(signal: AbortSignal | undefined, first: boolean): Promise<SshConnection> {
    const homeDir = this.#options.homeDir ?? homedir();
    return connectSsh(this.#config, {
      acceptNew: this.#options.acceptNew === true,
      connectTimeoutMs: this.#connectTimeoutMs(),
      ...keepAliveOf(this.#config, this.#options.keepAliveIntervalMs),
      homeDir,
      localUser: this.#options.localUser ?? userInfo().username,
      env: process.env,
      ...(this.#options.configFile !== undefined ? { configFile: this.#options.configFile } : { systemConfigFile: SYSTEM_CONFIG }),
      ...(this.#options.knownHostsFile !== undefined ? { knownHostsFile: this.#options.knownHostsFile } : {}),
      ...(this.#options.identityFile !== undefined ? { identityFile: this.#options.identityFile } : {}),
      ...(first && this.#options.prompt !== undefined ? { prompt: this.#options.prompt as Prompter } : {}),
      ...(signal !== undefined ? { signal } : {}),
    });
  }

  /** True while the link is ready. */
  isConnected(): boolean {
    return this.#link.ready;
  }

  /** The last error the link saw: the failed connect, the loss, or the last failed reconnect. */
  lastError(): Error | undefined {
    return this.#link.lastError;
  }

  /** The link's state, since when, how long it has been down, the reconnect count and the last error. */
  health(): LinkHealth {
    return this.#link.health();
  }

  /** Resolves once the link is ready; TimeoutError when `signal` aborts first, the reason when it closed. */
  waitReady(signal?: AbortSignal): Promise<void> {
    return this.#link.waitReady(signal);
  }

  /** Asks for a reconnect attempt now (when the last one is over a second old). */
  kick(): void {
    this.#link.kick();
  }

  /** Starts `argv` on one exec channel: quoted into `cd CWD && exec env K=V argv…`, never spliced. `options.user` does not apply over SSH. */
  /** A direct-tcpip (or direct-streamlocal) channel on the current connection; see `Backend.dial`. */
  async dial(target: DialTarget): Promise<Duplex> {
    const link = await this.#link.use();
    const client = link.connection.client;
    return new Promise<Duplex>((resolve, reject) => {
      const done = (error: Error | undefined, channel: ClientChannel): void => {
        if (error === undefined) return resolve(channel);
        // SSH_OPEN_ADMINISTRATIVELY_PROHIBITED (1): forwarding is off on this server, not just here.
        const reason = (error as Error & { reason?: number }).reason;
        reject(reason === 1 ? new ForwardRefusedError(`${this.addr} does not allow forwarding: ${error.message}`, { cause: error }) : error);
      };
      if ('path' in target) client.openssh_forwardOutStreamLocal(target.path, done);
      else client.forwardOut('127.0.0.1', 0, target.host, target.port, done);
    });
  }

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
    // While the link is down: wait for it as long as the caller's signal allows, else fail now.
    const link = await this.#link.use(options.signal);
    let channel: ClientChannel;
    try {
      channel = await openExec(link.connection.client, command, pty ? { pty } : {});
    } catch (error) {
      throw this.#channelError(error, `could not start ${argv[0]}`, link);
    }
    return new SshSession(channel, pty !== undefined, {
      ...(options.signal ? { signal: options.signal } : {}),
      fallbackKill: name => this.#killMarked(execId, name),
      link: this.#watch(link),
    });
  }

  // Signals every process whose environment carries the session's mark (Linux /proc; elsewhere
  // this finds nothing and the session falls back to closing its channel).
  async #killMarked(execId: string, name: string): Promise<void> {
    if (!/^[A-Z0-9]+$/.test(name)) return;
    const script = `for f in /proc/[0-9]*/environ; do if tr '\\000' '\\n' < "$f" 2>/dev/null | grep -qx '${EXEC_ID_VAR}=${execId}'; then p=\${f#/proc/}; kill -s ${name} "\${p%/environ}" 2>/dev/null; fi; done; true`;
    const link = await this.#link.use();
    await this.#collect(new SshSession(await openExec(link.connection.client, `sh -c ${quoteArg(script)}`), false));
  }

  #watch(link: LinkConnection): LinkWatch {
    return { addr: this.addr, lost: () => link.dead };
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
  // a killed agent, or one whose link died, is replaced once the link is back.
  async #openAgentFiles(): Promise<FileClient> {
    const { agentConnector, newDurableSession } = await import('../agent-files.ts');
    const install = {
      ...(this.#options.agentFrom !== undefined ? { from: this.#options.agentFrom } : {}),
      ...(this.#options.agentDirs !== undefined ? { candidates: this.#options.agentDirs } : {}),
    };
    const grace = this.#options.agentGraceMs ?? 0;
    // One session for every agent this backend starts: the next one resumes the last one's files.
    const session = {
      ...(grace > 0 ? { durable: newDurableSession(grace) } : {}),
      ...(this.#options.log !== undefined ? { logger: this.#options.log } : {}),
    };
    // With OpenSSH, the agent's install and its SFTP channel both go through `ssh`.
    if (this.#options.sshClient === 'openssh') return this.#reconnectingOpenssh(agentConnector(this.#opensshView(), install, session));
    const start = agentConnector(this, install, session);
    return ReconnectingFileClient.create(async () => {
      await this.#link.waitReady(AbortSignal.timeout(this.#connectTimeoutMs()));
      return start();
    });
  }

  // Clients over a child `ssh`, made again whenever the last one's ssh exited. A failure of ssh
  // itself (auth, host key) is the error, not what the channel's reader saw. ssh may find a link
  // dead a moment before the built-in client does (or find it dead alone: its ServerAliveInterval
  // is its own), so a reconnect that cannot reach the host tries again until the connect timeout;
  // the first client fails at once, since the built-in client has just reached the host.
  #reconnectingOpenssh(connect: () => Promise<FileClient>): Promise<FileClient> {
    let made = false;
    return ReconnectingFileClient.create(async () => {
      const deadline = AbortSignal.timeout(this.#connectTimeoutMs());
      let last: RmountError | undefined;
      for (let pause = 250; ; pause = Math.min(pause * 2, 2000)) {
        try {
          await this.#link.waitReady(deadline);
        } catch (error) {
          throw last ?? error;
        }
        try {
          const client = await connect();
          made = true;
          return client;
        } catch (error) {
          const failure = (await this.#lastOpenssh?.failure(1000)) ?? error;
          const network = failure instanceof UnreachableError || failure instanceof TimeoutError;
          if (!made || !network || deadline.aborted) throw failure;
          last = failure;
          await delay(pause);
        }
      }
    });
  }

  // The sftp subsystem, on a new channel each time the old one died with its link.
  #openSubsystemFiles(): Promise<FileClient> {
    if (this.#options.sshClient === 'openssh') return this.#reconnectingOpenssh(() => this.#opensshSubsystemClient());
    return ReconnectingFileClient.create(async () => {
      await this.#link.waitReady(AbortSignal.timeout(this.#connectTimeoutMs()));
      return this.#subsystemClient(await this.#link.use());
    });
  }

  // `ssh -s … host sftp`: the codec over the child's stdio. A child that exits before the SFTP
  // handshake says why on its stderr and with status 255; that becomes the error.
  async #opensshSubsystemClient(): Promise<FileClient> {
    // Loaded before ssh starts: the codec must be listening before the child can fail or exit.
    const { sftpOverStdio } = await import('../agent-files.ts');
    const session = this.#startOpenssh({ subsystem: 'sftp' });
    // ssh dying makes the stream fail "premature close"; ssh's exit says why.
    return sftpOverStdio(session, { name: `sftp over OpenSSH ssh to ${this.addr}` });
  }

  // This backend with exec through `ssh`, for the agent's install and start (agent-files).
  #opensshView(): Backend {
    const self = this;
    return {
      type: 'ssh',
      destination: this.destination,
      get addr() { return self.addr; },
      get user() { return self.user; },
      start: signal => this.start(signal),
      isConnected: () => this.isConnected(),
      lastError: () => this.lastError(),
      exec: (argv, options) => this.#opensshExec(argv, options),
      files: () => this.files(),
      detectPlatform: () => this.detectPlatform(),
      resolvePath: path => this.resolvePath(path),
      close: async () => {},
    };
  }

  // A command through a child `ssh`. A missing client rejects here; a failure of ssh itself (auth,
  // host key) shows only once it exits, as status 255 (see `#reconnectingOpenssh`).
  async #opensshExec(argv: readonly string[], options: ExecOptions = {}): Promise<Session> {
    if (options.pty !== undefined) {
      throw new UnsupportedError(`${this.addr}: a TTY through OpenSSH's client is not supported here`, { suggestion: 'exec with a TTY uses the built-in client' });
    }
    const renderOptions: Parameters<typeof renderCommand>[1] = {};
    if (options.cwd !== undefined) renderOptions.cwd = options.cwd;
    if (options.env !== undefined) renderOptions.env = options.env;
    const session = this.#startOpenssh({ command: renderCommand(argv, renderOptions) });
    await session.started();
    if (options.signal !== undefined) {
      const signal = options.signal;
      const stop = (): void => session.close();
      if (signal.aborted) stop();
      else signal.addEventListener('abort', stop, { once: true });
      void session.wait().then(() => signal.removeEventListener('abort', stop));
    }
    return session;
  }

  #startOpenssh(remote: OpensshRemote): OpensshSession {
    const dest = this.destination;
    const options = this.#options;
    const first = this.#opensshStarts++ === 0;
    const keepAlive = options.keepAliveIntervalMs ?? (this.#config.serverAliveInterval === undefined ? DEFAULT_SERVER_ALIVE_INTERVAL_S * 1000 : undefined);
    const args = renderOpensshArgs({
      host: dest.host,
      ...(dest.user === undefined ? {} : { user: dest.user }),
      ...(dest.port === undefined ? {} : { port: dest.port }),
      ...(options.configFile === undefined ? {} : { configFile: options.configFile }),
      ...(options.identityFile === undefined ? {} : { identityFile: options.identityFile }),
      ...(options.knownHostsFile === undefined ? {} : { knownHostsFile: options.knownHostsFile }),
      acceptNew: options.acceptNew === true,
      // Always rmount's own limit, as for the built-in client: OpenSSH's default waits as long as
      // TCP does, and a banner that never comes (a blackholed link) forever.
      connectTimeoutS: this.#connectTimeoutMs() / 1000,
      // 0 is off, as in ssh_config; anything else at least a second.
      ...(keepAlive === undefined ? {} : { serverAliveIntervalS: keepAlive === 0 ? 0 : Math.max(1, Math.round(keepAlive / 1000)) }),
      // Only a first channel started where someone can answer may prompt (ssh asks on /dev/tty);
      // a reconnect in the daemon has nobody to ask.
      batchMode: !(first && options.prompt !== undefined) || this.#config.batchMode,
    }, remote);
    const command = options.sshCommand ?? 'ssh';
    options.log?.debug(`starting ${command} ${args.join(' ')}`);
    const session = OpensshSession.start({
      command,
      args,
      env: process.env,
      addr: this.addr,
      host: dest.host,
      ...(dest.port === undefined ? {} : { port: dest.port }),
      ...(options.log === undefined ? {} : { onStderrLine: (line: string) => options.log!.debug(`ssh: ${line}`) }),
    });
    this.#opensshChildren.add(session);
    this.#lastOpenssh = session;
    void session.wait().then(async () => {
      this.#opensshChildren.delete(session);
      // A reconnect that fails is retried quietly by the file client: the log says why.
      const failure = await session.failure(0);
      if (failure !== undefined) options.log?.warn(failure.message);
    });
    return session;
  }

  async #subsystemClient(link: LinkConnection): Promise<FileClient> {
    let channel: ClientChannel;
    try {
      channel = await openSubsystem(link.connection.client, 'sftp');
    } catch (error) {
      if (error instanceof RmountError) throw error;
      if (link.dead) throw this.#link.downError();
      throw new UnsupportedError(`${this.addr} offers no sftp subsystem: ${(error as Error).message}`, {
        cause: error,
        suggestion: 'enable it in the server\'s sshd_config ("Subsystem sftp internal-sftp" or the sftp-server path), or use the rmount agent',
      });
    }
    // The codec sees only a duplex stream; it never knows it runs over SSH.
    const { SftpFileClient } = await import('../../sftp/sftp-file-client.ts');
    const client = await SftpFileClient.over(channel as Duplex, { name: `sftp over ssh://${this.addr}` });
    if (reportsClose(client)) return client;
    // Say when the channel is gone, so the wrapper opens a new one after a reconnect.
    const closed = new Promise<void>(resolve => channel.once('close', () => resolve()));
    return Object.assign(client, { closed });
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

  /** Closes the file client, stops the link's supervisor and ends the connection and its jump hosts. Never waits for a reconnect. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const files = this.#files;
    this.#files = undefined;
    // Stop reconnecting first: a file client still being made waits for the link, and this ends
    // the wait. Its close gets a moment to say goodbye; a blackholed link must not hold it up.
    this.#link.stopReconnecting();
    if (files) await Promise.race([files.then(f => f.close()).catch(() => {}), delay(FILES_CLOSE_GRACE_MS)]);
    await Promise.all([...this.#opensshChildren].map(child => child.stop()));
    await this.#link.close();
  }

  #channelError(error: unknown, what: string, link: LinkConnection): Error {
    if (error instanceof RmountError) return error;
    if (link.dead) return this.#link.downError();
    return new UnreachableError(`${this.addr}: ${what}: ${(error as Error).message}`, {
      cause: error,
      suggestion: 'the server refused a new channel; it may limit sessions per connection (MaxSessions in sshd_config)',
    });
  }

  async #run(argv: string[]): Promise<{ code: number | null; stdout: string }> {
    return this.#collect(await this.exec(argv));
  }

  async #runRaw(command: string): Promise<{ code: number | null; stdout: string }> {
    const link = await this.#link.use();
    let channel: ClientChannel;
    try {
      channel = await openExec(link.connection.client, command);
    } catch (error) {
      throw this.#channelError(error, 'could not run a command', link);
    }
    return this.#collect(new SshSession(channel, false, { link: this.#watch(link) }));
  }

  async #collect(session: Session): Promise<{ code: number | null; stdout: string }> {
    const { code, stdout } = await collectOutput(session);
    return { code, stdout: stdout.toString('utf8') };
  }
}

function delay(ms: number): Promise<void> {
  return new Promise(resolve => setTimeout(resolve, ms).unref());
}
