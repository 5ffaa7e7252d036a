// Retry policy against server answers the real Collector only gives under memory pressure or misconfiguration
// (RESOURCE_EXHAUSTED with RetryInfo, non-retryable codes). A small gRPC server stands in for those answers only;
// everything else is tested against the real Collector elsewhere.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import grpc from '@grpc/grpc-js';
import { createTelemetry } from '../src/otel/index.ts';
import { retryDelayMs } from '../src/otel/internal/OtlpSignalExporter.ts';
import { SignalSpools, SpoolKind } from '../src/otel/internal/Spool.ts';
import { syntheticDetection } from './otelcol/syntheticDetections.ts';

// --- protobuf encoding of google.rpc.Status{code, message, details:[Any{RetryInfo{retry_delay}}]} ---
function varint(n: number): Buffer {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return Buffer.from(out);
}
const field = (no: number, bytes: Buffer): Buffer => Buffer.concat([varint((no << 3) | 2), varint(bytes.length), bytes]);
const intField = (no: number, value: number): Buffer => Buffer.concat([varint(no << 3), varint(value)]);

function statusWithRetryInfo(code: number, delayMs: number): Buffer {
  const duration = Buffer.concat([intField(1, Math.floor(delayMs / 1000)), intField(2, (delayMs % 1000) * 1e6)]);
  const retryInfo = field(1, duration);
  const any = Buffer.concat([field(1, Buffer.from('type.googleapis.com/google.rpc.RetryInfo')), field(2, retryInfo)]);
  return Buffer.concat([intField(1, code), field(2, Buffer.from('memory limit reached')), field(3, any)]);
}

/** ExportLogsServiceResponse{partial_success: ExportLogsPartialSuccess{rejected_log_records, error_message}}. */
function partialSuccessResponse(rejected: number, message: string): Buffer {
  return field(1, Buffer.concat([intField(1, rejected), field(2, Buffer.from(message))]));
}

type Answer = { code: grpc.status; retryDelayMs?: number } | { rejected: number; message: string } | 'ok';

