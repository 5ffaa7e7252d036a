// Detection → OTLP LogRecord and spans, written straight to protobuf Export*ServiceRequest bytes for the spool.
//
// The mapping is the OpenTelemetry data model (docs/otel.md); test/otel-encoding.test.ts checks that every byte is what
// @opentelemetry/otlp-transformer writes for the same record. We encode ourselves because that serializer wants SDK
// objects (a ReadableLogRecord, ReadableSpans) built per detection, and sizes and writes the resource and scope again
// for each one: together a third of the agent's export CPU (docs/benchmarks.md). Here the resource and scope are
// encoded once, and each request is written in one pass from the detection.
import path from 'node:path';
import { SeverityNumber } from '@opentelemetry/api-logs';
import type { AncestryEntry, AttributeValue, Detection, Severity } from '../../detection.ts';
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

export interface SpoolOverflow {
  logs: number;
  traces: number;
  firstSpooledMs: number;
  lastSpooledMs: number;
}

type Attributes = Record<string, AttributeValue>;

/** RFC 3339 with up to nanosecond fraction → ns since epoch. */
export function parseRfc3339Ns(text: string): bigint | undefined {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/i.exec(text);
  if (!m) return undefined;
  const seconds = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(seconds)) return undefined;
  return BigInt(seconds) * 1_000_000n + BigInt((m[2] ?? '').padEnd(9, '0'));
}

// Attributes that describe where a process runs, copied onto its ancestry spans so each span stands on its own.
const PLACEMENT_KEYS = ['container.id', 'container.name', 'container.image.name', 'k8s.pod.uid', 'k8s.pod.name', 'k8s.namespace.name', 'k8s.node.name'];

// Protobuf field numbers and enum values of opentelemetry-proto (collector/{logs,trace}/v1, common/v1, resource/v1).
const WIRE = { VARINT: 0, I64: 1, LEN: 2, I32: 5 } as const;
const TRACE_FLAGS_SAMPLED = 1;
/** Span.flags: the W3C trace flags, and "we know whether the parent is remote" (it is not). */
const SPAN_FLAGS = TRACE_FLAGS_SAMPLED | 0x100;
const SPAN_KIND_INTERNAL = 1;
const STATUS_UNSET = 0;
const STATUS_ERROR = 2;
/** Up to this many UTF-16 units a string is written by a JS loop; longer ones by Buffer's native copy. */
const SHORT_STRING = 24;

export class DetectionEncoder {
  /** Field 1 of ResourceLogs and of ResourceSpans (the same number in both). */
  readonly #resource: Uint8Array;
  /** Field 1 of ScopeLogs and of ScopeSpans. */
  readonly #scope: Uint8Array;
  readonly #w = new ProtobufWriter();

  constructor(resourceAttributes: Attributes, scope: Scope) {
    const w = this.#w;
    w.reset();
    const resource = w.begin(1);
    for (const key in resourceAttributes) w.keyValue(1, key, resourceAttributes[key]);
    w.varintField(2, 0); // dropped_attributes_count
    w.end(resource);
    this.#resource = w.finish();
    w.reset();
    const scopeField = w.begin(1);
    w.stringField(1, scope.name);
    if (scope.version) w.stringField(2, scope.version);
    w.end(scopeField);
    this.#scope = w.finish();
  }

  /** An ExportLogsServiceRequest holding the detection's LogRecord. */
  logRequest(d: Detection, plan: IncidentSpanPlan, observedUnixNs: bigint): Uint8Array {
    const severity = SEVERITY_MAPPING[d.severity];
    const w = this.#w;
    const record = this.#beginLogRecord(d.timeUnixNs, severity.number, severity.text, d.summary);
    const defaults: Attributes = {
      'kubesentry.detection.id': d.id,
      'security_rule.name': d.rule,
      'security_rule.category': d.category,
    };
    const overrides: Attributes = { 'kubesentry.detection.severity': d.severity };
    if (d.ancestry.length > 0) overrides['kubesentry.process.ancestry'] = d.ancestry.map(compactAncestor);
    this.#detectionAttributes(6, d.attributes, overrides, defaults);
    w.varintField(7, 0); // dropped_attributes_count
    w.fixed32Field(8, TRACE_FLAGS_SAMPLED);
    w.hexField(9, plan.traceId);
    w.hexField(10, plan.detectionSpanId);
    w.fixed64Field(11, observedUnixNs);
    w.stringField(12, DETECTION_EVENT_NAME);
    w.end(record);
    return this.#finish();
  }

