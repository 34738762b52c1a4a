/**
 * A real OpenSSH `sshd` on 127.0.0.1 for tests and benchmarks: throwaway host and user keys in a
 * temporary folder, a free port, public-key login as the current user, and cleanup registered with
 * the caller's `after` hook (by the daemon's PID only) even when a test fails.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { appendFile, chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { requirePart, which } from './skip.ts';
import { removeTree } from './tmp.ts';

const run = promisify(execFile);

/** The sshd binary the fixture starts. */
export const SSHD_PATH = '/usr/sbin/sshd';
/** OpenSSH's sftp-server, named as the `sftp` subsystem. */
export const SFTP_SERVER_PATH = '/usr/lib/openssh/sftp-server';
/** The Host alias written into `sshConfigFile`. */
export const SSHD_HOST_ALIAS = 'rmount-test';
/** Passphrase of the fixture's encrypted user key. */
export const ENCRYPTED_KEY_PASSPHRASE = 'correct horse';

/** Anything with an `after` hook: a TestContext, or `{ after }` from node:test at suite level. */
export interface AfterHook {
  after(fn: () => Promise<void> | void): void;
}

/** How to start the daemon. */
export interface SshdOptions {
  /** Offer the `sftp` subsystem (default true). */
  sftp?: boolean;
  /** Also give the server an RSA host key (default false: ed25519 only). */
  rsa?: boolean;
  /** Allow direct-tcpip forwarding, which ProxyJump needs (default true). */
  tcpForwarding?: boolean;
}

/** A running test sshd. Fields that depend on the host key change after `restart({ newHostKey })`. */
export interface SshdFixture {
  /** Always 127.0.0.1. */
  readonly host: string;
  readonly port: number;
  /** The login user: the current user (root in CI). */
  readonly user: string;
  /** Private ed25519 user key (no passphrase), authorised on the server. */
  readonly userKey: string;
  /** Its public half. */
  readonly userPubKey: string;
  /** A second authorised ed25519 key, encrypted with {@link ENCRYPTED_KEY_PASSPHRASE}. */
  readonly encryptedUserKey: string;
  /** A key pair that is NOT authorised (for wrong-key tests). */
  readonly strangerKey: string;
  /** known_hosts holding the first host key as `[127.0.0.1]:port`. Not updated by `restart`. */
  readonly knownHostsFile: string;
  /** `SHA256:…` of the current ed25519 host key, as ssh-keygen prints it. */
  readonly hostKeyFingerprint: string;
  /** The current ed25519 host public key line (`ssh-ed25519 AAAA…`). */
  readonly hostPublicKey: string;
  /** An ssh_config for `ssh -F` / `sftp -F`: Host `rmount-test` (and `127.0.0.1`). */
  readonly sshConfigFile: string;
  /** The temporary folder holding keys, config and logs. */
  readonly dir: string;
  /** What sshd wrote to stderr so far (for failure messages). */
  log(): string;
  /** Restarts on the same port; `newHostKey` generates a fresh host key first. */
  restart(options?: { newHostKey?: boolean }): Promise<void>;
  /** Stops the daemon (idempotent); the folder is removed by the registered cleanup. */
  stop(): Promise<void>;
}

/**
 * An ssh_config for OpenSSH's clients (ssh, sftp, sshfs) that reaches the test sshd with only the
 * given key and known_hosts, never asks, and says little. Without `port`, `-p` decides.
 */
export function renderClientConfig(c: { hosts: string; port?: number; user: string; identityFile: string; knownHostsFile: string }): string {
  return [
    `Host ${c.hosts}`,
    '  HostName 127.0.0.1',
    ...(c.port === undefined ? [] : [`  Port ${c.port}`]),
    `  User ${c.user}`,
    `  IdentityFile ${c.identityFile}`,
    '  IdentitiesOnly yes',
    `  UserKnownHostsFile ${c.knownHostsFile}`,
    '  GlobalKnownHostsFile /dev/null',
    '  StrictHostKeyChecking yes',
    '  BatchMode yes',
    '  LogLevel ERROR',
    '',
  ].join('\n');
}

