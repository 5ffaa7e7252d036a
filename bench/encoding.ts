// What encoding a detection costs on the export path, per detection and as % of a core at 100 detections/s:
// the stock path (the logs API's SDK record, the spool's JSON both ways, ReadableLogRecord/ReadableSpans, the
// otlp-transformer protobuf serializers) against, with --baseline, the hand-written protobuf encoder of an older
// checkout (src/otel/internal/records.ts's DetectionEncoder, as it was before the stock exporters), in one run.
// Issue 13 keeps a hand encoder only if it saves more than 0.5% of a core at 100 detections/s.
// Run: node bench/encoding.ts [--baseline CHECKOUT] [--detections 20000]
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { ProtobufLogsSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { LoggerProvider, type LogRecordProcessor, type ReadableLogRecord } from '@opentelemetry/sdk-logs';
import type { Detection } from '../src/detection.ts';
import { IncidentTracker } from '../src/otel/internal/incidents.ts';
import {
  detectionLogRecord,
  detectionSpanContext,
  readSpooledLogRecord,
  readSpooledSpans,
  spoolLogRecord,
  spoolSpans,
} from '../src/otel/internal/records.ts';
import { syntheticDetection } from '../test/otelcol/syntheticDetections.ts';
import { reportResult } from './result.ts';

const { values } = parseArgs({ options: { baseline: { type: 'string' }, detections: { type: 'string', default: '20000' } } });
const count = Number(values.detections);
const RATE = 100;
/** Records per request, as the log sender batches them at 100/s with a 75 ms poll interval (about 8). */
const BATCH = 8;

const attributes = { 'service.name': 'kubesentry', 'service.version': '0.1.0', 'host.name': 'node-1', 'k8s.node.name': 'node-1' };
const resource = resourceFromAttributes(attributes);
const scope = { name: 'kubesentry', version: '0.1.0' };
// Several containers, so incidents see new and known ancestry as the agent does.
const detections: Detection[] = Array.from({ length: count }, (_, i) => syntheticDetection({ containerId: `c${i % 50}`.padEnd(64, '0') }));

function cpuMicros(work: () => void): number {
  const before = process.cpuUsage();
  work();
  const used = process.cpuUsage(before);
  return used.user + used.system;
}

function stockPath(): void {
  const spooledLogs: Uint8Array[] = [];
  const processor: LogRecordProcessor = {
    onEmit: (r) => void spooledLogs.push(spoolLogRecord(r)),
    forceFlush: async () => {},
    shutdown: async () => {},
  };
  const logger = new LoggerProvider({ resource, processors: [processor], logRecordLimits: { attributeCountLimit: 1024 } }).getLogger(scope.name, scope.version);
  const incidents = new IncidentTracker(300_000);
  const spooledSpans: Uint8Array[] = [];
  for (const d of detections) {
    const plan = incidents.plan(d, 'node-1');
    logger.emit({ ...detectionLogRecord(d), context: trace.setSpanContext(ROOT_CONTEXT, detectionSpanContext(plan)) });
    spooledSpans.push(spoolSpans(d, plan));
  }
  const origin = { resource, scope };
  for (let i = 0; i < spooledLogs.length; i += BATCH) {
    const records: ReadableLogRecord[] = spooledLogs.slice(i, i + BATCH).map((p) => readSpooledLogRecord(p, origin));
    ProtobufLogsSerializer.serializeRequest(records);
  }
  // Spans leave once a second: 100 detections' worth per request.
  for (let i = 0; i < spooledSpans.length; i += RATE) {
    ProtobufTraceSerializer.serializeRequest(spooledSpans.slice(i, i + RATE).flatMap((p) => readSpooledSpans(p, origin)));
  }
}

async function handPath(checkout: string): Promise<() => void> {
  const { DetectionEncoder } = await import(path.join(path.resolve(checkout), 'src/otel/internal/records.ts'));
  const { IncidentTracker: BaselineTracker } = await import(path.join(path.resolve(checkout), 'src/otel/internal/incidents.ts'));
  return () => {
    const encoder = new DetectionEncoder(attributes, scope);
    const incidents = new BaselineTracker(300_000);
    for (const d of detections) {
      const plan = incidents.plan(d, 'node-1');
      encoder.logRequest(d, plan, BigInt(Date.now()) * 1_000_000n);
      encoder.spanRequest(d, plan);
    }
  };
}

const paths: { name: string; run: () => void }[] = [{ name: 'stock (SDK + spool JSON + otlp-transformer)', run: stockPath }];
if (values.baseline) paths.push({ name: `hand encoder (${values.baseline})`, run: await handPath(values.baseline) });

// Warm up each (V8 tiers up), then alternate measured rounds.
for (const p of paths) p.run();
const micros = new Map<string, number[]>(paths.map((p) => [p.name, []]));
for (let round = 0; round < 5; round++) for (const p of paths) micros.get(p.name)!.push(cpuMicros(p.run) / count);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const perDetection = paths.map((p) => median(micros.get(p.name)!));
paths.forEach((p, i) => {
  const percent = (perDetection[i] * RATE) / 1e4;
  console.log(`${p.name}: ${perDetection[i].toFixed(1)} µs CPU per detection (log record + spans), ${percent.toFixed(2)}% of a core at ${RATE}/s`);
});
reportResult('encoding.stock_us', perDetection[0], 'us/detection');
if (paths.length > 1) {
  const savedPercent = ((perDetection[0] - perDetection[1]) * RATE) / 1e4;
  console.log(`the hand encoder saves ${savedPercent.toFixed(2)}% of a core at ${RATE} detections/s (x${(perDetection[0] / perDetection[1]).toFixed(1)} per detection)`);
  reportResult('encoding.hand_us', perDetection[1], 'us/detection');
  reportResult('encoding.hand_saves', savedPercent, '%core', { op: '<=', value: 0.5 });
}