  /** An ExportTraceServiceRequest: the process spans new to this incident, then the detection's own span. */
  spanRequest(d: Detection, plan: IncidentSpanPlan): Uint8Array {
    const w = this.#begin();
    let placement: Attributes | undefined;
    for (const { entry, spanId, parentSpanId } of plan.newAncestry) {
      if (placement === undefined) {
        placement = {};
        for (const key of PLACEMENT_KEYS) if (d.attributes[key] !== undefined) placement[key] = d.attributes[key];
      }
      const startNs = parseRfc3339Ns(entry.start_time);
      const span = this.#beginSpan(plan.traceId, spanId, parentSpanId, `process ${path.basename(entry.executable) || entry.executable}`);
      // A process span runs from its exec to the first detection that shows it; never ends before it starts.
      w.fixed64Field(7, startNs !== undefined && startNs <= d.timeUnixNs ? startNs : d.timeUnixNs);
      w.fixed64Field(8, d.timeUnixNs);
      for (const key in placement) w.keyValue(9, key, placement[key]);
      w.keyValue(9, 'process.pid', entry.pid);
      w.keyValue(9, 'process.executable.path', entry.executable);
      w.keyValue(9, 'process.command_line', entry.command_line);
      w.keyValue(9, 'kubesentry.process.start_boottime_ns', entry.start_boottime_ns);
      this.#endSpan(span, undefined);
    }
    const span = this.#beginSpan(plan.traceId, plan.detectionSpanId, plan.detectionParentSpanId, d.rule);
    w.fixed64Field(7, d.timeUnixNs);
    w.fixed64Field(8, d.timeUnixNs);
    this.#detectionAttributes(9, d.attributes, { 'kubesentry.detection.id': d.id, 'kubesentry.detection.severity': d.severity });
    this.#endSpan(span, d.severity === 'critical' || d.severity === 'high' ? d.summary : undefined);
    return this.#finish();
  }

