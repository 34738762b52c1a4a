/**
 * The session requests a mount daemon answers on its control socket, relayed to rmount-agent's
 * process host over the mount's own connection (so a session started from the mount runs beside
 * its files, and `rmount session` needs no connection of its own).
 *
 * Envelopes (payload → answer payload):
 *   session-start   StartRequest                    → { id, name }
 *   session-list    –                               → { where: 'agent', sessions: SessionInfo[] }
 *   session-kill    { session, signal?, group? }    → null
 *   session-rm      { session, force? } | { exited: true } → { removed: [ids] }
 *   session-resize  { session, cols, rows }         → null
 *   session-detach  { session }                     → { detached: N } (attachments made through this daemon)
 *   session-attach  { session, replay, eofClosesInput? } → framed mode, as exec (protocol.ts):
 *     server control frames {attached: SessionInfo}, then stdout frames, {dropped: N}, and last
 *     {ended: AttachEnd}; client stdin frames (empty: EOF) and control {resize:{cols,rows}}, {detach:true}.
 */
import type { Socket } from 'node:net';
import { SessionError } from '../sessions/errors.ts';
import type { Attachment, SessionHost, StartRequest } from '../sessions/types.ts';
import { CHANNEL, FrameDecoder, MAX_FRAME, encodeControl, encodeFrame, type Envelope, type Frame } from './protocol.ts';

/** `session-attach` request. */
export interface AttachRequest {
  session: string;
  replay: boolean;
  eofClosesInput?: boolean;
}

/** The requests this module answers. */
export const SESSION_REQUESTS = new Set(['session-start', 'session-list', 'session-kill', 'session-rm', 'session-resize', 'session-detach']);

function text(value: unknown, what: string): string {
  if (typeof value !== 'string' || value === '') throw new SessionError('ERR_USAGE', `${what} must be a non-empty string`);
  return value;
}

function count(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0 || value > 10_000) {
    throw new SessionError('ERR_USAGE', `${what} must be a whole number from 1 to 10000`);
  }
  return value;
}

/** The daemon's side of sessions: one host connection, and the attachments made through it. */
export class SessionRelay {
  readonly #host: () => Promise<SessionHost>;
  /** Attachments by session id, so `session-detach` from another terminal can end them. */
  readonly #attached = new Map<string, Set<Attachment>>();

  constructor(host: () => Promise<SessionHost>) {
    this.#host = host;
  }

  /** Answers one `session-*` envelope (not attach); rejects with SessionError. */
  async answer(envelope: Envelope): Promise<unknown> {
    const p = (envelope.payload ?? {}) as Record<string, unknown>;
    const host = await this.#host();
    switch (envelope.type) {
      case 'session-start':
        return host.start(p as unknown as StartRequest);
      case 'session-list':
        return { where: host.where ?? 'agent', sessions: await host.list() };
      case 'session-kill':
        await host.kill(text(p.session, 'session'), typeof p.signal === 'string' ? p.signal : undefined, p.group === true);
        return null;
      case 'session-rm':
        return { removed: p.exited === true ? await host.removeExited() : await host.remove(text(p.session, 'session'), p.force === true) };
      case 'session-resize':
        await host.resize(text(p.session, 'session'), count(p.cols, 'cols'), count(p.rows, 'rows'));
        return null;
      case 'session-detach': {
        const wanted = text(p.session, 'session');
        const all = await host.list();
        const info = all.find(s => s.id === wanted) ?? all.find(s => s.name === wanted);
        if (info === undefined) throw new SessionError('ERR_SESSION_NOT_FOUND', `no session "${wanted}"`, { suggestion: 'rmount session ls lists them' });
        const set = this.#attached.get(info.id) ?? new Set();
        for (const a of set) a.detach();
        return { detached: set.size };
      }
      default:
        throw new SessionError('ERR_USAGE', `unknown request "${envelope.type}"`);
    }
  }

  /**
   * Serves `session-attach` on a connection in framed mode (`early`: bytes that came behind the
   * request line). Ends the connection when the attachment ends.
   */
  attach(socket: Socket, request: AttachRequest, early: Buffer, onError: (error: unknown) => void): void {
    const frames = new FrameDecoder();
    const queued: Frame[] = [];
    let attachment: Attachment | undefined;
    let session = '';
    const onFrame = (frame: Frame): void => {
      const a = attachment;
      if (a === undefined) {
        queued.push(frame);
        return;
      }
      if (frame.channel === CHANNEL.stdin) {
        if (frame.payload.length === 0) a.input.end();
        else if (!a.input.writableEnded && !a.input.write(frame.payload)) {
          socket.pause();
          a.input.once('drain', () => socket.resume());
        }
        return;
      }
      if (frame.channel !== CHANNEL.control) return;
      let message: { resize?: { cols: number; rows: number }; detach?: boolean };
      try {
        message = JSON.parse(frame.payload.toString('utf8')) as typeof message;
      } catch {
        return;
      }
      if (message.detach === true) a.detach();
      if (message.resize !== undefined) {
        void this.#host().then(h => h.resize(session, message.resize!.cols, message.resize!.rows)).catch(() => {});
      }
    };
    const onData = (chunk: Buffer): void => {
      try {
        for (const frame of frames.push(chunk)) onFrame(frame);
      } catch {
        socket.destroy();
      }
    };
    socket.on('data', onData);
    // The client went away (closed its terminal): detach, the session runs on.
    socket.on('close', () => attachment?.detach());
    if (early.length > 0) onData(early);
    socket.resume();
    if (typeof request?.session !== 'string' || request.session === '') {
      onError(new SessionError('ERR_USAGE', 'session-attach needs a session id or name'));
      return;
    }
    void this.#host().then(h => h.attach(request.session, { replay: request.replay === true, eofClosesInput: request.eofClosesInput === true })).then(a => {
      attachment = a;
      session = a.info.id;
      if (socket.destroyed) {
        a.detach();
        return;
      }
      const set = this.#attached.get(session) ?? new Set<Attachment>();
      set.add(a);
      this.#attached.set(session, set);
      socket.write(encodeControl({ attached: a.info }));
      a.onDropped = bytes => { if (!socket.destroyed) socket.write(encodeControl({ dropped: bytes })); };
      a.output.on('data', (chunk: Buffer) => {
        if (socket.destroyed) return;
        let ok = true;
        for (let off = 0; off < chunk.length; off += MAX_FRAME) ok = socket.write(encodeFrame(CHANNEL.stdout, chunk.subarray(off, off + MAX_FRAME)));
        if (!ok) {
          a.output.pause();
          socket.once('drain', () => a.output.resume());
        }
      });
      a.output.on('error', () => {});
      a.input.on('error', () => {});
      for (const frame of queued.splice(0)) onFrame(frame);
      // Output first: the end is reported after the last byte was framed.
      const outputDone = new Promise<void>(resolve => { a.output.once('end', resolve); a.output.once('close', resolve); });
      void a.ended.then(async end => {
        await Promise.race([outputDone, new Promise(resolve => setTimeout(resolve, 2000).unref())]);
        set.delete(a);
        if (set.size === 0) this.#attached.delete(session);
        if (socket.writable) socket.end(encodeControl({ ended: end }));
      });
    }, onError);
  }
}
