// Turns the kernel's per-cgroup drop counts (bpf/lib/maps.h cgroup_drops) into one TelemetryGapEvent per cgroup that
// lost records since the last read, and per (type, reason) deltas for the metrics. Reading on a timer is what
// rate-limits the detection: a flood that drops a million records costs one event per cgroup per interval, with
// the counts of the whole interval.

import { SyntheticEventType, type DroppedRecords, type TelemetryGapEvent } from '../detectors/Detector.ts';
import { EventTypeName, type EventType } from './events.ts';
import type { ContainerIdentity } from './identity.ts';
import { DropReasonName, HOT_EVENT_TYPES, type CgroupDrops, type DropReason } from './kernel.ts';

export interface TelemetryGapSamplerOptions {
  source: { cgroupDrops(): CgroupDrops[]; unattributedDrops(): Map<DropReason, bigint> };
  resolveContainer: (cgroupId: bigint) => ContainerIdentity | null;
  /** CLOCK_BOOTTIME now in ns, the clock kernel events carry. */
  nowBootNs: () => bigint;
  /** How often the counts are read: at most one event per cgroup per interval. Default 5 s. */
  intervalMs?: number;
  onGap: (event: TelemetryGapEvent) => void;
  /** Drops since the last read by type and reason ('unattributed_<reason>' for those without a cgroup). */
  onDropped?: (type: string, reason: string, count: number) => void;
  /** Every read whole, counts since load (LineageRecordLoss dates losses by it). */
  onRead?: (drops: readonly CgroupDrops[], unattributed: Map<DropReason, bigint>) => void;
}

const DEFAULT_INTERVAL_MS = 5000;

function typeName(type: EventType): string {
  return EventTypeName[type] ?? String(type);
}

export class TelemetryGapSampler {
  readonly #options: TelemetryGapSamplerOptions;
  readonly #intervalMs: number;
  /** Count last reported per cgroup_drops key ('cgroup/type/reason'), and per unattributed reason. */
  readonly #reported = new Map<string, bigint>();
  readonly #reportedUnattributed = new Map<DropReason, bigint>();
  #lastReadNs: bigint;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: TelemetryGapSamplerOptions) {
    const intervalMs = options.intervalMs ?? DEFAULT_INTERVAL_MS;
    if (!Number.isInteger(intervalMs) || intervalMs < 100) {
      throw new Error(`TelemetryGapSampler: intervalMs must be a whole number ≥ 100, got ${intervalMs}`);
    }
    this.#options = options;
    this.#intervalMs = intervalMs;
    this.#lastReadNs = options.nowBootNs();
  }

  start(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => this.sample(), this.#intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** One read: an event for every cgroup whose counts grew, then the unattributed counts as cgroup 0. */
  sample(): void {
    const { source, onDropped } = this.#options;
    const nowNs = this.#options.nowBootNs();
    const windowNs = nowNs - this.#lastReadNs;
    this.#lastReadNs = nowNs;
    const byCgroup = new Map<bigint, DroppedRecords[]>();
    const drops = source.cgroupDrops();
    const unattributedCounts = source.unattributedDrops();
    this.#options.onRead?.(drops, unattributedCounts);
    for (const entry of drops) {
      const key = `${entry.cgroupId}/${entry.type}/${entry.reason}`;
      const delta = entry.count - (this.#reported.get(key) ?? 0n);
      if (delta <= 0n) continue;
      this.#reported.set(key, entry.count);
      const dropped = { type: typeName(entry.type), reason: DropReasonName[entry.reason] ?? String(entry.reason), count: Number(delta), urgent: !HOT_EVENT_TYPES.has(entry.type) };
      onDropped?.(dropped.type, dropped.reason, dropped.count);
      const list = byCgroup.get(entry.cgroupId) ?? [];
      list.push(dropped);
      byCgroup.set(entry.cgroupId, list);
    }
    const unattributed: DroppedRecords[] = [];
    for (const [reason, count] of unattributedCounts) {
      const delta = count - (this.#reportedUnattributed.get(reason) ?? 0n);
      if (delta <= 0n) continue;
      this.#reportedUnattributed.set(reason, count);
      // The kernel keeps no type for these; urgent, since nothing says they were not.
      unattributed.push({ type: 'unknown', reason: DropReasonName[reason] ?? String(reason), count: Number(delta), urgent: true });
      onDropped?.('unknown', `unattributed_${DropReasonName[reason] ?? reason}`, Number(delta));
    }
    if (unattributed.length > 0) byCgroup.set(0n, unattributed);
    for (const [cgroupId, dropped] of byCgroup) {
      dropped.sort((a, b) => b.count - a.count);
      this.#options.onGap({
        type: SyntheticEventType.TelemetryGap,
        ktimeNs: nowNs,
        cgroupId,
        container: cgroupId === 0n ? null : this.#options.resolveContainer(cgroupId),
        windowNs,
        dropped,
        total: dropped.reduce((sum, d) => sum + d.count, 0),
      });
    }
  }
}
