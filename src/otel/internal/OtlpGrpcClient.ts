// Sends already-serialized OTLP requests as gRPC unary calls and classifies the outcome per the OTLP specification's
// retry rules. The stock OTLP exporters treat every gRPC error as final; the spool sender needs to know what to retry
// and how long the server asked it to wait (google.rpc.RetryInfo in grpc-status-details-bin).
//
// A unary call is a POST with a 5-byte frame prefix and the status in trailers, sent over one HTTP/2 connection of
// our own (http2/Http2Connection.ts says why neither grpc-js nor node:http2 carries it).
import grpc from '@grpc/grpc-js';
import { ProtobufLogsSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import type { ResolvedTelemetryConfig } from '../TelemetryConfig.ts';
import { encodeHeaders } from './http2/hpack.ts';
import { Http2Connection, StreamCancelledError, type Http2Response, type Http2Target } from './http2/Http2Connection.ts';
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
  readonly #target: Http2Target;
  readonly #headerBlocks: Record<SpoolKind, Buffer>;
  readonly #timeoutMs: number;
  #connection: Http2Connection | undefined;

  constructor(config: ResolvedTelemetryConfig) {
    this.#target = {
      host: config.endpoint.hostname.replace(/^\[|\]$/g, ''),
      port: Number(config.endpoint.port || (config.tls ? 443 : 4317)),
      tls: config.tls
        ? { ca: config.ca ?? undefined, key: config.clientKey ?? undefined, cert: config.clientCert ?? undefined }
        : undefined,
    };
    this.#timeoutMs = config.exportTimeoutMs;
    const headerBlock = (kind: SpoolKind): Buffer => encodeHeaders([
      [':method', 'POST'],
      [':scheme', config.tls ? 'https' : 'http'],
      [':path', METHOD[kind]],
      [':authority', config.target],
      ['content-type', 'application/grpc'],
      ['te', 'trailers'],
      ['grpc-timeout', `${Math.min(this.#timeoutMs, 99_999_999)}m`], // at most 8 digits
      ['user-agent', 'kubesentry'],
      ...Object.entries(config.headers).map(([key, value]): [string, string] => [key.toLowerCase(), value]),
    ]);
    this.#headerBlocks = { [SpoolKind.Logs]: headerBlock(SpoolKind.Logs), [SpoolKind.Traces]: headerBlock(SpoolKind.Traces) };
  }

  /** Payloads are single serialized Export*ServiceRequest messages; protobuf concatenation merges them into one. */
  async send(kind: SpoolKind, payloads: Buffer[]): Promise<SendResult> {
    let length = 0;
    for (const p of payloads) length += p.length;
    const body = Buffer.allocUnsafe(length + 5);
    body[0] = 0; // uncompressed
    body.writeUInt32BE(length, 1);
    let offset = 5;
    for (const p of payloads) offset += p.copy(body, offset);
    const connection = this.#connect();
    const { response, cancel } = connection.request(this.#headerBlocks[kind], body);
    const timer = setTimeout(cancel, this.#timeoutMs);
    try {
      return outcomeOf(kind, await response);
    } catch (error) {
      if (error instanceof StreamCancelledError) {
        // No answer at all usually means the connection is dead without having been closed: start afresh.
        if (this.#connection === connection) this.close();
        return { outcome: 'retry', code: 'DEADLINE_EXCEEDED', message: `no answer within ${this.#timeoutMs} ms` };
      }
      return unavailable(error as Error);
    } finally {
      clearTimeout(timer);
    }
  }

  close(): void {
    this.#connection?.close();
    this.#connection = undefined;
  }

  /** One connection, replaced on the next call after it fails or the server sends GOAWAY. */
  #connect(): Http2Connection {
    if (!this.#connection?.usable) this.#connection = new Http2Connection(this.#target);
    return this.#connection;
  }
}

function unavailable(error: Error): SendResult {
  // The socket's own error names the cause: a refused connection, an untrusted certificate, a reset stream.
  return { outcome: 'retry', code: 'UNAVAILABLE', message: error.message };
}

function outcomeOf(kind: SpoolKind, { headers, trailers, body }: Http2Response): SendResult {
  // A "trailers-only" answer (typical for errors) carries grpc-status in the headers.
  const status = trailers?.['grpc-status'] ?? headers['grpc-status'];
  if (status === undefined) {
    const httpStatus = Number(headers[':status'] ?? 0);
    const code = httpStatus === 200 ? grpc.status.UNKNOWN : (CODE_OF_HTTP_STATUS[httpStatus] ?? grpc.status.UNKNOWN);
    return classify(code, `HTTP ${httpStatus} without grpc-status`, undefined);
  }
  const code = Number(status);
  if (code === grpc.status.OK) return partialSuccess(kind, body.length >= 5 ? body.subarray(5, 5 + body.readUInt32BE(1)) : undefined);
  const source = trailers?.['grpc-status'] !== undefined ? trailers : headers;
  const details = source['grpc-status-details-bin'];
  return classify(
    code,
    percentDecode(source['grpc-message'] ?? ''),
    details === undefined ? undefined : Buffer.from(details, 'base64'),
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
