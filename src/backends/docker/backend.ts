/**
 * The Docker and Compose backend: dockerode for the Engine API (only this folder imports it),
 * exec sessions, platform from the image and `uname`, uploads through the archive API, and the
 * agentless "copy/exec" file client.
 */
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { createReadStream } from 'node:fs';
import type Dockerode from 'dockerode';
import { collectOutput } from '../../remote/session-output.ts';
import type { Backend, LinkHealth } from '../../remote/backend.ts';
import { normalizeRemotePath, type Destination } from '../../remote/destination.ts';
import { PermissionError, RmountError, TimeoutError, UnreachableError, UsageError } from '../../remote/errors.ts';
import type { FileClient } from '../../remote/file-client.ts';
import type { Logger } from '../../remote/log.ts';
import { ReconnectingFileClient } from '../../remote/reconnecting-file-client.ts';
import type { PlatformInfo } from '../../remote/platform.ts';
import type { ExecOptions, Session } from '../../remote/session.ts';
import { downloadFile, putEntries, statPath, type PutEntry } from './container-archive.ts';
import { resolveContainer, type ResolvedContainer } from './container-resolve.ts';
import { formatEndpoint, resolveEngineEndpoint, type EngineEndpoint } from './engine-endpoint.ts';
import { DockerExecSession, execError } from './exec-session.ts';
import { agentConnector, agentOrFallback, newDurableSession } from '../agent-files.ts';
import { ContainerLink } from './container-link.ts';
import { abortable, dockerFor, mergePlatform, readSmall } from './engine-client.ts';
import { DockerFileClient, type ContainerAccess, type RunResult } from './file-client.ts';
import { GoneFileClient } from './gone-file-client.ts';

/** Options of a Docker backend. */
export interface DockerBackendOptions {
  /** The engine to use; default: resolved from DOCKER_HOST / contexts like the docker CLI. */
  endpoint?: EngineEndpoint;
  /** Environment for engine and Compose-project resolution; default process.env. */
  env?: Record<string, string | undefined>;
  /** Folder whose name is the Compose project `.`; default process.cwd(). */
  cwd?: string;
  /** Limit on reaching the engine and resolving the container, ms (default 30 s). */
  connectTimeoutMs?: number;
  /**
   * Files through rmount-agent over an exec stream ('auto', the default: when a build for the
   * container's platform exists and can run there) or always the agentless copy/exec client ('no').
   * 'yes' fails when the agent cannot run.
   */
  agent?: 'yes' | 'no' | 'auto';
  /**
   * With the agent: how long it keeps open files (even unlinked or renamed ones) for a new
   * connection after the link dies, ms; 0 or absent: not at all (a new agent reopens by path).
   */
  agentGraceMs?: number;
  /** Hears the link's steps: lost, reconnecting (attempt N), reconnected after Ns. */
  log?: Logger;
  /** Waits between looks at a stopped container, ms (the last repeats); default 1, 2, 4, 8, then 10 s. */
  reconnectBackoffMs?: readonly number[];
  /** How often a ready backend inspects its container, ms; default 5000. */
  pollMs?: number;
}

export { dockerFor, mergePlatform } from './engine-client.ts';

/** A running container, named directly or as a Compose service replica. */
export class DockerBackend implements Backend {
  readonly type: 'docker' | 'compose';
  readonly destination: Destination;
  readonly #options: DockerBackendOptions;
  #docker: Dockerode | undefined;
  #endpoint: EngineEndpoint | undefined;
  #resolved: ResolvedContainer | undefined;
  readonly #link: ContainerLink;
  #closed = false;
  #files: Promise<FileClient> | undefined;
  #home: Promise<string> | undefined;
  #ids: Promise<{ uid: number; gid: number }> | undefined;

