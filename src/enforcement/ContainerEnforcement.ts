// Which containers the kernel may kill in, and for which rules: the agent's half of enforcement (the kernel's is
// bpf/lib/enforce.h). A container is armed, its enforce_cgroups entry written, when its workload runs: the first
// exec in its cgroup outside the host's mount namespace (the process table's runtime set-up verdict is checked
// too, but it only ever holds for execs in the host's mount namespace). Until then nothing in the cgroup is
// enforced, so the runtime's own mounts, namespaces and self-exec from a memfd are never killed: the runtime
// re-executes itself in the host's mount namespace and sets the container up without another exec until the
// entrypoint's, which is inside the container's.
//
// The agent reads that exec a ring poll later, too late for an entrypoint that is itself the escape. So the
// kernel's exec hook arms the container at that very exec, from enforce_pending: the agent registers each kubepods
// root there with the checks that do not depend on pod metadata (a new container's metadata may not be known
// yet), and each container it learns of before its workload runs (cgroup mkdir) with the checks its pod decides.
// Once the agent reads the exec it writes the checks of the container's metadata over whatever the kernel armed,
// and keeps them through rules reloads; it removes the entry with the cgroup.
//
// While a container's metadata is incomplete (its pod known, its container status or owner not yet), a condition
// on what is missing is decided by beforePodMetadata: alert, the default, fails open on purpose
// (docs/enforcement.md, "Arming").

import type { PodAttributes } from '../detectors/Detector.ts';
import type { ContainerPodField } from '../detectors/engine.ts';
import { EnforcementMode, type EnforcementModeName } from '../receiver/enforcement.ts';
import type { ContainerIdentity } from '../receiver/identity.ts';

/** The kernel side, as KernelSource offers it. */
export interface EnforcementKernel {
  setEnforcementMode(mode: EnforcementModeName): void;
  /** 0 included: armed, nothing to kill (the exec hook leaves an entry alone). */
  setContainerKillChecks(cgroupId: bigint, checks: number): void;
  forgetContainer(cgroupId: bigint): void;
  /** Bit n: some container the agent armed is at level n (the kernel looks containers up as ancestors there). */
  setArmedCgroupLevels(levels: bigint): void;
  /** enforce_pending: the checks the exec hook arms a container at or below this cgroup with; undefined removes. */
  setPendingChecks(cgroupId: bigint, checks: number | undefined): void;
  setPendingCgroupLevels(levels: bigint): void;
}

/** KS_ENFORCE_MAX_LEVEL in bpf/lib/enforce.h: the deepest cgroup level a container can be armed at, plus one. */
const MAX_ARMED_LEVEL = 32;

/** A cgroup's level in the hierarchy (the root is 0), from its path relative to the cgroup2 root. */
export function cgroupLevel(cgroupPath: string): number {
  return cgroupPath.split('/').filter((part) => part !== '').length;
}

export interface ContainerEnforcementOptions {
  kernel: EnforcementKernel;
  /** The current configuration's global mode. */
  mode: () => EnforcementModeName;
  /** The current configuration's kill checks for a container with this metadata (`unknown`: still to come). */
  killChecksFor: (pod: PodAttributes | undefined, unknown?: ReadonlySet<ContainerPodField>) => number;
  /** The current configuration's kill checks for a container whose metadata is not known yet. */
  killChecksBeforePodMetadata: () => number;
  /** Whether some rule of the current configuration kills anywhere (else nothing is registered for arming). */
  killsAnywhere: () => boolean;
  /** The container's pod metadata; 'pending' while waiting may still bring it. */
  podOf: (container: ContainerIdentity) => PodAttributes | 'pending' | undefined;
  /** While podOf is pending: what is known already (the pod, before its container status), and what is not. */
  podLevelOf?: (container: ContainerIdentity) => { pod: PodAttributes; unknown: ReadonlySet<ContainerPodField> } | undefined;
  /** The host's mount namespace inode: an exec there is never the workload's (0: unknown, nothing is armed). */
  hostMntNs: number;
  warn: (message: string) => void;
  /** Each container armed or changed, with its checks (tests wait for this line). */
  debug?: (message: string) => void;
}

