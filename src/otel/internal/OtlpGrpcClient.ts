// Sends already-serialized OTLP requests as gRPC unary calls and classifies the outcome per the OTLP specification's
// retry rules. The stock OTLP exporters treat every gRPC error as final; the spool sender needs to know what to retry
// and how long the server asked it to wait (google.rpc.RetryInfo in grpc-status-details-bin).
//
// The calls go over one node:http2 session rather than through grpc-js: a unary call is a POST with a 5-byte frame
// prefix and the status in trailers, and grpc-js's per-call machinery (call stack, interceptors, load balancing) was
// the largest share of the agent's CPU per detection (docs/benchmarks.md).
import http2 from 'node:http2';
import grpc from '@grpc/grpc-js';
import { ProtobufLogsSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import type { ResolvedTelemetryConfig } from '../TelemetryConfig.ts';
import { SpoolKind } from './Spool.ts';

const METHOD: Record<SpoolKind, string> = {
  [SpoolKind.Logs]: '/opentelemetry.proto.collector.logs.v1.LogsService/Export',
  [SpoolKind.Traces]: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
};

export type SendResult =
  | { outcome: 'ok'; rejected: number; rejectedMessage?: string }
  /** Try again later; retryAfterMs is the server's hint when it gave one. */
  | { outcome: 'retry'; code: string; message: string; retryAfterMs?: number }
  /** The request itself is bad (e.g. INVALID_ARGUMENT): retrying cannot help. */
  | { outcome: 'fatal'; code: string; message: string };

// OTLP/gRPC: these codes are transient. RESOURCE_EXHAUSTED only when the server says when to come back.
const RETRYABLE = new Set([
  grpc.status.CANCELLED,
  grpc.status.DEADLINE_EXCEEDED,
  grpc.status.ABORTED,
  grpc.status.OUT_OF_RANGE,
  grpc.status.UNAVAILABLE,
  grpc.status.DATA_LOSS,
]);

// gRPC over HTTP/2: a response without grpc-status takes its code from the HTTP status.
const CODE_OF_HTTP_STATUS: Record<number, grpc.status> = {
  400: grpc.status.INTERNAL,
  401: grpc.status.UNAUTHENTICATED,
  403: grpc.status.PERMISSION_DENIED,
  404: grpc.status.UNIMPLEMENTED,
  429: grpc.status.UNAVAILABLE,
  502: grpc.status.UNAVAILABLE,
  503: grpc.status.UNAVAILABLE,
  504: grpc.status.UNAVAILABLE,
};

export class OtlpGrpcClient {
  readonly #origin: string;
  readonly #connectOptions: http2.SecureClientSessionOptions;
  readonly #headers: Record<string, string>;
  readonly #timeoutMs: number;
  #session: http2.ClientHttp2Session | undefined;

  constructor(config: ResolvedTelemetryConfig) {
    this.#origin = `${config.tls ? 'https' : 'http'}://${config.target}`;
    this.#connectOptions = config.tls
      ? { ca: config.ca ?? undefined, key: config.clientKey ?? undefined, cert: config.clientCert ?? undefined, ALPNProtocols: ['h2'] }
      : {};
    this.#headers = { 'user-agent': 'kubesentry' };
    for (const [key, value] of Object.entries(config.headers)) this.#headers[key.toLowerCase()] = value;
    this.#timeoutMs = config.exportTimeoutMs;
  }

  /** Payloads are single serialized Export*ServiceRequest messages; protobuf concatenation merges them into one. */
  send(kind: SpoolKind, payloads: Buffer[]): Promise<SendResult> {
    let length = 0;
    for (const p of payloads) length += p.length;
    const prefix = Buffer.alloc(5); // uncompressed flag, then the message length
    prefix.writeUInt32BE(length, 1);
    return new Promise((resolve) => {
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      const finish = (result: SendResult): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(result);
      };
      let stream: http2.ClientHttp2Stream;
      try {
        stream = this.#connect().request({
          ':method': 'POST',
          ':path': METHOD[kind],
          'content-type': 'application/grpc',
          te: 'trailers',
          'grpc-timeout': `${Math.min(this.#timeoutMs, 99_999_999)}m`, // at most 8 digits
          ...this.#headers,
        });
      } catch (error) {
        this.#session?.destroy();
        finish(unavailable(error as Error));
        return;
      }
      timer = setTimeout(() => {
        stream.close(http2.constants.NGHTTP2_CANCEL);
        finish({ outcome: 'retry', code: 'DEADLINE_EXCEEDED', message: `no answer within ${this.#timeoutMs} ms` });
      }, this.#timeoutMs);
      let headers: http2.IncomingHttpHeaders | undefined;
      let trailers: http2.IncomingHttpHeaders | undefined;
      const chunks: Buffer[] = [];
      stream.on('response', (h) => (headers = h));
      stream.on('trailers', (t) => (trailers = t));
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('error', (error) => finish(unavailable(error)));
      stream.on('close', () => finish(outcomeOf(kind, headers, trailers, Buffer.concat(chunks))));
      stream.end(Buffer.concat([prefix, ...payloads], length + 5));
    });
  }

  close(): void {
    this.#session?.close();
    this.#session = undefined;
  }

  /** One session, reopened on the next call after it fails or the server sends GOAWAY. */
  #connect(): http2.ClientHttp2Session {
    const current = this.#session;
    if (current && !current.closed && !current.destroyed) return current;
    const session = http2.connect(this.#origin, this.#connectOptions);
    // Connection errors reach the streams that were waiting on it; the session itself is just replaced.
    session.on('error', () => {});
    const forget = (): void => {
      if (this.#session === session) this.#session = undefined;
    };
    session.on('close', forget);
    session.on('goaway', forget);
    this.#session = session;
    return session;
  }
}

