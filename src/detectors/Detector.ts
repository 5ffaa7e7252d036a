// The detector contract (tracee-style): static metadata plus one pure onEvent(). Detectors do no I/O; all they
// know about processes, containers, the host and the clock comes through DetectionContext.

import type { KernelEvent, NamespaceInodes, EventType } from '../receiver/events.ts';
import type { ContainerIdentity, ProcessInfo } from '../receiver/identity.ts';
import type { AttributeValue, Category, Severity } from '../detection.ts';
import type { DetectorSettings } from './config.ts';
import type { WorkloadIdentity } from '../baseline/ProfileKey.ts';
import type { KernelEnforceCheck } from '../receiver/enforcement.ts';

/**
 * Event types that do not come from the kernel. Numbered far above the kernel's so the two never collide;
 * the agent synthesises these from other sources (cgroup CPU statistics).
 */
export const SyntheticEventType = {
  ContainerCpuSample: 64,
  TelemetryGap: 65,
} as const;
export type SyntheticEventType = (typeof SyntheticEventType)[keyof typeof SyntheticEventType];
export type DetectorEventType = EventType | SyntheticEventType;
/** One past the highest type a detector can declare; sizes the engine's dispatch table. */
export const DETECTOR_EVENT_TYPE_LIMIT = 66;

/**
 * A container's CPU use over one sampling window, fed by the agent from the container cgroup's cpu.stat
 * (usage_usec delta / window / CPU limit). The cryptomining incident needs it for "sustained saturation".
 */
export interface ContainerCpuSampleEvent {
  type: typeof SyntheticEventType.ContainerCpuSample;
  /** CLOCK_BOOTTIME ns at the end of the window (same clock as kernel events). */
  ktimeNs: bigint;
  cgroupId: bigint;
  container: ContainerIdentity;
  /** CPU time used in the window divided by what the container may use (its quota, or all node CPUs). 0..1. */
  utilization: number;
  windowNs: bigint;
}

/** Records of one kind the kernel dropped for one reason (src/receiver/kernel.ts DropReasonName). */
export interface DroppedRecords {
  /** Event type name (exec, fork, ...). */
  type: string;
  /** ring_full | headroom | rate_limit. */
  reason: string;
  count: number;
  /** Not one of the hot types (bpf/lib/emit.h ks_is_hot()): a record that may have been a detection on its own. */
  urgent: boolean;
}

/**
 * Records the kernel dropped for one cgroup since the last such event for it, fed by the agent from the kernel's
 * per-cgroup drop counts (src/receiver/TelemetryGapSampler.ts), at most one per cgroup per interval.
 */
export interface TelemetryGapEvent {
  type: typeof SyntheticEventType.TelemetryGap;
  /** CLOCK_BOOTTIME ns when the counts were read. */
  ktimeNs: bigint;
  /** 0 for drops the kernel could not attribute to a cgroup (its per-cgroup map was full). */
  cgroupId: bigint;
  /** null for a host cgroup or an unattributed count. */
  container: ContainerIdentity | null;
  /** Nanoseconds since the previous read these counts cover. */
  windowNs: bigint;
  /** Non-zero counts, largest first. */
  dropped: readonly DroppedRecords[];
  total: number;
}

export type DetectorEvent = KernelEvent | ContainerCpuSampleEvent | TelemetryGapEvent;

export interface MitreTechnique {
  /** ATT&CK technique id, e.g. 'T1611' or 'T1055.008'. */
  technique: string;
  name: string;
}

