// KS-GAP-001: the kernel dropped records of a container. A flood of exec/fork can be made on purpose to hide what
// follows it, so a gap in what the agent saw is reported as a detection, not only as a metric.

import { Attr } from '../attributeKeys.ts';
import {
  NO_FINDINGS,
  SyntheticEventType,
  type DetectionContext,
  type Detector,
  type DetectorEvent,
  type Finding,
  type RuleMetadata,
} from '../Detector.ts';

export class TelemetryGap implements Detector {
  readonly meta: RuleMetadata = {
    id: 'KS-GAP-001',
    version: '1.0.0',
    title: 'Kernel events dropped (telemetry gap)',
    category: 'telemetry',
    severity: 'medium',
    mitre: { technique: 'T1562.006', name: 'Impair Defenses: Indicator Blocking' },
    events: [SyntheticEventType.TelemetryGap],
    description:
      'The kernel dropped records caused by this container (or host cgroup): its hot records (exec, fork, exit, ' +
      'connect, payload, listen) went past its per-container rate (kernel.hotRecordsPerSecond, reason rate_limit), or ' +
      'were refused to keep the last part of the ring for urgent records (kernel.hotRingPercent, reason ' +
      'headroom), or the ring was full (ring_full). At most one detection per cgroup per ' +
      'kernel.dropReportIntervalMs, carrying the counts by type and reason since the previous one. High when a ' +
      'record that may be a detection on its own (namespace, mount, module, credential change, sensitive open, ...) ' +
      'was lost. Drops the kernel could not attribute to a cgroup (its per-cgroup map full) are reported without ' +
      'a container. What the rule cannot see: events of that container during the gap; a flood makes the gap ' +
      'visible, not the events it hid.',
    falsePositives: [
      'Build or CI containers and busy proxies that legitimately fork or connect faster than kernel.hotRecordsPerSecond.',
      'An agent that cannot keep up with the node (ring_full from every container at once).',
    ],
    tuning:
      'Raise kernel.hotRecordsPerSecond / kernel.hotRecordsBurst for workloads known to be busy, or except them by image.',
    uuid: 'd788137f-3181-4748-8656-8dab9a15297b',
  };

  onEvent(event: DetectorEvent, _ctx: DetectionContext): readonly Finding[] {
    if (event.type !== SyntheticEventType.TelemetryGap || event.total === 0) return NO_FINDINGS;
    const urgentLost = event.dropped.some((d) => d.urgent);
    const detail = event.dropped.map((d) => `${d.type}/${d.reason}=${d.count}`);
    const who = event.cgroupId === 0n ? 'unattributed cgroups' : event.container === null ? `host cgroup ${event.cgroupId}` : 'this container';
    const windowMs = Number(event.windowNs / 1_000_000n);
    return [
      {
        ...(urgentLost ? { severity: 'high' as const } : {}),
        summary: `the kernel dropped ${event.total} records of ${who} in the last ${windowMs} ms (${detail.join(', ')})`,
        attributes: {
          [Attr.droppedRecords]: event.total,
          [Attr.droppedDetail]: detail,
          [Attr.droppedWindowMs]: windowMs,
        },
      },
    ];
  }
}
