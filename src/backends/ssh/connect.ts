/**
 * Opening an authenticated SSH connection, directly or through ProxyJump hops, with a connect
 * timeout that is not confused with "unreachable". Every failure leaves here as one of rmount's
 * typed errors (UnreachableError, TimeoutError, HostKeyError, AuthError), with the cause kept.
 */
import type { Duplex } from 'node:stream';
import type { Client } from 'ssh2';
import { RmountError, TimeoutError, UnreachableError } from '../../remote/errors.ts';
import { AuthAttempt, agentSocketFor, defaultIdentityFiles, type Prompter } from './auth.ts';
import { resolveSshConfig, type JumpHop, type SshHostConfig } from './config.ts';
import { HostKeyCheck } from './host-key-check.ts';
import { connectTcp, handshake, openForwardOut, Ssh2Client, type Ssh2Error } from './ssh2-calls.ts';

/** Everything a connection needs beyond the resolved host config. */
export interface ConnectOptions {
  /** Replaces the configured UserKnownHostsFile (for every hop); GlobalKnownHostsFile still applies. */
  knownHostsFile?: string;
  /** Tried before the configured identity files (for every hop). */
  identityFile?: string;
  acceptNew: boolean;
  /** Per hop: TCP connect plus SSH handshake, not counting time spent in prompts. */
  connectTimeoutMs: number;
  /** ssh2 keepalive interval in ms (0 = off) and unanswered pings before giving up. */
  keepAliveIntervalMs: number;
  keepAliveCountMax: number;
  prompt?: Prompter;
  homeDir: string;
  localUser: string;
  /** For resolving jump hosts' own settings. */
  configFile?: string;
  systemConfigFile?: string;
  env: NodeJS.ProcessEnv;
  signal?: AbortSignal;
}

/** An open connection: the client to use, and the jump clients it rides on (first hop first). */
export interface SshConnection {
  client: Client;
  jumps: Client[];
  /** `user@host:port` of every hop and the target, for status and messages. */
  route: string[];
}

/** Connects to `target`, through its ProxyJump hops when it has any. */
export async function connectSsh(target: SshHostConfig, options: ConnectOptions): Promise<SshConnection> {
  const hops = target.proxyJump.map(hop => resolveHop(hop, options));
  const route = [...hops, target].map(addrOf);
  const jumps: Client[] = [];
  try {
    let sock: Duplex | undefined;
    for (const [i, hop] of hops.entries()) {
      const client = await connectOne(hop, sock, options, i === 0 ? '' : ` (through ${route.slice(0, i).join(' → ')})`);
      jumps.push(client);
      const next = hops[i + 1] ?? target;
      sock = await forward(client, hop, next);
    }
    const via = hops.length > 0 ? ` (through ${route.slice(0, -1).join(' → ')})` : '';
    const client = await connectOne(target, sock, options, via);
    return { client, jumps, route };
  } catch (error) {
    for (const jump of jumps.reverse()) jump.destroy();
    throw error;
  }
}

/** `user@host:port` of a resolved config. */
export function addrOf(config: SshHostConfig): string {
  const host = config.hostName.includes(':') ? `[${config.hostName}]` : config.hostName;
  return `${config.user}@${host}${config.port === 22 ? '' : `:${config.port}`}`;
}

// OpenSSH runs `ssh -W` for each hop with the same config file, so a hop gets its own
// HostName/User/Port/IdentityFile/known_hosts from the config; its own ProxyJump is not followed.
function resolveHop(hop: JumpHop, options: ConnectOptions): SshHostConfig {
  const query: Parameters<typeof resolveSshConfig>[0] = { host: hop.host, homeDir: options.homeDir, localUser: options.localUser };
  if (hop.user !== undefined) query.user = hop.user;
  if (hop.port !== undefined) query.port = hop.port;
  if (options.configFile !== undefined) query.configFile = options.configFile;
  if (options.systemConfigFile !== undefined) query.systemConfigFile = options.systemConfigFile;
  return { ...resolveSshConfig(query), proxyJump: [] };
}

async function forward(jump: Client, hop: SshHostConfig, next: SshHostConfig): Promise<Duplex> {
  try {
    return await openForwardOut(jump, next.hostName, next.port);
  } catch (error) {
    throw new UnreachableError(`jump host ${addrOf(hop)} could not open a connection to ${next.hostName}:${next.port}: ${(error as Error).message}`, {
      cause: error,
      suggestion: `check that ${next.hostName}:${next.port} is reachable from ${hop.hostName} and that its sshd allows forwarding (AllowTcpForwarding yes)`,
    });
  }
}