async function standInCollector(logAnswers: Answer[]): Promise<{ endpoint: string; calls: number[]; server: grpc.Server }> {
  const calls: number[] = [];
  const server = new grpc.Server();
  const method = (answers: Answer[]) => ({
    path: '',
    requestStream: false,
    responseStream: false,
    requestSerialize: (b: Buffer) => b,
    requestDeserialize: (b: Buffer) => b,
    responseSerialize: (b: Buffer) => b,
    responseDeserialize: (b: Buffer) => b,
  }) as grpc.MethodDefinition<Buffer, Buffer>;
  const handler = (answers: Answer[], record: boolean): grpc.handleUnaryCall<Buffer, Buffer> => (_call, callback) => {
    if (record) calls.push(Date.now());
    const answer = answers.shift() ?? 'ok';
    if (answer === 'ok') return callback(null, Buffer.alloc(0));
    if ('rejected' in answer) return callback(null, partialSuccessResponse(answer.rejected, answer.message));
    const metadata = new grpc.Metadata();
    if (answer.retryDelayMs !== undefined) metadata.set('grpc-status-details-bin', statusWithRetryInfo(answer.code, answer.retryDelayMs));
    callback({ code: answer.code, details: 'stand-in refusal', metadata });
  };
  server.addService(
    { Export: { ...method([]), path: '/opentelemetry.proto.collector.logs.v1.LogsService/Export' } },
    { Export: handler(logAnswers, true) },
  );
  server.addService(
    { Export: { ...method([]), path: '/opentelemetry.proto.collector.trace.v1.TraceService/Export' } },
    { Export: handler([], false) },
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  return { endpoint: `http://127.0.0.1:${port}`, calls, server };
}

describe('export retry policy', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  function telemetryFor(endpoint: string, stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubesentry-otel-retry-'))) {
    const t = createTelemetry({
      endpoint,
      stateDir,
      metrics: { otlp: false },
      // Tiny own backoff, so a delay longer than it can only come from the server's hint.
      export: { initialBackoffMs: 10, maxBackoffMs: 20 },
      env: {},
    });
    cleanups.push(() => t.shutdown(1));
    return t;
  }

  test('RetryInfo is decoded from grpc-status-details-bin', () => {
    assert.equal(retryDelayMs(statusWithRetryInfo(8, 2500)), 2500);
    assert.equal(retryDelayMs(Buffer.from([0xff])), undefined, 'garbage is ignored');
    assert.equal(retryDelayMs(undefined), undefined);
  });

  test('RESOURCE_EXHAUSTED with RetryInfo is retried, not before the server asked', async () => {
    const server = await standInCollector([{ code: grpc.status.RESOURCE_EXHAUSTED, retryDelayMs: 1200 }, 'ok']);
    cleanups.push(() => server.server.forceShutdown());
    const t = telemetryFor(server.endpoint);
    t.emit(syntheticDetection());
    await t.forceFlush(20_000);
    assert.equal(server.calls.length, 2);
    assert.ok(server.calls[1] - server.calls[0] >= 1100, `retried after ${server.calls[1] - server.calls[0]} ms, hint was 1200 ms`);
    assert.deepEqual(t.status().delivered.logs, 1);
    assert.deepEqual(t.status().dropped, {});
  });

  test('UNAVAILABLE is retried until accepted', async () => {
    const unavailable = { code: grpc.status.UNAVAILABLE };
    const server = await standInCollector([unavailable, unavailable, unavailable, 'ok']);
    cleanups.push(() => server.server.forceShutdown());
    const t = telemetryFor(server.endpoint);
    t.emit(syntheticDetection());
    await t.forceFlush(20_000);
    assert.equal(server.calls.length, 4);
    assert.equal(t.status().delivered.logs, 1);
  });

  test('RESOURCE_EXHAUSTED without RetryInfo and INVALID_ARGUMENT are not retried, and the loss is counted', async () => {
    const server = await standInCollector([{ code: grpc.status.RESOURCE_EXHAUSTED }, { code: grpc.status.INVALID_ARGUMENT }]);
    cleanups.push(() => server.server.forceShutdown());
    const t = telemetryFor(server.endpoint);
    t.emit(syntheticDetection());
    t.emit(syntheticDetection());
    t.emit(syntheticDetection());
    await t.forceFlush(20_000);
    const status = t.status();
    assert.equal(status.dropped.non_retryable + status.delivered.logs, 3, 'every log record either delivered or counted as dropped');
    assert.ok(status.dropped.non_retryable >= 1);
    assert.ok(server.calls.length <= 2, 'a refused batch is not sent again');
    assert.match(status.lastError ?? '', /^(RESOURCE_EXHAUSTED|INVALID_ARGUMENT): stand-in refusal/);
  });

  test('items the Collector refuses in a partial success are counted as dropped, with its message', async () => {
    const server = await standInCollector([{ rejected: 2, message: 'two records had invalid attributes' }]);
    cleanups.push(() => server.server.forceShutdown());
    const diagnostics: string[] = [];
    const t = createTelemetry({
      endpoint: server.endpoint,
      stateDir: fs.mkdtempSync(path.join(os.tmpdir(), 'kubesentry-otel-retry-')),
      metrics: { otlp: false },
      onDiagnostic: (line) => diagnostics.push(line),
      env: {},
    });
    cleanups.push(() => t.shutdown(1));
    t.emit(syntheticDetection());
    t.emit(syntheticDetection());
    t.emit(syntheticDetection());
    await t.forceFlush(20_000);
    assert.equal(t.status().dropped.rejected, 2);
    assert.ok(diagnostics.some((d) => d.includes('rejected 2 logs items: two records had invalid attributes')), diagnostics.join('\n'));
  });

  test('a spooled item this version cannot read (an older spool format) is dropped and counted, not sent or retried forever', async () => {
    const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubesentry-otel-retry-'));
    // What an agent before the stock exporters spooled: raw ExportLogsServiceRequest protobuf.
    const legacy = new SignalSpools(path.join(stateDir, 'spool'), { maxBytes: 1 << 20, fsync: 'never', fsyncIntervalMs: 1000, onEvict: () => {} });
    legacy.append([{ kind: SpoolKind.Logs, payload: Buffer.from([0x0a, 0x03, 0x0a, 0x01, 0x00]) }]);
    legacy.close();
    const server = await standInCollector([]);
    cleanups.push(() => server.server.forceShutdown());
    const t = telemetryFor(server.endpoint, stateDir);
    t.emit(syntheticDetection());
    await t.forceFlush(20_000);
    assert.equal(t.status().dropped.unreadable, 1);
    assert.equal(t.status().delivered.logs, 1, 'the readable record behind it is delivered');
    assert.equal(t.status().pending.logs, 0);
  });
});
