// The agent's own metrics: the single list that src/otel/AgentMetrics.ts instruments, docs/otel.md documents and
// the Grafana dashboards query. Renaming anything here breaks dashboards: add, never rename.
//
// Prometheus names are derived from `name`: dots become underscores and counters get `_total`; they are listed in
// `prometheus` so dashboards need not re-derive them. They are the same whether scraped from the agent's endpoint
// or ingested through Prometheus's OTLP receiver (test/otel-metrics.test.ts checks the scrape side).

export type MetricKind = 'counter' | 'gauge';

export interface MetricDefinition {
  readonly name: string;
  readonly prometheus: string;
  readonly kind: MetricKind;
  readonly unit: string;
  readonly description: string;
  /** Attribute keys every data point of this metric carries. */
  readonly attributes: readonly string[];
}

/** Attribute keys used on the agent's metrics. */
export const MetricAttribute = {
  /** Kernel event type name, as in src/receiver/events.ts EventTypeName (exec, fork, open, ...). */
  eventType: 'kubesentry.event.type',
  /** Short machine-readable reason (e.g. truncated, unknown_type, bad_size; for exports the gRPC status name). */
  errorType: 'error.type',
  ruleName: 'security_rule.name',
  severity: 'kubesentry.detection.severity',
  /** OTLP signal the spool item belongs to: logs | traces. */
  signal: 'kubesentry.otel.signal',
  /** Why telemetry was dropped without eviction: rejected | non_retryable | unreadable | too_large | memory_full | encode_error | spool_error | shut_down. */
  dropReason: 'kubesentry.drop.reason',
  output: 'kubesentry.output',
  /** Where pod or container metadata comes from: kubernetes (the API server) | runtime (the container runtime socket). */
  metadataSource: 'kubesentry.metadata.source',
  /** A baseline state: learning | stable | unstable | saturated (docs/baseline.md). */
  baselineState: 'kubesentry.baseline.state',
  /** A baseline class: exec | exec_pair | connect | dns | sensitive_open | syscall. */
  baselineClass: 'kubesentry.baseline.class',
  /** Why a baseline novelty was not reported: duplicate | rate_limited | unstable | saturated | unkeyed. */
  baselineSuppressReason: 'kubesentry.baseline.suppress_reason',
  /** What the kernel did: killed | dry-run (the process would have been killed) | kill-failed (the signal was refused). */
  enforcementOutcome: 'kubesentry.enforcement.outcome',
} as const;

