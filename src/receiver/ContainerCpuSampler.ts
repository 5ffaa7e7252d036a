// Periodic CPU utilisation of every known container, for the cryptomining detector's "sustained saturation"
// signal. The kernel programs see system calls, not CPU time, so this reads the cgroup counters on a timer:
// cgroup2 cpu.stat usage_usec exists in every cgroup2 cgroup even when the cpu controller is not enabled there
// (hybrid hosts keep it in the v1 hierarchy), and the limit comes from cgroup2 cpu.max or, on hybrid hosts, from
// the v1 cpu hierarchy's CFS quota for the same path. Utilisation is measured against that limit because a
// throttled miner never shows as "100 % of the node", only as "all it is allowed".

import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { SyntheticEventType, type ContainerCpuSampleEvent } from '../detectors/Detector.ts';
import type { ContainerIdentity } from './identity.ts';

export interface ContainerCpuSamplerOptions {
  /** Source of the container list and of the cgroup2 mount point. */
  resolver: { readonly mountPoint: string; containers(): Iterable<ContainerIdentity> };
  /** Sampling period; default 10 s. */
  intervalMs?: number;
  /** CLOCK_BOOTTIME now in ns, the clock kernel events carry. */
  nowBootNs: () => bigint;
  onSample: (event: ContainerCpuSampleEvent) => void;
  /** Most containers read per tick (the rest wait for the next tick, in turn); default 4096. */
  maxContainersPerTick?: number;
  /** v1 cpu controller mount (hybrid hosts); default found in /proc/self/mountinfo, null when there is none. */
  cpuV1Mount?: string | null;
  /** CPUs a container without a quota may use; default the node's CPU count. */
  nodeCpus?: number;
}

export interface ContainerCpuSamplerStats {
  /** Samples handed to onSample. */
  samples: number;
  /** Containers whose cpu.stat could not be read (cgroup gone between listing and reading, or unreadable). */
  readFailures: number;
  /** Container readings postponed to a later tick because the tick's budget was spent. */
  deferred: number;
  /** Readings dropped because the counter went backwards (cgroup recreated under the same container id). */
  counterResets: number;
}

interface Reading {
  usageUsec: bigint;
  atNs: bigint;
}

const DEFAULT_INTERVAL_MS = 10_000;
const DEFAULT_MAX_PER_TICK = 4096;

