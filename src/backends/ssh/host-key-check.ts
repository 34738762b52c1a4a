/**
 * The host key policy of one connection: known_hosts lookup, StrictHostKeyChecking /
 * `--accept-new`, recording a first-seen key, and the HostKeyError that tells the user how to
 * trust a key. Plugs into ssh2's `hostVerifier`.
 */
import { HostKeyError } from '../../remote/errors.ts';
import type { StrictHostKeyChecking } from './config.ts';
import {
  fingerprintSha256, keyTypeOf, knownHostName, knownKeyTypesAs, readKnownHosts, recordHostKeyAs, verifyHostKeyAs,
  type KnownHostEntry,
} from './known-hosts.ts';
import type { Prompter } from './auth.ts';

/** How to check one server's key. */
export interface HostKeyPolicy {
  /** The name and port the key is filed under (HostName after config, not the alias). */
  host: string;
  port: number;
  /** HostKeyAlias: look keys up and record them under this name instead of host/[host]:port. */
  hostKeyAlias?: string;
  /** known_hosts files to consult; new keys are appended to the first. */
  knownHostsFiles: readonly string[];
  /** GlobalKnownHostsFile: consulted after `knownHostsFiles`, never written. */
  globalKnownHostsFiles?: readonly string[];
  strict: StrictHostKeyChecking;
  /** Trust an unknown key and record it (`--accept-new`), whatever `strict` says. */
  acceptNew: boolean;
  /** For StrictHostKeyChecking=ask on a terminal. */
  prompt?: Prompter;
}

/** Host key algorithms ssh2 offers, in its default order. */
const HOST_KEY_ALGORITHMS = [
  'ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa',
] as const;
type HostKeyAlgorithm = typeof HOST_KEY_ALGORITHMS[number];

function keyTypeOfAlgorithm(algorithm: HostKeyAlgorithm): string {
  return algorithm.startsWith('rsa-sha2-') ? 'ssh-rsa' : algorithm;
}

/**
 * Checks server host keys for one connection. Call `load()` before connecting; pass `verify` as
 * ssh2's hostVerifier; after a refused handshake, `failure` holds the HostKeyError to throw.
 */
export class HostKeyCheck {
  readonly #policy: HostKeyPolicy;
  #entries: KnownHostEntry[] = [];
  /** Why the last key was refused; set before ssh2 reports its own generic handshake error. */
  failure: HostKeyError | undefined;
  /** The fingerprint of the key the server presented. */
  fingerprint: string | undefined;

  constructor(policy: HostKeyPolicy) {
    this.#policy = policy;
  }

  /** Reads the known_hosts files. */
  async load(): Promise<void> {
    this.#entries = await readKnownHosts([...this.#policy.knownHostsFiles, ...this.#policy.globalKnownHostsFiles ?? []]);
  }

  /**
   * Host key algorithms to offer: the types known_hosts already lists for this host first, so a
   * server with several keys shows the one we can verify (as OpenSSH orders HostKeyAlgorithms).
   */
  preferredAlgorithms(): HostKeyAlgorithm[] {
    const known = knownKeyTypesAs(this.#entries, this.#name());
    const rank = (a: HostKeyAlgorithm): number => {
      const i = known.indexOf(keyTypeOfAlgorithm(a));
      return i < 0 ? known.length : i;
    };
    return [...HOST_KEY_ALGORITHMS].sort((a, b) => rank(a) - rank(b));
  }

  /** ssh2's asynchronous hostVerifier. */
  readonly verify = (key: Buffer, done: (ok: boolean) => void): void => {
    void this.#decide(key).then(done, (error: unknown) => {
      this.failure = new HostKeyError(`could not check the host key of ${this.#name()}: ${(error as Error).message}`, 'unknown', this.#policy.host, this.fingerprint ?? '', { cause: error });
      done(false);
    });
  };

  // The name known_hosts files the key under: the alias verbatim (no port, as OpenSSH), else host/[host]:port.
  #name(): string {
    return this.#policy.hostKeyAlias ?? knownHostName(this.#policy.host, this.#policy.port);
  }

  async #decide(key: Buffer): Promise<boolean> {
    const { host, port } = this.#policy;
    const fp = fingerprintSha256(key);
    this.fingerprint = fp;
    const type = keyTypeOf(key);
    const verdict = verifyHostKeyAs(this.#entries, this.#name(), key);
    switch (verdict.status) {
      case 'ok':
        return true;
      case 'revoked':
        this.failure = new HostKeyError(
          `the ${type} host key of ${this.#name()} (${fp}) is marked @revoked in ${verdict.entry.source}`,
          'revoked', host, fp,
          { suggestion: 'the server presented a revoked key: do not connect; ask the server\'s administrator for its current key' },
        );
        return false;
      case 'changed':
        // A changed key is refused whatever the policy: it is what an attacker in the middle looks like.
        this.failure = new HostKeyError(
          `the ${type} host key of ${this.#name()} has CHANGED: the server sent ${fp}, ${verdict.entry.source} has another`,
          'changed', host, fp,
          { suggestion: [
            'someone could be intercepting the connection, or the server was reinstalled; check the fingerprint with its administrator, then remove the old key:',
            `  ssh-keygen -R "${this.#name()}" -f ${verdict.entry.source.replace(/:\d+$/, '')}`,
            'and connect again with --accept-new',
          ].join('\n') },
        );
        return false;
      case 'unknown': {
        const { strict, acceptNew } = this.#policy;
        if (acceptNew || strict === 'accept-new' || strict === 'no' || await this.#ask(fp, type)) {
          const file = this.#policy.knownHostsFiles[0];
          if (file !== undefined) await recordHostKeyAs(file, this.#name(), key);
          return true;
        }
        const others = verdict.knownTypes.length > 0 ? ` (known_hosts lists only ${verdict.knownTypes.join(', ')} for it)` : '';
        this.failure = new HostKeyError(
          `the authenticity of ${this.#name()} can't be established: ${type} key fingerprint is ${fp}${others}`,
          'unknown', host, fp,
          { suggestion: [
            `check that ${fp} is the server's key (on the server: ssh-keygen -lf /etc/ssh/ssh_host_${hostKeyFileKind(type)}_key.pub), then trust it with:`,
            `  ssh-keyscan${port === 22 ? '' : ` -p ${port}`} -t ${type} ${host} >> ${this.#policy.knownHostsFiles[0] ?? '~/.ssh/known_hosts'}`,
            'or connect once with --accept-new',
          ].join('\n') },
        );
        return false;
      }
    }
  }

  // StrictHostKeyChecking=ask (OpenSSH's default) on a terminal: the user decides, as ssh asks.
  async #ask(fp: string, type: string): Promise<boolean> {
    if (this.#policy.strict !== 'ask' || this.#policy.prompt === undefined) return false;
    const answer = (await this.#policy.prompt(
      `The authenticity of host '${this.#name()}' can't be established.\n${type} key fingerprint is ${fp}.\nAre you sure you want to continue connecting (yes/no/[fingerprint])? `,
      true,
    )).trim();
    return answer === 'yes' || answer === fp;
  }
}

/** The word in sshd's host key file name for a key type (/etc/ssh/ssh_host_<word>_key). */
function hostKeyFileKind(type: string): string {
  return type.startsWith('ecdsa-') ? 'ecdsa' : type.replace(/^ssh-/, '');
}