export interface ContainerEnforcementCounters {
  /** Containers with an enforce_cgroups entry now. */
  armed: number;
  /** Containers waiting for their pod metadata. */
  pending: number;
  /** Entries the kernel map refused (full): those containers are not enforced. */
  armFailures: number;
}

export class ContainerEnforcement {
  readonly #options: ContainerEnforcementOptions;
  /** cgroup id → the container and the checks written for it (0: armed, nothing to kill for). */
  readonly #armed = new Map<bigint, { container: ContainerIdentity; checks: number }>();
  /**
   * Running containers waiting for their pod metadata, with the checks written meanwhile from what is known
   * (undefined: none; the kernel may hold its root's).
   */
  readonly #pending = new Map<bigint, { container: ContainerIdentity; written: number | undefined }>();
  /**
   * Containers known before their workload runs: their enforce_pending entry (undefined: none yet), and whether it
   * is from complete metadata.
   */
  readonly #notRunning = new Map<bigint, { container: ContainerIdentity; written: number | undefined; final: boolean }>();
  /** kubepods roots: cgroup id → path. */
  readonly #roots = new Map<bigint, string>();
  #armFailures = 0;
  #levels = 0n;
  /** The mode last written to the kernel. */
  #writtenMode: EnforcementModeName;
  #pendingLevels = 0n;