export class ContainerCpuSampler {
  readonly stats: ContainerCpuSamplerStats = { samples: 0, readFailures: 0, deferred: 0, counterResets: 0 };
  readonly #resolver: ContainerCpuSamplerOptions['resolver'];
  readonly #intervalMs: number;
  readonly #nowBootNs: () => bigint;
  readonly #onSample: (event: ContainerCpuSampleEvent) => void;
  readonly #maxPerTick: number;
  readonly #cpuV1Mount: string | null;
  readonly #nodeCpus: number;
  readonly #last = new Map<string, Reading>();
  /** Where the next tick starts in the container list, so an over-budget list is read in turn. */
  #cursor = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: ContainerCpuSamplerOptions) {
    const intervalMs = options.intervalMs ?? DEFAULT_INTERVAL_MS;
    if (!Number.isInteger(intervalMs) || intervalMs < 100) throw new Error(`ContainerCpuSampler: intervalMs must be a whole number ≥ 100, got ${intervalMs}`);
    this.#resolver = options.resolver;
    this.#intervalMs = intervalMs;
    this.#nowBootNs = options.nowBootNs;
    this.#onSample = options.onSample;
    this.#maxPerTick = options.maxContainersPerTick ?? DEFAULT_MAX_PER_TICK;
    this.#cpuV1Mount = options.cpuV1Mount !== undefined ? options.cpuV1Mount : findCpuV1Mount();
    this.#nodeCpus = options.nodeCpus ?? availableParallelism();
  }

  start(): void {
    if (this.#timer) return;
    this.tick();
    this.#timer = setInterval(() => this.tick(), this.#intervalMs);
    // Sampling alone must not keep the agent alive.
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Containers with a baseline reading (gauge). */
  get trackedContainers(): number {
    return this.#last.size;
  }

  /** One sampling pass; start() calls it on the timer. Public so tests drive it without waiting for the timer. */
  tick(): void {
    const containers = [...this.#resolver.containers()];
    const present = new Set<string>();
    for (const c of containers) present.add(c.id);
    for (const id of this.#last.keys()) if (!present.has(id)) this.#last.delete(id);

    const budget = Math.min(containers.length, this.#maxPerTick);
    this.stats.deferred += containers.length - budget;
    const start = containers.length === 0 ? 0 : this.#cursor % containers.length;
    for (let i = 0; i < budget; i++) this.#sample(containers[(start + i) % containers.length]);
    this.#cursor = start + budget;
  }

  #sample(container: ContainerIdentity): void {
    const usageUsec = this.#readUsageUsec(container.cgroupPath);
    const atNs = this.#nowBootNs();
    if (usageUsec === null) {
      this.stats.readFailures++;
      this.#last.delete(container.id);
      return;
    }
    const previous = this.#last.get(container.id);
    this.#last.set(container.id, { usageUsec, atNs });
    if (!previous) return;
    const windowNs = atNs - previous.atNs;
    if (windowNs <= 0n) return;
    if (usageUsec < previous.usageUsec) {
      this.stats.counterResets++;
      return;
    }
    const usedNs = Number(usageUsec - previous.usageUsec) * 1000;
    const utilization = Math.min(1, usedNs / (Number(windowNs) * this.#limitCpus(container.cgroupPath)));
    this.stats.samples++;
    this.#onSample({
      type: SyntheticEventType.ContainerCpuSample,
      ktimeNs: atNs,
      cgroupId: container.cgroupId,
      container,
      utilization,
      windowNs,
    });
  }

  #readUsageUsec(cgroupPath: string): bigint | null {
    const text = readOrNull(`${this.#resolver.mountPoint}${cgroupPath}/cpu.stat`);
    const match = text === null ? null : /^usage_usec (\d+)$/m.exec(text);
    return match ? BigInt(match[1]) : null;
  }

  /** CPUs the container may use: its CFS quota (cgroup2 first, then the v1 cpu hierarchy), else the node's CPUs. */
  #limitCpus(cgroupPath: string): number {
    const v2 = readOrNull(`${this.#resolver.mountPoint}${cgroupPath}/cpu.max`);
    if (v2 !== null) {
      const [quota, period] = v2.trim().split(/\s+/);
      if (quota !== 'max' && Number(quota) > 0 && Number(period) > 0) return Number(quota) / Number(period);
      return this.#nodeCpus;
    }
    if (this.#cpuV1Mount !== null) {
      const quota = Number(readOrNull(`${this.#cpuV1Mount}${cgroupPath}/cpu.cfs_quota_us`) ?? -1);
      const period = Number(readOrNull(`${this.#cpuV1Mount}${cgroupPath}/cpu.cfs_period_us`) ?? 0);
      if (quota > 0 && period > 0) return quota / period;
    }
    return this.#nodeCpus;
  }
}

function readOrNull(path: string): string | null {
  try {
    return readFileSync(path, 'latin1');
  } catch {
    return null;
  }
}

/** The v1 hierarchy that carries the cpu controller (alone or co-mounted as cpu,cpuacct), mounted at its root. */
export function findCpuV1Mount(mountinfo = readOrNull('/proc/self/mountinfo') ?? ''): string | null {
  for (const line of mountinfo.split('\n')) {
    const [before, after] = line.split(' - ');
    if (after === undefined) continue;
    const [fstype, , superOptions = ''] = after.split(' ');
    if (fstype !== 'cgroup' || !superOptions.split(',').includes('cpu')) continue;
    const fields = before.split(' ');
    // A hierarchy mounted from a sub-directory (a cgroup namespace) does not show other containers' paths.
    if (fields[3] !== '/') continue;
    return fields[4].replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
  }
  return null;
}
