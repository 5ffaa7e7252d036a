// A client-side HTTP/2 connection (RFC 9113) for the OTLP exporter's unary gRPC calls, over net or tls sockets.
//
// Why not node:http2: measured on the reference VM, a node:http2 request at the agent's pace (one per 50 ms batch)
// costs ~1.2 ms of CPU — per-stream Duplex objects, async hooks and nghttp2 → JS callbacks, all running cold —
// against ~0.5 ms for the same frames written to a socket; with ~20 requests a second that difference alone was
// ~2.8% of a core, over half of the agent's CPU goal (docs/benchmarks.md). What a unary call needs is small: one
// HEADERS + DATA out, HEADERS/DATA/trailers back, flow control both ways, and the connection frames (SETTINGS, PING,
// WINDOW_UPDATE, GOAWAY, RST_STREAM). No server push (disabled in our SETTINGS), no priorities, no upgrade.
import net from 'node:net';
import tls from 'node:tls';
import { HpackDecoder, HpackError } from './hpack.ts';

export interface Http2Target {
  host: string;
  port: number;
  /** Present for https: CA, client key and certificate as for tls.connect. */
  tls?: { ca?: string | Buffer; key?: string | Buffer; cert?: string | Buffer };
}

export interface Http2Response {
  /** Response headers (the first HEADERS block), lower-case names; repeated names keep the last value. */
  headers: Record<string, string>;
  /** Trailers, when the response had them (a "trailers-only" response has only headers). */
  trailers: Record<string, string> | undefined;
  body: Buffer;
}

const FrameType = { DATA: 0, HEADERS: 1, PRIORITY: 2, RST_STREAM: 3, SETTINGS: 4, PUSH_PROMISE: 5, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 } as const;
const Flag = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 } as const;
const Setting = { HEADER_TABLE_SIZE: 1, ENABLE_PUSH: 2, MAX_CONCURRENT_STREAMS: 3, INITIAL_WINDOW_SIZE: 4, MAX_FRAME_SIZE: 5 } as const;
const ErrorCode = { NO_ERROR: 0, PROTOCOL_ERROR: 1, FLOW_CONTROL_ERROR: 3, FRAME_SIZE_ERROR: 6, CANCEL: 8, COMPRESSION_ERROR: 9 } as const;
const ERROR_NAMES = ['NO_ERROR', 'PROTOCOL_ERROR', 'INTERNAL_ERROR', 'FLOW_CONTROL_ERROR', 'SETTINGS_TIMEOUT', 'STREAM_CLOSED', 'FRAME_SIZE_ERROR', 'REFUSED_STREAM', 'CANCEL', 'COMPRESSION_ERROR', 'CONNECT_ERROR', 'ENHANCE_YOUR_CALM', 'INADEQUATE_SECURITY', 'HTTP_1_1_REQUIRED'];

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const DEFAULT_WINDOW = 65_535;
const DEFAULT_MAX_FRAME = 16_384;
// What we accept per connection and stream before handing credit back; answers are a few bytes, so this only
// matters for a misbehaving server, which the response limit below stops.
const RECEIVE_WINDOW = 1 << 20;
const MAX_RESPONSE_BYTES = 4 << 20;
const MAX_HEADER_BLOCK_BYTES = 256 << 10;
const MAX_STREAM_ID = 2 ** 31 - 1;
const KEEPALIVE_MS = 30_000;
/** Longest a PING acknowledgement waits for a request to travel with; far inside any keepalive timeout. */
const ACK_DELAY_MS = 1_000;

export class Http2ConnectionError extends Error {
  override name = 'Http2ConnectionError';
}

export class StreamCancelledError extends Error {
  override name = 'StreamCancelledError';
}