/** Why sshd tests cannot run here, or false. Under RMOUNT_TEST_REQUIRE=all a reason throws. */
export function sshdSkipReason(): string | false {
  if (!existsSync(SSHD_PATH)) return requirePart(`sshd not installed (${SSHD_PATH}; Debian package openssh-server)`);
  if (!which('ssh-keygen')) return requirePart('ssh-keygen not installed (Debian package openssh-client)');
  if (process.getuid?.() !== 0) return requirePart('sshd tests need root (sshd switches to the login user)');
  return false;
}

/**
 * Starts a throwaway sshd on 127.0.0.1 and registers its cleanup with `t.after`.
 * Throws when sshd cannot start (with its log); check {@link sshdSkipReason} first.
 */
export async function startSshd(t: AfterHook, options: SshdOptions = {}): Promise<SshdFixture> {
  const dir = await mkdtemp(join(tmpdir(), 'rmount-sshd-'));
  let daemon: Daemon | undefined;
  // Registered before anything can fail, so a half-made fixture is cleaned up too.
  t.after(async () => {
    await daemon?.stop();
    await removeTree(dir);
  });

  // OpenSSH's privilege separation folder; a container without a running sshd lacks it.
  await mkdir('/run/sshd', { recursive: true, mode: 0o755 });

  const user = userInfo().username;
  const hostKey = join(dir, 'ssh_host_ed25519_key');
  const userKey = join(dir, 'id_ed25519');
  const encryptedUserKey = join(dir, 'id_ed25519_encrypted');
  const strangerKey = join(dir, 'id_ed25519_stranger');
  await Promise.all([
    keygen(hostKey, 'ed25519', ''),
    keygen(userKey, 'ed25519', ''),
    keygen(encryptedUserKey, 'ed25519', ENCRYPTED_KEY_PASSPHRASE),
    keygen(strangerKey, 'ed25519', ''),
    options.rsa ? keygen(join(dir, 'ssh_host_rsa_key'), 'rsa', '') : Promise.resolve(),
  ]);
  const authorized = join(dir, 'authorized_keys');
  await writeFile(authorized, (await readFile(`${userKey}.pub`, 'utf8')) + (await readFile(`${encryptedUserKey}.pub`, 'utf8')));
  await chmod(authorized, 0o600);

  const port = await freePort();
  const sshdConfig = join(dir, 'sshd_config');
  await writeFile(sshdConfig, renderSshdConfig({ dir, port, rsa: options.rsa === true, sftp: options.sftp !== false, tcpForwarding: options.tcpForwarding !== false }));

  let hostPublicKey = await publicKeyLine(hostKey);
  let hostKeyFingerprint = await fingerprint(`${hostKey}.pub`);
  const knownHostsFile = join(dir, 'known_hosts');
  await writeFile(knownHostsFile, `[127.0.0.1]:${port} ${hostPublicKey}\n`);
  if (options.rsa) await appendFile(knownHostsFile, `[127.0.0.1]:${port} ${await publicKeyLine(join(dir, 'ssh_host_rsa_key'))}\n`);

  const sshConfigFile = join(dir, 'ssh_config');
  await writeFile(sshConfigFile, renderClientConfig({ hosts: `${SSHD_HOST_ALIAS} 127.0.0.1`, port, user, identityFile: userKey, knownHostsFile }));

  daemon = await Daemon.start(sshdConfig, port);

  return {
    host: '127.0.0.1',
    port,
    user,
    userKey,
    userPubKey: `${userKey}.pub`,
    encryptedUserKey,
    strangerKey,
    knownHostsFile,
    get hostKeyFingerprint() { return hostKeyFingerprint; },
    get hostPublicKey() { return hostPublicKey; },
    sshConfigFile,
    dir,
    log: () => daemon?.log() ?? '',
    async restart(opts = {}) {
      await daemon?.stop();
      if (opts.newHostKey) {
        await rm(hostKey, { force: true });
        await rm(`${hostKey}.pub`, { force: true });
        await keygen(hostKey, 'ed25519', '');
        hostPublicKey = await publicKeyLine(hostKey);
        hostKeyFingerprint = await fingerprint(`${hostKey}.pub`);
      }
      daemon = await Daemon.start(sshdConfig, port);
    },
    stop: async () => { await daemon?.stop(); },
  };
}