export interface RuleMetadata {
  /** Stable rule id: 'KS-ESC-001'. Never reused for a different behaviour. */
  id: string;
  /** Bumped when the rule's logic changes what it reports. */
  version: string;
  title: string;
  category: Category;
  /** Severity of a plain finding; a finding may raise it (Finding.severity). */
  severity: Severity;
  mitre: MitreTechnique;
  /** The only event types this detector is given. */
  events: readonly DetectorEventType[];
  /** What triggers the rule, one paragraph. */
  description: string;
  falsePositives: readonly string[];
  tuning: string;
  /** Stable UUID exported as security_rule.uuid. */
  uuid: string;
  /**
   * Sensitive-path patterns this rule needs the kernel's open filter to let through (syntax in paths.ts).
   * The kernel only reports opens that match one of the union of these.
   */
  openPathPatterns?: readonly string[];
  /**
   * What the kernel can enforce for this rule (`action: kill`): its checks in bpf/lib/enforce.h, and for the mount
   * checks the filesystem types they apply to. A rule without it can only alert.
   */
  enforcement?: {
    checks: readonly KernelEnforceCheck[];
    /** mount(2)/fsopen(2) of these filesystem types falls under `check` (one of `checks`). */
    mount?: { check: KernelEnforceCheck; fsTypes: readonly string[] };
    /** One sentence for docs/detections.md: what is killed, when. */
    description: string;
  };
}

export interface Finding {
  /** Overrides the rule's severity for this finding (e.g. raised to critical). */
  severity?: Severity;
  /** One sentence. */
  summary: string;
  /** Semantic-convention keys plus ours under kubesentry.*; process/container keys are added by the engine. */
  attributes: Record<string, AttributeValue>;
  /** Process whose identity and ancestry to attach; defaults to the event's tgid. */
  tgid?: number;
}

/** What the agent knows about a pod, for exceptions and attributes. */
export interface PodAttributes {
  namespace?: string;
  podName?: string;
  /** Image of the container (as the pod spec names it). */
  image?: string;
  /** The pod's top controller as Kind/name, e.g. Deployment/web (a ReplicaSet resolved to its Deployment). */
  workload?: string;
}

/** What the agent provides to the engine for every event. */
export interface AgentContext {
  /**
   * The process holding `tgid`; with `startBoottimeNs` (a record's), only that process: never the entry of an
   * earlier one whose exit the agent missed. Prefer processOf(event, ctx) for the process that made a record.
   */
  process(tgid: number, startBoottimeNs?: bigint): ProcessInfo | undefined;
  /** null: a host process (its cgroup is not a container's). */
  container(event: DetectorEvent): ContainerIdentity | null;
  /**
   * The process and its ancestors, nearest first, up to its container's first process (host init for host
   * processes). The process table owns the walk: pid reuse and /proc fallbacks are its business.
   */
  ancestry(tgid: number, startBoottimeNs?: bigint): readonly ProcessInfo[];
  /** Kubernetes metadata of a container's pod, when the agent knows it. */
  podAttributes?(container: ContainerIdentity): PodAttributes | undefined;
  /**
   * The container's workload, for the baseline's profile key: 'pending' while its pod (or owner) is being looked
   * up, undefined when nothing will name it.
   */
  workload?(container: ContainerIdentity): WorkloadIdentity | 'pending' | undefined;
  /**
   * Whether the kernel lost exec or fork records of the cgroup's tasks after `sinceNs` (src/receiver/
   * LineageRecordLoss.ts): then what the process table says of a lineage since that time may be missing an exec.
   * Absent: nothing was lost.
   */
  lineageRecordsLostSince?(cgroupId: bigint, sinceNs: bigint): boolean;
  /** Namespace inodes of the host (read from /proc/2/ns at start). */
  hostNamespaces: NamespaceInodes;
  /** CLOCK_BOOTTIME ns now. */
  nowNs: bigint;
  /** CLOCK_BOOTTIME ns → Unix-epoch ns (CLOCK_REALTIME), for comparing with inode times and for output. */
  bootToWallNs(bootNs: bigint): bigint;
}

/** What a detector sees: the agent's context plus the current rule settings (owned by the engine's config). */
export interface DetectionContext extends AgentContext {
  settings: DetectorSettings;
}

export interface Detector {
  readonly meta: RuleMetadata;
  onEvent(event: DetectorEvent, ctx: DetectionContext): readonly Finding[];
  /** Entries of bounded state forgotten to stay within bounds (each may be a missed correlation). */
  stateEvictions?(): number;
}

export const NO_FINDINGS: readonly Finding[] = Object.freeze([]);