interface Stream {
  id: number;
  resolve: (response: Http2Response) => void;
  reject: (error: Error) => void;
  /** Request body not yet sent; sent as the windows allow. */
  pending: Buffer;
  sendWindow: number;
  unacknowledgedBytes: number;
  headers: Record<string, string> | undefined;
  trailers: Record<string, string> | undefined;
  body: Buffer[];
  bodyBytes: number;
}

export class Http2Connection {
  readonly #socket: net.Socket;
  readonly #decoder = new HpackDecoder();
  readonly #streams = new Map<number, Stream>();
  #nextStreamId = 1;
  #peerInitialWindow = DEFAULT_WINDOW;
  #peerMaxFrame = DEFAULT_MAX_FRAME;
  #connectionSendWindow = DEFAULT_WINDOW;
  #connectionUnacknowledged = 0;
  #inbound: Buffer = Buffer.alloc(0);
  /** A header block split over HEADERS + CONTINUATION frames. */
  #headerBlock: { streamId: number; endStream: boolean; fragments: Buffer[]; bytes: number } | undefined;
  #outbound: Buffer[] = [];
  /** Set when #outbound holds only frames that may wait (see #flushSoon). */
  #deferredFlush: NodeJS.Timeout | undefined;
  #failure: Error | undefined;
  /** After GOAWAY: no new streams; the connection ends when the last one does. */
  #draining = false;

