// Detection → OpenTelemetry data model: the LogRecord the agent emits through the logs API, the spans of its
// incident trace, and the form both take in the durable spool between emission and the stock OTLP exporters.
//
// The spool holds each record as a small JSON document, not as OTLP protobuf: the exporters
// (@opentelemetry/exporter-logs-otlp-grpc, -trace-otlp-grpc) take SDK records (ReadableLogRecord, ReadableSpan) and
// serialize them with @opentelemetry/otlp-transformer themselves, so the spool must give back records, and JSON
// needs no decoder of our own. The resource and instrumentation scope are the agent's and are not spooled: a
// restarted agent sends what an earlier run spooled under its own (same service.instance.id).
import path from 'node:path';
import { SpanKind, SpanStatusCode, TraceFlags, type Attributes, type HrTime, type SpanContext } from '@opentelemetry/api';
import { SeverityNumber, type AnyValueMap, type LogRecord } from '@opentelemetry/api-logs';
import type { InstrumentationScope } from '@opentelemetry/core';
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

export interface SpoolOverflow {
  logs: number;
  traces: number;
  firstSpooledMs: number;
  lastSpooledMs: number;
}

// Attributes that describe where a process runs, copied onto its ancestry spans so each span stands on its own.
const PLACEMENT_KEYS = ['container.id', 'container.name', 'container.image.name', 'k8s.pod.uid', 'k8s.pod.name', 'k8s.namespace.name', 'k8s.node.name'];

export function hrTimeOfNs(ns: bigint): HrTime {
  return [Number(ns / 1_000_000_000n), Number(ns % 1_000_000_000n)];
}

/** RFC 3339 with up to nanosecond fraction → ns since epoch. */
export function parseRfc3339Ns(text: string): bigint | undefined {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/i.exec(text);
  if (!m) return undefined;
  const seconds = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(seconds)) return undefined;
  return BigInt(seconds) * 1_000_000n + BigInt((m[2] ?? '').padEnd(9, '0'));
}

/** The detection's LogRecord for Logger.emit(); its trace context (the detection's span) travels as spanContext. */
export function detectionLogRecord(d: Detection): LogRecord {
  const severity = SEVERITY_MAPPING[d.severity];
  const attributes: AnyValueMap = { ...d.attributes };
  attributes['kubesentry.detection.id'] ??= d.id;
  attributes['security_rule.name'] ??= d.rule;
  attributes['security_rule.category'] ??= d.category;
  attributes['kubesentry.detection.severity'] = d.severity;
  if (d.ancestry.length > 0) attributes['kubesentry.process.ancestry'] = d.ancestry.map(compactAncestor);
  return {
    eventName: DETECTION_EVENT_NAME,
    timestamp: hrTimeOfNs(d.timeUnixNs),
    severityNumber: severity.number,
    severityText: severity.text,
    body: d.summary,
    attributes,
  };
}

export function detectionSpanContext(plan: IncidentSpanPlan): SpanContext {
  return { traceId: plan.traceId, spanId: plan.detectionSpanId, traceFlags: TraceFlags.SAMPLED, isRemote: false };
}

/** The in-band report of what a full spool evicted: sent ahead of the spool, so it cannot be evicted itself. */
export function overflowLogRecord(dropped: SpoolOverflow, nowNs: bigint): SpooledLogRecord {
  const first = new Date(dropped.firstSpooledMs).toISOString();
  const last = new Date(dropped.lastSpooledMs).toISOString();
  const now = hrTimeOfNs(nowNs);
  return {
    t: now,
    o: now,
    n: SeverityNumber.ERROR,
    s: 'ERROR',
    b: `export spool full: dropped ${dropped.logs} log records and ${dropped.traces} span batches spooled between ${first} and ${last}`,
    e: SPOOL_OVERFLOW_EVENT_NAME,
    a: {
      'kubesentry.spool.dropped_log_records': dropped.logs,
      'kubesentry.spool.dropped_span_batches': dropped.traces,
      'kubesentry.spool.dropped_first_spooled': first,
      'kubesentry.spool.dropped_last_spooled': last,
    },
    d: 0,
  };
}

// ---- the spooled forms ----

/** A ReadableLogRecord less its resource and scope. Short keys: the spool holds hundreds of thousands of these. */
export interface SpooledLogRecord {
  t: HrTime;
  o: HrTime;
  n?: SeverityNumber;
  s?: string;
  b?: string;
  e?: string;
  a: Attributes;
  d: number;
  /** traceId, spanId, traceFlags */
  c?: [string, string, number];
}

interface SpooledSpan {
  name: string;
  id: string;
  parent?: string;
  start: HrTime;
  end: HrTime;
  attributes: Attributes;
  /** Set for an ERROR status. */
  error?: string;
}

/** The spans one detection adds to its incident trace: the process spans new to the incident, then its own. */
interface SpooledSpans {
  traceId: string;
  spans: SpooledSpan[];
}

export function spoolLogRecord(record: ReadableLogRecord): Uint8Array {
  const spooled: SpooledLogRecord = {
    t: record.hrTime,
    o: record.hrTimeObserved,
    n: record.severityNumber,
    s: record.severityText,
    b: typeof record.body === 'string' ? record.body : record.body === undefined ? undefined : JSON.stringify(record.body),
    e: record.eventName,
    a: record.attributes,
    d: record.droppedAttributesCount,
  };
  const sc = record.spanContext;
  if (sc) spooled.c = [sc.traceId, sc.spanId, sc.traceFlags];
  return Buffer.from(JSON.stringify(spooled));
}