export const MetricNames = {
  eventsReceived: {
    name: 'kubesentry.events.received',
    prometheus: 'kubesentry_events_received_total',
    kind: 'counter',
    unit: '{event}',
    description: 'Kernel events read from the ring buffer and decoded.',
    attributes: [MetricAttribute.eventType],
  },
  kernelDrops: {
    name: 'kubesentry.events.kernel_dropped',
    prometheus: 'kubesentry_events_kernel_dropped_total',
    kind: 'counter',
    unit: '{event}',
    description: 'Events the BPF programs could not submit (ring buffer full), by event type.',
    attributes: [MetricAttribute.eventType],
  },
  kernelDropsByReason: {
    name: 'kubesentry.events.kernel_dropped_by_reason',
    prometheus: 'kubesentry_events_kernel_dropped_by_reason_total',
    kind: 'counter',
    unit: '{event}',
    description:
      'Events the BPF programs dropped, by event type and reason: ring_full, headroom (a hot record refused to keep ring room for urgent ones), rate_limit (a container past its hot-record rate), unattributed_ring_full/... (the per-container count had no room). Per container: the KS-GAP-001 detection.',
    attributes: [MetricAttribute.eventType, MetricAttribute.dropReason],
  },
  kernelReaderUp: {
    name: 'kubesentry.kernel.reader.up',
    prometheus: 'kubesentry_kernel_reader_up',
    kind: 'gauge',
    unit: '1',
    description:
      '1 while the ring-buffer reader thread reads kernel events, 0 once it has stopped on a failure (the agent is then blind; /readyz says why).',
    attributes: [],
  },
  decoderErrors: {
    name: 'kubesentry.decoder.errors',
    prometheus: 'kubesentry_decoder_errors_total',
    kind: 'counter',
    unit: '{record}',
    description: 'Ring-buffer records that could not be decoded and were discarded.',
    attributes: [MetricAttribute.errorType],
  },
  detections: {
    name: 'kubesentry.detections',
    prometheus: 'kubesentry_detections_total',
    kind: 'counter',
    unit: '{detection}',
    description: 'Detections raised, by rule and severity.',
    attributes: [MetricAttribute.ruleName, MetricAttribute.severity],
  },
  exportQueueDepth: {
    name: 'kubesentry.export.queue.depth',
    prometheus: 'kubesentry_export_queue_depth',
    kind: 'gauge',
    unit: '{item}',
    description: 'Telemetry items (log records, spans) spooled and not yet acknowledged by the Collector.',
    attributes: [MetricAttribute.signal],
  },
  spoolBytes: {
    // The unit is in the name so that the scrape endpoint (which adds no unit suffix) and Prometheus's own OTLP
    // ingestion (which adds _bytes unless already there) produce the same series name.
    name: 'kubesentry.export.spool.bytes',
    prometheus: 'kubesentry_export_spool_bytes',
    kind: 'gauge',
    unit: 'By',
    description: 'Bytes on disk in the export spool.',
    attributes: [],
  },
  spoolEvictions: {
    name: 'kubesentry.export.spool.evictions',
    prometheus: 'kubesentry_export_spool_evictions_total',
    kind: 'counter',
    unit: '{item}',
    description: 'Spooled items evicted oldest-first because the spool was full (data lost).',
    attributes: [MetricAttribute.signal],
  },
  exportFailures: {
    name: 'kubesentry.export.failures',
    prometheus: 'kubesentry_export_failures_total',
    kind: 'counter',
    unit: '{request}',
    description: 'OTLP export requests that failed (each is retried; items stay spooled).',
    attributes: [MetricAttribute.signal, MetricAttribute.errorType],
  },
  exportDropped: {
    name: 'kubesentry.export.dropped',
    prometheus: 'kubesentry_export_dropped_total',
    kind: 'counter',
    unit: '{item}',
    description: 'Telemetry items lost for reasons other than spool eviction (see kubesentry.drop.reason).',
    attributes: [MetricAttribute.signal, MetricAttribute.dropReason],
  },
  exportedItems: {
    name: 'kubesentry.export.items',
    prometheus: 'kubesentry_export_items_total',
    kind: 'counter',
    unit: '{item}',
    description: 'Telemetry items acknowledged by the Collector.',
    attributes: [MetricAttribute.signal],
  },
  processTableSize: {
    name: 'kubesentry.process_table.size',
    prometheus: 'kubesentry_process_table_size',
    kind: 'gauge',
    unit: '{process}',
    description: 'Processes tracked in the agent process table.',
    attributes: [],
  },
  containerCacheSize: {
    name: 'kubesentry.container_cache.size',
    prometheus: 'kubesentry_container_cache_size',
    kind: 'gauge',
    unit: '{container}',
    description: 'Containers in the cgroup-to-container cache.',
    attributes: [],
  },
  k8sMetadataMisses: {
    name: 'kubesentry.k8s.metadata.misses',
    prometheus: 'kubesentry_k8s_metadata_misses_total',
    kind: 'counter',
    unit: '{lookup}',
    description: 'Container-to-pod lookups that found no Kubernetes metadata.',
    attributes: [],
  },
  runtimeMetadataMisses: {
    name: 'kubesentry.runtime.metadata.misses',
    prometheus: 'kubesentry_runtime_metadata_misses_total',
    kind: 'counter',
    unit: '{detection}',
    description:
      'Detections from non-Kubernetes containers released without the container runtime naming them (socket unreachable or container unknown).',
    attributes: [],
  },
  detectorStateEvictions: {
    name: 'kubesentry.detector.state_evictions',
    prometheus: 'kubesentry_detector_state_evictions_total',
    kind: 'counter',
    unit: '{entry}',
    description: 'Multi-step detector state forgotten to stay bounded; a later step of that attack may go unreported.',
    attributes: [MetricAttribute.ruleName],
  },
  metadataOversized: {
    name: 'kubesentry.metadata.oversized',
    prometheus: 'kubesentry_metadata_oversized_total',
    kind: 'counter',
    unit: '{response}',
    description:
      'API-server list pages or watch event lines, and runtime-socket answers, refused for their size (src/k8s: MAX_LIST_RESPONSE_BYTES, MAX_WATCH_EVENT_BYTES, MAX_RUNTIME_ANSWER_BYTES); followed by a smaller page, a relist, or a detection released without names.',
    attributes: [MetricAttribute.metadataSource],
  },
  detectorErrors: {
    name: 'kubesentry.detector.errors',
    prometheus: 'kubesentry_detector_errors_total',
    kind: 'counter',
    unit: '{event}',
    description: 'Events on which a rule threw; that rule produced nothing for the event, the other rules ran as usual.',
    attributes: [MetricAttribute.ruleName],
  },
  enforcementActions: {
    name: 'kubesentry.enforcement.actions',
    prometheus: 'kubesentry_enforcement_actions_total',
    kind: 'counter',
    unit: '{process}',
    description:
      'Enforcement decisions for a rule with action: kill, by outcome: killed, dry-run (would have killed), kill-failed (the kernel refused the signal). Counted in the kernel, so a kill whose record was lost is counted too (docs/enforcement.md).',
    attributes: [MetricAttribute.ruleName, MetricAttribute.enforcementOutcome],
  },
  detectorDisabled: {
    name: 'kubesentry.detector.disabled',
    prometheus: 'kubesentry_detector_disabled',
    kind: 'gauge',
    unit: '{rule}',
    description: 'One series per enabled rule: 1 once the rule threw on RULE_ERROR_LIMIT events in a row and was taken out of service until the next rules reload (the agent is blind to what it detects), 0 otherwise.',
    attributes: [MetricAttribute.ruleName],
  },
  outputErrors: {
    name: 'kubesentry.output.errors',
    prometheus: 'kubesentry_output_errors_total',
    kind: 'counter',
    unit: '{detection}',
    description: 'Detections a local output (the JSON-lines file) failed to write.',
    attributes: [MetricAttribute.output],
  },
  baselineProfiles: {
    name: 'kubesentry.baseline.profiles',
    prometheus: 'kubesentry_baseline_profiles',
    kind: 'gauge',
    unit: '{profile}',
    description: 'Workload baseline profiles in memory by overall state: learning while any class learns, stable when all are, else saturated or unstable.',
    attributes: [MetricAttribute.baselineState],
  },
  baselineDeviations: {
    name: 'kubesentry.baseline.deviations',
    prometheus: 'kubesentry_baseline_deviations_total',
    kind: 'counter',
    unit: '{deviation}',
    description: 'KS-BL-001 deviations reported (new items in a stable class), by class and severity.',
    attributes: [MetricAttribute.baselineClass, MetricAttribute.severity],
  },
  baselineSuppressed: {
    name: 'kubesentry.baseline.deviations.suppressed',
    prometheus: 'kubesentry_baseline_deviations_suppressed_total',
    kind: 'counter',
    unit: '{observation}',
    description: 'Baseline novelties not reported, by reason: duplicate (within the dedupe window), rate_limited (over the per-minute budget), unstable or saturated (class stopped), unkeyed (workload not yet known during warm-up).',
    attributes: [MetricAttribute.baselineSuppressReason],
  },
  baselineStoreErrors: {
    name: 'kubesentry.baseline.store.errors',
    prometheus: 'kubesentry_baseline_store_errors_total',
    kind: 'counter',
    unit: '{file}',
    description: 'Profile files that could not be written or deleted (error.type write, retried) or were skipped at start (error.type invalid).',
    attributes: [MetricAttribute.errorType],
  },
} as const satisfies Record<string, MetricDefinition>;

export type MetricKey = keyof typeof MetricNames;
