// The detection record: what every output (console, JSON lines, OTLP logs and spans) is made from.
// The JSON-lines contract is exactly toJsonRecord()'s shape; docs/output.md describes it.

export type Severity = 'critical' | 'high' | 'medium' | 'low' | 'info';
export const SEVERITIES: readonly Severity[] = ['critical', 'high', 'medium', 'low', 'info'];

export type Category = 'container_escape' | 'cryptomining' | 'privilege_escalation' | 'baseline' | 'agent' | 'telemetry';

export type AttributeValue = string | number | boolean | string[];

export interface AncestryEntry {
  pid: number;
  executable: string;
  command_line: string;
  /** RFC 3339 with ns: when this process last exec'd (span start in incident traces). */
  start_time: string;
  /** Boot-time ns of the process start; with pid a stable identity for span ids. */
  start_boottime_ns: string;
}

export interface Detection {
  /** Unique id (UUID v7): the deduplication key downstream. Also attributes['kubesentry.detection.id']. */
  id: string;
  /** RFC 3339 with nanoseconds, from the kernel event time. */
  time: string;
  timeUnixNs: bigint;
  rule: string;
  category: Category;
  severity: Severity;
  summary: string;
  /** OpenTelemetry semantic-convention keys; ours under kubesentry.*. */
  attributes: Record<string, AttributeValue>;
  /** From the process itself up to the container's init (or host init). */
  ancestry: AncestryEntry[];
}

export function toJsonRecord(d: Detection): object {
  return {
    time: d.time,
    rule: d.rule,
    category: d.category,
    severity: d.severity,
    summary: d.summary,
    attributes: d.attributes,
    ancestry: d.ancestry,
  };
}
