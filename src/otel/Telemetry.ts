// The agent's telemetry pipeline: detections → the OpenTelemetry logs API (a LoggerProvider whose processor writes
// each LogRecord to an on-disk spool) and incident-trace spans → the same spool → the stock OTLP/gRPC exporters,
// with the OTLP retry rules applied by the spool sender; plus the agent's self-metrics (OTLP and optionally a
// Prometheus scrape endpoint).
//
// emit() runs on the kernel event path: it builds the records and queues them in memory, nothing else. A
// setImmediate flush writes the queue to the spool in one append; one sender loop per signal drains it oldest-first.
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import grpc from '@grpc/grpc-js';
import { ROOT_CONTEXT, trace } from '@opentelemetry/api';
import type { Logger } from '@opentelemetry/api-logs';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-grpc';
import { detectResources, hostDetector, osDetector, processDetector, resourceFromAttributes, type DetectedResource, type Resource, type ResourceDetector } from '@opentelemetry/resources';
import { LoggerProvider, type LogRecordProcessor, type ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { MeterProvider, PeriodicExportingMetricReader, type MetricReader } from '@opentelemetry/sdk-metrics';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import type { Detection } from '../detection.ts';
import { ensurePrivateDir, writePrivateFileAtomically } from '../fileModes.ts';
import packageJson from '../../package.json' with { type: 'json' };
import { OtelAgentMetrics, type AgentMetrics } from './AgentMetrics.ts';
import { resolveTelemetryConfig, type ResolvedTelemetryConfig, type TelemetryConfig } from './TelemetryConfig.ts';
import { IncidentTracker } from './internal/incidents.ts';
import { OtlpSignalExporter, partialSuccess, type SendResult } from './internal/OtlpSignalExporter.ts';
import {
  detectionLogRecord,
  detectionSpanContext,
  overflowLogRecord,
  readableLogRecord,
  readSpooledLogRecord,
  readSpooledSpans,
  spoolLogRecord,
  spoolSpans,
  type Origin,
} from './internal/records.ts';
import { SignalSpools, SPOOL_KIND_NAME, SpoolKind, type Eviction, type SpoolItem } from './internal/Spool.ts';

export interface TelemetryStatus {
  /** Spooled records not yet acknowledged, per signal. */
  pending: { logs: number; traces: number };
  spoolBytes: number;
  /** Records acknowledged by the Collector since start. */
  delivered: { logs: number; traces: number };
  /** Consecutive failed export attempts (0 when the last one succeeded). */
  consecutiveFailures: number;
  /** The most recent export error, e.g. "UNAVAILABLE: No connection established ...". */
  lastError?: string;
  /** Items lost other than by spool eviction, by kubesentry.drop.reason (also in kubesentry.export.dropped). */
  dropped: Record<string, number>;
  /** Items evicted from a full spool (also in kubesentry.export.spool.evictions). */
  evicted: number;
}

export interface Telemetry {
  /** Never throws and never waits: failures are counted (kubesentry.export.dropped) and reported via status(). */
  emit(detection: Detection): void;
  readonly metrics: AgentMetrics;
  readonly resource: Resource;
  /** Resolves once everything emitted so far is written to the spool (and fsynced when fsync is 'always'). */
  persisted(): Promise<void>;
  /** Resolves once everything emitted so far has been acknowledged by the Collector; rejects after timeoutMs. */
  forceFlush(timeoutMs?: number): Promise<void>;
  status(): TelemetryStatus;
  /** Tries to deliver for up to timeoutMs; whatever is left stays spooled for the next start. Safe to call twice. */
  shutdown(timeoutMs?: number): Promise<void>;
}

// Bound on detections emitted but not yet spooled: only reachable if the event loop stalls while detections keep
// coming (each flush empties the queue).
const MAX_QUEUED_DETECTIONS = 100_000;

export function createTelemetry(config: TelemetryConfig): Telemetry {
  const resolved = resolveTelemetryConfig(config, packageJson.version);
  return new TelemetryPipeline(resolved, config.onDiagnostic);
}

interface Sender {
  kind: SpoolKind;
  lingerMs: number;
  /** Ends the sender's current pause (see #pause). */
  wake: (() => void) | undefined;
  done: Promise<void>;
}

class TelemetryPipeline implements Telemetry {
  readonly metrics: OtelAgentMetrics;
  readonly resource: Resource;
  readonly #config: ResolvedTelemetryConfig;
  readonly #diagnostic: (message: string) => void;
  readonly #logger: Logger;
  readonly #loggerProvider: LoggerProvider;
  /** The resource and scope every spooled record is sent under. */
  readonly #origin: Origin;
  readonly #hostName: string;
  readonly #incidents: IncidentTracker;
  readonly #spool: SignalSpools;
  readonly #logExporter: OtlpSignalExporter<ReadableLogRecord>;
  readonly #traceExporter: OtlpSignalExporter<ReadableSpan>;
  readonly #stopDiagnostics: () => void;
  readonly #meterProvider: MeterProvider;
  /** Spool items emitted since the last flush: a log record and a span batch per detection. */
  #queue: SpoolItem[] = [];
  #flushScheduled = false;
  #flushWaiters: (() => void)[] = [];
  #drainWaiters: (() => void)[] = [];
  readonly #senders: Sender[];
  #stopping = false;
  #delivered = { logs: 0, traces: 0 };
  #dropped: Record<string, number> = {};
  #evicted = 0;
  #consecutiveFailures = 0;
  #lastError: string | undefined;
  #shutdown: Promise<void> | undefined;
  readonly #evictionsFile: string;
  #unreportedEvictions: Eviction | undefined;

  constructor(config: ResolvedTelemetryConfig, onDiagnostic: ((message: string) => void) | undefined) {
    this.#config = config;
    this.#diagnostic = onDiagnostic ?? (() => {});
    this.#stopDiagnostics = partialSuccess.listen(this.#diagnostic);
    ensurePrivateDir(config.stateDir, (m) => this.#diagnostic(`telemetry: ${m}`));
    const attributes = { ...config.resourceAttributes };
    attributes['service.instance.id'] ??= instanceId(config.stateDir);
    // Detected first, so that configured attributes (OTEL_RESOURCE_ATTRIBUTES, settings) win over detected ones.
    const detected = detectResources({ detectors: [hostDetector, osDetector, withoutCommandLine(processDetector)] });
    const detectionResource = detected.merge(resourceFromAttributes(attributes));
    // The agent's own pod describes the agent, not what it detected: on detection records a resource k8s.pod.name
    // would read as the workload's (and Loki would index every detection under the agent's pod), so only the
    // agent's own metrics carry it.
    this.resource = detectionResource.merge(resourceFromAttributes(config.agentPodAttributes));
    this.#hostName = attributes['host.name'] ?? os.hostname();
    const scope = { name: 'kubesentry', version: packageJson.version };
    this.#origin = { resource: detectionResource, scope };
    this.#loggerProvider = new LoggerProvider({
      resource: detectionResource,
      processors: [new SpoolingLogRecordProcessor((item) => this.#enqueue(item), () => this.persisted())],
      logRecordLimits: config.logRecordLimits,
    });
    this.#logger = this.#loggerProvider.getLogger(scope.name, scope.version);
    this.#incidents = new IncidentTracker(config.incidentQuietWindowMs);
    this.#evictionsFile = path.join(config.stateDir, 'unreported-evictions.json');
    this.#unreportedEvictions = this.#loadUnreportedEvictions();

    const readers: MetricReader[] = [];
    if (config.metricsOtlp) {
      readers.push(
        new PeriodicExportingMetricReader({
          exporter: new OTLPMetricExporter({
            url: config.endpoint.href,
            credentials: config.tls
              ? grpc.credentials.createSsl(config.ca ?? null, config.clientKey ?? null, config.clientCert ?? null)
              : grpc.credentials.createInsecure(),
            metadata: metadataOf(config.headers),
          }),
          exportIntervalMillis: config.metricsExportIntervalMs,
          // Bounds shutdown too: the reader's final export waits at most this long for an unreachable Collector.
          exportTimeoutMillis: Math.min(config.exportTimeoutMs, config.metricsExportIntervalMs),
        }),
      );
    }
    if (config.prometheus) {
      readers.push(new PrometheusExporter({ host: config.prometheus.host, port: config.prometheus.port }));
    }
    this.#meterProvider = new MeterProvider({ resource: this.resource, readers });
    this.metrics = new OtelAgentMetrics(this.#meterProvider.getMeter('kubesentry', packageJson.version));

    this.#spool = new SignalSpools(path.join(config.stateDir, 'spool'), {
      maxBytes: config.spoolMaxBytes,
      fsync: config.fsync,
      fsyncIntervalMs: config.fsyncIntervalMs,
      onEvict: (eviction) => this.#onEvict(eviction),
      onDiagnostic: (m) => this.#diagnostic(`telemetry: ${m}`),
    });
    this.metrics.observeSpool(() => ({ bytes: this.#spool.bytes, pending: this.#spool.pending }));
    this.#logExporter = OtlpSignalExporter.logs(config);
    this.#traceExporter = OtlpSignalExporter.traces(config);
    // One sender per signal, each with its own linger: log records are the alerts and leave within milliseconds;
    // spans wait longer and go out in a few large requests.
    this.#senders = [
      { kind: SpoolKind.Logs, lingerMs: config.lingerMs, wake: undefined, done: Promise.resolve() },
      { kind: SpoolKind.Traces, lingerMs: config.traceLingerMs, wake: undefined, done: Promise.resolve() },
    ];
    for (const sender of this.#senders) sender.done = this.#sendLoop(sender);
  }

  emit(d: Detection): void {
    try {
      if (this.#stopping) {
        this.#drop('logs', 'shut_down', 1);
        return;
      }
      if (this.#queue.length >= 2 * MAX_QUEUED_DETECTIONS) {
        this.#drop('logs', 'memory_full', 1);
        this.#drop('traces', 'memory_full', 1);
        return;
      }
      const plan = this.#incidents.plan(d, this.#hostName);
      this.#encode('logs', () =>
        // The processor spools it synchronously (SpoolingLogRecordProcessor.onEmit).
        this.#logger.emit({ ...detectionLogRecord(d), context: trace.setSpanContext(ROOT_CONTEXT, detectionSpanContext(plan)) }),
      );
      this.#encode('traces', () => this.#enqueue({ kind: SpoolKind.Traces, payload: spoolSpans(d, plan) }));
    } catch (error) {
      this.#drop('logs', 'encode_error', 1);
      this.#drop('traces', 'encode_error', 1);
      this.#lastError = `encode: ${(error as Error).message}`;
    }
  }

  #encode(signal: 'logs' | 'traces', encode: () => void): void {
    try {
      encode();
    } catch (error) {
      this.#drop(signal, 'encode_error', 1);
      this.#lastError = `encode: ${(error as Error).message}`;
    }
  }

  persisted(): Promise<void> {
    if (!this.#flushScheduled) return Promise.resolve();
    return new Promise((resolve) => this.#flushWaiters.push(resolve));
  }

  async forceFlush(timeoutMs = 30_000): Promise<void> {
    await this.persisted();
    if (!this.#spool.isEmpty || this.#unreportedEvictions) {
      let timer: NodeJS.Timeout | undefined;
      let onDrained: (() => void) | undefined;
      try {
        await new Promise<void>((resolve, reject) => {
          onDrained = resolve;
          this.#drainWaiters.push(resolve);
          timer = setTimeout(() => {
            const { logs, traces } = this.#spool.pending;
            reject(
              new Error(
                `telemetry: ${logs} log records and ${traces} span batches still undelivered after ${timeoutMs} ms` +
                  (this.#lastError ? `; last export error: ${this.#lastError}` : ''),
              ),
            );
          }, timeoutMs);
        });
      } finally {
        clearTimeout(timer);
        this.#drainWaiters = this.#drainWaiters.filter((w) => w !== onDrained);
      }
    }
    await this.#meterProvider.forceFlush().catch(() => {});
  }

  status(): TelemetryStatus {
    return {
      pending: this.#spool.pending,
      spoolBytes: this.#spool.bytes,
      delivered: { ...this.#delivered },
      consecutiveFailures: this.#consecutiveFailures,
      lastError: this.#lastError,
      dropped: { ...this.#dropped },
      evicted: this.#evicted,
    };
  }

  #drop(signal: 'logs' | 'traces', reason: string, items: number): void {
    this.metrics.dropped(signal, reason, items);
    this.#dropped[reason] = (this.#dropped[reason] ?? 0) + items;
  }

  shutdown(timeoutMs = 5_000): Promise<void> {
    this.#shutdown ??= (async () => {
      await this.forceFlush(timeoutMs).catch((error: Error) => this.#diagnostic(error.message));
      this.#stopping = true;
      for (const sender of this.#senders) sender.wake?.();
      await Promise.all(this.#senders.map((sender) => sender.done));
      await this.#loggerProvider.shutdown().catch(() => {});
      await Promise.all([this.#logExporter.shutdown(), this.#traceExporter.shutdown()]).catch(() => {});
      this.#spool.close();
      await this.#meterProvider.shutdown().catch(() => {});
      this.#stopDiagnostics();
    })();
    return this.#shutdown;
  }

  #enqueue(item: SpoolItem): void {
    this.#queue.push(item);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => this.#flush());
    }
  }

  #flush(): void {
    const items = this.#queue;
    this.#queue = [];
    this.#flushScheduled = false;
    try {
      const refused = this.#spool.append(items);
      if (refused.logs > 0) this.#drop('logs', 'too_large', refused.logs);
      if (refused.traces > 0) this.#drop('traces', 'too_large', refused.traces);
    } catch (error) {
      for (const item of items) this.#drop(SPOOL_KIND_NAME[item.kind], 'spool_error', 1);
      this.#lastError = `spool: ${(error as Error).message}`;
      this.#diagnostic(`telemetry: cannot write export spool, ${items.length} items lost: ${(error as Error).message}`);
    }
    const waiters = this.#flushWaiters;
    this.#flushWaiters = [];
    for (const resolve of waiters) resolve();
    for (const sender of this.#senders) sender.wake?.();
  }

  #onEvict(eviction: Eviction): void {
    if (eviction.logs) this.metrics.evicted('logs', eviction.logs);
    if (eviction.traces) this.metrics.evicted('traces', eviction.traces);
    this.#evicted += eviction.logs + eviction.traces;
    this.#diagnostic(
      `telemetry: export spool full, evicted ${eviction.logs} log records and ${eviction.traces} span batches (oldest first)`,
    );
    const t = this.#unreportedEvictions;
    this.#unreportedEvictions = t
      ? {
          logs: t.logs + eviction.logs,
          traces: t.traces + eviction.traces,
          firstSpooledMs: Math.min(t.firstSpooledMs, eviction.firstSpooledMs),
          lastSpooledMs: Math.max(t.lastSpooledMs, eviction.lastSpooledMs),
        }
      : eviction;
    this.#saveUnreportedEvictions();
  }

  // The in-band loss report is sent ahead of the spool rather than through it: spooled, it could itself be evicted
  // by the same overflow it reports. The running tally is kept in the state dir, so a restart still reports it.
  #loadUnreportedEvictions(): Eviction | undefined {
    try {
      return JSON.parse(fs.readFileSync(this.#evictionsFile, 'utf8')) as Eviction;
    } catch {
      return undefined;
    }
  }

  #saveUnreportedEvictions(): void {
    try {
      if (!this.#unreportedEvictions) {
        fs.rmSync(this.#evictionsFile, { force: true });
        return;
      }
      writePrivateFileAtomically(this.#evictionsFile, JSON.stringify(this.#unreportedEvictions));
    } catch (error) {
      this.#diagnostic(`telemetry: cannot record spool evictions: ${(error as Error).message}`);
    }
  }

  /** Sends the eviction report if there is one; false when it must be retried. */
  async #reportEvictions(): Promise<'none' | 'sent' | SendResult> {
    const report = this.#unreportedEvictions;
    if (!report) return 'none';
    const record = readableLogRecord(overflowLogRecord(report, BigInt(Date.now()) * 1_000_000n), this.#origin);
    await this.#origin.resource.waitForAsyncAttributes?.();
    const result = await this.#logExporter.send([record]);
    if (result.outcome === 'retry') return result;
    // Evictions that happened while the report was in flight stay for the next report.
    const now = this.#unreportedEvictions!;
    const rest = { ...now, logs: now.logs - report.logs, traces: now.traces - report.traces };
    this.#unreportedEvictions = rest.logs > 0 || rest.traces > 0 ? rest : undefined;
    this.#saveUnreportedEvictions();
    return result.outcome === 'ok' ? 'sent' : result;
  }

  async #sendLoop(sender: Sender): Promise<void> {
    const signal = SPOOL_KIND_NAME[sender.kind];
    let backoffMs = this.#config.initialBackoffMs;
    while (!this.#stopping) {
      if (sender.kind === SpoolKind.Logs) {
        const report = await this.#reportEvictions();
        if (report !== 'none' && report !== 'sent' && report.outcome !== 'ok') {
          this.#failed('logs', report.code, report.message);
          if (report.outcome === 'retry') {
            const delay = report.retryAfterMs ?? Math.random() * backoffMs;
            backoffMs = Math.min(backoffMs * 2, this.#config.maxBackoffMs);
            await this.#pause(sender, Math.max(delay, 50));
            continue;
          }
        }
      }
      let batch;
      try {
        batch = this.#spool.peek(sender.kind, this.#config.maxBatchItems);
      } catch (error) {
        this.#lastError = `spool: ${(error as Error).message}`;
        await this.#pause(sender, backoffMs);
        continue;
      }
      if (!batch) {
        if (sender.kind === SpoolKind.Logs && this.#unreportedEvictions) continue;
        if (this.#spool.isEmpty && !this.#unreportedEvictions) {
          for (const resolve of this.#drainWaiters.splice(0)) resolve();
        }
        await this.#pause(sender);
        // Woken by the first item after idle: a timed pause lets the rest of a burst join it in the same request
        // (each request has a fixed cost well above a detection's encoding).
        if (sender.lingerMs > 0 && !this.#stopping) await this.#pause(sender, sender.lingerMs);
        continue;
      }
      const { result, unreadable } = await this.#send(batch.kind, batch.payloads);
      if (unreadable > 0) {
        this.#drop(signal, 'unreadable', unreadable);
        this.#diagnostic(`telemetry: ${unreadable} spooled ${signal} items this version cannot read were dropped`);
      }
      if (result.outcome === 'retry') {
        this.#failed(signal, result.code, result.message);
        // The server's hint wins; otherwise exponential backoff with full jitter so restarted agents don't stampede.
        const delay = result.retryAfterMs ?? Math.random() * backoffMs;
        backoffMs = Math.min(backoffMs * 2, this.#config.maxBackoffMs);
        await this.#pause(sender, Math.max(delay, 50));
        continue;
      }
      backoffMs = this.#config.initialBackoffMs;
      this.#spool.ack(batch);
      const sent = batch.payloads.length - unreadable;
      if (result.outcome === 'fatal') {
        this.#failed(signal, result.code, result.message);
        this.#drop(signal, 'non_retryable', sent);
        continue;
      }
      if (this.#consecutiveFailures > 0) this.#diagnostic(`telemetry: export to ${this.#config.target} recovered`);
      this.#consecutiveFailures = 0;
      this.#delivered[signal] += sent;
      this.metrics.exported(signal, sent);
      if (result.rejected > 0) {
        this.#drop(signal, 'rejected', result.rejected);
        this.#diagnostic(`telemetry: collector rejected ${result.rejected} ${signal} items: ${result.rejectedMessage ?? ''}`);
      }
    }
  }

  /** Spooled payloads back to SDK records, sent by the signal's stock exporter; unreadable ones are skipped. */
  async #send(kind: SpoolKind, payloads: Uint8Array[]): Promise<{ result: SendResult; unreadable: number }> {
    // Detected attributes such as host.id are read asynchronously; the exporters need them settled.
    await this.#origin.resource.waitForAsyncAttributes?.();
    let unreadable = 0;
    const read = <T>(payload: Uint8Array, reader: (payload: Uint8Array, origin: Origin) => T): T | undefined => {
      try {
        return reader(payload, this.#origin);
      } catch {
        unreadable++;
        return undefined;
      }
    };
    const ok: SendResult = { outcome: 'ok', rejected: 0 };
    if (kind === SpoolKind.Logs) {
      const records: ReadableLogRecord[] = [];
      for (const p of payloads) {
        const r = read(p, readSpooledLogRecord);
        if (r) records.push(r);
      }
      return { result: records.length > 0 ? await this.#logExporter.send(records) : ok, unreadable };
    }
    const spans: ReadableSpan[] = [];
    for (const p of payloads) spans.push(...(read(p, readSpooledSpans) ?? []));
    return { result: spans.length > 0 ? await this.#traceExporter.send(spans) : ok, unreadable };
  }

  #failed(signal: 'logs' | 'traces', code: string, message: string): void {
    this.metrics.exportFailure(signal, code);
    const error = `${code}: ${message}`;
    if (this.#consecutiveFailures === 0 || error !== this.#lastError) {
      this.#diagnostic(`telemetry: OTLP export of ${signal} to ${this.#config.endpoint.href} failed: ${error}`);
    }
    this.#consecutiveFailures++;
    this.#lastError = error;
  }

  /** Waits for new spool data (no timeout) or for ms; shutdown ends either wait. */
  #pause(sender: Sender, ms?: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = ms === undefined ? undefined : setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      // A timed pause (backoff, linger) ignores new data: only the timer or shutdown end it.
      sender.wake = ms === undefined ? done : () => this.#stopping && done();
    });
  }
}

/** Hands each emitted LogRecord to the spool; the SDK calls onEmit synchronously inside Logger.emit(). */
class SpoolingLogRecordProcessor implements LogRecordProcessor {
  readonly #spool: (item: SpoolItem) => void;
  readonly #persisted: () => Promise<void>;

  constructor(spool: (item: SpoolItem) => void, persisted: () => Promise<void>) {
    this.#spool = spool;
    this.#persisted = persisted;
  }

  onEmit(record: ReadableLogRecord): void {
    this.#spool({ kind: SpoolKind.Logs, payload: spoolLogRecord(record) });
  }

  forceFlush(): Promise<void> {
    return this.#persisted();
  }

  shutdown(): Promise<void> {
    return this.#persisted();
  }
}

/**
 * The stock process detector, less the command line: the agent's arguments may carry secrets (an OTLP header
 * given as a flag), and every detection would repeat them.
 */
function withoutCommandLine(detector: ResourceDetector): ResourceDetector {
  return {
    detect(config): DetectedResource {
      const { attributes = {} } = detector.detect(config);
      const { 'process.command_args': _args, 'process.command_line': _line, ...rest } = attributes;
      return { attributes: rest };
    },
  };
}

function metadataOf(headers: Record<string, string>): grpc.Metadata {
  const metadata = new grpc.Metadata();
  for (const [key, value] of Object.entries(headers)) metadata.set(key.toLowerCase(), value);
  return metadata;
}

/** A stable service.instance.id per state directory, so a restarted agent keeps its identity. */
function instanceId(stateDir: string): string {
  const file = path.join(stateDir, 'instance-id');
  try {
    const id = fs.readFileSync(file, 'utf8').trim();
    if (id) return id;
  } catch {
    // First start.
  }
  const id = randomUUID();
  writePrivateFileAtomically(file, `${id}\n`);
  return id;
}