  /** An ExportLogsServiceRequest saying how many spooled items a full spool evicted, and from when. */
  overflowLogRequest(dropped: SpoolOverflow, nowUnixNs: bigint): Uint8Array {
    const first = new Date(dropped.firstSpooledMs).toISOString();
    const last = new Date(dropped.lastSpooledMs).toISOString();
    const w = this.#w;
    const record = this.#beginLogRecord(
      nowUnixNs,
      SeverityNumber.ERROR,
      'ERROR',
      `export spool full: dropped ${dropped.logs} log records and ${dropped.traces} span batches spooled between ${first} and ${last}`,
    );
    w.keyValue(6, 'kubesentry.spool.dropped_log_records', dropped.logs);
    w.keyValue(6, 'kubesentry.spool.dropped_span_batches', dropped.traces);
    w.keyValue(6, 'kubesentry.spool.dropped_first_spooled', first);
    w.keyValue(6, 'kubesentry.spool.dropped_last_spooled', last);
    w.varintField(7, 0);
    w.fixed64Field(11, nowUnixNs);
    w.stringField(12, SPOOL_OVERFLOW_EVENT_NAME);
    w.end(record);
    return this.#finish();
  }

  // Export*ServiceRequest{1: Resource*{1: resource, 2: Scope*{1: scope, 2: record or span...}}}: the logs and
  // trace messages share these field numbers, so one frame serves both.
  #outer = 0;
  #inner = 0;

  #begin(): ProtobufWriter {
    const w = this.#w;
    w.reset();
    this.#outer = w.begin(1);
    w.raw(this.#resource);
    this.#inner = w.begin(2);
    w.raw(this.#scope);
    return w;
  }

  #finish(): Uint8Array {
    this.#w.end(this.#inner);
    this.#w.end(this.#outer);
    return this.#w.finish();
  }

  /** Opens the request and its LogRecord, up to the body; returns the record for end(). */
  #beginLogRecord(timeUnixNs: bigint, severityNumber: SeverityNumber, severityText: string, body: string): number {
    const w = this.#begin();
    const record = w.begin(2);
    w.fixed64Field(1, timeUnixNs);
    w.varintField(2, severityNumber);
    w.stringField(3, severityText);
    const bodyField = w.begin(5);
    w.stringField(1, body);
    w.end(bodyField);
    return record;
  }

  /**
   * The detection's attributes in their order, with overrides replacing a value where the key exists; defaults fill
   * keys the detection has no value for. Keys the detection lacks follow: defaults first, then overrides.
   */
  #detectionAttributes(field: number, own: Attributes, overrides: Attributes, defaults: Attributes = {}): void {
    const w = this.#w;
    for (const key in own) w.keyValue(field, key, key in overrides ? overrides[key] : own[key] ?? defaults[key]);
    for (const key in defaults) if (!(key in own)) w.keyValue(field, key, defaults[key]);
    for (const key in overrides) if (!(key in own)) w.keyValue(field, key, overrides[key]);
  }

  #beginSpan(traceId: string, spanId: string, parentSpanId: string | undefined, name: string): number {
    const w = this.#w;
    const span = w.begin(2);
    w.hexField(1, traceId);
    w.hexField(2, spanId);
    if (parentSpanId) w.hexField(4, parentSpanId);
    w.stringField(5, name);
    w.varintField(6, SPAN_KIND_INTERNAL);
    return span;
  }

  #endSpan(span: number, errorMessage: string | undefined): void {
    const w = this.#w;
    w.varintField(10, 0); // dropped_attributes_count
    w.varintField(12, 0); // dropped_events_count
    w.varintField(14, 0); // dropped_links_count
    const status = w.begin(15);
    if (errorMessage) w.stringField(2, errorMessage);
    w.varintField(3, errorMessage ? STATUS_ERROR : STATUS_UNSET);
    w.end(status);
    w.fixed32Field(16, SPAN_FLAGS);
    w.end(span);
  }
}

/** "pid executable" per ancestor, the process first: readable in a log line, and greppable. */
function compactAncestor(a: AncestryEntry): string {
  return `${a.pid} ${a.executable}`;
}

/**
 * Protobuf wire format into one reused buffer. A length-delimited field reserves one length byte and, when the
 * content turns out longer than 127 bytes, moves it right to fit the longer varint: rarer and cheaper than sizing
 * everything first.
 */
class ProtobufWriter {
  #buf = Buffer.allocUnsafeSlow(16 * 1024);
  #pos = 0;

  reset(): void {
    this.#pos = 0;
  }

