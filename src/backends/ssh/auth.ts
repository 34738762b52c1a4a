/**
 * Client authentication in OpenSSH's order: the agent, then identity files (asking for a
 * passphrase only when a prompt is available), then keyboard-interactive and password through the
 * same prompt. Drives ssh2's `authHandler` (function form) and remembers what it tried, so a
 * refusal can say which keys were offered.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AnyAuthMethod, AuthHandlerMiddleware, AuthenticationType, BaseAgent, ParsedKey } from 'ssh2';
import { AuthError } from '../../remote/errors.ts';
import { Ssh2BaseAgent, Ssh2OpenSSHAgent, ssh2Utils } from './ssh2-calls.ts';

/** Asks the user a question; `echo` false for secrets. Only given when there is a TTY. */
export type Prompter = (question: string, echo: boolean) => Promise<string>;

/** What authentication may use. */
export interface AuthSetup {
  username: string;
  /** `host` and `port` as the user would type them for ssh-copy-id. */
  host: string;
  port: number;
  /** Identity files in order (the `--identity` option first, then IdentityFile lines). */
  identityFiles: readonly string[];
  /** True when the files came from the user (not the defaults): missing ones are reported. */
  identityFilesExplicit: boolean;
  /** IdentitiesOnly: offer only agent keys whose public half matches an identity file. */
  identitiesOnly: boolean;
  /** The agent's socket, or undefined for none. */
  agentSocket: string | undefined;
  /** Absent: never ask (no TTY, BatchMode). */
  prompt?: Prompter;
}

/** Default identity files when the config names none, most modern first. */
export function defaultIdentityFiles(homeDir: string): string[] {
  return ['id_ed25519', 'id_ecdsa', 'id_rsa'].map(name => join(homeDir, '.ssh', name));
}

/** The agent socket OpenSSH would use: IdentityAgent, else SSH_AUTH_SOCK; undefined for none. */
export function agentSocketFor(identityAgent: string, env: NodeJS.ProcessEnv): string | undefined {
  if (identityAgent === 'none') return undefined;
  const path = identityAgent === 'SSH_AUTH_SOCK' ? env.SSH_AUTH_SOCK : identityAgent;
  return path !== undefined && path !== '' && existsSync(path) ? path : undefined;
}

type Step =
  | { kind: 'none' }
  | { kind: 'agent'; socket: string }
  | { kind: 'key'; path: string }
  | { kind: 'keyboard-interactive' }
  | { kind: 'password' };

/**
 * One authentication attempt's state. `handler` goes to ssh2's `authHandler`; after a failure,
 * `error()` builds the AuthError naming what was tried.
 */
export class AuthAttempt {
  readonly #setup: AuthSetup;
  readonly #steps: Step[];
  /** What the server accepts, learnt from its first refusal. */
  #allowed: AuthenticationType[] | undefined;
  /** Human descriptions of every method offered, in order. */
  readonly tried: string[] = [];
  /** Keys that could not be used, with the reason (missing, encrypted without a TTY, bad passphrase). */
  readonly skipped: string[] = [];

  constructor(setup: AuthSetup) {
    this.#setup = setup;
    this.#steps = [{ kind: 'none' }];
    if (setup.agentSocket !== undefined) this.#steps.push({ kind: 'agent', socket: setup.agentSocket });
    for (const path of setup.identityFiles) this.#steps.push({ kind: 'key', path });
    if (setup.prompt) this.#steps.push({ kind: 'keyboard-interactive' }, { kind: 'password' });
  }

  /** ssh2's authHandler: picks the next method the server still allows. */
  readonly handler: AuthHandlerMiddleware = (methodsLeft, _partialSuccess, next) => {
    // ssh2 takes `false` for "no more methods" although its types omit it.
    const done = next as (method: AnyAuthMethod | false) => void;
    if (methodsLeft !== null) this.#allowed = methodsLeft;
    void this.#next().then(done, () => done(false)); // both outcomes handled: a failed step ends auth
  };

