// The agent's self-metrics, named by src/otel/metricNames.ts. Callers record facts; gauges are read at collection
// time from the last value set, so hot paths only store a number.
import type { Attributes, Counter, Meter } from '@opentelemetry/api';
import type { Severity } from '../detection.ts';
import type { EnforcementOutcome } from '../receiver/enforcement.ts';
import { MetricAttribute, MetricNames, type MetricDefinition } from './metricNames.ts';

export interface AgentMetrics {
  /** Decoded kernel events; eventType is the EventTypeName value (exec, fork, ...). */
  eventsReceived(eventType: string, count?: number): void;
  /** Events the kernel side could not submit (its per-type drop counters; pass the delta since the last read). */
  kernelDropped(eventType: string, count: number): void;
  /** Kernel drops by type and reason (pass the delta since the last read). */
  kernelDroppedByReason(eventType: string, reason: string, count: number): void;
  /** A ring-buffer record discarded by the decoder; errorType is a short reason (truncated, unknown_type, ...). */
  decoderError(errorType: string, count?: number): void;
  /** Every detection raised, whatever outputs it goes to (Telemetry.emit() does not count it again). */
  detection(rule: string, severity: Severity): void;
  k8sMetadataMiss(count?: number): void;
  runtimeMetadataMiss(count?: number): void;
  /** Metadata responses refused for their size; source is kubernetes | runtime. */
  metadataOversized(source: 'kubernetes' | 'runtime', count: number): void;
  detectorStateEvicted(rule: string, count: number): void;
  /** Events a rule threw on (pass the delta since the last read). */
  detectorError(rule: string, count: number): void;
  /** Kernel enforcement decisions (pass the delta since the last read). */
  enforcementActions(rule: string, outcome: EnforcementOutcome, count: number): void;
  /** Every enabled rule, true for those disabled after repeated errors; read at collection time. */
  setDetectorsDisabled(disabled: ReadonlyMap<string, boolean>): void;
  outputError(output: string, count: number): void;
  setProcessTableSize(size: number): void;
  setContainerCacheSize(size: number): void;
  /** Read at collection time: whether the ring-buffer reader still reads (no data point until this is called). */
  observeKernelReader(readerUp: () => boolean): void;
  /** Read at collection time: baseline profiles by state. */
  observeBaselineProfiles(read: () => ReadonlyMap<string, number>): void;
  baselineDeviations(cls: string, severity: string, count: number): void;
  baselineSuppressed(reason: string, count: number): void;
  /** errorType: write | invalid. */
  baselineStoreError(errorType: string, count: number): void;
}

/** Export-side facts, recorded by the telemetry pipeline itself. */
export interface ExportMetricsRecorder {
  exportFailure(signal: 'logs' | 'traces', errorType: string): void;
  exported(signal: 'logs' | 'traces', items: number): void;
  evicted(signal: 'logs' | 'traces', items: number): void;
  dropped(signal: 'logs' | 'traces', reason: string, items: number): void;
  observeSpool(read: () => { bytes: number; pending: { logs: number; traces: number } }): void;
}

