// The spool's JSON form of log records and spans: what the stock exporters serialize from it must be what they
// would have serialized from the SDK's own records, and anything else in a spool is refused, not half-sent.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { JsonLogsSerializer, JsonTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { LoggerProvider, type LogRecordProcessor, type ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { IncidentTracker } from '../src/otel/internal/incidents.ts';
import {
  DETECTION_EVENT_NAME,
  detectionLogRecord,
  detectionSpanContext,
  readSpooledLogRecord,
  readSpooledSpans,
  spoolLogRecord,
  spoolSpans,
  UnreadableSpoolRecordError,
} from '../src/otel/internal/records.ts';
import { syntheticDetection } from './otelcol/syntheticDetections.ts';

const resource = resourceFromAttributes({ 'service.name': 'kubesentry', 'host.name': 'node-1' });
const scope = { name: 'kubesentry', version: '0.1.0' };
const origin = { resource, scope };

/** Emits through a real LoggerProvider and returns the SDK's own record. */
function emitted(d = syntheticDetection()): { record: ReadableLogRecord; plan: ReturnType<IncidentTracker['plan']> } {
  const seen: ReadableLogRecord[] = [];
  const processor: LogRecordProcessor = {
    onEmit: (r) => void seen.push(r),
    forceFlush: async () => {},
    shutdown: async () => {},
  };
  const plan = new IncidentTracker(60_000).plan(d, 'node-1');
  const provider = new LoggerProvider({ resource, processors: [processor] });
  provider.getLogger(scope.name, scope.version).emit({
    ...detectionLogRecord(d),
    context: trace.setSpanContext(ROOT_CONTEXT, detectionSpanContext(plan)),
  });
  return { record: seen[0], plan };
}

const json = (bytes: Uint8Array | undefined): unknown => JSON.parse(Buffer.from(bytes!).toString('utf8'));

describe('spooled records', () => {
  test('a log record read back from the spool serializes exactly as the SDK record it was spooled from', () => {
    const { record, plan } = emitted();
    const back = readSpooledLogRecord(spoolLogRecord(record), origin);
    assert.deepEqual(json(JsonLogsSerializer.serializeRequest([back])), json(JsonLogsSerializer.serializeRequest([record])));
    const otlp = json(JsonLogsSerializer.serializeRequest([back])) as any;
    const lr = otlp.resourceLogs[0].scopeLogs[0].logRecords[0];
    assert.equal(lr.eventName, DETECTION_EVENT_NAME);
    assert.equal(lr.traceId, plan.traceId);
    assert.equal(lr.spanId, plan.detectionSpanId);
  });

  test('nanosecond event times survive the spool', () => {
    const d = syntheticDetection({ timeUnixNs: 1_764_000_000_123_456_789n });
    const { record } = emitted(d);
    const otlp = json(JsonLogsSerializer.serializeRequest([readSpooledLogRecord(spoolLogRecord(record), origin)])) as any;
    assert.equal(otlp.resourceLogs[0].scopeLogs[0].logRecords[0].timeUnixNano, '1764000000123456789');
  });

  test('a detection span batch reads back as process spans parented up to the init, then the detection span', () => {
    const d = syntheticDetection();
    const plan = new IncidentTracker(60_000).plan(d, 'node-1');
    const spans = readSpooledSpans(spoolSpans(d, plan), origin);
    assert.equal(spans.length, d.ancestry.length + 1);
    const otlp = json(JsonTraceSerializer.serializeRequest(spans)) as any;
    const out = otlp.resourceSpans[0].scopeSpans[0].spans;
    assert.equal(out.at(-1).name, d.rule);
    assert.equal(out.at(-1).parentSpanId, out[0].spanId, 'the detection hangs under its process');
    assert.equal(out.at(-1).status.code, 2, 'critical is an ERROR status');
    assert.equal(out.at(-2).parentSpanId, undefined, 'the init is the root');
  });

  test('what an older agent spooled (raw protobuf) and arbitrary bytes are refused as unreadable', () => {
    for (const payload of [Buffer.from([0x0a, 0x03, 0x0a, 0x01, 0x00]), Buffer.from('{"t":1}'), Buffer.from('null')]) {
      assert.throws(() => readSpooledLogRecord(payload, origin), UnreadableSpoolRecordError);
      assert.throws(() => readSpooledSpans(payload, origin), UnreadableSpoolRecordError);
    }
  });
});