function renderSshdConfig(o: { dir: string; port: number; rsa: boolean; sftp: boolean; tcpForwarding: boolean }): string {
  return [
    'ListenAddress 127.0.0.1',
    `Port ${o.port}`,
    `HostKey ${join(o.dir, 'ssh_host_ed25519_key')}`,
    ...(o.rsa ? [`HostKey ${join(o.dir, 'ssh_host_rsa_key')}`] : []),
    `PidFile ${join(o.dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${join(o.dir, 'authorized_keys')}`,
    'UsePAM no',
    'StrictModes no',
    'PermitRootLogin yes',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PrintMotd no',
    'PrintLastLog no',
    'X11Forwarding no',
    `AllowTcpForwarding ${o.tcpForwarding ? 'yes' : 'no'}`,
    'MaxStartups 100',
    'MaxSessions 100',
    'LogLevel VERBOSE',
    ...(o.sftp ? [`Subsystem sftp ${SFTP_SERVER_PATH}`] : []),
    '',
  ].join('\n');
}

/** One sshd process started by us; stopped by its own PID, never by name. */
class Daemon {
  #log = '';
  #exited: Promise<void>;
  #done = false;

  private constructor(readonly child: ChildProcess) {
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => { this.#log = (this.#log + chunk).slice(-64 * 1024); });
    this.#exited = new Promise(resolve => child.once('exit', () => { this.#done = true; resolve(); }));
  }

  static async start(config: string, port: number): Promise<Daemon> {
    const child = spawn(SSHD_PATH, ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    const daemon = new Daemon(child);
    try {
      await daemon.#waitForBanner(port, 10_000);
    } catch (error) {
      await daemon.stop();
      throw new Error(`sshd did not start on 127.0.0.1:${port}: ${(error as Error).message}\n${daemon.log()}`, { cause: error });
    }
    return daemon;
  }

  log(): string {
    return this.#log;
  }

  async stop(): Promise<void> {
    if (this.#done || this.child.pid === undefined) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 3000);
    await this.#exited;
    clearTimeout(timer);
  }

  // The port answering with an SSH banner proves the daemon is ready, not merely bound.
  async #waitForBanner(port: number, limitMs: number): Promise<void> {
    const deadline = Date.now() + limitMs;
    for (;;) {
      if (this.#done) throw new Error(`sshd exited with ${this.child.exitCode}`);
      if (await readsBanner(port)) return;
      if (Date.now() > deadline) throw new Error('timed out waiting for the SSH banner');
      await new Promise(resolve => setTimeout(resolve, 50));
    }
  }
}

function readsBanner(port: number): Promise<boolean> {
  return new Promise(resolve => {
    const socket = connect({ host: '127.0.0.1', port });
    const finish = (ok: boolean): void => { socket.destroy(); resolve(ok); };
    socket.setTimeout(1000, () => finish(false));
    socket.once('error', () => finish(false));
    socket.once('data', chunk => finish(chunk.toString('latin1').startsWith('SSH-')));
  });
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

async function keygen(path: string, type: 'ed25519' | 'rsa', passphrase: string): Promise<void> {
  const args = ['-q', '-t', type, '-N', passphrase, '-C', `rmount-test-${type}`, '-f', path];
  if (type === 'rsa') args.push('-b', '2048');
  await run('ssh-keygen', args);
}

async function publicKeyLine(privateKey: string): Promise<string> {
  const [type, blob] = (await readFile(`${privateKey}.pub`, 'utf8')).trim().split(/\s+/);
  return `${type} ${blob}`;
}

/** The `SHA256:…` fingerprint ssh-keygen prints for a public key file. */
export async function fingerprint(publicKeyFile: string): Promise<string> {
  const { stdout } = await run('ssh-keygen', ['-l', '-E', 'sha256', '-f', publicKeyFile]);
  const fp = stdout.trim().split(/\s+/)[1];
  if (fp === undefined || !fp.startsWith('SHA256:')) throw new Error(`unexpected ssh-keygen output: ${stdout}`);
  return fp;
}
