// One signal's stock OTLP/gRPC exporter (@opentelemetry/exporter-logs-otlp-grpc or -trace-otlp-grpc, over
// @grpc/grpc-js, serialized by @opentelemetry/otlp-transformer) behind the spool sender, and the OTLP
// specification's retry rules applied to its outcome.
//
// The stock exporters report every gRPC error as a final failure and retry nothing themselves (their transport never
// answers "retryable"), so the sender decides: the exporter's error is grpc-js's ServiceError, whose code and
// trailers (google.rpc.RetryInfo in grpc-status-details-bin) are all the classification needs.
import grpc from '@grpc/grpc-js';
import { diag, DiagLogLevel, type DiagLogger } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-grpc';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import type { ResolvedTelemetryConfig } from '../TelemetryConfig.ts';

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

// After these, the next attempt gets a new channel: grpc-js would otherwise keep a dead connection (a Collector
// that stopped answering) or wait out its own reconnect backoff (up to two minutes) after an outage, while the
// sender's backoff is the one that should decide when to try again.
const RECONNECT_AFTER = new Set([grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED]);

interface StockExporter<T> {
  export(items: T[], resultCallback: (result: ExportResult) => void): void;
  shutdown(): Promise<void>;
}

export class OtlpSignalExporter<T extends ReadableLogRecord | ReadableSpan> {
  readonly #create: () => StockExporter<T>;
  readonly #partialSuccessKey: 'rejectedLogRecords' | 'rejectedSpans';
  #exporter: StockExporter<T>;

  static logs(config: ResolvedTelemetryConfig): OtlpSignalExporter<ReadableLogRecord> {
    return new OtlpSignalExporter(() => new OTLPLogExporter(exporterConfig(config)), 'rejectedLogRecords');
  }

  static traces(config: ResolvedTelemetryConfig): OtlpSignalExporter<ReadableSpan> {
    return new OtlpSignalExporter(() => new OTLPTraceExporter(exporterConfig(config)), 'rejectedSpans');
  }

  private constructor(create: () => StockExporter<T>, partialSuccessKey: 'rejectedLogRecords' | 'rejectedSpans') {
    this.#create = create;
    this.#partialSuccessKey = partialSuccessKey;
    this.#exporter = create();
  }

  send(items: T[]): Promise<SendResult> {
    return new Promise((resolve) => {
      const exporter = this.#exporter;
      partialSuccess.take(); // nothing stale from an exporter outside this class
      exporter.export(items, (result) => {
        // The exporter hands a partial success to diag right before this callback, in the same tick.
        const partial = partialSuccess.take();
        if (result.code === ExportResultCode.SUCCESS) {
          const rejected = Number(partial?.[this.#partialSuccessKey] ?? 0);
          resolve({ outcome: 'ok', rejected, rejectedMessage: partial?.errorMessage });
          return;
        }
        const outcome = classify(result.error);
        if (isServiceError(result.error) && RECONNECT_AFTER.has(result.error.code) && this.#exporter === exporter) {
          this.#exporter = this.#create();
          exporter.shutdown().catch(() => {});
        }
        resolve(outcome);
      });
    });
  }

  shutdown(): Promise<void> {
    return this.#exporter.shutdown();
  }
}

function exporterConfig(config: ResolvedTelemetryConfig) {
  const metadata = new grpc.Metadata();
  for (const [key, value] of Object.entries(config.headers)) metadata.set(key.toLowerCase(), value);
  return {
    url: config.endpoint.href,
    credentials: config.tls
      ? grpc.credentials.createSsl(config.ca ?? null, config.clientKey ?? null, config.clientCert ?? null)
      : grpc.credentials.createInsecure(),
    metadata,
    timeoutMillis: config.exportTimeoutMs,
    userAgent: 'kubesentry',
  };
}

function isServiceError(error: unknown): error is grpc.ServiceError {
  return typeof error === 'object' && error !== null && typeof (error as grpc.ServiceError).code === 'number' && 'metadata' in error;
}

export function classify(error: unknown): SendResult {
  if (!isServiceError(error)) {
    // Not a gRPC answer (e.g. the exporter refused before sending): nothing says the request is bad, so try again.
    return { outcome: 'retry', code: 'UNAVAILABLE', message: (error as Error | undefined)?.message ?? 'export failed' };
  }
  const code = grpc.status[error.code] ?? String(error.code);
  const message = error.details || error.message;
  const retryAfterMs = retryDelayMs(error.metadata?.get('grpc-status-details-bin')[0]);
  if (RETRYABLE.has(error.code) || (error.code === grpc.status.RESOURCE_EXHAUSTED && retryAfterMs !== undefined)) {
    return { outcome: 'retry', code, message, retryAfterMs };
  }
  return { outcome: 'fatal', code, message };
}

// ---- partial success ----

interface PartialSuccess {
  rejectedLogRecords?: number | string;
  rejectedSpans?: number | string;
  errorMessage?: string;
}

/**
 * The stock exporters pass a partial success (items the Collector refused) only to diag, as a warning with the
 * partialSuccess object as JSON; this logger keeps the last one for the export callback that follows it, and
 * forwards every other SDK warning and error to the agent's diagnostics.
 */
class PartialSuccessCapture implements DiagLogger {
  #last: PartialSuccess | undefined;
  readonly #listeners = new Set<(line: string) => void>();

  take(): PartialSuccess | undefined {
    const last = this.#last;
    this.#last = undefined;
    return last;
  }

  /** Installs the logger process-wide (diag is global) while any listener is registered. */
  listen(listener: (line: string) => void): () => void {
    if (this.#listeners.size === 0) {
      diag.setLogger(this, { logLevel: logLevelFromEnv(), suppressOverrideMessage: true });
    }
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0) diag.disable();
    };
  }

  warn(message: string, ...args: unknown[]): void {
    if (message.startsWith('Received Partial Success response')) {
      try {
        this.#last = JSON.parse(String(args[0])) as PartialSuccess;
      } catch {
        this.#last = { errorMessage: String(args[0]) };
      }
      return;
    }
    this.#forward('warn', message, args);
  }

  error(message: string, ...args: unknown[]): void {
    this.#forward('error', message, args);
  }

  info(message: string, ...args: unknown[]): void {
    this.#forward('info', message, args);
  }

  debug(message: string, ...args: unknown[]): void {
    this.#forward('debug', message, args);
  }

  verbose(message: string, ...args: unknown[]): void {
    this.#forward('verbose', message, args);
  }

  #forward(level: string, message: string, args: unknown[]): void {
    const detail = args.map((a) => (a instanceof Error ? a.message : typeof a === 'string' ? a : safeJson(a))).join(' ');
    const line = `opentelemetry ${level}: ${message}${detail ? ` ${detail}` : ''}`;
    for (const listener of this.#listeners) listener(line);
  }
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** OTEL_LOG_LEVEL, as the SDK reads it; warnings and errors by default. */
function logLevelFromEnv(): DiagLogLevel {
  const level = process.env.OTEL_LOG_LEVEL?.trim().toUpperCase();
  const known = level ? (DiagLogLevel as unknown as Record<string, number>)[level] : undefined;
  return typeof known === 'number' ? known : DiagLogLevel.WARN;
}

export const partialSuccess = new PartialSuccessCapture();

// ---- google.rpc.RetryInfo ----

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

/**
 * Just enough protobuf wire decoding for google.rpc.Status, Any, RetryInfo and Duration: no package the agent
 * has ships those messages' decoders (grpc-js leaves the details blob to the caller).
 */
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
      if (shift > 63n) throw new Error('varint too long');
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
