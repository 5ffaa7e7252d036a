// Which containers the kernel may kill in, and for which rules: the agent's half of enforcement (the kernel's is
// bpf/lib/enforce.h). A container is armed, its enforce_cgroups entry written, when its workload runs: the first
// exec in its cgroup that the process table does not count as the runtime's set-up and that happens outside the
// host's mount namespace. Until then nothing in the cgroup is enforced, so the runtime's own mounts, namespaces
// and self-exec from a memfd are never killed. The mount namespace condition holds even where the runtime's binary
// is not recognised (a btrfs host, a runtime not in settings.runtimeExecutables): the runtime re-executes itself
// in the host's mount namespace and sets the container up without another exec until the entrypoint's, which
// is inside the container's. The entry is rewritten on every rules reload and removed with the cgroup.
//
// A container whose pod metadata is still pending is armed once it arrives (a namespace exception must be known
// before a kill can be decided); until then it is not enforced, which fails open on purpose.

import type { PodAttributes } from '../detectors/Detector.ts';
import type { EnforcementModeName } from '../receiver/enforcement.ts';
import type { ContainerIdentity } from '../receiver/identity.ts';

/** The kernel side, as KernelSource offers it. */
export interface EnforcementKernel {
  setEnforcementMode(mode: EnforcementModeName): void;
  setContainerKillChecks(cgroupId: bigint, checks: number): void;
  /** Bit n: some armed container's cgroup is at level n (the kernel looks containers up as ancestors there). */
  setArmedCgroupLevels(levels: bigint): void;
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
  /** The current configuration's kill checks for a container with this metadata. */
  killChecksFor: (pod: PodAttributes | undefined) => number;
  /** The container's pod metadata; 'pending' while waiting may still bring it. */
  podOf: (container: ContainerIdentity) => PodAttributes | 'pending' | undefined;
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
  /** cgroup id → the container and the checks written for it (0: known, nothing to kill for). */
  readonly #armed = new Map<bigint, { container: ContainerIdentity; checks: number }>();
  readonly #pending = new Map<bigint, ContainerIdentity>();
  #armFailures = 0;
  #levels = 0n;

  constructor(options: ContainerEnforcementOptions) {
    this.#options = options;
    options.kernel.setEnforcementMode(options.mode());
  }

  get counters(): ContainerEnforcementCounters {
    return { armed: [...this.#armed.values()].filter((a) => a.checks !== 0).length, pending: this.#pending.size, armFailures: this.#armFailures };
  }

  /** The checks written for a cgroup; undefined when it is not armed (yet). */
  checksOf(cgroupId: bigint): number | undefined {
    return this.#armed.get(cgroupId)?.checks;
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

  onCgroupRemoved(cgroupId: bigint): void {
    this.#pending.delete(cgroupId);
    const armed = this.#armed.get(cgroupId);
    if (armed === undefined) return;
    this.#armed.delete(cgroupId);
    if (armed.checks !== 0) this.#write(cgroupId, 0);
  }

  /** After a rules reload: the mode, then every known container's checks under the new rules. */
  reconfigure(): void {
    this.#options.kernel.setEnforcementMode(this.#options.mode());
    for (const [cgroupId, armed] of [...this.#armed]) {
      this.#armed.delete(cgroupId);
      this.#arm(armed.container, armed.checks);
    }
    this.retryPending();
  }

  /** Arms the containers whose metadata has arrived since (or that will not arrive). */
  retryPending(): void {
    for (const [cgroupId, container] of [...this.#pending]) {
      this.#pending.delete(cgroupId);
      this.#arm(container);
    }
  }

  #arm(container: ContainerIdentity, written = 0): void {
    const pod = this.#options.podOf(container);
    if (pod === 'pending') {
      // Known containers keep what was written until their metadata is back (a reload during an API outage).
      if (written !== 0) this.#armed.set(container.cgroupId, { container, checks: written });
      else this.#pending.set(container.cgroupId, container);
      return;
    }
    const checks = this.#options.killChecksFor(pod);
    if (checks !== written && !this.#write(container.cgroupId, checks, container.cgroupPath)) return;
    this.#armed.set(container.cgroupId, { container, checks });
    this.#options.debug?.(`enforcement: container ${container.id} (cgroup ${container.cgroupId}) kill checks 0x${checks.toString(16)}`);
  }

  /** Levels only grow: a level no container uses any more costs a lookup that misses, nothing worse. */
  #addLevel(cgroupPath: string): void {
    const level = cgroupLevel(cgroupPath);
    if (level < 1 || level >= MAX_ARMED_LEVEL) throw new Error(`cgroup ${cgroupPath} is at level ${level}, outside 1..${MAX_ARMED_LEVEL - 1}`);
    const bit = 1n << BigInt(level);
    if ((this.#levels & bit) !== 0n) return;
    this.#levels |= bit;
    this.#options.kernel.setArmedCgroupLevels(this.#levels);
  }

  #write(cgroupId: bigint, checks: number, cgroupPath?: string): boolean {
    try {
      if (checks !== 0 && cgroupPath !== undefined) this.#addLevel(cgroupPath);
      this.#options.kernel.setContainerKillChecks(cgroupId, checks);
      return true;
    } catch (error) {
      this.#armFailures++;
      this.#options.warn(`enforcement: cannot arm cgroup ${cgroupId}, its processes are not enforced: ${(error as Error).message}`);
      return false;
    }
  }
}
