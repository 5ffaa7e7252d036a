// The agent writes OTLP protobuf itself (src/otel/internal/records.ts). Reference: @opentelemetry/otlp-transformer's
// serializer, fed the SDK records the data model prescribes for the same detection; every byte must match.
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, test } from 'node:test';
import { SpanKind, SpanStatusCode, TraceFlags, type Attributes, type HrTime } from '@opentelemetry/api';
import { SeverityNumber } from '@opentelemetry/api-logs';
import { ProtobufLogsSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import type { Detection } from '../src/detection.ts';
import { IncidentTracker, type IncidentSpanPlan } from '../src/otel/internal/incidents.ts';
import { DetectionEncoder, parseRfc3339Ns, SEVERITY_MAPPING, type Scope } from '../src/otel/internal/records.ts';
import { syntheticDetection } from './otelcol/syntheticDetections.ts';

const RESOURCE_ATTRIBUTES = {
  'service.name': 'kubesentry',
  'service.version': '0.1.0',
  'service.instance.id': '0b5e8c3e-9a41-4c59-8f0e-3d2a1b4c5d6e',
  'host.name': 'node-1',
  'k8s.cluster.name': 'prod',
};
const SCOPE: Scope = { name: 'kubesentry', version: '0.1.0' };
const resource = resourceFromAttributes(RESOURCE_ATTRIBUTES);

const hr = (ns: bigint): HrTime => [Number(ns / 1_000_000_000n), Number(ns % 1_000_000_000n)];
const PLACEMENT_KEYS = ['container.id', 'container.name', 'container.image.name', 'k8s.pod.uid', 'k8s.pod.name', 'k8s.namespace.name', 'k8s.node.name'];

function referenceLog(d: Detection, plan: IncidentSpanPlan, observedNs: bigint): ReadableLogRecord {
  const attributes: Attributes = { ...d.attributes };
  attributes['kubesentry.detection.id'] ??= d.id;
  attributes['security_rule.name'] ??= d.rule;
  attributes['security_rule.category'] ??= d.category;
  attributes['kubesentry.detection.severity'] = d.severity;
  if (d.ancestry.length > 0) attributes['kubesentry.process.ancestry'] = d.ancestry.map((a) => `${a.pid} ${a.executable}`);
  return {
    hrTime: hr(d.timeUnixNs),
    hrTimeObserved: hr(observedNs),
    spanContext: { traceId: plan.traceId, spanId: plan.detectionSpanId, traceFlags: TraceFlags.SAMPLED },
    severityNumber: SEVERITY_MAPPING[d.severity].number,
    severityText: SEVERITY_MAPPING[d.severity].text,
    body: d.summary,
    eventName: 'kubesentry.detection',
    resource,
    instrumentationScope: SCOPE,
    attributes,
    droppedAttributesCount: 0,
  };
}

function referenceSpan(s: { name: string; traceId: string; spanId: string; parentSpanId?: string; start: bigint; end: bigint; attributes: Attributes; error?: string }): ReadableSpan {
  const context = { traceId: s.traceId, spanId: s.spanId, traceFlags: TraceFlags.SAMPLED };
  return {
    name: s.name,
    kind: SpanKind.INTERNAL,
    spanContext: () => context,
    parentSpanContext: s.parentSpanId ? { traceId: s.traceId, spanId: s.parentSpanId, traceFlags: TraceFlags.SAMPLED } : undefined,
    startTime: hr(s.start),
    endTime: hr(s.end),
    status: s.error ? { code: SpanStatusCode.ERROR, message: s.error } : { code: SpanStatusCode.UNSET },
    attributes: s.attributes,
    links: [],
    events: [],
    duration: hr(s.end - s.start),
    ended: true,
    resource,
    instrumentationScope: SCOPE,
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  };
}

function referenceSpans(d: Detection, plan: IncidentSpanPlan): ReadableSpan[] {
  const placement: Attributes = {};
  for (const key of PLACEMENT_KEYS) if (d.attributes[key] !== undefined) placement[key] = d.attributes[key];
  const spans = plan.newAncestry.map(({ entry, spanId, parentSpanId }) => {
    const startNs = parseRfc3339Ns(entry.start_time);
    return referenceSpan({
      name: `process ${path.basename(entry.executable) || entry.executable}`,
      traceId: plan.traceId,
      spanId,
      parentSpanId,
      start: startNs !== undefined && startNs <= d.timeUnixNs ? startNs : d.timeUnixNs,
      end: d.timeUnixNs,
      attributes: {
        ...placement,
        'process.pid': entry.pid,
        'process.executable.path': entry.executable,
        'process.command_line': entry.command_line,
        'kubesentry.process.start_boottime_ns': entry.start_boottime_ns,
      },
    });
  });
  spans.push(
    referenceSpan({
      name: d.rule,
      traceId: plan.traceId,
      spanId: plan.detectionSpanId,
      parentSpanId: plan.detectionParentSpanId,
      start: d.timeUnixNs,
      end: d.timeUnixNs,
      attributes: { ...d.attributes, 'kubesentry.detection.id': d.id, 'kubesentry.detection.severity': d.severity },
      error: d.severity === 'critical' || d.severity === 'high' ? d.summary : undefined,
    }),
  );
  return spans;
}

function assertSameBytes(actual: Uint8Array, expected: Uint8Array | undefined): void {
  assert.ok(expected);
  assert.equal(Buffer.from(actual).toString('hex'), Buffer.from(expected).toString('hex'));
}

describe('OTLP encoding of detections', () => {
  const encoder = new DetectionEncoder(RESOURCE_ATTRIBUTES, SCOPE);
  const observedNs = 1_764_000_000_123_456_789n;

  const cases: [string, () => Detection][] = [
    ['a detection with its process ancestry', () => syntheticDetection()],
    ['a medium-severity detection without ancestry or detection id attribute', () => {
      const d = syntheticDetection({ severity: 'medium' });
      delete d.attributes['kubesentry.detection.id'];
      delete d.attributes['security_rule.name'];
      return { ...d, ancestry: [] };
    }],
    ['non-ASCII text, long values, doubles, negatives, booleans and arrays', () => {
      const d = syntheticDetection({ severity: 'high' });
      d.summary = `prozess „xmrig" in container ✓ ${'x'.repeat(400)}`;
      d.attributes['process.command_line'] = `/usr/bin/xmrig ${'--flag '.repeat(50)}`;
      d.attributes['kubesentry.test.ratio'] = 0.25;
      d.attributes['kubesentry.test.negative'] = -42;
      d.attributes['kubesentry.test.flag'] = true;
      d.attributes['kubesentry.test.list'] = ['ä', 'b'];
      d.ancestry[0].command_line = 'ü'.repeat(200);
      return d;
    }],
  ];
  for (const [name, make] of cases) {
    test(`${name}: the log request is byte-identical to the reference`, () => {
      const d = make();
      const plan = new IncidentTracker(60_000).plan(d, 'node-1');
      assertSameBytes(encoder.logRequest(d, plan, observedNs), ProtobufLogsSerializer.serializeRequest([referenceLog(d, plan, observedNs)]));
    });
    test(`${name}: the span request is byte-identical to the reference`, () => {
      const d = make();
      const plan = new IncidentTracker(60_000).plan(d, 'node-1');
      assertSameBytes(encoder.spanRequest(d, plan), ProtobufTraceSerializer.serializeRequest(referenceSpans(d, plan)));
    });
  }

  test('a later detection of the same incident carries only its own span', () => {
    const incidents = new IncidentTracker(60_000);
    const first = syntheticDetection();
    incidents.plan(first, 'node-1');
    const second = syntheticDetection();
    const plan = incidents.plan(second, 'node-1');
    assert.equal(plan.newAncestry.length, 0);
    assertSameBytes(encoder.spanRequest(second, plan), ProtobufTraceSerializer.serializeRequest(referenceSpans(second, plan)));
  });

  test('the spool-overflow report is byte-identical to the reference', () => {
    const dropped = { logs: 12, traces: 7, firstSpooledMs: 1_764_000_000_000, lastSpooledMs: 1_764_000_060_000 };
    const first = new Date(dropped.firstSpooledMs).toISOString();
    const last = new Date(dropped.lastSpooledMs).toISOString();
    const reference: ReadableLogRecord = {
      hrTime: hr(observedNs),
      hrTimeObserved: hr(observedNs),
      severityNumber: SeverityNumber.ERROR,
      severityText: 'ERROR',
      body: `export spool full: dropped 12 log records and 7 span batches spooled between ${first} and ${last}`,
      eventName: 'kubesentry.export.spool_overflow',
      resource,
      instrumentationScope: SCOPE,
      attributes: {
        'kubesentry.spool.dropped_log_records': 12,
        'kubesentry.spool.dropped_span_batches': 7,
        'kubesentry.spool.dropped_first_spooled': first,
        'kubesentry.spool.dropped_last_spooled': last,
      },
      droppedAttributesCount: 0,
    };
    assertSameBytes(encoder.overflowLogRequest(dropped, observedNs), ProtobufLogsSerializer.serializeRequest([reference]));
  });
});