export function spoolSpans(d: Detection, plan: IncidentSpanPlan): Uint8Array {
  const spans: SpooledSpan[] = [];
  const at = hrTimeOfNs(d.timeUnixNs);
  let placement: Attributes | undefined;
  for (const { entry, spanId, parentSpanId } of plan.newAncestry) {
    if (placement === undefined) {
      placement = {};
      for (const key of PLACEMENT_KEYS) if (d.attributes[key] !== undefined) placement[key] = d.attributes[key];
    }
    const startNs = parseRfc3339Ns(entry.start_time);
    spans.push({
      name: `process ${path.basename(entry.executable) || entry.executable}`,
      id: spanId,
      parent: parentSpanId,
      // A process span runs from its exec to the first detection that shows it; never ends before it starts.
      start: startNs !== undefined && startNs <= d.timeUnixNs ? hrTimeOfNs(startNs) : at,
      end: at,
      attributes: {
        ...placement,
        'process.pid': entry.pid,
        'process.executable.path': entry.executable,
        'process.command_line': entry.command_line,
        'kubesentry.process.start_boottime_ns': entry.start_boottime_ns,
      },
    });
  }
  spans.push({
    name: d.rule,
    id: plan.detectionSpanId,
    parent: plan.detectionParentSpanId,
    start: at,
    end: at,
    attributes: { ...d.attributes, 'kubesentry.detection.id': d.id, 'kubesentry.detection.severity': d.severity },
    error: d.severity === 'critical' || d.severity === 'high' ? d.summary : undefined,
  });
  const spooled: SpooledSpans = { traceId: plan.traceId, spans };
  return Buffer.from(JSON.stringify(spooled));
}

export class UnreadableSpoolRecordError extends Error {
  override name = 'UnreadableSpoolRecordError';
}

function parse(payload: Uint8Array): any {
  try {
    return JSON.parse(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8'));
  } catch (error) {
    throw new UnreadableSpoolRecordError(`spooled record is not JSON (${(error as Error).message})`);
  }
}

/** The agent's resource and scope, given back to every record read from the spool. */
export interface Origin {
  resource: Resource;
  scope: InstrumentationScope;
}

export function readableLogRecord(spooled: SpooledLogRecord, origin: Origin): ReadableLogRecord {
  return {
    hrTime: spooled.t,
    hrTimeObserved: spooled.o,
    severityNumber: spooled.n,
    severityText: spooled.s,
    body: spooled.b,
    eventName: spooled.e,
    attributes: spooled.a,
    droppedAttributesCount: spooled.d,
    spanContext: spooled.c ? { traceId: spooled.c[0], spanId: spooled.c[1], traceFlags: spooled.c[2] } : undefined,
    resource: origin.resource,
    instrumentationScope: origin.scope,
  };
}

/** Throws UnreadableSpoolRecordError for a payload this version did not write. */
export function readSpooledLogRecord(payload: Uint8Array, origin: Origin): ReadableLogRecord {
  const spooled = parse(payload) as SpooledLogRecord;
  if (!Array.isArray(spooled?.t) || !Array.isArray(spooled.o) || typeof spooled.a !== 'object') {
    throw new UnreadableSpoolRecordError('spooled record is not a log record');
  }
  return readableLogRecord(spooled, origin);
}

/** Throws UnreadableSpoolRecordError for a payload this version did not write. */
export function readSpooledSpans(payload: Uint8Array, origin: Origin): ReadableSpan[] {
  const spooled = parse(payload) as SpooledSpans;
  if (typeof spooled?.traceId !== 'string' || !Array.isArray(spooled.spans)) {
    throw new UnreadableSpoolRecordError('spooled record is not a span batch');
  }
  return spooled.spans.map((s) => readableSpan(spooled.traceId, s, origin));
}

function readableSpan(traceId: string, s: SpooledSpan, origin: Origin): ReadableSpan {
  const context: SpanContext = { traceId, spanId: s.id, traceFlags: TraceFlags.SAMPLED, isRemote: false };
  const durationNs = (BigInt(s.end[0]) - BigInt(s.start[0])) * 1_000_000_000n + BigInt(s.end[1] - s.start[1]);
  return {
    name: s.name,
    kind: SpanKind.INTERNAL,
    spanContext: () => context,
    parentSpanContext: s.parent ? { traceId, spanId: s.parent, traceFlags: TraceFlags.SAMPLED, isRemote: false } : undefined,
    startTime: s.start,
    endTime: s.end,
    duration: hrTimeOfNs(durationNs),
    status: s.error === undefined ? { code: SpanStatusCode.UNSET } : { code: SpanStatusCode.ERROR, message: s.error },
    attributes: s.attributes,
    links: [],
    events: [],
    ended: true,
    resource: origin.resource,
    instrumentationScope: origin.scope,
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  };
}

/** "pid executable" per ancestor, the process first: readable in a log line, and greppable. */
function compactAncestor(a: AncestryEntry): string {
  return `${a.pid} ${a.executable}`;
}

