// Public surface of the OpenTelemetry export: everything the agent calls is named here.
export { createTelemetry } from './Telemetry.ts';
export type { Telemetry, TelemetryStatus } from './Telemetry.ts';
export { noopAgentMetrics } from './AgentMetrics.ts';
export type { AgentMetrics } from './AgentMetrics.ts';
export { resolveTelemetryConfig, TelemetryConfigError } from './TelemetryConfig.ts';
export type { FsyncPolicy, TelemetryConfig } from './TelemetryConfig.ts';
export { MetricAttribute, MetricNames } from './metricNames.ts';
export type { MetricDefinition, MetricKey, MetricKind } from './metricNames.ts';
export { DETECTION_EVENT_NAME, SEVERITY_MAPPING, SPOOL_OVERFLOW_EVENT_NAME } from './internal/records.ts';
