/**
 * `SessionHost` over rmount-agent's process host: the session ops of PROTOCOL.md ("Process
 * host", Ops) on a `HostMux`, and attachments as streams whose EVENTs say how they ended.
 */
import type { Duplex } from 'node:stream';
import { SessionError } from './errors.ts';
import { HostMux } from './host-mux.ts';
import type { HostStream } from './host-stream.ts';
import type { AttachEnd, Attachment, HostHello, SessionHost, SessionInfo, StartRequest } from './types.ts';

/** The protocol version of `hello` this client speaks. */
export const HOST_PROTOCOL = 1;

/** How long `connectAgentHost` waits for the hello reply by default. */
const HELLO_TIMEOUT_MS = 30_000;

/** One attached client: the stream is both the output and the input. */
class HostAttachment implements Attachment {
  readonly output: HostStream;
  readonly input: HostStream;
  readonly ended: Promise<AttachEnd>;
  onDropped?: (bytes: number) => void;
  #info: SessionInfo | undefined;
  /** How the session ended, from the EVENT the host sends before EOF. */
  #end: AttachEnd | undefined;

  /** Subscribes at once: the replay, the exit and the EOF may all come in the reply's chunk. */
  constructor(stream: HostStream) {
    this.output = stream;
    this.input = stream;
    stream.on('event', (body: unknown) => this.#onEvent(body));
    this.ended = new Promise<AttachEnd>(resolve => {
      const over = (): void => resolve(this.#end ?? { kind: 'closed' });
      // The output was read to its end: the attachment is over; CLOSE tells the host to forget
      // the stream even when our input was never ended.
      stream.once('end', () => { over(); stream.destroy(); });
      stream.once('close', over);
    });
  }

  get info(): SessionInfo {
    return this.#info!;
  }

  /** Set once the attach REPLY arrived, before the attachment is handed out. */
  settle(info: SessionInfo): this {
    this.#info = info;
    return this;
  }

  detach(): void {
    this.output.destroy(); // CLOSE: the host detaches this stream; the session runs on
  }

  #onEvent(body: unknown): void {
    const e = body as { exit?: unknown; signal?: unknown; dropped?: unknown };
    if (typeof e.exit === 'number') this.#end = { kind: 'exit', code: e.exit };
    else if (typeof e.signal === 'string') this.#end = { kind: 'signal', signal: e.signal };
    else if (typeof e.dropped === 'number') this.onDropped?.(e.dropped);
  }
}

/** A `SessionHost` on one multiplexed connection to the agent's process host. */
export class AgentHostClient implements SessionHost {
  /** The connection; issue 15's forwards use its `dial`, `listen`, `unlisten` and `ports`. */
  readonly mux: HostMux;

  constructor(mux: HostMux) {
    this.mux = mux;
  }

  get closed(): Promise<void> {
    return this.mux.closed;
  }

  hello(): Promise<HostHello> {
    return this.mux.request<HostHello>('hello');
  }

  start(request: StartRequest): Promise<{ id: string; name: string }> {
    return this.mux.request('start', { ...request });
  }

  list(): Promise<SessionInfo[]> {
    return this.mux.request<SessionInfo[]>('list');
  }

  async attach(session: string, options: { replay: boolean; eofClosesInput?: boolean }): Promise<Attachment> {
    const { stream, reply } = this.mux.open<SessionInfo>('attach', {
      session, replay: options.replay, eofClosesInput: options.eofClosesInput === true,
    });
    const attachment = new HostAttachment(stream);
    return attachment.settle(await reply);
  }

  async resize(session: string, cols: number, rows: number): Promise<void> {
    await this.mux.request('resize', { session, cols, rows });
  }

  async kill(session: string, signal?: string, group?: boolean): Promise<void> {
    await this.mux.request('kill', { session, signal, group: group === true });
  }

  async remove(session: string, force?: boolean): Promise<string[]> {
    return (await this.mux.request<{ removed: string[] }>('rm', { session, force: force === true })).removed;
  }

  async removeExited(): Promise<string[]> {
    return (await this.mux.request<{ removed: string[] }>('rm', { exited: true })).removed;
  }

  close(): void {
    this.mux.close();
  }
}

/**
 * Connects to a process host over `stream` (`rmount-agent connect` on stdio, however it was
 * run) and says hello first. The stream belongs to the client from then on.
 * @throws SessionError ERR_HOST_PROTOCOL when the peer does not answer hello as a host of
 *   protocol 1 does (an older agent without `connect`, not rmount-agent at all, a newer protocol,
 *   or no answer within `timeoutMs`).
 */
export async function connectAgentHost(stream: Duplex, options: { timeoutMs?: number } = {}): Promise<AgentHostClient> {
  const client = new AgentHostClient(new HostMux(stream));
  const timeoutMs = options.timeoutMs ?? HELLO_TIMEOUT_MS;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(notAHost(`no answer to hello within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    const hello = await Promise.race([client.hello(), timeout]);
    if (hello === null || typeof hello !== 'object' || hello.protocol !== HOST_PROTOCOL) {
      throw notAHost(`it speaks protocol ${String((hello as Partial<HostHello> | null)?.protocol)}, this rmount speaks ${HOST_PROTOCOL}`);
    }
    return client;
  } catch (error) {
    client.close();
    if (error instanceof SessionError && error.code === 'ERR_HOST_PROTOCOL') throw error;
    const heard = client.mux.heard;
    throw notAHost(heard
      ? `it answered what is not a hello reply (${(error as Error).message})`
      : `the connection ended before any answer (${(error as Error).message})`, error);
  } finally {
    clearTimeout(timer);
  }
}

function notAHost(detail: string, cause?: unknown): SessionError {
  return new SessionError('ERR_HOST_PROTOCOL', `the peer is not an rmount-agent process host this rmount can use: ${detail}`, {
    title: 'No process host',
    suggestion: 'an rmount-agent older than this rmount has no `connect`: let rmount install the matching agent, or update it on the remote',
    ...(cause === undefined ? {} : { cause }),
  });
}