function unavailable(error: Error): SendResult {
  // Node names the cause of a canceled pending stream (refused connection, untrusted certificate) in its message.
  return { outcome: 'retry', code: 'UNAVAILABLE', message: error.message };
}

function outcomeOf(
  kind: SpoolKind,
  headers: http2.IncomingHttpHeaders | undefined,
  trailers: http2.IncomingHttpHeaders | undefined,
  body: Buffer,
): SendResult {
  // A "trailers-only" answer (typical for errors) carries grpc-status in the headers.
  const status = trailers?.['grpc-status'] ?? headers?.['grpc-status'];
  if (status === undefined) {
    const httpStatus = Number(headers?.[':status'] ?? 0);
    if (!headers) return { outcome: 'retry', code: 'UNAVAILABLE', message: 'stream closed before a response' };
    const code = httpStatus === 200 ? grpc.status.UNKNOWN : (CODE_OF_HTTP_STATUS[httpStatus] ?? grpc.status.UNKNOWN);
    return classify(code, `HTTP ${httpStatus} without grpc-status`, undefined);
  }
  const code = Number(status);
  if (code === grpc.status.OK) return partialSuccess(kind, body.length >= 5 ? body.subarray(5, 5 + body.readUInt32BE(1)) : undefined);
  const source = trailers?.['grpc-status'] !== undefined ? trailers : headers;
  const details = source?.['grpc-status-details-bin'];
  return classify(
    code,
    percentDecode(String(source?.['grpc-message'] ?? '')),
    typeof details === 'string' ? Buffer.from(details, 'base64') : undefined,
  );
}

function percentDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function classify(status: number, message: string, statusDetails: Buffer | undefined): SendResult {
  const code = grpc.status[status] ?? String(status);
  const retryAfterMs = retryDelayMs(statusDetails);
  if (RETRYABLE.has(status) || (status === grpc.status.RESOURCE_EXHAUSTED && retryAfterMs !== undefined)) {
    return { outcome: 'retry', code, message, retryAfterMs };
  }
  return { outcome: 'fatal', code, message };
}

function partialSuccess(kind: SpoolKind, response: Buffer | undefined): SendResult {
  if (!response || response.length === 0) return { outcome: 'ok', rejected: 0 };
  try {
    if (kind === SpoolKind.Logs) {
      const p = ProtobufLogsSerializer.deserializeResponse(response).partialSuccess;
      return { outcome: 'ok', rejected: Number(p?.rejectedLogRecords ?? 0), rejectedMessage: p?.errorMessage };
    }
    const p = ProtobufTraceSerializer.deserializeResponse(response).partialSuccess;
    return { outcome: 'ok', rejected: Number(p?.rejectedSpans ?? 0), rejectedMessage: p?.errorMessage };
  } catch {
    return { outcome: 'ok', rejected: 0 };
  }
}

const RETRY_INFO_TYPE = 'type.googleapis.com/google.rpc.RetryInfo';

/** google.rpc.Status{details: Any[]} → RetryInfo{retry_delay: Duration} in ms, if present. */
export function retryDelayMs(statusDetails: grpc.MetadataValue | undefined): number | undefined {
  if (!Buffer.isBuffer(statusDetails)) return undefined;
  try {
    for (const detail of fields(statusDetails).filter((f) => f.field === 3)) {
      const any = fields(detail.bytes!);
      const typeUrl = any.find((f) => f.field === 1)?.bytes?.toString('utf8');
      const value = any.find((f) => f.field === 2)?.bytes;
      if (typeUrl !== RETRY_INFO_TYPE || !value) continue;
      const duration = fields(value).find((f) => f.field === 1)?.bytes;
      if (!duration) return 0;
      const d = fields(duration);
      const seconds = Number(d.find((f) => f.field === 1)?.varint ?? 0n);
      const nanos = Number(d.find((f) => f.field === 2)?.varint ?? 0n);
      return seconds * 1000 + Math.floor(nanos / 1e6);
    }
  } catch {
    // A malformed details blob is the server's problem; fall back to our own backoff.
  }
  return undefined;
}

interface ProtoField {
  field: number;
  varint?: bigint;
  bytes?: Buffer;
}

/** Minimal protobuf wire decoder: enough for google.rpc.Status, Any, RetryInfo and Duration. */
function fields(buf: Buffer): ProtoField[] {
  const out: ProtoField[] = [];
  let pos = 0;
  const varint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (pos >= buf.length) throw new Error('truncated varint');
      const byte = buf[pos++];
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7n;
    }
  };
  while (pos < buf.length) {
    const key = Number(varint());
    const field = key >>> 3;
    switch (key & 7) {
      case 0:
        out.push({ field, varint: varint() });
        break;
      case 2: {
        const length = Number(varint());
        if (pos + length > buf.length) throw new Error('truncated field');
        out.push({ field, bytes: buf.subarray(pos, pos + length) });
        pos += length;
        break;
      }
      case 1:
        pos += 8;
        break;
      case 5:
        pos += 4;
        break;
      default:
        throw new Error('unsupported wire type');
    }
  }
  return out;
}
