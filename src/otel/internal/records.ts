// Detection → OTLP LogRecord and spans, serialized to protobuf Export*ServiceRequest bytes for the spool.
import path from 'node:path';
import { SpanKind, SpanStatusCode, TraceFlags, type Attributes, type HrTime } from '@opentelemetry/api';
import { SeverityNumber } from '@opentelemetry/api-logs';
import { ProtobufLogsSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import type { AncestryEntry, Detection, Severity } from '../../detection.ts';
import type { IncidentSpanPlan } from './incidents.ts';

export const DETECTION_EVENT_NAME = 'kubesentry.detection';
export const SPOOL_OVERFLOW_EVENT_NAME = 'kubesentry.export.spool_overflow';

/** Documented in docs/otel.md. The original severity is kept in kubesentry.detection.severity. */
export const SEVERITY_MAPPING: Record<Severity, { number: SeverityNumber; text: string }> = {
  critical: { number: SeverityNumber.FATAL, text: 'FATAL' },
  high: { number: SeverityNumber.ERROR, text: 'ERROR' },
  medium: { number: SeverityNumber.WARN, text: 'WARN' },
  low: { number: SeverityNumber.INFO2, text: 'INFO2' },
  info: { number: SeverityNumber.INFO, text: 'INFO' },
};

export interface Scope {
  name: string;
  version: string;
}

export function nsToHrTime(ns: bigint): HrTime {
  return [Number(ns / 1_000_000_000n), Number(ns % 1_000_000_000n)];
}

function msToHrTime(ms: number): HrTime {
  return nsToHrTime(BigInt(Math.round(ms * 1e6)));
}

/** RFC 3339 with up to nanosecond fraction → ns since epoch. */
export function parseRfc3339Ns(text: string): bigint | undefined {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/i.exec(text);
  if (!m) return undefined;
  const seconds = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(seconds)) return undefined;
  return BigInt(seconds) * 1_000_000n + BigInt((m[2] ?? '').padEnd(9, '0'));
}

export function detectionLogRecord(d: Detection, plan: IncidentSpanPlan, resource: Resource, scope: Scope): ReadableLogRecord {
  const severity = SEVERITY_MAPPING[d.severity];
  const attributes: Attributes = { ...d.attributes };
  attributes['kubesentry.detection.id'] ??= d.id;
  attributes['security_rule.name'] ??= d.rule;
  attributes['security_rule.category'] ??= d.category;
  attributes['kubesentry.detection.severity'] = d.severity;
  if (d.ancestry.length > 0) attributes['kubesentry.process.ancestry'] = d.ancestry.map(compactAncestor);
  return {
    hrTime: nsToHrTime(d.timeUnixNs),
    hrTimeObserved: msToHrTime(Date.now()),
    spanContext: { traceId: plan.traceId, spanId: plan.detectionSpanId, traceFlags: TraceFlags.SAMPLED },
    severityNumber: severity.number,
    severityText: severity.text,
    body: d.summary,
    eventName: DETECTION_EVENT_NAME,
    resource,
    instrumentationScope: scope,
    attributes,
    droppedAttributesCount: 0,
  };
}

/** "pid executable" per ancestor, the process first: readable in a log line, and greppable. */
function compactAncestor(a: AncestryEntry): string {
  return `${a.pid} ${a.executable}`;
}

// Attributes that describe where a process runs, copied onto its ancestry spans so each span stands on its own.
const PLACEMENT_KEYS = ['container.id', 'container.name', 'container.image.name', 'k8s.pod.uid', 'k8s.pod.name', 'k8s.namespace.name', 'k8s.node.name'];

