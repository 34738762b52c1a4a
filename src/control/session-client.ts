/**
 * Sessions through a mount daemon's control socket (session-ops.ts is the other side), shaped as
 * any SessionHost: `rmount session` inside a mount uses the mount's connection to the remote.
 * Each request is one short control connection; an attachment holds its own.
 */
import { PassThrough } from 'node:stream';
import { SessionError } from '../sessions/errors.ts';
import type { AttachEnd, Attachment, HostHello, SessionHost, SessionInfo, StartRequest } from '../sessions/types.ts';
import { ControlError, connectControl, framedInput } from './client.ts';
import { CHANNEL, FrameDecoder, encodeControl, type WireError } from './protocol.ts';

/** A SessionError from what the daemon answered (its codes are the host's, already upper-cased). */
function asSessionError(error: unknown): Error {
  if (error instanceof ControlError) return new SessionError(error.code, error.message, error.suggestion === undefined ? {} : { suggestion: error.suggestion });
  return error as Error;
}

export class ControlSessionHost implements SessionHost {
  /** Where the daemon said its sessions live, as of the last `list`. */
  where: 'agent' | 'daemon' | undefined;
  readonly #socketPath: string;
  readonly closed: Promise<void> = new Promise(() => {});

  constructor(socketPath: string) {
    this.#socketPath = socketPath;
  }

  async #request<T>(type: string, payload?: unknown): Promise<T> {
    const client = await connectControl(this.#socketPath);
    try {
      return await client.request<T>(type, payload);
    } catch (error) {
      throw asSessionError(error);
    } finally {
      client.close();
    }
  }

  hello(): Promise<HostHello> {
    return Promise.reject(new SessionError('ERR_USAGE', 'hello is not relayed by the mount daemon'));
  }

  start(request: StartRequest): Promise<{ id: string; name: string }> {
    return this.#request('session-start', request);
  }

  async list(): Promise<SessionInfo[]> {
    const r = await this.#request<{ where?: 'agent' | 'daemon'; sessions: SessionInfo[] }>('session-list');
    this.where = r.where;
    return r.sessions;
  }

  async resize(session: string, cols: number, rows: number): Promise<void> {
    await this.#request('session-resize', { session, cols, rows });
  }

  async kill(session: string, signal?: string, group?: boolean): Promise<void> {
    await this.#request('session-kill', { session, ...(signal === undefined ? {} : { signal }), ...(group === true ? { group } : {}) });
  }

  async remove(session: string, force?: boolean): Promise<string[]> {
    return (await this.#request<{ removed: string[] }>('session-rm', { session, force: force === true })).removed;
  }

  async removeExited(): Promise<string[]> {
    return (await this.#request<{ removed: string[] }>('session-rm', { exited: true })).removed;
  }

  /** Ends the attachments other clients made through this daemon; resolves with how many. */
  async detachAll(session: string): Promise<number> {
    return (await this.#request<{ detached: number }>('session-detach', { session })).detached;
  }

  async attach(session: string, options: { replay: boolean; eofClosesInput?: boolean }): Promise<Attachment> {
    const client = await connectControl(this.#socketPath);
    const output = new PassThrough();
    const frames = new FrameDecoder();
    let settleEnded!: (end: AttachEnd) => void;
    const ended = new Promise<AttachEnd>(resolve => { settleEnded = resolve; });
    let attached!: (info: SessionInfo) => void;
    let refused!: (error: Error) => void;
    const info = new Promise<SessionInfo>((resolve, reject) => { attached = resolve; refused = reject; });
    let attachment: Attachment | undefined;
    let end: AttachEnd | undefined;
    const finish = (): void => {
      output.end();
      settleEnded(end ?? { kind: 'closed' });
      refused(new SessionError('ERR_HOST_LOST', 'the mount daemon closed the connection before the session was attached', { retryable: true }));
    };
    const socket = await client.framed('session-attach', { session, ...options }, chunk => {
      let got;
      try {
        got = frames.push(chunk);
      } catch {
        socket.destroy();
        return;
      }
      for (const frame of got) {
        if (frame.channel === CHANNEL.stdout) {
          if (!output.write(frame.payload)) {
            socket.pause();
            output.once('drain', () => socket.resume());
          }
          continue;
        }
        if (frame.channel !== CHANNEL.control) continue;
        let message: { attached?: SessionInfo; dropped?: number; ended?: AttachEnd; error?: WireError };
        try {
          message = JSON.parse(frame.payload.toString('utf8')) as typeof message;
        } catch {
          continue;
        }
        if (message.attached !== undefined) attached(message.attached);
        if (message.dropped !== undefined) attachment?.onDropped?.(message.dropped);
        if (message.ended !== undefined) end = message.ended;
        if (message.error !== undefined) {
          refused(new SessionError(message.error.code, message.error.message, message.error.suggestion === undefined ? {} : { suggestion: message.error.suggestion }));
        }
      }
    }).catch(error => { throw asSessionError(error); });
    socket.on('close', finish);
    const input = framedInput(socket);
    try {
      attachment = {
        info: await info,
        output,
        input,
        ended,
        detach: () => { if (!socket.destroyed) socket.write(encodeControl({ detach: true })); },
      };
    } catch (error) {
      socket.destroy();
      throw error;
    }
    return attachment;
  }

  close(): void {}
}