  constructor(target: Http2Target) {
    this.#socket = target.tls
      ? tls.connect({ host: target.host, port: target.port, servername: net.isIP(target.host) ? undefined : target.host, ALPNProtocols: ['h2'], ...target.tls })
      : net.connect({ host: target.host, port: target.port });
    this.#socket.setNoDelay(true);
    // A Collector that vanished without a FIN or RST (node gone, network partition) is noticed while idle too.
    this.#socket.setKeepAlive(true, KEEPALIVE_MS);
    if (target.tls) {
      this.#socket.once('secureConnect', () => {
        const alpn = (this.#socket as tls.TLSSocket).alpnProtocol;
        if (alpn !== 'h2') this.#fail(new Http2ConnectionError(`server did not negotiate HTTP/2 (ALPN: ${alpn || 'none'})`));
      });
    }
    this.#socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    this.#socket.on('error', (error) => this.#fail(error));
    this.#socket.on('close', () => this.#fail(new Http2ConnectionError('connection closed')));
    // Writes before the connection is up are buffered by the socket; the server reads the preface first.
    const settings = Buffer.alloc(12);
    settings.writeUInt16BE(Setting.ENABLE_PUSH, 0);
    settings.writeUInt32BE(0, 2);
    settings.writeUInt16BE(Setting.INITIAL_WINDOW_SIZE, 6);
    settings.writeUInt32BE(RECEIVE_WINDOW, 8);
    const connectionCredit = Buffer.alloc(4);
    connectionCredit.writeUInt32BE(RECEIVE_WINDOW - DEFAULT_WINDOW);
    this.#outbound.push(PREFACE, frame(FrameType.SETTINGS, 0, 0, settings), frame(FrameType.WINDOW_UPDATE, 0, 0, connectionCredit));
    this.#flush();
  }

  /** False once the connection failed, closed, or was told to go away: open a new one. */
  get usable(): boolean {
    return this.#failure === undefined && !this.#draining && this.#nextStreamId < MAX_STREAM_ID;
  }

  /**
   * One request: a header block from encodeHeaders() (callers encode a fixed block once) and the whole body.
   * Rejects on stream or connection failure.
   */
  request(block: Buffer, body: Buffer): { response: Promise<Http2Response>; cancel: () => void } {
    const id = this.#nextStreamId;
    this.#nextStreamId += 2;
    let stream!: Stream;
    const response = new Promise<Http2Response>((resolve, reject) => {
      stream = {
        id, resolve, reject, pending: body, sendWindow: this.#peerInitialWindow, unacknowledgedBytes: 0,
        headers: undefined, trailers: undefined, body: [], bodyBytes: 0,
      };
    });
    if (!this.usable) {
      stream.reject(this.#failure ?? new Http2ConnectionError('connection is going away'));
      return { response, cancel: () => {} };
    }
    this.#streams.set(id, stream);
    // A block larger than the peer's frame size continues in CONTINUATION frames.
    for (let offset = 0; offset < block.length || offset === 0; offset += this.#peerMaxFrame) {
      const fragment = block.subarray(offset, offset + this.#peerMaxFrame);
      const last = offset + this.#peerMaxFrame >= block.length;
      const type = offset === 0 ? FrameType.HEADERS : FrameType.CONTINUATION;
      const flags = (last ? Flag.END_HEADERS : 0) | (type === FrameType.HEADERS && body.length === 0 ? Flag.END_STREAM : 0);
      this.#outbound.push(frame(type, flags, id, fragment));
      if (last) break;
    }
    this.#sendData(stream);
    this.#flush();
    return {
      response,
      cancel: () => {
        if (!this.#streams.delete(id)) return;
        this.#outbound.push(rstStream(id, ErrorCode.CANCEL));
        this.#flush();
        stream.reject(new StreamCancelledError(`request on stream ${id} cancelled`));
      },
    };
  }

  /** Ends the connection; requests still open fail with the given reason. */
  close(reason = 'connection closed by the client'): void {
    if (this.#failure === undefined) {
      this.#outbound.push(goaway(0, ErrorCode.NO_ERROR));
      this.#flush();
    }
    this.#fail(new Http2ConnectionError(reason));
    this.#socket.end();
  }

  /** As much of the stream's body as the windows allow, as DATA frames in one buffer (the rest on WINDOW_UPDATE). */
  #sendData(stream: Stream): void {
    const total = Math.min(stream.pending.length, stream.sendWindow, this.#connectionSendWindow);
    if (total <= 0) return;
    const frames = Math.ceil(total / this.#peerMaxFrame);
    const out = Buffer.allocUnsafe(total + 9 * frames);
    let at = 0;
    for (let sent = 0; sent < total; ) {
      const size = Math.min(total - sent, this.#peerMaxFrame);
      const last = sent + size === stream.pending.length;
      writeFrameHeader(out, at, size, FrameType.DATA, last ? Flag.END_STREAM : 0, stream.id);
      stream.pending.copy(out, at + 9, sent, sent + size);
      at += 9 + size;
      sent += size;
    }
    stream.pending = stream.pending.subarray(total);
    stream.sendWindow -= total;
    this.#connectionSendWindow -= total;
    this.#outbound.push(out);
  }

  #flush(): void {
    if (this.#outbound.length === 0 || this.#socket.destroyed || this.#socket.writableEnded) return;
    clearTimeout(this.#deferredFlush);
    this.#deferredFlush = undefined;
    const outbound = this.#outbound;
    this.#outbound = [];
    if (outbound.length === 1) {
      this.#socket.write(outbound[0]);
      return;
    }
    // One writev, without copying the frames together first.
    this.#socket.cork();
    for (const buffer of outbound) this.#socket.write(buffer);
    this.#socket.uncork();
  }

  /**
   * Frames that only answer the peer (PING acknowledgements: Go's gRPC server pings after every request it
   * receives, to estimate bandwidth) wait for the next request's write, so a request costs one write and one
   * wakeup of the server rather than two; an idle connection still answers within ACK_DELAY_MS.
   */
  #flushSoon(): void {
    if (this.#outbound.length === 0 || this.#deferredFlush !== undefined) return;
    this.#deferredFlush = setTimeout(() => this.#flush(), ACK_DELAY_MS);
    this.#deferredFlush.unref();
  }

  #onData(chunk: Buffer): void {
    let data = this.#inbound.length === 0 ? chunk : Buffer.concat([this.#inbound, chunk]);
    let mustFlush = false;
    try {
      while (data.length >= 9 && this.#failure === undefined) {
        const length = data.readUIntBE(0, 3);
        if (length > DEFAULT_MAX_FRAME) throw new ProtocolError(ErrorCode.FRAME_SIZE_ERROR, `frame of ${length} bytes`);
        if (data.length < 9 + length) break;
        const queued = this.#outbound.length;
        this.#onFrame(data[3], data[4], data.readUInt32BE(5) & 0x7fffffff, data.subarray(9, 9 + length));
        // What a frame queued goes out at the end of this read, unless it is a PING acknowledgement.
        if (this.#outbound.length > queued && data[3] !== FrameType.PING) mustFlush = true;
        data = data.subarray(9 + length);
      }
    } catch (error) {
      const code = error instanceof ProtocolError ? error.code : error instanceof HpackError ? ErrorCode.COMPRESSION_ERROR : ErrorCode.PROTOCOL_ERROR;
      this.#outbound.push(goaway(this.#nextStreamId - 2, code));
      this.#flush();
      this.#fail(new Http2ConnectionError(`HTTP/2 ${ERROR_NAMES[code]}: ${(error as Error).message}`));
      this.#socket.destroy();
      return;
    }
    // Copy the remainder so a partial frame does not pin the whole chunk it came in.
    this.#inbound = data.length === 0 ? Buffer.alloc(0) : Buffer.from(data);
    if (mustFlush) this.#flush();
    else this.#flushSoon();
  }

  #onFrame(type: number, flags: number, streamId: number, payload: Buffer): void {
    if (this.#headerBlock && type !== FrameType.CONTINUATION) throw new ProtocolError(ErrorCode.PROTOCOL_ERROR, 'header block interrupted');
    switch (type) {
      case FrameType.DATA:
        return this.#onDataFrame(flags, streamId, payload);
      case FrameType.HEADERS: {
        if (streamId === 0) throw new ProtocolError(ErrorCode.PROTOCOL_ERROR, 'HEADERS on stream 0');
        let fragment = unpad(flags, payload);
        if (flags & Flag.PRIORITY) fragment = fragment.subarray(5);
        this.#headerBlock = { streamId, endStream: (flags & Flag.END_STREAM) !== 0, fragments: [fragment], bytes: fragment.length };
        if (flags & Flag.END_HEADERS) this.#endHeaderBlock();
        return;
      }
      case FrameType.CONTINUATION: {
        const block = this.#headerBlock;
        if (!block || block.streamId !== streamId) throw new ProtocolError(ErrorCode.PROTOCOL_ERROR, 'unexpected CONTINUATION');
        block.fragments.push(payload);
        block.bytes += payload.length;
        if (block.bytes > MAX_HEADER_BLOCK_BYTES) throw new ProtocolError(ErrorCode.PROTOCOL_ERROR, 'header block too large');
        if (flags & Flag.END_HEADERS) this.#endHeaderBlock();
        return;
      }
      case FrameType.RST_STREAM: {
        if (payload.length !== 4) throw new ProtocolError(ErrorCode.FRAME_SIZE_ERROR, 'RST_STREAM size');
        const stream = this.#streams.get(streamId);
        if (!stream) return;
        this.#streams.delete(streamId);
        const code = payload.readUInt32BE(0);
        stream.reject(new Http2ConnectionError(`stream reset by the server: ${ERROR_NAMES[code] ?? code}`));
        return this.#endIfDrained();
      }
      case FrameType.SETTINGS:
        if (streamId !== 0) throw new ProtocolError(ErrorCode.PROTOCOL_ERROR, 'SETTINGS on a stream');
        if (flags & Flag.ACK) return;
        if (payload.length % 6 !== 0) throw new ProtocolError(ErrorCode.FRAME_SIZE_ERROR, 'SETTINGS size');
        for (let i = 0; i < payload.length; i += 6) this.#applySetting(payload.readUInt16BE(i), payload.readUInt32BE(i + 2));
        this.#outbound.push(frame(FrameType.SETTINGS, Flag.ACK, 0, Buffer.alloc(0)));
        for (const stream of this.#streams.values()) this.#sendData(stream);
        return;
      case FrameType.PING:
        if (payload.length !== 8) throw new ProtocolError(ErrorCode.FRAME_SIZE_ERROR, 'PING size');
        if (!(flags & Flag.ACK)) this.#outbound.push(frame(FrameType.PING, Flag.ACK, 0, Buffer.from(payload)));
        return; // may wait: see #flushSoon
      case FrameType.GOAWAY: {
        const lastStreamId = payload.readUInt32BE(0) & 0x7fffffff;
        const code = payload.readUInt32BE(4);
        this.#draining = true;
        for (const [id, stream] of this.#streams) {
          if (id <= lastStreamId) continue;
          this.#streams.delete(id);
          stream.reject(new Http2ConnectionError(`server going away (${ERROR_NAMES[code] ?? code}) before the request was processed`));
        }
        return this.#endIfDrained();
      }
      case FrameType.WINDOW_UPDATE: {
        if (payload.length !== 4) throw new ProtocolError(ErrorCode.FRAME_SIZE_ERROR, 'WINDOW_UPDATE size');
        const increment = payload.readUInt32BE(0) & 0x7fffffff;
        if (streamId === 0) {
          this.#connectionSendWindow += increment;
          if (this.#connectionSendWindow > MAX_STREAM_ID) throw new ProtocolError(ErrorCode.FLOW_CONTROL_ERROR, 'connection window overflow');
          for (const stream of this.#streams.values()) this.#sendData(stream);
        } else {
          const stream = this.#streams.get(streamId);
          if (!stream) return;
          stream.sendWindow += increment;
          this.#sendData(stream);
        }
        return;
      }
      case FrameType.PUSH_PROMISE:
        throw new ProtocolError(ErrorCode.PROTOCOL_ERROR, 'PUSH_PROMISE although push is disabled');
      default:
        return; // PRIORITY and unknown frame types are ignored
    }
  }

  #onDataFrame(flags: number, streamId: number, payload: Buffer): void {
    if (streamId === 0) throw new ProtocolError(ErrorCode.PROTOCOL_ERROR, 'DATA on stream 0');
    // Flow control counts the whole frame, padding included, whether or not the stream is still open.
    this.#connectionUnacknowledged += payload.length;
    if (this.#connectionUnacknowledged >= RECEIVE_WINDOW / 2) {
      this.#outbound.push(windowUpdate(0, this.#connectionUnacknowledged));
      this.#connectionUnacknowledged = 0;
    }
    const stream = this.#streams.get(streamId);
    if (!stream) return;
    const data = unpad(flags, payload);
    stream.bodyBytes += data.length;
    if (stream.bodyBytes > MAX_RESPONSE_BYTES) {
      this.#streams.delete(streamId);
      this.#outbound.push(rstStream(streamId, ErrorCode.CANCEL));
      stream.reject(new Http2ConnectionError(`response larger than ${MAX_RESPONSE_BYTES} bytes`));
      return;
    }
    stream.body.push(Buffer.from(data));
    stream.unacknowledgedBytes += payload.length;
    if (flags & Flag.END_STREAM) return this.#complete(stream);
    if (stream.unacknowledgedBytes >= RECEIVE_WINDOW / 2) {
      this.#outbound.push(windowUpdate(streamId, stream.unacknowledgedBytes));
      stream.unacknowledgedBytes = 0;
    }
  }

  #endHeaderBlock(): void {
    const block = this.#headerBlock!;
    this.#headerBlock = undefined;
    // Decoded even for a stream we no longer track: the decoder's table must see every block.
    const fields = this.#decoder.decode(block.fragments.length === 1 ? block.fragments[0] : Buffer.concat(block.fragments));
    const stream = this.#streams.get(block.streamId);
    if (!stream) return;
    const map: Record<string, string> = {};
    for (const [name, value] of fields) map[name] = value;
    if (stream.headers === undefined) stream.headers = map;
    else stream.trailers = map;
    if (block.endStream) this.#complete(stream);
  }

  #complete(stream: Stream): void {
    this.#streams.delete(stream.id);
    if (stream.headers === undefined) {
      stream.reject(new Http2ConnectionError('stream ended without a response'));
    } else {
      stream.resolve({ headers: stream.headers, trailers: stream.trailers, body: Buffer.concat(stream.body) });
    }
    this.#endIfDrained();
  }

  #applySetting(id: number, value: number): void {
    if (id === Setting.INITIAL_WINDOW_SIZE) {
      if (value > MAX_STREAM_ID) throw new ProtocolError(ErrorCode.FLOW_CONTROL_ERROR, 'initial window too large');
      // A change applies to the windows of open streams too (§6.9.2).
      for (const stream of this.#streams.values()) stream.sendWindow += value - this.#peerInitialWindow;
      this.#peerInitialWindow = value;
    } else if (id === Setting.MAX_FRAME_SIZE) {
      if (value < DEFAULT_MAX_FRAME || value > 16_777_215) throw new ProtocolError(ErrorCode.PROTOCOL_ERROR, `max frame size ${value}`);
      this.#peerMaxFrame = value;
    } else if (id === Setting.ENABLE_PUSH && value > 1) {
      throw new ProtocolError(ErrorCode.PROTOCOL_ERROR, 'invalid ENABLE_PUSH');
    }
    // HEADER_TABLE_SIZE: our encoder never uses the dynamic table. MAX_CONCURRENT_STREAMS: we keep at most a few.
  }

  #endIfDrained(): void {
    if (this.#draining && this.#streams.size === 0) this.close('server went away');
  }

  #fail(error: Error): void {
    if (this.#failure !== undefined) return;
    this.#failure = error;
    clearTimeout(this.#deferredFlush);
    for (const stream of this.#streams.values()) stream.reject(error);
    this.#streams.clear();
  }
}

class ProtocolError extends Error {
  readonly code: number;
  constructor(code: number, message: string) {
    super(message);
    this.code = code;
  }
}

function frame(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const out = Buffer.allocUnsafe(9 + payload.length);
  writeFrameHeader(out, 0, payload.length, type, flags, streamId);
  payload.copy(out, 9);
  return out;
}

function writeFrameHeader(out: Buffer, at: number, length: number, type: number, flags: number, streamId: number): void {
  out.writeUIntBE(length, at, 3);
  out[at + 3] = type;
  out[at + 4] = flags;
  out.writeUInt32BE(streamId, at + 5);
}

function windowUpdate(streamId: number, increment: number): Buffer {
  const payload = Buffer.allocUnsafe(4);
  payload.writeUInt32BE(increment);
  return frame(FrameType.WINDOW_UPDATE, 0, streamId, payload);
}

function rstStream(streamId: number, code: number): Buffer {
  const payload = Buffer.allocUnsafe(4);
  payload.writeUInt32BE(code);
  return frame(FrameType.RST_STREAM, 0, streamId, payload);
}

function goaway(lastStreamId: number, code: number): Buffer {
  const payload = Buffer.allocUnsafe(8);
  payload.writeUInt32BE(Math.max(0, lastStreamId), 0);
  payload.writeUInt32BE(code, 4);
  return frame(FrameType.GOAWAY, 0, 0, payload);
}

function unpad(flags: number, payload: Buffer): Buffer {
  if (!(flags & Flag.PADDED)) return payload;
  if (payload.length < 1 || payload[0] >= payload.length) throw new ProtocolError(ErrorCode.PROTOCOL_ERROR, 'bad padding');
  return payload.subarray(1, payload.length - payload[0]);
}