export function detectionSpans(d: Detection, plan: IncidentSpanPlan, resource: Resource, scope: Scope): ReadableSpan[] {
  const detectionTime = nsToHrTime(d.timeUnixNs);
  const placement: Attributes = {};
  for (const key of PLACEMENT_KEYS) {
    const v = d.attributes[key];
    if (v !== undefined) placement[key] = v;
  }
  const spans: ReadableSpan[] = plan.newAncestry.map(({ entry, spanId, parentSpanId }) => {
    const startNs = parseRfc3339Ns(entry.start_time);
    // A process span runs from its exec to the first detection that shows it; never ends before it starts.
    const start = startNs !== undefined && startNs <= d.timeUnixNs ? nsToHrTime(startNs) : detectionTime;
    return span({
      name: `process ${path.basename(entry.executable) || entry.executable}`,
      traceId: plan.traceId,
      spanId,
      parentSpanId,
      start,
      end: detectionTime,
      attributes: {
        ...placement,
        'process.pid': entry.pid,
        'process.executable.path': entry.executable,
        'process.command_line': entry.command_line,
        'kubesentry.process.start_boottime_ns': entry.start_boottime_ns,
      },
      resource,
      scope,
    });
  });
  spans.push(
    span({
      name: d.rule,
      traceId: plan.traceId,
      spanId: plan.detectionSpanId,
      parentSpanId: plan.detectionParentSpanId,
      start: detectionTime,
      end: detectionTime,
      attributes: { ...d.attributes, 'kubesentry.detection.id': d.id, 'kubesentry.detection.severity': d.severity },
      resource,
      scope,
      error: d.severity === 'critical' || d.severity === 'high' ? d.summary : undefined,
    }),
  );
  return spans;
}

function span(s: {
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  start: HrTime;
  end: HrTime;
  attributes: Attributes;
  resource: Resource;
  scope: Scope;
  error?: string;
}): ReadableSpan {
  const context = { traceId: s.traceId, spanId: s.spanId, traceFlags: TraceFlags.SAMPLED };
  const durationNs = BigInt(s.end[0] - s.start[0]) * 1_000_000_000n + BigInt(s.end[1] - s.start[1]);
  return {
    name: s.name,
    kind: SpanKind.INTERNAL,
    spanContext: () => context,
    parentSpanContext: s.parentSpanId
      ? { traceId: s.traceId, spanId: s.parentSpanId, traceFlags: TraceFlags.SAMPLED }
      : undefined,
    startTime: s.start,
    endTime: s.end,
    status: s.error ? { code: SpanStatusCode.ERROR, message: s.error } : { code: SpanStatusCode.UNSET },
    attributes: s.attributes,
    links: [],
    events: [],
    duration: nsToHrTime(durationNs),
    ended: true,
    resource: s.resource,
    instrumentationScope: s.scope,
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  };
}

export function overflowLogRecord(
  dropped: { logs: number; traces: number; firstSpooledMs: number; lastSpooledMs: number },
  resource: Resource,
  scope: Scope,
): ReadableLogRecord {
  const first = new Date(dropped.firstSpooledMs).toISOString();
  const last = new Date(dropped.lastSpooledMs).toISOString();
  return {
    hrTime: msToHrTime(Date.now()),
    hrTimeObserved: msToHrTime(Date.now()),
    severityNumber: SeverityNumber.ERROR,
    severityText: 'ERROR',
    body: `export spool full: dropped ${dropped.logs} log records and ${dropped.traces} span batches spooled between ${first} and ${last}`,
    eventName: SPOOL_OVERFLOW_EVENT_NAME,
    resource,
    instrumentationScope: scope,
    attributes: {
      'kubesentry.spool.dropped_log_records': dropped.logs,
      'kubesentry.spool.dropped_span_batches': dropped.traces,
      'kubesentry.spool.dropped_first_spooled': first,
      'kubesentry.spool.dropped_last_spooled': last,
    },
    droppedAttributesCount: 0,
  };
}

export function serializeLogs(records: ReadableLogRecord[]): Uint8Array {
  const bytes = ProtobufLogsSerializer.serializeRequest(records);
  if (!bytes) throw new Error('log record serialization failed');
  return bytes;
}

export function serializeSpans(spans: ReadableSpan[]): Uint8Array {
  const bytes = ProtobufTraceSerializer.serializeRequest(spans);
  if (!bytes) throw new Error('span serialization failed');
  return bytes;
}
