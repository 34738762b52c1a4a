/**
 * The client side of the process host's multiplexer (native/agent/PROTOCOL.md, "Process host")
 * over any duplex byte stream: JSON requests matched to replies by id, streams with per-stream
 * flow control, connection events, and the host's own streams for accepted connections. The
 * read loop only queues: nothing a consumer does (or fails to do) holds up other streams or
 * replies.
 */
import type { Duplex } from 'node:stream';
import { SessionError, hostLost, type HostErrorBody } from './errors.ts';
import { encodeFrame, FRAME, FrameDecoder, type Frame } from './host-frames.ts';
import { HostStream, type StreamLink } from './host-stream.ts';

/** Where a connection a host listener accepted came from. */
export interface AcceptedConnection {
  listener: number;
  /** The peer's address as the host saw it. */
  remote: string;
}

/** Takes a stream the host opened for an accepted connection; destroy it to refuse it. */
export type AcceptHandler = (stream: HostStream, from: AcceptedConnection) => void;

/** `ports`: the TCP sockets listening on the host's machine. */
export interface HostPorts {
  supported: boolean;
  ports: { port: number; address: string; family: 'tcp4' | 'tcp6' }[];
}

interface PendingRequest {
  op: string;
  resolve(result: unknown): void;
  reject(error: SessionError): void;
}

/** Request ids and our stream ids are uint32; ours are odd, the host's even. */
const MAX_ID = 0xffffffff;

/**
 * One connection to a process host. The transport belongs to the multiplexer from construction
 * on; `close()` ends it. When the transport ends, errors or sends what is not frames, every
 * pending request rejects with ERR_HOST_LOST, every stream is reset and `closed` resolves.
 */
