/**
 * The forwards of one mount daemon (or of one foreground `rmount forward --in DEST`): the ones
 * asked for, and with --auto one per TCP port seen listening on the remote, on the same local
 * port when free, else the next free one.
 */
import type { Backend } from '../remote/backend.ts';
import { ForwardRefusedError } from '../remote/errors.ts';
import type { Logger } from '../remote/log.ts';
import { SessionError } from './errors.ts';
import { endpointAddress, parseForwardSpec, type Endpoint, type ForwardSpec } from './forward-spec.ts';
import { LocalForward, RemoteForward, type ForwardInfo, type ForwardTransport } from './forwarder.ts';
import type { AgentHostClient } from './agent-host.ts';

/** How often --auto looks at the remote's listening ports (the issue asks for at least every 2 s). */
export const AUTO_INTERVAL_MS = 2000;
/** How many ports above a busy one --auto tries. */
const AUTO_TRIES = 100;

/** Forwards over the agent's process host, whichever connection to it is current. */
export function agentTransport(host: () => Promise<AgentHostClient>): ForwardTransport {
  const network = (e: Endpoint): string => (e.kind === 'unix' ? 'unix' : 'tcp');
  return {
    async dial(target) {
      return (await host()).mux.dial(network(target), endpointAddress(target));
    },
    async listen(at, onStream) {
      const h = await host();
      const r = await h.mux.listen(network(at), endpointAddress(at), (stream, from) => onStream(stream, from.remote));
      return { address: r.address, closed: h.closed, close: () => h.mux.unlisten(r.listener) };
    },
    async ports() {
      return (await host()).mux.ports();
    },
  };
}

/**
 * Dials through the backend's own forwarding (SSH's direct-tcpip / direct-streamlocal channels on
 * the mount's connection: no agent hop) while the server allows it, and through `agent` once it
 * says it does not (AllowTcpForwarding no) and for everything else (listening, --auto).
 */
export function preferBackendDial(backend: Pick<Backend, 'dial'>, agent: ForwardTransport, log: Logger): ForwardTransport {
  const dial = backend.dial?.bind(backend);
  if (dial === undefined) return agent;
  let refused = false;
  return {
    async dial(target) {
      if (!refused) {
        try {
          return await dial(target.kind === 'unix' ? { path: target.path } : { host: target.host, port: target.port });
        } catch (error) {
          if (!(error instanceof ForwardRefusedError)) throw error;
          refused = true;
          log.info(`forwards: the server refuses forwarding channels (${error.message}); going through rmount-agent`);
        }
      }
      return agent.dial(target);
    },
    listen: (at, onStream) => agent.listen(at, onStream),
    ports: () => agent.ports(),
  };
}

export class ForwardSet {
  readonly #transport: ForwardTransport;
  readonly #log: Logger;
  readonly #forwards = new Map<string, LocalForward | RemoteForward>();
  /** Remote port → the auto forward for it. */
  readonly #autoByPort = new Map<number, LocalForward>();
  #next = 1;
  #autoTimer: NodeJS.Timeout | undefined;
  #autoBusy = false;
  /** Called with a line each time --auto adds or drops a forward. */
  onChange?: (line: string) => void;

  constructor(transport: ForwardTransport, log: Logger) {
    this.#transport = transport;
    this.#log = log;
  }

  /** Starts a forward from its spec text. @throws UsageError for a bad spec, SessionError when it cannot listen. */
  async add(text: string, direction: 'local' | 'remote'): Promise<ForwardInfo> {
    return this.#start(parseForwardSpec(text, direction), false);
  }

  async #start(spec: ForwardSpec, auto: boolean): Promise<ForwardInfo> {
    const id = `${auto ? 'a' : 'f'}${this.#next++}`;
    const f = spec.direction === 'local' ? new LocalForward(id, spec, this.#transport, this.#log, auto) : new RemoteForward(id, spec, this.#transport, this.#log);
    await f.start();
    this.#forwards.set(id, f);
    this.#log.info(`forward ${id}: ${f.info.listen} → ${f.info.direction === 'local' ? 'remote' : 'local'} ${f.info.target}`);
    return { ...f.info };
  }