  finish(): Uint8Array {
    // A plain Uint8Array copy: Buffer#slice would return a view, and Uint8Array#slice on a Buffer builds one slowly.
    return new Uint8Array(this.#buf.buffer, this.#buf.byteOffset, this.#pos).slice();
  }

  raw(bytes: Uint8Array): void {
    this.#ensure(bytes.length);
    this.#buf.set(bytes, this.#pos);
    this.#pos += bytes.length;
  }

  /** Opens a length-delimited field; returns the position to pass to end(). */
  begin(field: number): number {
    this.#tag(field, WIRE.LEN);
    this.#ensure(1);
    return this.#pos++;
  }

  end(lengthAt: number): void {
    const length = this.#pos - lengthAt - 1;
    if (length < 0x80) {
      this.#buf[lengthAt] = length;
      return;
    }
    const extra = varintSize(length) - 1;
    this.#ensure(extra);
    this.#buf.copyWithin(lengthAt + 1 + extra, lengthAt + 1, this.#pos);
    this.#pos += extra;
    let at = lengthAt;
    let v = length;
    while (v >= 0x80) {
      this.#buf[at++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.#buf[at] = v;
  }

  varintField(field: number, value: number): void {
    this.#tag(field, WIRE.VARINT);
    this.#varint(value);
  }

  fixed32Field(field: number, value: number): void {
    this.#tag(field, WIRE.I32);
    this.#ensure(4);
    this.#buf.writeUInt32LE(value >>> 0, this.#pos);
    this.#pos += 4;
  }

  fixed64Field(field: number, value: bigint): void {
    this.#tag(field, WIRE.I64);
    this.#ensure(8);
    this.#buf.writeBigUInt64LE(value, this.#pos);
    this.#pos += 8;
  }

  stringField(field: number, text: string): void {
    this.#tag(field, WIRE.LEN);
    if (text.length <= SHORT_STRING) {
      // Short strings (most keys and values): a JS loop beats the two native calls below.
      let ascii = true;
      for (let i = 0; i < text.length; i++) {
        if (text.charCodeAt(i) > 0x7f) {
          ascii = false;
          break;
        }
      }
      if (ascii) {
        this.#varint(text.length);
        this.#ensure(text.length);
        const buf = this.#buf;
        let pos = this.#pos;
        for (let i = 0; i < text.length; i++) buf[pos++] = text.charCodeAt(i);
        this.#pos = pos;
        return;
      }
    }
    const length = Buffer.byteLength(text, 'utf8');
    this.#varint(length);
    this.#ensure(length);
    // Equal lengths mean ASCII, which latin1 copies byte for byte without UTF-8 encoding.
    this.#buf.write(text, this.#pos, length, length === text.length ? 'latin1' : 'utf8');
    this.#pos += length;
  }

  /** Lower-case hex (trace and span ids) as bytes. */
  hexField(field: number, hex: string): void {
    const length = hex.length >>> 1;
    this.#tag(field, WIRE.LEN);
    this.#varint(length);
    this.#ensure(length);
    for (let i = 0; i < length; i++) this.#buf[this.#pos++] = (hexDigit(hex.charCodeAt(2 * i)) << 4) | hexDigit(hex.charCodeAt(2 * i + 1));
  }

  /** A KeyValue{key, AnyValue} field. */
  keyValue(field: number, key: string, value: AttributeValue | undefined): void {
    const kv = this.begin(field);
    this.stringField(1, key);
    const any = this.begin(2);
    if (value !== undefined) this.#anyValue(value);
    this.end(any);
    this.end(kv);
  }

  #anyValue(value: AttributeValue): void {
    if (typeof value === 'string') {
      this.stringField(1, value);
    } else if (typeof value === 'number') {
      if (Number.isInteger(value) && value >= -(2 ** 63) && value < 2 ** 63) {
        this.#tag(3, WIRE.VARINT);
        this.#varint(value);
      } else {
        this.#tag(4, WIRE.I64);
        this.#ensure(8);
        this.#buf.writeDoubleLE(value, this.#pos);
        this.#pos += 8;
      }
    } else if (typeof value === 'boolean') {
      this.varintField(2, value ? 1 : 0);
    } else {
      const array = this.begin(5);
      for (const item of value) {
        const element = this.begin(1);
        this.#anyValue(item);
        this.end(element);
      }
      this.end(array);
    }
  }

  #tag(field: number, wireType: number): void {
    this.#varint(field * 8 + wireType);
  }

  /** Non-negative integers as plain varints; negative ones as 64-bit two's complement (int64 semantics). */
  #varint(value: number): void {
    this.#ensure(10);
    const buf = this.#buf;
    if (value < 0) {
      let v = BigInt.asUintN(64, BigInt(value));
      while (v >= 0x80n) {
        buf[this.#pos++] = Number(v & 0x7fn) | 0x80;
        v >>= 7n;
      }
      buf[this.#pos++] = Number(v);
      return;
    }
    while (value >= 0x80) {
      buf[this.#pos++] = (value % 0x80) | 0x80;
      value = Math.floor(value / 0x80);
    }
    buf[this.#pos++] = value;
  }

  #ensure(bytes: number): void {
    if (this.#pos + bytes <= this.#buf.length) return;
    const grown = Buffer.allocUnsafeSlow(Math.max(this.#buf.length * 2, this.#pos + bytes));
    this.#buf.copy(grown, 0, 0, this.#pos);
    this.#buf = grown;
  }
}

function varintSize(value: number): number {
  let size = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 0x80);
    size++;
  }
  return size;
}

function hexDigit(code: number): number {
  return code <= 0x39 ? code - 0x30 : (code | 0x20) - 0x57;
}