export class HostMux {
  readonly #transport: Duplex;
  readonly #decoder = new FrameDecoder();
  readonly #pending = new Map<number, PendingRequest>();
  readonly #streams = new Map<number, HostStream>();
  readonly #acceptors = new Map<number, AcceptHandler>();
  /** Connections accepted for a listener whose `listen` REPLY is still on its way (see #onAccepted). */
  #early: { stream: HostStream; from: AcceptedConnection }[] = [];
  #listensInFlight = 0;
  #nextRequest = 1;
  #nextStream = 1;
  #congested = false;
  #failure: SessionError | undefined;
  /** Any byte came from the peer (tells a silent peer from one that speaks something else). */
  #heard = false;
  #resolveClosed!: () => void;
  /** Resolves once the connection is gone, however it went. Never rejects. */
  readonly closed = new Promise<void>(resolve => { this.#resolveClosed = resolve; });
  /** Receives EVENTs on stream 0 other than `accepted`. */
  onEvent: ((body: unknown) => void) | undefined;

  readonly #link: StreamLink = {
    send: (type, stream, payload) => this.#send(type, stream, payload),
    congested: () => this.#congested,
    forget: stream => { if (this.#streams.get(stream.id) === stream) this.#streams.delete(stream.id); },
  };

  constructor(transport: Duplex) {
    this.#transport = transport;
    transport.on('data', this.#onData);
    transport.on('drain', this.#onDrain);
    transport.on('end', () => this.#fail(hostLost('the host ended the connection')));
    transport.on('close', () => this.#fail(hostLost('the connection closed')));
    // Kept for the transport's whole life: a late error must not become an uncaught exception.
    transport.on('error', (error: Error) => this.#fail(hostLost(error.message)));
  }

  /** Why the connection is gone, once it is. */
  get failure(): SessionError | undefined {
    return this.#failure;
  }

  /** Whether any byte came from the peer yet. */
  get heard(): boolean {
    return this.#heard;
  }

  /**
   * Sends `{op, ...fields}` and resolves with the REPLY's `result`.
   * @throws SessionError with the host's code (ERR_SESSION_NOT_FOUND, …), or ERR_HOST_LOST.
   */
  request<T = unknown>(op: string, fields: Record<string, unknown> = {}): Promise<T> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    const id = this.#nextRequest;
    this.#nextRequest = id === MAX_ID ? 1 : id + 1;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { op, resolve: resolve as (result: unknown) => void, reject });
      this.#send(FRAME.REQUEST, id, Buffer.from(JSON.stringify({ ...fields, op })));
    });
  }

  /**
   * Opens a stream with the request that names it (`attach`, `dial`): the stream exists before
   * the request goes out, so nothing the host sends right behind its REPLY is missed, and the
   * caller subscribes to its events before anything arrives. On an error REPLY the stream is
   * reset without a CLOSE (the host forgot it too).
   */
  open<T = unknown>(op: string, fields: Record<string, unknown>): { stream: HostStream; reply: Promise<T> } {
    const { streams: [stream], reply } = this.openMany<T>(op, fields, ['stream']);
    return { stream: stream!, reply };
  }

  /**
   * As `open`, with one stream per name in `names`, each sent as that field of the request
   * (`run` names its stdout stream `stream` and its stderr stream `errStream`).
   */
  openMany<T = unknown>(op: string, fields: Record<string, unknown>, names: readonly string[]): { streams: HostStream[]; reply: Promise<T> } {
    const streams = names.map((_, i) => new HostStream(this.#nextStream + 2 * i, this.#link));
    const refuse = (error: SessionError): { streams: HostStream[]; reply: Promise<T> } => {
      for (const s of streams) s.reset(error.message);
      return { streams, reply: Promise.reject(error) };
    };
    if (this.#failure !== undefined) return refuse(this.#failure);
    if (this.#nextStream + 2 * names.length > MAX_ID - 2) {
      const error = hostLost('no stream ids left on this connection');
      this.#fail(error);
      return refuse(error);
    }
    this.#nextStream += 2 * names.length;
    const named: Record<string, number> = {};
    streams.forEach((s, i) => {
      this.#streams.set(s.id, s);
      named[names[i]!] = s.id;
    });
    const reply = this.request<T>(op, { ...fields, ...named });
    reply.catch((error: unknown) => { for (const s of streams) s.reset(error instanceof Error ? error.message : String(error)); });
    return { streams, reply };
  }

  /** `dial`: a stream to `address` connected from the host's side (network `tcp`, `tcp4`, `tcp6`, `unix`). */
  async dial(network: string, address: string): Promise<HostStream> {
    const { stream, reply } = this.open('dial', { network, address });
    await reply;
    return stream;
  }

  /**
   * `listen` on the host's side; each connection it accepts comes to `onAccept` as a stream the
   * host opened. Resolves with the listener's id and the address it got (`127.0.0.1:0` picks a port).
   */
  async listen(network: string, address: string, onAccept: AcceptHandler): Promise<{ listener: number; address: string }> {
    this.#listensInFlight++;
    try {
      const result = await this.request<{ listener: number; address: string }>('listen', { network, address });
      this.#acceptors.set(result.listener, onAccept);
      const early = this.#early.filter(e => e.from.listener === result.listener);
      this.#early = this.#early.filter(e => e.from.listener !== result.listener);
      for (const { stream, from } of early) if (!stream.destroyed) onAccept(stream, from);
      return result;
    } finally {
      if (--this.#listensInFlight === 0) {
        for (const { stream } of this.#early.splice(0)) stream.destroy();
      }
    }
  }

  /** `unlisten`: the host stops accepting; connections already accepted go on. */
  async unlisten(listener: number): Promise<void> {
    this.#acceptors.delete(listener);
    await this.request('unlisten', { listener });
  }

  /** `ports`: what listens on the host's machine (`supported` false off Linux). */
  ports(): Promise<HostPorts> {
    return this.request<HostPorts>('ports');
  }

  /** Ends the connection: pending requests reject with ERR_HOST_LOST, streams reset. Idempotent. */
  close(): void {
    this.#fail(hostLost('this client closed the connection'), true);
  }

  #send(type: number, stream: number, payload?: Uint8Array): void {
    if (this.#failure !== undefined) return;
    if (!this.#transport.write(encodeFrame(type, stream, payload))) this.#congested = true;
  }

  #onDrain = (): void => {
    this.#congested = false;
    for (const stream of this.#streams.values()) {
      if (this.#congested) return; // a stream filled it again: the next drain goes on
      stream.handleDrain();
    }
  };

  #onData = (chunk: Buffer): void => {
    if (this.#failure !== undefined) return;
    this.#heard = true;
    let frames: Frame[];
    try {
      frames = this.#decoder.push(chunk);
    } catch (error) {
      this.#fail(hostLost(`the peer sent what is not a process-host frame (${(error as Error).message})`));
      return;
    }
    for (const frame of frames) {
      if (this.#failure !== undefined) return;
      this.#dispatch(frame);
    }
  };

  #dispatch({ type, stream: id, payload }: Frame): void {
    switch (type) {
      case FRAME.REPLY: return this.#onReply(id, payload);
      case FRAME.EVENT:
        if (id === 0) return this.#onConnectionEvent(payload);
        break;
      case FRAME.DATA: case FRAME.WINDOW: case FRAME.EOF: case FRAME.CLOSE:
        break;
      default:
        return; // REQUEST and unknown types: the host sends none, a newer one may
    }
    const stream = this.#streams.get(id);
    if (stream !== undefined) stream.handleFrame(type, payload);
    else if (type === FRAME.DATA && id !== 0) this.#send(FRAME.CLOSE, id); // as the protocol asks; harmless after our own CLOSE
  }

  #onReply(id: number, payload: Buffer): void {
    const pending = this.#pending.get(id);
    if (pending === undefined) return;
    this.#pending.delete(id);
    let body: { ok?: unknown; result?: unknown; error?: HostErrorBody };
    try {
      body = JSON.parse(payload.toString('utf8')) as typeof body;
    } catch {
      pending.reject(new SessionError('ERR_HOST_PROTOCOL', `the process host's reply to ${pending.op} is not JSON`));
      return;
    }
    if (body.ok === true) pending.resolve(body.result ?? null);
    else pending.reject(SessionError.fromHost(body.error ?? { code: 'bad-reply', message: `the process host refused ${pending.op} without saying why` }));
  }

  #onConnectionEvent(payload: Buffer): void {
    let body: unknown;
    try {
      body = JSON.parse(payload.toString('utf8'));
    } catch {
      return;
    }
    const e = body as { accepted?: unknown; stream?: unknown; remote?: unknown };
    if (typeof e.accepted === 'number' && typeof e.stream === 'number') {
      this.#onAccepted({ listener: e.accepted, remote: typeof e.remote === 'string' ? e.remote : '' }, e.stream);
    } else {
      this.onEvent?.(body);
    }
  }

  /**
   * Sets up the host's stream as the event is read (its DATA may follow at once). The Go host
   * starts accepting before its `listen` REPLY is written, so a connection can be announced
   * before we know the listener's id: such streams wait (buffering at most their window) until
   * the pending `listen` replies arrive; then nobody wants them and they are closed.
   */
  #onAccepted(from: AcceptedConnection, id: number): void {
    if (id === 0 || id % 2 !== 0 || this.#streams.has(id)) return;
    const stream = new HostStream(id, this.#link);
    this.#streams.set(id, stream);
    const accept = this.#acceptors.get(from.listener);
    if (accept !== undefined) accept(stream, from);
    else if (this.#listensInFlight > 0) this.#early.push({ stream, from });
    else stream.destroy();
  }

  /** `graceful`: end the transport first, so what is queued (a CLOSE, an EOF) still goes out. */
  #fail(error: SessionError, graceful = false): void {
    if (this.#failure !== undefined) return;
    this.#failure = error;
    for (const pending of this.#pending.values()) pending.reject(error);
    this.#pending.clear();
    const streams = [...this.#streams.values(), ...this.#early.map(e => e.stream)];
    this.#streams.clear();
    this.#early = [];
    for (const stream of streams) stream.reset(error.message);
    const transport = this.#transport;
    transport.off('data', this.#onData);
    transport.off('drain', this.#onDrain);
    if (graceful && !transport.writableEnded) {
      const timer = setTimeout(() => transport.destroy(), 2000);
      timer.unref();
      transport.end(() => { clearTimeout(timer); transport.destroy(); });
    } else {
      transport.destroy();
    }
    this.#resolveClosed();
  }
}