  constructor(options: ContainerEnforcementOptions) {
    this.#options = options;
    this.#writtenMode = options.mode();
    options.kernel.setEnforcementMode(this.#writtenMode);
  }

  get counters(): ContainerEnforcementCounters {
    return { armed: [...this.#armed.values()].filter((a) => a.checks !== 0).length, pending: this.#pending.size, armFailures: this.#armFailures };
  }

  /** The checks written for a cgroup; undefined when the agent has not armed it (yet). */
  checksOf(cgroupId: bigint): number | undefined {
    return this.#armed.get(cgroupId)?.checks;
  }

  /**
   * A kubepods root (the cgroup every pod's lies below): a container that starts below it is armed by the kernel
   * at its workload's first exec, with the checks that need no pod metadata.
   */
  addKubepodsRoot(cgroupId: bigint, cgroupPath: string): void {
    if (this.#roots.has(cgroupId)) return;
    this.#roots.set(cgroupId, cgroupPath);
    if (this.#options.killsAnywhere()) this.#writeRoot(cgroupId, cgroupPath, this.#options.killChecksBeforePodMetadata());
  }

  /**
   * A container's cgroup appeared; its workload has not run yet. With its metadata known, the kernel arms it with
   * its own checks rather than its root's, should its first exec come before the agent reads it.
   */
  onContainerCreated(container: ContainerIdentity): void {
    const id = container.cgroupId;
    if (this.#armed.has(id) || this.#pending.has(id) || this.#notRunning.has(id)) return;
    this.#notRunning.set(id, { container, written: undefined, final: false });
    this.#writeNotRunning(id);
  }

  /**
   * A process of the container executed a file. `runtimeSetup`: the process table's verdict for it; `mntNs`: the
   * mount namespace it executed in (0: unknown). The workload runs once an exec is neither.
   */
  onExec(container: ContainerIdentity, exec: { runtimeSetup: boolean; mntNs: number }): void {
    if (exec.runtimeSetup || exec.mntNs === 0 || this.#options.hostMntNs === 0 || exec.mntNs === this.#options.hostMntNs) return;
    if (this.#armed.has(container.cgroupId) || this.#pending.has(container.cgroupId)) return;
    this.#arm(container);
  }

  onCgroupRemoved(cgroupId: bigint, cgroupPath: string): void {
    this.#pending.delete(cgroupId);
    const notRunning = this.#notRunning.get(cgroupId);
    this.#notRunning.delete(cgroupId);
    if (notRunning?.written !== undefined || this.#roots.delete(cgroupId)) this.#options.kernel.setPendingChecks(cgroupId, undefined);
    const armed = this.#armed.delete(cgroupId);
    // The kernel may have armed a container below a root that the agent never saw run (its exec record lost).
    if (armed || [...this.#roots.values()].some((root) => cgroupPath.startsWith(`${root}/`))) this.#options.kernel.forgetContainer(cgroupId);
  }

  /** After a rules reload: the mode, the roots' checks, then every known container's checks under the new rules. */
  reconfigure(): void {
    // The mode is global and the checks per container, so the two cannot change at once. A weaker mode goes first
    // and a stronger one last: between them the kernel decides under the weaker of the two, never under `on` with
    // the previous rules' checks (dry-run with every rule to `on` with a few would really kill for the rest).
    const next = this.#options.mode();
    if (EnforcementMode[next] < EnforcementMode[this.#writtenMode]) this.#setMode(next);
    if (this.#options.killsAnywhere()) {
      const beforeMetadata = this.#options.killChecksBeforePodMetadata();
      for (const [cgroupId, cgroupPath] of this.#roots) this.#writeRoot(cgroupId, cgroupPath, beforeMetadata);
      for (const cgroupId of this.#notRunning.keys()) this.#writeNotRunning(cgroupId);
    } else this.#unregisterAll();
    for (const [cgroupId, armed] of [...this.#armed]) {
      this.#armed.delete(cgroupId);
      this.#arm(armed.container, armed.checks, true);
    }
    this.retryPending();
    this.#setMode(next);
  }

  #setMode(mode: EnforcementModeName): void {
    if (mode === this.#writtenMode) return;
    this.#options.kernel.setEnforcementMode(mode);
    this.#writtenMode = mode;
  }

  /** Arms the containers whose metadata has arrived since (or that will not arrive). */
  retryPending(): void {
    for (const [cgroupId, pending] of [...this.#pending]) {
      this.#pending.delete(cgroupId);
      this.#arm(pending.container, pending.written);
    }
    for (const [cgroupId, entry] of this.#notRunning) if (!entry.final) this.#writeNotRunning(cgroupId);
  }

  /** `written`: the checks in the kernel for it; `wasArmed`: its metadata was complete when they were written. */
  #arm(container: ContainerIdentity, written?: number, wasArmed = false): void {
    const pod = this.#options.podOf(container);
    if (pod === 'pending') {
      // Known containers keep what was written until their metadata is back (a reload during an API outage).
      if (wasArmed && written !== undefined) {
        this.#armed.set(container.cgroupId, { container, checks: written });
        return;
      }
      // A new one gets the checks of what is known already (its pod, before its container status), else keeps
      // what the kernel armed it with, if anything: its root's.
      const interim = this.#checksOfPodLevel(container);
      if (interim !== undefined && this.#differs(interim, written) && this.#write(container.cgroupId, interim, container.cgroupPath)) {
        written = interim;
        this.#options.debug?.(`enforcement: container ${container.id} (cgroup ${container.cgroupId}) kill checks 0x${interim.toString(16)} from its pod, until its metadata is complete`);
      }
      this.#pending.set(container.cgroupId, { container, written });
      return;
    }
    const checks = this.#options.killChecksFor(pod);
    if (this.#differs(checks, written) && !this.#write(container.cgroupId, checks, container.cgroupPath)) return;
    this.#armed.set(container.cgroupId, { container, checks });
    if (this.#notRunning.get(container.cgroupId)?.written !== undefined) this.#options.kernel.setPendingChecks(container.cgroupId, undefined);
    this.#notRunning.delete(container.cgroupId);
    this.#options.debug?.(`enforcement: container ${container.id} (cgroup ${container.cgroupId}) kill checks 0x${checks.toString(16)}`);
  }

  /**
   * Whether `checks` must be written over what the kernel holds (`written`; undefined: nothing the agent wrote). An
   * entry with no checks is written only while the exec hook may arm (some cgroup is registered), so that it does
   * not arm the container again; otherwise no entry means the same, and leaves the map room.
   */
  #differs(checks: number, written: number | undefined): boolean {
    if (written !== undefined) return checks !== written;
    return checks !== 0 || this.#pendingLevels !== 0n;
  }

  /** The checks of a container whose metadata is pending, from its pod's; undefined when the pod is unknown too. */
  #checksOfPodLevel(container: ContainerIdentity): number | undefined {
    const known = this.#options.podLevelOf?.(container);
    return known === undefined ? undefined : this.#options.killChecksFor(known.pod, known.unknown);
  }

  /** A not yet running container's own enforce_pending entry, from as much of its metadata as is known. */
  #writeNotRunning(cgroupId: bigint): void {
    if (!this.#options.killsAnywhere()) return;
    const entry = this.#notRunning.get(cgroupId)!;
    const pod = this.#options.podOf(entry.container);
    const checks = pod === 'pending' ? this.#checksOfPodLevel(entry.container) : this.#options.killChecksFor(pod);
    entry.final = pod !== 'pending';
    if (checks === undefined || checks === entry.written) return;
    if (this.#writePending(cgroupId, checks, entry.container.cgroupPath)) entry.written = checks;
  }

  #writeRoot(cgroupId: bigint, cgroupPath: string, checks: number): void {
    if (this.#writePending(cgroupId, checks, cgroupPath)) {
      this.#options.debug?.(`enforcement: kubepods root ${cgroupPath} (cgroup ${cgroupId}) arms new containers with kill checks 0x${checks.toString(16)}`);
    }
  }

  /** No rule kills: nothing for the exec hook to arm (what it armed keeps its entries, rewritten with no checks). */
  #unregisterAll(): void {
    for (const cgroupId of this.#roots.keys()) this.#options.kernel.setPendingChecks(cgroupId, undefined);
    for (const [cgroupId, entry] of this.#notRunning) {
      if (entry.written !== undefined) this.#options.kernel.setPendingChecks(cgroupId, undefined);
      entry.written = undefined;
      entry.final = false;
    }
    if (this.#pendingLevels !== 0n) {
      this.#pendingLevels = 0n;
      this.#options.kernel.setPendingCgroupLevels(0n);
    }
  }

  #writePending(cgroupId: bigint, checks: number, cgroupPath: string): boolean {
    try {
      const bit = this.#levelBit(cgroupPath);
      this.#options.kernel.setPendingChecks(cgroupId, checks);
      if ((this.#pendingLevels & bit) === 0n) {
        this.#pendingLevels |= bit;
        this.#options.kernel.setPendingCgroupLevels(this.#pendingLevels);
      }
      return true;
    } catch (error) {
      this.#armFailures++;
      this.#options.warn(`enforcement: cannot register cgroup ${cgroupPath} for arming at its first exec: ${(error as Error).message}`);
      return false;
    }
  }

  #levelBit(cgroupPath: string): bigint {
    const level = cgroupLevel(cgroupPath);
    if (level < 1 || level >= MAX_ARMED_LEVEL) throw new Error(`cgroup ${cgroupPath} is at level ${level}, outside 1..${MAX_ARMED_LEVEL - 1}`);
    return 1n << BigInt(level);
  }

  /** Levels only grow: a level no container uses any more costs a lookup that misses, nothing worse. */
  #addLevel(cgroupPath: string): void {
    const bit = this.#levelBit(cgroupPath);
    if ((this.#levels & bit) !== 0n) return;
    this.#levels |= bit;
    this.#options.kernel.setArmedCgroupLevels(this.#levels);
  }

  #write(cgroupId: bigint, checks: number, cgroupPath: string): boolean {
    try {
      if (checks !== 0) this.#addLevel(cgroupPath);
      this.#options.kernel.setContainerKillChecks(cgroupId, checks);
      return true;
    } catch (error) {
      this.#armFailures++;
      this.#options.warn(`enforcement: cannot arm cgroup ${cgroupId}, its processes are not enforced: ${(error as Error).message}`);
      return false;
    }
  }
}