  list(): ForwardInfo[] {
    return [...this.#forwards.values()].map(f => ({ ...f.info }));
  }

  /** True while --auto runs. */
  get auto(): boolean {
    return this.#autoTimer !== undefined;
  }

  /** Removes one forward by id, or every one (`all`, which also stops --auto); resolves with the ids removed. */
  async remove(id: string): Promise<string[]> {
    if (id === 'all') {
      this.stopAuto();
      const ids = [...this.#forwards.keys()];
      await Promise.all([...this.#forwards.values()].map(f => f.close()));
      this.#forwards.clear();
      this.#autoByPort.clear();
      return ids;
    }
    const f = this.#forwards.get(id);
    if (f === undefined) {
      throw new SessionError('ERR_FORWARD_NOT_FOUND', `no forward "${id}"`, { suggestion: 'rmount forward ls lists them; rm all removes every one' });
    }
    await f.close();
    this.#forwards.delete(id);
    for (const [port, a] of this.#autoByPort) if (a === f) this.#autoByPort.delete(port);
    return [id];
  }

  /** Starts --auto (idempotent); the first look happens at once. */
  startAuto(): Promise<void> {
    if (this.#autoTimer === undefined) this.#autoTimer = setInterval(() => void this.#scan().catch(() => {}), AUTO_INTERVAL_MS).unref();
    return this.#scan();
  }

  stopAuto(): void {
    clearInterval(this.#autoTimer);
    this.#autoTimer = undefined;
  }

  async #scan(): Promise<void> {
    if (this.#autoBusy) return;
    this.#autoBusy = true;
    try {
      const { supported, ports } = await this.#transport.ports();
      if (!supported) {
        this.stopAuto();
        throw new SessionError('ERR_AUTO_UNSUPPORTED', 'the remote cannot list its listening ports (not Linux)', { suggestion: 'forward the ports by number instead' });
      }
      // Our own listeners show up too when the remote is this machine: never forward those.
      const ours = new Set([...this.#forwards.values()].flatMap(f => (f instanceof LocalForward && f.port !== 0 ? [f.port] : [])));
      const seen = new Map<number, string>();
      for (const p of ports) {
        if (ours.has(p.port) || seen.has(p.port)) continue;
        const loopback = p.address === '::1' ? '::1' : '127.0.0.1';
        seen.set(p.port, p.family === 'tcp6' && p.address === '::1' ? '::1' : loopback);
      }
      for (const [port, f] of this.#autoByPort) {
        if (seen.has(port)) continue;
        await f.close();
        this.#autoByPort.delete(port);
        this.#forwards.delete(f.info.id);
        this.onChange?.(`- ${f.info.listen} (remote port ${port} closed)`);
      }
      for (const [port, host] of seen) {
        if (this.#autoByPort.has(port)) continue;
        const f = await this.#autoForward(port, host);
        if (f !== undefined) this.onChange?.(`+ ${f.info.listen} → remote ${f.info.target}`);
      }
    } catch (error) {
      this.#log.debug('forward --auto: a look at the remote ports failed', error);
      if (error instanceof SessionError && error.code === 'ERR_AUTO_UNSUPPORTED') throw error;
    } finally {
      this.#autoBusy = false;
    }
  }

  /** A local forward for remote `port`: the same port here when free, else the next free one. */
  async #autoForward(port: number, host: string): Promise<LocalForward | undefined> {
    for (let local = port; local < Math.min(65536, port + AUTO_TRIES); local++) {
      const spec: ForwardSpec = {
        direction: 'local', text: `${local}:${host.includes(':') ? `[${host}]` : host}:${port}`,
        listen: { kind: 'tcp', host: '127.0.0.1', port: local }, target: { kind: 'tcp', host, port },
      };
      const id = `a${this.#next++}`;
      const f = new LocalForward(id, spec, this.#transport, this.#log, true);
      try {
        await f.start();
      } catch (error) {
        if (error instanceof SessionError && error.code === 'ERR_ADDRESS_IN_USE') continue;
        this.#log.warn(`forward --auto: cannot forward remote port ${port}`, error);
        return undefined;
      }
      this.#forwards.set(id, f);
      this.#autoByPort.set(port, f);
      return f;
    }
    this.#log.warn(`forward --auto: no free local port from ${port} to ${port + AUTO_TRIES - 1}`);
    return undefined;
  }

  /** Closes every forward. */
  async close(): Promise<void> {
    await this.remove('all');
  }
}