  constructor(dest: Destination, options: DockerBackendOptions = {}) {
    this.type = dest.type === 'compose' ? 'compose' : 'docker';
    this.destination = dest;
    this.#options = options;
    this.#link = new ContainerLink(() => this.addr, {
      ...(options.log === undefined ? {} : { log: options.log }),
      ...(options.reconnectBackoffMs === undefined ? {} : { backoffMs: options.reconnectBackoffMs }),
      ...(options.pollMs === undefined ? {} : { pollMs: options.pollMs }),
    });
  }

  /** `docker://name` once resolved (the destination's form before). */
  get addr(): string {
    if (this.#resolved) return `docker://${this.#resolved.name}`;
    const d = this.destination;
    return d.type === 'compose' ? `compose://${d.host}/${d.service}${d.sequence === undefined ? '' : `/${d.sequence}`}` : `docker://${d.host}`;
  }

  /** The container's configured user ('' = the image default, root). */
  get user(): string {
    return this.#resolved?.info.Config.User ?? '';
  }

  /** The container this backend resolved to (after `start`). */
  get container(): ResolvedContainer {
    if (!this.#resolved) throw new UnreachableError(`${this.addr}: not started`, { suggestion: 'call start() first' });
    return this.#resolved;
  }

  /** Resolves the engine, reaches it, and resolves the destination to one running container. */
  async start(signal?: AbortSignal): Promise<void> {
    if (this.#closed) throw new UnreachableError(`${this.addr}: the backend was closed`, { suggestion: 'make a new backend' });
    if (this.#link.state === 'ready') return;
    const env = this.#options.env ?? process.env;
    try {
      this.#endpoint = this.#options.endpoint ?? resolveEngineEndpoint({ env, home: homedir(), readFile: readSmall });
      this.#docker = dockerFor(this.#endpoint);
      const limit = AbortSignal.timeout(this.#options.connectTimeoutMs ?? 30_000);
      const both = signal ? AbortSignal.any([signal, limit]) : limit;
      this.#resolved = await abortable(this.#reach(env), both, () => new TimeoutError(`reaching the Docker engine at ${formatEndpoint(this.#endpoint!)} took too long`, {
        suggestion: 'check that dockerd runs and answers (docker version)',
      }));
    } catch (error) {
      this.#link.failed(error as Error);
      throw error;
    }
    const { id, name, info } = this.#resolved;
    this.#link.started({
      addr: this.addr, name, engine: formatEndpoint(this.#endpoint), startedAt: info.State.StartedAt,
      container: () => this.#docker!.getContainer(id),
    });
  }

  async #reach(env: Record<string, string | undefined>): Promise<ResolvedContainer> {
    const docker = this.#docker!;
    try {
      await docker.ping();
    } catch (error) {
      throw this.#engineError(error);
    }
    try {
      return await resolveContainer(docker, this.destination, { cwd: this.#options.cwd ?? process.cwd(), env });
    } catch (error) {
      if (error instanceof RmountError) throw error;
      throw this.#engineError(error);
    }
  }

  #engineError(error: unknown): RmountError {
    if (error instanceof RmountError) return error;
    const where = this.#endpoint ? formatEndpoint(this.#endpoint) : 'the Docker engine';
    const e = error as { code?: string; message?: string };
    return new UnreachableError(`cannot reach the Docker engine at ${where}: ${e.code ?? ''} ${e.message ?? String(error)}`.replace(/\s+/g, ' ').trim(), {
      cause: error,
      suggestion: e.code === 'EACCES' ? 'add yourself to the docker group, or use sudo' : 'check that dockerd runs, and DOCKER_HOST / DOCKER_CONTEXT',
    });
  }

  /** True while the container runs and the engine answers. */
  isConnected(): boolean {
    return this.#link.state === 'ready';
  }

  lastError(): Error | undefined {
    return this.#link.lastError;
  }

  /** The container as a link: `reconnecting` while it is stopped, `closed` once it was removed or the engine is gone. */
  health(): LinkHealth {
    return this.#link.health();
  }

  /** Resolves once the container runs; rejects with why when it is gone for good, TimeoutError when `signal` aborts. */
  waitReady(signal?: AbortSignal): Promise<void> {
    return this.#link.waitReady(signal);
  }

  /** Asks for a look at a stopped container now. */
  kick(): void {
    this.#link.kick();
  }

  // Starts an exec; a failure makes the link look at the container, so a stop is noticed now.
  async #start(argv: readonly string[], options: Parameters<typeof DockerExecSession.start>[2]): Promise<DockerExecSession> {
    try {
      return await DockerExecSession.start(this.#container(), argv, options);
    } catch (error) {
      await this.#link.check();
      throw error;
    }
  }

  /** Runs argv in the container (env, WorkingDir, --user, TTY as asked); `~` in cwd is the user's home. */
  async exec(argv: readonly string[], options: ExecOptions = {}): Promise<Session> {
    if (options.signal?.aborted) throw new TimeoutError(`exec in ${this.addr} was cancelled before it started`, { cause: options.signal.reason });
    // While the container is down: wait as long as the caller's signal allows, else fail now.
    await this.#link.use(options.signal);
    const opts: ExecOptions & { markedKill?: (name: string, marker: string) => Promise<void> } = { ...options };
    if (options.cwd !== undefined) opts.cwd = await this.#expand(options.cwd, options.user);
    opts.markedKill = (name, marker) => this.#killMarked(name, marker);
    return this.#start(argv, opts);
  }

  // Signals the processes whose environment carries `marker`, from a second exec (as root).
  async #killMarked(name: string, marker: string): Promise<void> {
    const script = 'for f in /proc/[0-9]*/environ; do if tr "\\000" "\\n" < "$f" 2>/dev/null | grep -qxF "$2"; then p=${f#/proc/}; kill -s "$1" "${p%/environ}" 2>/dev/null; fi; done; true';
    await this.run(['sh', '-c', script, 'sh', name, marker], { user: '0' });
  }

  /** Runs argv to completion and collects its output (for the file client and probes). */
  async run(argv: readonly string[], options: { stdin?: Buffer | NodeJS.ReadableStream; user?: string; cwd?: string } = {}): Promise<RunResult> {
    const opts: ExecOptions = {};
    if (options.user !== undefined) opts.user = options.user;
    if (options.cwd !== undefined) opts.cwd = options.cwd;
    await this.#link.use();
    const session = await this.#start(argv, opts);
    const r = await collectOutput(session, options.stdin);
    return { code: r.code, stdout: r.stdout, stderr: r.stderr.toString('utf8') };
  }

  /** The agentless file client, made on first call and shared. */
  files(): Promise<FileClient> {
    this.#files ??= this.#openFiles().catch((error: unknown) => {
      this.#files = undefined;
      throw error;
    });
    return this.#files;
  }

  async #openFiles(): Promise<FileClient> {
    const agentless = (): Promise<FileClient> => DockerFileClient.open(this.#access(), this.addr);
    const mode = this.#options.agent ?? 'auto';
    if (mode === 'no') return agentless();
    // A new agent after a restart (installAgent uploads it again when /tmp was wiped), once the
    // container runs again.
    const grace = this.#options.agentGraceMs ?? 0;
    // One session for every agent this backend starts: the next one resumes the last one's files
    // (a restarted container has none left; the agent then says so and files reopen by path).
    const session = {
      ...(grace > 0 ? { durable: newDurableSession(grace) } : {}),
      ...(this.#options.log !== undefined ? { logger: this.#options.log } : {}),
    };
    const start = agentConnector(this, {}, session);
    const connect = async (): Promise<FileClient> => {
      const signal = AbortSignal.timeout(this.#options.connectTimeoutMs ?? 30_000);
      for (;;) {
        try {
          await this.#link.waitReady(signal);
        } catch (error) {
          // Removed, or the engine is gone: no later attempt can succeed, so instead of every call
          // waiting for one and failing with ENOTCONN, the mount gets a client that answers EIO at once.
          if (this.#link.state === 'closed') return new GoneFileClient(this.addr, error as Error);
          throw error;
        }
        try {
          return await start();
        } catch (error) {
          // The container stopped while its agent was being started: wait for it to run again
          // rather than fail the calls waiting for this connect.
          await this.#link.check();
          if (this.#link.state === 'ready') throw error;
        }
      }
    };
    if (mode === 'yes') return ReconnectingFileClient.create(connect);
    return agentOrFallback(connect, agentless);
  }

  #access(): ContainerAccess {
    return {
      container: () => this.#container(),
      run: (argv, options) => this.run(argv, options),
      exec: argv => this.exec(argv),
      home: () => this.#homeDir(),
      workingDir: () => this.container.info.Config.WorkingDir ?? '',
      up: () => {
        if (this.#link.state === 'ready') return true;
        this.#link.kick();
        return false;
      },
      ready: () => this.#whenRunning(),
      running: async () => {
        await this.#link.check();
        return this.#link.state === 'ready';
      },
    };
  }

  // As long as the agent's connect waits for a stopped container; the VFS gives up at its own timeout.
  #whenRunning(): Promise<void> {
    if (this.#link.state === 'ready') return Promise.resolve();
    return this.#link.use(AbortSignal.timeout(this.#options.connectTimeoutMs ?? 30_000));
  }

  /**
   * The image's Os/Architecture/Variant; `uname -s`/`uname -m` in the container fill what the
   * image lacks and win where they disagree (an emulated image reports the emulated machine).
   */
  async detectPlatform(): Promise<PlatformInfo> {
    const docker = this.#docker!;
    let image: { Os?: string; Architecture?: string; Variant?: string } = {};
    try {
      image = await docker.getImage(this.container.info.Image).inspect();
    } catch {
      // The image may be gone (removed while the container runs): uname decides.
    }
    return mergePlatform(image, await this.#uname());
  }

  async #uname(): Promise<{ sysname: string; machine: string } | undefined> {
    try {
      const m = await this.run(['uname', '-m']);
      if (m.code !== 0) return undefined;
      const s = await this.run(['uname', '-s']);
      return { sysname: s.code === 0 ? s.stdout.toString().trim() : '', machine: m.stdout.toString().trim() };
    } catch {
      return undefined;
    }
  }

  /** Absolute paths as they are; `~`, `~/x` against the home of the container's user; none: WorkingDir, else home. */
  async resolvePath(path?: string): Promise<string> {
    if (path !== undefined && path.startsWith('/')) return normalizeRemotePath(posix.normalize(path));
    if (path === undefined || path === '' || path === '.') {
      const wd = this.container.info.Config.WorkingDir;
      if (wd) return normalizeRemotePath(wd);
      return this.#homeDir();
    }
    return this.#expand(path);
  }

  async #expand(path: string, user?: string): Promise<string> {
    if (path.startsWith('/')) return path;
    const home = await this.#homeDir(user);
    if (path === '~') return home;
    return posix.join(home, path.startsWith('~/') ? path.slice(2) : path);
  }

  // $HOME of the container's user (docker exec sets it from /etc/passwd); /etc/passwd through the
  // archive API where there is no shell; '/' when neither says.
  #homeDir(user?: string): Promise<string> {
    const get = async (): Promise<string> => {
      try {
        const r = await this.run(['sh', '-c', 'printf %s "$HOME"'], user === undefined ? {} : { user });
        if (r.code === 0 && r.stdout.toString().startsWith('/')) return r.stdout.toString();
      } catch {
        // no shell: fall through
      }
      const entry = await this.#passwdEntry(user ?? this.user);
      return entry?.home || '/';
    };
    if (user !== undefined) return get();
    this.#home ??= get().catch((error: unknown) => { this.#home = undefined; throw error; });
    return this.#home;
  }

  async #passwdEntry(user: string): Promise<{ uid: number; gid: number; home: string } | undefined> {
    const name = user.split(':')[0] || '0';
    const text = await this.#readContainerFile('/etc/passwd').catch(() => '');
    for (const line of text.split('\n')) {
      const f = line.split(':');
      if (f.length >= 6 && (f[0] === name || f[2] === name)) return { uid: Number(f[2]), gid: Number(f[3]), home: f[5]! };
    }
    return undefined;
  }

  async #readContainerFile(path: string): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'rmount-docker-'));
    try {
      await downloadFile(this.#container(), path, join(dir, 'f'));
      return await readFile(join(dir, 'f'), 'utf8');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  // uid/gid of the container's user: numeric `uid[:gid]` as given, a name through /etc/passwd.
  #userIds(): Promise<{ uid: number; gid: number }> {
    this.#ids ??= (async () => {
      const [u = '', g] = this.user.split(':');
      if (u === '') return { uid: 0, gid: 0 };
      const entry = /^\d+$/.test(u) ? undefined : await this.#passwdEntry(u);
      const uid = /^\d+$/.test(u) ? Number(u) : entry?.uid ?? 0;
      const gid = g !== undefined && /^\d+$/.test(g) ? Number(g) : entry?.gid ?? (/^\d+$/.test(u) ? uid : 0);
      return { uid, gid };
    })();
    return this.#ids;
  }

  /**
   * Puts a file into the container through the archive API: a tar (tar-stream) holding the missing
   * parent folders and the file, with `mode` and the container user's uid/gid (under a tmpfs mount,
   * which that API cannot reach, through exec as that user). `~` is that user's home. Resolves with
   * the absolute remote path. Streams a local file; memory stays bounded.
   */
  async uploadFile(local: string | Buffer, remote: string, mode: number): Promise<string> {
    const target = normalizeRemotePath(await this.#expand(remote));
    if (target === '/' || !target.startsWith('/')) throw new UsageError(`cannot upload to "${remote}"`, { suggestion: 'give a file path' });
    if (this.#onTmpfs(target)) {
      await this.#uploadByExec(local, target, mode);
      return target;
    }
    const { uid, gid } = await this.#userIds();
    const container = this.#container();
    // The deepest existing ancestor: the tar is extracted there, so existing folders keep their modes.
    const missing: string[] = [];
    let base = posix.dirname(target);
    for (;;) {
      try {
        const st = await statPath(container, base);
        if ((st.mode & 0o170000) !== 0o040000 && st.linkTarget === '') throw new UsageError(`cannot upload to ${target}: ${base} is not a folder`, { suggestion: 'pick another path' });
        break;
      } catch (error) {
        if ((error as { statusCode?: number }).statusCode !== 404) throw error instanceof RmountError ? error : execError(error, container.id, 'upload');
        missing.unshift(posix.basename(base));
        base = posix.dirname(base);
      }
    }
    const entries: PutEntry[] = [];
    for (let i = 0; i < missing.length; i++) entries.push({ name: missing.slice(0, i + 1).join('/'), type: 'directory', mode: 0o755, uid, gid });
    const name = [...missing, posix.basename(target)].join('/');
    const data: PutEntry['data'] = Buffer.isBuffer(local) ? local : { stream: createReadStream(local), size: (await stat(local)).size };
    entries.push({ name, type: 'file', mode, uid, gid, data });
    try {
      await putEntries(container, base, entries);
    } catch (error) {
      throw error instanceof RmountError ? error : execError(error, container.id, 'upload');
    }
    return target;
  }

  // The engine extracts archives into the container's own file system and does not see its tmpfs
  // mounts (`--tmpfs`, `--mount type=tmpfs`): a file put there lands under the mount, invisible in
  // the container. Those are written from inside instead.
  #onTmpfs(path: string): boolean {
    const { HostConfig: host, Mounts: mounts } = this.container.info;
    const dirs = [
      ...Object.keys(host.Tmpfs ?? {}),
      ...(host.Mounts ?? []).filter(m => m.Type === 'tmpfs').map(m => m.Target),
      ...(mounts ?? []).filter(m => m.Type === 'tmpfs').map(m => m.Destination),
    ].map(normalizeRemotePath);
    return dirs.some(d => path === d || path.startsWith(d === '/' ? d : `${d}/`));
  }

  // Runs as the container's user, so the file and the folders made for it are that user's, as the
  // archive path makes them.
  async #uploadByExec(local: string | Buffer, target: string, mode: number): Promise<void> {
    const script = 'umask 022; mkdir -p "$(dirname "$1")" && cat > "$1" && chmod "$2" "$1"';
    const r = await this.run(['sh', '-c', script, 'sh', target, (mode & 0o7777).toString(8)], { stdin: Buffer.isBuffer(local) ? local : createReadStream(local) });
    if (r.code !== 0) {
      throw new PermissionError(`upload to ${target} in ${this.addr} failed: ${r.stderr.trim() || `exit ${r.code}`}`, {
        suggestion: 'check that the folder is writable by the container\'s user',
      });
    }
  }

  /** The agent-transfer name of {@link uploadFile}. */
  uploadAgent(local: string, remote: string, mode: number): Promise<string> {
    return this.uploadFile(local, remote, mode);
  }

  /** Stops watching the container and closes the file client; never waits for the container. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#link.close();
    const files = this.#files;
    this.#files = undefined;
    if (files) await files.then(f => f.close()).catch(() => {});
  }

  #container(): Dockerode.Container {
    if (!this.#docker || !this.#resolved || this.#link.state === 'closed') throw this.#link.downError();
    return this.#docker.getContainer(this.#resolved.id);
  }
}
