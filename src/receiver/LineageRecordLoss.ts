// When the kernel last lost exec or fork records of a cgroup: what a process's runtime set-up standing rests on.
//
// The process table grants that standing at the exec of the host's runtime binary, and a forked child inherits it
// until its own exec record says it runs something else. With that exec record lost (the ring full while a
// container starts, or refused by the admission during a flood, which another container can cause), the
// container's workload would keep the runtime's standing and every rule that ignores runtime set-up would ignore
// it. So a standing granted before such a loss in the cgroup is not trusted: the runtime's own records in that
// window are reported (and the loss itself is a KS-GAP-001 detection), never the other way round.
//
// The kernel counts drops without a time. Every cgroupDrops() read (the telemetry-gap sampler's, every few seconds)
// is offered to observe(); a cgroup whose count grew is taken to have lost records at that read. lostSince() reads
// the one cgroup's counts again when asked, so a loss since the last sampler read is seen too, at the asking time.
// Both errs on the side of "after": a loss is never dated earlier than it could have happened.

import { EventType } from './events.ts';
import type { CgroupDrops, DropReason } from './kernel.ts';

/** The record types whose loss leaves the process table's picture of a lineage wrong. */
export const LINEAGE_EVENT_TYPES: readonly EventType[] = [EventType.Exec, EventType.Fork];
const LINEAGE_TYPES = new Set<EventType>(LINEAGE_EVENT_TYPES);

export interface LineageDropSource {
  cgroupDropCount(cgroupId: bigint, types: readonly EventType[]): bigint;
  unattributedDrops(): Map<DropReason, bigint>;
}

interface Seen {
  count: bigint;
  /** CLOCK_BOOTTIME ns of the read that first saw the count; -1n: never grew. */
  lostAtNs: bigint;
}

export class LineageRecordLoss {
  readonly #source: LineageDropSource;
  readonly #nowBootNs: () => bigint;
  readonly #byCgroup = new Map<bigint, Seen>();
  /** Drops cgroup_drops had no room for carry no cgroup and no type: they count against every cgroup. */
  readonly #unattributed: Seen = { count: 0n, lostAtNs: -1n };

  constructor(source: LineageDropSource, nowBootNs: () => bigint) {
    this.#source = source;
    this.#nowBootNs = nowBootNs;
  }

  /** A whole cgroup_drops read (the sampler's) and the unattributed counts of the same moment. */
  observe(drops: readonly CgroupDrops[], unattributed: Map<DropReason, bigint>): void {
    const nowNs = this.#nowBootNs();
    const counts = new Map<bigint, bigint>();
    for (const d of drops) {
      if (LINEAGE_TYPES.has(d.type)) counts.set(d.cgroupId, (counts.get(d.cgroupId) ?? 0n) + d.count);
    }
    for (const [cgroupId, count] of counts) this.#note(this.#seen(cgroupId), count, nowNs);
    this.#note(this.#unattributed, sum(unattributed), nowNs);
  }

  /** Whether exec or fork records of `cgroupId`'s tasks (or records without a cgroup) were lost after `sinceNs`. */
  lostSince(cgroupId: bigint, sinceNs: bigint): boolean {
    const nowNs = this.#nowBootNs();
    const seen = this.#seen(cgroupId);
    this.#note(seen, this.#source.cgroupDropCount(cgroupId, LINEAGE_EVENT_TYPES), nowNs);
    this.#note(this.#unattributed, sum(this.#source.unattributedDrops()), nowNs);
    return seen.lostAtNs >= sinceNs || this.#unattributed.lostAtNs >= sinceNs;
  }

  /** Forgets a removed cgroup (its id is never reused). */
  forget(cgroupId: bigint): void {
    this.#byCgroup.delete(cgroupId);
  }

  #seen(cgroupId: bigint): Seen {
    let seen = this.#byCgroup.get(cgroupId);
    if (!seen) {
      seen = { count: 0n, lostAtNs: -1n };
      this.#byCgroup.set(cgroupId, seen);
    }
    return seen;
  }

  #note(seen: Seen, count: bigint, nowNs: bigint): void {
    if (count === seen.count) return;
    seen.count = count;
    seen.lostAtNs = nowNs;
  }
}

function sum(counts: Map<DropReason, bigint>): bigint {
  let total = 0n;
  for (const n of counts.values()) total += n;
  return total;
}