  async #next(): Promise<AnyAuthMethod | false> {
    const username = this.#setup.username;
    for (let step = this.#steps.shift(); step !== undefined; step = this.#steps.shift()) {
      switch (step.kind) {
        case 'none':
          return { type: 'none', username };
        case 'agent':
          if (!this.#allows('publickey')) continue;
          this.tried.push(`agent (${step.socket})`);
          return { type: 'agent', username, agent: await this.#agent(step.socket) };
        case 'key': {
          if (!this.#allows('publickey')) continue;
          const key = await this.#loadKey(step.path);
          if (key === undefined) continue;
          this.tried.push(step.path);
          return { type: 'publickey', username, key };
        }
        case 'keyboard-interactive':
          if (!this.#allows('keyboard-interactive')) continue;
          this.tried.push('keyboard-interactive');
          return { type: 'keyboard-interactive', username, prompt: (_name, _instructions, _lang, prompts, finish) => {
            void this.#answer(prompts.map(p => ({ question: p.prompt, echo: p.echo === true }))).then(finish, () => finish([]));
          } };
        case 'password': {
          if (!this.#allows('password')) continue;
          this.tried.push('password');
          const password = await this.#setup.prompt!(`${username}@${this.#setup.host}'s password: `, false);
          return { type: 'password', username, password };
        }
      }
    }
    return false;
  }

  #allows(method: AuthenticationType): boolean {
    return this.#allowed === undefined || this.#allowed.includes(method);
  }

  async #answer(questions: { question: string; echo: boolean }[]): Promise<string[]> {
    const answers: string[] = [];
    for (const q of questions) answers.push(await this.#setup.prompt!(q.question, q.echo));
    return answers;
  }

  async #agent(socket: string): Promise<BaseAgent> {
    const agent = new Ssh2OpenSSHAgent(socket);
    if (!this.#setup.identitiesOnly) return agent;
    const wanted: Buffer[] = [];
    for (const path of this.#setup.identityFiles) {
      const pub = await readFile(`${path}.pub`, 'utf8').catch(() => undefined);
      const blob = pub?.trim().split(/\s+/)[1];
      if (blob !== undefined) wanted.push(Buffer.from(blob, 'base64'));
    }
    return new FilteredAgent(agent, wanted);
  }

  async #loadKey(path: string): Promise<ParsedKey | undefined> {
    let data: Buffer;
    try {
      data = await readFile(path);
    } catch (error) {
      if (this.#setup.identityFilesExplicit) this.skipped.push(`${path} (${(error as NodeJS.ErrnoException).code ?? 'unreadable'})`);
      return undefined;
    }
    let parsed = ssh2Utils.parseKey(data);
    if (!(parsed instanceof Error)) return first(parsed);
    if (!/passphrase|encrypted/i.test(parsed.message)) {
      this.skipped.push(`${path} (${parsed.message})`);
      return undefined;
    }
    if (!this.#setup.prompt) {
      this.skipped.push(`${path} (encrypted; no terminal to ask for its passphrase)`);
      return undefined;
    }
    // Three tries, as ssh gives.
    for (let i = 0; i < 3; i++) {
      const passphrase = await this.#setup.prompt(`Enter passphrase for key '${path}': `, false);
      if (passphrase === '') break;
      parsed = ssh2Utils.parseKey(data, passphrase);
      if (!(parsed instanceof Error)) return first(parsed);
    }
    this.skipped.push(`${path} (wrong passphrase)`);
    return undefined;
  }

  /** The AuthError for a refused login, naming what was tried and what to do. */
  error(cause?: unknown): AuthError {
    const { username, host, port } = this.#setup;
    const offered = this.tried.length > 0 ? this.tried.join(', ') : 'nothing';
    const lines = [`tried: ${offered}`];
    if (this.skipped.length > 0) lines.push(`skipped: ${this.skipped.join('; ')}`);
    const key = this.tried.find(t => t.startsWith('/')) ?? this.#setup.identityFiles[0] ?? '~/.ssh/id_ed25519';
    lines.push(`to authorise a key: ssh-copy-id -i ${key}.pub${port === 22 ? '' : ` -p ${port}`} ${username}@${host}`);
    lines.push('or name the right key with --identity FILE (or IdentityFile in ~/.ssh/config)');
    const methods = this.#allowed ? ` (server accepts: ${this.#allowed.join(',')})` : '';
    return new AuthError(`${username}@${host}: permission denied${methods}`, { cause, suggestion: lines.join('\n') });
  }
}

function first(key: ParsedKey | ParsedKey[]): ParsedKey {
  return Array.isArray(key) ? key[0]! : key;
}

/** An agent that offers only the keys whose public blobs are listed (IdentitiesOnly). */
class FilteredAgent extends Ssh2BaseAgent<ParsedKey> {
  readonly #inner: InstanceType<typeof Ssh2OpenSSHAgent>;
  readonly #wanted: Buffer[];

  constructor(inner: InstanceType<typeof Ssh2OpenSSHAgent>, wanted: Buffer[]) {
    super();
    this.#inner = inner;
    this.#wanted = wanted;
  }

  getIdentities(cb: (err: Error | undefined, keys?: ParsedKey[]) => void): void {
    this.#inner.getIdentities((err, keys) => {
      if (err) return cb(err);
      cb(undefined, (keys ?? []).filter(k => this.#wanted.some(w => w.equals((k as ParsedKey).getPublicSSH()))) as ParsedKey[]);
    });
  }

  sign(pubKey: ParsedKey, data: Buffer, options: unknown, cb?: unknown): void {
    // ssh2 calls sign(key, data, options, cb) or sign(key, data, cb); pass both shapes through.
    (this.#inner.sign as (...args: unknown[]) => void)(pubKey, data, options, cb);
  }
}