export class OtelAgentMetrics implements AgentMetrics, ExportMetricsRecorder {
  readonly #counters = new Map<string, Counter>();
  #processTableSize = 0;
  #containerCacheSize = 0;
  #detectorsDisabled: ReadonlyMap<string, boolean> = new Map();
  #kernelReaderUp: (() => boolean) | undefined;
  #baselineProfiles: () => ReadonlyMap<string, number> = () => new Map();
  #spool: () => { bytes: number; pending: { logs: number; traces: number } } = () => ({
    bytes: 0,
    pending: { logs: 0, traces: 0 },
  });

  constructor(meter: Meter) {
    for (const def of Object.values(MetricNames) as MetricDefinition[]) {
      if (def.kind === 'counter') {
        this.#counters.set(def.name, meter.createCounter(def.name, { unit: def.unit, description: def.description }));
      }
    }
    const gauge = (def: MetricDefinition, read: () => [number, Attributes?][]): void => {
      meter
        .createObservableGauge(def.name, { unit: def.unit, description: def.description })
        .addCallback((result) => {
          for (const [value, attributes] of read()) result.observe(value, attributes);
        });
    };
    gauge(MetricNames.processTableSize, () => [[this.#processTableSize]]);
    gauge(MetricNames.containerCacheSize, () => [[this.#containerCacheSize]]);
    gauge(MetricNames.detectorDisabled, () =>
      [...this.#detectorsDisabled].map(([rule, disabled]) => [disabled ? 1 : 0, { [MetricAttribute.ruleName]: rule }]),
    );
    gauge(MetricNames.spoolBytes, () => [[this.#spool().bytes]]);
    gauge(MetricNames.baselineProfiles, () =>
      [...this.#baselineProfiles()].map(([state, n]) => [n, { [MetricAttribute.baselineState]: state }]),
    );
    gauge(MetricNames.kernelReaderUp, () => (this.#kernelReaderUp === undefined ? [] : [[this.#kernelReaderUp() ? 1 : 0]]));
    gauge(MetricNames.exportQueueDepth, () => {
      const { pending } = this.#spool();
      return [
        [pending.logs, { [MetricAttribute.signal]: 'logs' }],
        [pending.traces, { [MetricAttribute.signal]: 'traces' }],
      ];
    });
  }

  #add(def: MetricDefinition, value: number, attributes?: Attributes): void {
    if (value > 0) this.#counters.get(def.name)!.add(value, attributes);
  }

  eventsReceived(eventType: string, count = 1): void {
    this.#add(MetricNames.eventsReceived, count, { [MetricAttribute.eventType]: eventType });
  }

  kernelDropped(eventType: string, count: number): void {
    this.#add(MetricNames.kernelDrops, count, { [MetricAttribute.eventType]: eventType });
  }

  kernelDroppedByReason(eventType: string, reason: string, count: number): void {
    this.#add(MetricNames.kernelDropsByReason, count, { [MetricAttribute.eventType]: eventType, [MetricAttribute.dropReason]: reason });
  }

  decoderError(errorType: string, count = 1): void {
    this.#add(MetricNames.decoderErrors, count, { [MetricAttribute.errorType]: errorType });
  }

  detection(rule: string, severity: Severity): void {
    this.#add(MetricNames.detections, 1, { [MetricAttribute.ruleName]: rule, [MetricAttribute.severity]: severity });
  }

  k8sMetadataMiss(count = 1): void {
    this.#add(MetricNames.k8sMetadataMisses, count);
  }

  runtimeMetadataMiss(count = 1): void {
    this.#add(MetricNames.runtimeMetadataMisses, count);
  }

  metadataOversized(source: 'kubernetes' | 'runtime', count: number): void {
    this.#add(MetricNames.metadataOversized, count, { [MetricAttribute.metadataSource]: source });
  }

  detectorStateEvicted(rule: string, count: number): void {
    this.#add(MetricNames.detectorStateEvictions, count, { [MetricAttribute.ruleName]: rule });
  }

  detectorError(rule: string, count: number): void {
    this.#add(MetricNames.detectorErrors, count, { [MetricAttribute.ruleName]: rule });
  }

  enforcementActions(rule: string, outcome: EnforcementOutcome, count: number): void {
    this.#add(MetricNames.enforcementActions, count, { [MetricAttribute.ruleName]: rule, [MetricAttribute.enforcementOutcome]: outcome });
  }

  setDetectorsDisabled(disabled: ReadonlyMap<string, boolean>): void {
    this.#detectorsDisabled = disabled;
  }

  outputError(output: string, count: number): void {
    this.#add(MetricNames.outputErrors, count, { [MetricAttribute.output]: output });
  }

  setProcessTableSize(size: number): void {
    this.#processTableSize = size;
  }

  setContainerCacheSize(size: number): void {
    this.#containerCacheSize = size;
  }

  observeKernelReader(readerUp: () => boolean): void {
    this.#kernelReaderUp = readerUp;
  }

  observeBaselineProfiles(read: () => ReadonlyMap<string, number>): void {
    this.#baselineProfiles = read;
  }

  baselineDeviations(cls: string, severity: string, count: number): void {
    this.#add(MetricNames.baselineDeviations, count, { [MetricAttribute.baselineClass]: cls, [MetricAttribute.severity]: severity });
  }

  baselineSuppressed(reason: string, count: number): void {
    this.#add(MetricNames.baselineSuppressed, count, { [MetricAttribute.baselineSuppressReason]: reason });
  }

  baselineStoreError(errorType: string, count: number): void {
    this.#add(MetricNames.baselineStoreErrors, count, { [MetricAttribute.errorType]: errorType });
  }

  exportFailure(signal: 'logs' | 'traces', errorType: string): void {
    this.#add(MetricNames.exportFailures, 1, { [MetricAttribute.signal]: signal, [MetricAttribute.errorType]: errorType });
  }

  exported(signal: 'logs' | 'traces', items: number): void {
    this.#add(MetricNames.exportedItems, items, { [MetricAttribute.signal]: signal });
  }

  evicted(signal: 'logs' | 'traces', items: number): void {
    this.#add(MetricNames.spoolEvictions, items, { [MetricAttribute.signal]: signal });
  }

  dropped(signal: 'logs' | 'traces', reason: string, items: number): void {
    this.#add(MetricNames.exportDropped, items, { [MetricAttribute.signal]: signal, [MetricAttribute.dropReason]: reason });
  }

  observeSpool(read: () => { bytes: number; pending: { logs: number; traces: number } }): void {
    this.#spool = read;
  }
}

/** For running without telemetry (e.g. console-only output): same calls, nothing recorded. */
export const noopAgentMetrics: AgentMetrics = {
  eventsReceived() {},
  kernelDropped() {},
  kernelDroppedByReason() {},
  decoderError() {},
  detection() {},
  k8sMetadataMiss() {},
  runtimeMetadataMiss() {},
  metadataOversized() {},
  detectorStateEvicted() {},
  detectorError() {},
  enforcementActions() {},
  setDetectorsDisabled() {},
  outputError() {},
  setProcessTableSize() {},
  setContainerCacheSize() {},
  observeKernelReader() {},
  observeBaselineProfiles() {},
  baselineDeviations() {},
  baselineSuppressed() {},
  baselineStoreError() {},
};
