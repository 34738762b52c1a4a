import { Duplex, PassThrough } from 'node:stream';
import { FXP, STATUS } from '../../src/sftp/constants.ts';
import { PacketFramer, PacketReader, PacketWriter, type SftpAttrs } from '../../src/sftp/packet.ts';

/** One request as the fake server received it. */
export interface FakeRequest {
  type: number;
  id: number;
  /** Reader positioned after the id. */
  r: PacketReader;
}

/** Options of the fake server. */
export interface FakeServerOptions {
  /** Version answered to INIT (default 3). */
  version?: number;
  /** Extensions advertised in VERSION. */
  extensions?: Array<[string, string]>;
  /** Answer limits@openssh.com with these numbers: packet, read, write, handles. */
  limits?: [number, number, number, number];
  /** Called for every request after the handshake (and limits). */
  onRequest?: (req: FakeRequest, server: FakeSftpServer) => void;
  /** High-water mark of the client → server pipe. */
  highWaterMark?: number;
}

/**
 * A tiny scripted SFTP peer over a PassThrough pair, for framing and ordering tests only. Real
 * behaviour is tested against OpenSSH's sftp-server.
 */
export class FakeSftpServer {
  /** The stream to hand to the client. */
  readonly clientStream: Duplex;
  readonly toServer: PassThrough;
  readonly toClient = new PassThrough();
  readonly requests: FakeRequest[] = [];
  /** INIT packets received. */
  inits = 0;
  #framer = new PacketFramer();

  constructor(readonly options: FakeServerOptions = {}) {
    this.toServer = new PassThrough(options.highWaterMark === undefined ? {} : { highWaterMark: options.highWaterMark });
    this.clientStream = Duplex.from({ readable: this.toClient, writable: this.toServer });
    this.toServer.on('data', (chunk: Buffer) => this.#framer.push(chunk, packet => this.#onPacket(Buffer.from(packet))));
  }

  #onPacket(packet: Buffer): void {
    const type = packet[0]!;
    const r = new PacketReader(packet, 1);
    if (type === FXP.INIT) {
      this.inits++;
      r.u32();
      const w = new PacketWriter(FXP.VERSION).u32(this.options.version ?? 3);
      for (const [name, data] of this.options.extensions ?? []) w.string(name).string(data);
      this.send(w.finish());
      return;
    }
    const req = { type, id: r.u32(), r };
    if (type === FXP.EXTENDED && this.options.limits !== undefined) {
      const save = new PacketReader(packet, 5);
      if (save.string() === 'limits@openssh.com') {
        const w = new PacketWriter(FXP.EXTENDED_REPLY).u32(req.id);
        for (const n of this.options.limits) w.u64(n);
        this.send(w.finish());
        return;
      }
    }
    this.requests.push(req);
    this.options.onRequest?.(req, this);
  }

  /** Writes raw bytes to the client. */
  send(bytes: Buffer): void {
    this.toClient.write(Buffer.from(bytes));
  }

  status(id: number, code: number = STATUS.OK, message = ''): Buffer {
    return new PacketWriter(FXP.STATUS).u32(id).u32(code).string(message).string('').finish();
  }

  attrs(id: number, attrs: SftpAttrs): Buffer {
    return new PacketWriter(FXP.ATTRS).u32(id).attrs(attrs).finish();
  }

  handle(id: number, handle: string): Buffer {
    return new PacketWriter(FXP.HANDLE).u32(id).string(handle).finish();
  }

  data(id: number, bytes: Uint8Array): Buffer {
    return new PacketWriter(FXP.DATA).u32(id).string(bytes).finish();
  }

  /** Ends the server → client direction (the client sees the stream end). */
  end(): void {
    this.toClient.end();
  }
}