async function connectOne(config: SshHostConfig, sock: Duplex | undefined, options: ConnectOptions, via: string): Promise<Client> {
  const addr = addrOf(config);
  const timeoutMs = options.connectTimeoutMs;
  const deadline = new Deadline(timeoutMs, options.signal);
  const prompt: Prompter | undefined = options.prompt && !config.batchMode
    ? async (question, echo) => {
      // Time spent waiting for the user does not count against the connect timeout.
      deadline.pause();
      try {
        return await options.prompt!(question, echo);
      } finally {
        deadline.resume();
      }
    }
    : undefined;

  const hostKeys = new HostKeyCheck({
    host: config.hostName,
    port: config.port,
    knownHostsFiles: options.knownHostsFile !== undefined ? [options.knownHostsFile] : config.userKnownHostsFiles,
    globalKnownHostsFiles: config.globalKnownHostsFiles,
    ...(config.hostKeyAlias === undefined ? {} : { hostKeyAlias: config.hostKeyAlias }),
    strict: config.strictHostKeyChecking,
    acceptNew: options.acceptNew,
    ...(prompt ? { prompt } : {}),
  });
  const explicitKeys = [...(options.identityFile !== undefined ? [options.identityFile] : []), ...config.identityFiles];
  const auth = new AuthAttempt({
    username: config.user,
    host: config.hostName,
    port: config.port,
    identityFiles: explicitKeys.length > 0 ? explicitKeys : defaultIdentityFiles(options.homeDir),
    identityFilesExplicit: explicitKeys.length > 0,
    identitiesOnly: config.identitiesOnly,
    agentSocket: agentSocketFor(config.identityAgent, options.env),
    ...(prompt ? { prompt } : {}),
  });

  const client = new Ssh2Client();
  try {
    await hostKeys.load();
    const socket = sock ?? await connectTcp(config.hostName, config.port, deadline.signal);
    await handshake(client, {
      sock: socket,
      username: config.user,
      hostVerifier: hostKeys.verify,
      authHandler: auth.handler,
      algorithms: { serverHostKey: hostKeys.preferredAlgorithms() },
      // Our deadline replaces ssh2's readyTimeout, which would also count prompt time.
      readyTimeout: 0,
      keepaliveInterval: options.keepAliveIntervalMs,
      keepaliveCountMax: options.keepAliveCountMax,
    }, deadline.signal);
    return client;
  } catch (error) {
    client.destroy();
    sock?.destroy();
    throw classify(error, { addr, via, config, deadline, hostKeys, auth, timeoutMs });
  } finally {
    deadline.clear();
  }
}

interface FailureContext {
  addr: string;
  via: string;
  config: SshHostConfig;
  deadline: Deadline;
  hostKeys: HostKeyCheck;
  auth: AuthAttempt;
  timeoutMs: number;
}

/** Turns whatever failed while connecting into one of rmount's typed errors. */
function classify(error: unknown, ctx: FailureContext): RmountError {
  if (error instanceof RmountError) return error;
  if (ctx.hostKeys.failure) return ctx.hostKeys.failure;
  const { addr, via, config } = ctx;
  if (ctx.deadline.expired) {
    const waited = ctx.deadline.external ? 'the connection was cancelled' : `no answer within ${ctx.timeoutMs} ms`;
    return new TimeoutError(`connecting to ${addr}${via}: ${waited}`, {
      cause: error,
      suggestion: `check that ${config.hostName}:${config.port} is the SSH server and that no firewall drops the connection; a slow link needs a longer --connect-timeout (or ConnectTimeout in ~/.ssh/config)`,
    });
  }
  const e = error as Ssh2Error;
  switch (e.code) {
    case 'ECONNREFUSED':
      return new UnreachableError(`connecting to ${addr}${via}: connection refused`, {
        cause: error,
        suggestion: `nothing listens on ${config.hostName}:${config.port}; check the port (ssh://host:PORT or Port in ~/.ssh/config) and that sshd runs`,
      });
    case 'ENOTFOUND': case 'EAI_AGAIN': case 'EAI_NONAME':
      return new UnreachableError(`connecting to ${addr}${via}: unknown host ${config.hostName}`, {
        cause: error,
        suggestion: `check the host name (a Host alias needs a HostName line in ~/.ssh/config)`,
      });
    case 'EHOSTUNREACH': case 'ENETUNREACH': case 'ETIMEDOUT': case 'ECONNRESET': case 'EPIPE':
      return new UnreachableError(`connecting to ${addr}${via}: ${e.code}`, {
        cause: error,
        suggestion: `check the network path to ${config.hostName}:${config.port} (VPN, firewall, ProxyJump)`,
      });
  }
  if (e.level === 'client-authentication') return ctx.auth.error(error);
  if (e.level === 'client-timeout') {
    return new TimeoutError(`connecting to ${addr}${via}: ${e.message}`, { cause: error, suggestion: 'the server stopped answering; check the network and try again' });
  }
  return new UnreachableError(`SSH handshake with ${addr}${via} failed: ${e.message}`, {
    cause: error,
    suggestion: `check that ${config.hostName}:${config.port} is an SSH server (ssh -v -p ${config.port} ${config.user}@${config.hostName} shows the details)`,
  });
}

/**
 * A timer that aborts `signal` when it runs out; it can be paused while the user is prompted.
 * An external signal aborting also aborts it (`external` is then true).
 */
class Deadline {
  readonly #controller = new AbortController();
  #remaining: number;
  #startedAt = 0;
  #timer: NodeJS.Timeout | undefined;
  readonly #external: AbortSignal | undefined;
  readonly #onExternal = (): void => this.#expire(true);
  external = false;

  constructor(ms: number, external?: AbortSignal) {
    this.#remaining = ms;
    this.#external = external;
    if (external?.aborted) this.#expire(true);
    else external?.addEventListener('abort', this.#onExternal, { once: true });
    this.resume();
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  get expired(): boolean {
    return this.#controller.signal.aborted;
  }

  pause(): void {
    if (this.#timer === undefined) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#remaining -= Date.now() - this.#startedAt;
  }

  resume(): void {
    if (this.#timer !== undefined || this.expired) return;
    this.#startedAt = Date.now();
    this.#timer = setTimeout(() => this.#expire(false), Math.max(0, this.#remaining));
  }

  clear(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#external?.removeEventListener('abort', this.#onExternal);
  }

  #expire(external: boolean): void {
    this.external = external;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#controller.abort(new Error(external ? 'connect cancelled' : 'connect timeout'));
  }
}
