/**
 * The one place where ssh2's callback API becomes promises. Everything else in the SSH backend
 * awaits these helpers; errors come back as ssh2 produced them and are converted by the caller,
 * once, at the backend's edge.
 */
import { connect as netConnect, type Socket } from 'node:net';
import ssh2, { type Client, type ClientChannel, type ConnectConfig, type PseudoTtyOptions } from 'ssh2';

/** ssh2's Client class (ssh2 is CommonJS; its named exports are not visible to ESM). */
export const Ssh2Client = ssh2.Client;
/** ssh2's key and agent helpers. */
export const ssh2Utils = ssh2.utils;
/** ssh2's agent client for an OpenSSH agent socket. */
export const Ssh2OpenSSHAgent = ssh2.OpenSSHAgent;
/** ssh2's base class for custom agents. */
export const Ssh2BaseAgent = ssh2.BaseAgent;

/** An error as ssh2 emits it: `level` says which phase failed. */
export type Ssh2Error = Error & { level?: string; code?: string; description?: string };

/** Opens a TCP connection; rejects with the socket's error (ECONNREFUSED, ENOTFOUND, …). */
export function connectTcp(host: string, port: number, signal: AbortSignal): Promise<Socket> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    // No Nagle, as OpenSSH sets TCP_NODELAY for interactive use: every request over the mount
    // (a forward's open, an exec) is small, and one sent while the last is unacknowledged would
    // otherwise wait for the peer's delayed ACK, up to 40 ms.
    const socket = netConnect({ host, port, noDelay: true });
    const onAbort = (): void => { socket.destroy(); reject(signal.reason); };
    signal.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => {
      signal.removeEventListener('abort', onAbort);
      socket.removeListener('error', reject);
      resolve(socket);
    });
    socket.once('error', error => {
      signal.removeEventListener('abort', onAbort);
      reject(error);
    });
  });
}

/**
 * Runs ssh2's handshake and authentication over `config.sock`; resolves on 'ready'. Aborting
 * `signal` destroys the client and rejects with the signal's reason.
 */
export function handshake(client: Client, config: ConnectConfig, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    let settled = false;
    const finish = (error?: unknown): void => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      client.removeListener('ready', onReady);
      client.removeListener('error', onError);
      client.removeListener('close', onClose);
      if (error === undefined) return resolve();
      // The caller destroys a failed client; ssh2 may still emit 'error' while it winds down.
      client.on('error', () => {});
      reject(error);
    };
    const onAbort = (): void => { client.destroy(); finish(signal.reason); };
    const onReady = (): void => finish();
    const onError = (error: Error): void => finish(error);
    const onClose = (): void => finish(Object.assign(new Error('connection closed during the SSH handshake'), { level: 'client-socket' }));
    signal.addEventListener('abort', onAbort, { once: true });
    client.once('ready', onReady);
    client.on('error', onError);
    client.once('close', onClose);
    client.connect(config);
  });
}

/** ssh2 exec options we use. */
export interface ExecChannelOptions {
  pty?: PseudoTtyOptions;
}

/** Opens an exec channel running `command` (a shell line the server's login shell runs). */
export function openExec(client: Client, command: string, options: ExecChannelOptions = {}): Promise<ClientChannel> {
  return new Promise((resolve, reject) => {
    const opts = options.pty ? { pty: options.pty } : {};
    try {
      client.exec(command, opts, (error, channel) => (error ? reject(error) : resolve(channel)));
    } catch (error) {
      reject(error); // ssh2 throws synchronously when the connection is gone
    }
  });
}

/** Opens a subsystem channel (`sftp`); rejects when the server refuses it. */
export function openSubsystem(client: Client, name: string): Promise<ClientChannel> {
  return new Promise((resolve, reject) => {
    try {
      client.subsys(name, (error, channel) => (error ? reject(error) : resolve(channel)));
    } catch (error) {
      reject(error);
    }
  });
}

/** Opens a direct-tcpip channel from the server to `host`:`port` (ProxyJump's `ssh -W`). */
export function openForwardOut(client: Client, host: string, port: number): Promise<ClientChannel> {
  return new Promise((resolve, reject) => {
    try {
      client.forwardOut('127.0.0.1', 0, host, port, (error, channel) => (error ? reject(error) : resolve(channel)));
    } catch (error) {
      reject(error);
    }
  });
}
