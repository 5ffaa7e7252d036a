// Sends already-serialized OTLP requests over gRPC and classifies the outcome per the OTLP specification's retry
// rules. The stock OTLP exporters treat every gRPC error as final; the spool sender needs to know what to retry and
// how long the server asked it to wait (google.rpc.RetryInfo in grpc-status-details-bin).
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

export class OtlpGrpcClient {
  readonly #client: grpc.Client;
  readonly #metadata: grpc.Metadata;
  readonly #timeoutMs: number;

  constructor(config: ResolvedTelemetryConfig) {
    const credentials = config.tls
      ? grpc.credentials.createSsl(config.ca ?? null, config.clientKey ?? null, config.clientCert ?? null)
      : grpc.credentials.createInsecure();
    this.#client = new grpc.Client(config.target, credentials, {
      // The channel's own reconnect backoff grows to 120 s by default, which would hold delivery back long after
      // the Collector returns; keep it within the sender's backoff.
      'grpc.initial_reconnect_backoff_ms': Math.min(1000, config.maxBackoffMs),
      'grpc.max_reconnect_backoff_ms': config.maxBackoffMs,
      'grpc.primary_user_agent': 'kubesentry',
    });
    this.#metadata = new grpc.Metadata();
    for (const [key, value] of Object.entries(config.headers)) this.#metadata.set(key.toLowerCase(), value);
    this.#timeoutMs = config.exportTimeoutMs;
  }

  /** Payloads are single serialized Export*ServiceRequest messages; protobuf concatenation merges them into one. */
  send(kind: SpoolKind, payloads: Buffer[]): Promise<SendResult> {
    const request = Buffer.concat(payloads);
    return new Promise((resolve) => {
      this.#client.makeUnaryRequest<Buffer, Buffer>(
        METHOD[kind],
        (b) => b,
        (b) => b,
        request,
        this.#metadata,
        { deadline: Date.now() + this.#timeoutMs },
        (error, response) => {
          if (error) {
            resolve(classify(error));
            return;
          }
          resolve(partialSuccess(kind, response));
        },
      );
    });
  }

  close(): void {
    this.#client.close();
  }
}

function classify(error: grpc.ServiceError): SendResult {
  const code = grpc.status[error.code] ?? String(error.code);
  const message = error.details || error.message;
  const retryAfterMs = retryDelayMs(error.metadata?.get('grpc-status-details-bin')[0]);
  if (RETRYABLE.has(error.code) || (error.code === grpc.status.RESOURCE_EXHAUSTED && retryAfterMs !== undefined)) {
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
