// cgroup id → container identity. The table starts from a walk of the cgroup2 tree, follows cgroup mkdir/rmdir
// events, and on a miss re-walks (the process's own subtree when its pid is known, else the whole tree), at a
// bounded rate because a miss can come from every event of a busy process.

import { readFileSync } from 'node:fs';
import { BootClock } from '../clock.ts';
import { Op, type CgroupEvent } from './events.ts';
import type { ContainerIdentity } from './identity.ts';
import { cgroupIdOf, cgroupPathFromProcFile, isKubepodsRoot, parseContainerCgroupPath, readCgroup2Mount, walkCgroups } from './cgroups.ts';
import { RateLimiter } from './RateLimiter.ts';

export interface ContainerResolverOptions {
  /** cgroup2 mount point; default: found in /proc/self/mountinfo. */
  mountPoint?: string;
  procRoot?: string;
  /** CLOCK_BOOTTIME now, for firstSeenNs of cgroups found by walking. */
  nowBootNs?: () => bigint;
  /** Sustained re-walks per second on misses (burst: 5). */
  rewalksPerSecond?: number;
  /** Removed cgroups still resolved, for late events of processes that lived in them. */
  rememberRemoved?: number;
}

export interface ContainerResolverStats {
  /** Lookups of ids not in the table. */
  misses: number;
  /** Re-walks done because of a miss. */
  rewalks: number;
  /** Misses left unresolved because re-walks were at their rate limit. */
  rewalksRateLimited: number;
  /** mkdir/rmdir events applied. */
  cgroupEvents: number;
  /** mkdir/rmdir events whose id did not match the directory's inode (other hierarchy, or already gone). */
  cgroupEventsIgnored: number;
}

interface Entry {
  path: string;
  identity: ContainerIdentity | null;
}

const MAX_UNRESOLVABLE = 4096;

export class ContainerResolver {
  readonly mountPoint: string;
  readonly stats: ContainerResolverStats = { misses: 0, rewalks: 0, rewalksRateLimited: 0, cgroupEvents: 0, cgroupEventsIgnored: 0 };
  readonly #procRoot: string;
  readonly #nowBootNs: () => bigint;
  readonly #rewalkLimiter: RateLimiter;
  readonly #rememberRemoved: number;
  readonly #byCgroupId = new Map<bigint, Entry>();
  readonly #byContainerId = new Map<string, ContainerIdentity>();
  /** Insertion-ordered, so the oldest removal is forgotten first. */
  readonly #removed = new Map<bigint, Entry>();
  /** Ids a re-walk did not find: cgroup ids are not reused, so walking again for them is wasted work. */
  readonly #unresolvable = new Set<bigint>();

  constructor(options: ContainerResolverOptions = {}) {
    this.mountPoint = options.mountPoint ?? readCgroup2Mount();
    this.#procRoot = options.procRoot ?? '/proc';
    if (options.nowBootNs) this.#nowBootNs = options.nowBootNs;
    else {
      const clock = new BootClock();
      this.#nowBootNs = () => clock.nowBootNs();
    }
    this.#rewalkLimiter = new RateLimiter(options.rewalksPerSecond ?? 1, 5);
    this.#rememberRemoved = options.rememberRemoved ?? 1024;
  }

  /** Walks the whole cgroup2 tree; call once at start-up. */
  start(): void {
    this.#addWalk(walkCgroups(this.mountPoint), this.#nowBootNs());
  }

  /** Cgroups known (gauge). */
  get cgroupCount(): number {
    return this.#byCgroupId.size;
  }

  /** Containers known (gauge). */
  get containerCount(): number {
    return this.#byContainerId.size;
  }

  /** Every container known now (removed ones excluded), for periodic per-container work such as CPU sampling. */
  containers(): IterableIterator<ContainerIdentity> {
    return this.#byContainerId.values();
  }

  /** The kubepods roots known now (removed ones excluded): cgroup id → path. */
  kubepodsRoots(): Map<bigint, string> {
    const out = new Map<bigint, string>();
    for (const [id, entry] of this.#byCgroupId) if (isKubepodsRoot(entry.path)) out.set(id, entry.path);
    return out;
  }

  /** Path of a known cgroup relative to the cgroup2 root, without miss handling. */
  pathOf(cgroupId: bigint): string | undefined {
    return (this.#byCgroupId.get(cgroupId) ?? this.#removed.get(cgroupId))?.path;
  }

  /**
   * The container of a cgroup id, or null for a host cgroup or one that cannot be found. `tgid`, when given, lets a
   * miss re-walk just that process's cgroup subtree.
   */
  resolve(cgroupId: bigint, tgid?: number): ContainerIdentity | null {
    const entry = this.#byCgroupId.get(cgroupId) ?? this.#removed.get(cgroupId);
    if (entry) return entry.identity;
    this.stats.misses++;
    if (this.#unresolvable.has(cgroupId)) return null;
    if (!this.#rewalkLimiter.tryAcquire()) {
      this.stats.rewalksRateLimited++;
      return null;
    }
    this.stats.rewalks++;
    const now = this.#nowBootNs();
    const subtree = tgid === undefined ? null : this.#procCgroupPath(tgid);
    if (subtree !== null) this.#addWalk(walkCgroups(this.mountPoint, this.#absolute(subtree)), now);
    if (!this.#byCgroupId.has(cgroupId)) this.#addWalk(walkCgroups(this.mountPoint), now);
    const found = this.#byCgroupId.get(cgroupId);
    if (found) return found.identity;
    if (this.#unresolvable.size >= MAX_UNRESOLVABLE) this.#unresolvable.clear();
    this.#unresolvable.add(cgroupId);
    return null;
  }

  /**
   * The container of a cgroup path (v2 relative to the cgroup2 root, or a v1 path from /proc/<pid>/cgroup), for
   * processes found through /proc rather than events.
   */
  resolvePath(path: string): ContainerIdentity | null {
    const id = cgroupIdOf(this.#absolute(path));
    if (id !== null) {
      const entry = this.#byCgroupId.get(id);
      if (entry) return entry.identity;
      this.#add(id, path, this.#nowBootNs());
      return this.#byCgroupId.get(id)!.identity;
    }
    return this.#identityFor(path, 0n, this.#nowBootNs());
  }

  /** The cgroup id of a path relative to the cgroup2 root, or null when there is no such cgroup (any more). */
  idOfPath(path: string): bigint | null {
    return cgroupIdOf(this.#absolute(path));
  }

  /** Applies a cgroup mkdir/rmdir record. */
  onCgroupEvent(event: CgroupEvent): void {
    if (event.op === Op.CgroupMkdir) {
      // The inode check rejects records from cgroup v1 hierarchies, whose ids live in another id space.
      if (cgroupIdOf(this.#absolute(event.path)) !== event.id) {
        this.stats.cgroupEventsIgnored++;
        return;
      }
      this.stats.cgroupEvents++;
      this.#unresolvable.delete(event.id);
      if (!this.#byCgroupId.has(event.id)) this.#add(event.id, event.path, event.ktimeNs);
    } else if (event.op === Op.CgroupRmdir) {
      const entry = this.#byCgroupId.get(event.id);
      if (!entry || entry.path !== event.path) {
        this.stats.cgroupEventsIgnored++;
        return;
      }
      this.stats.cgroupEvents++;
      this.#byCgroupId.delete(event.id);
      if (entry.identity && entry.identity.cgroupId === event.id) this.#byContainerId.delete(entry.identity.id);
      this.#removed.set(event.id, entry);
      if (this.#removed.size > this.#rememberRemoved) this.#removed.delete(this.#removed.keys().next().value!);
    }
  }

  #absolute(path: string): string {
    return path === '/' ? this.mountPoint : this.mountPoint + path;
  }

  #procCgroupPath(tgid: number): string | null {
    try {
      return cgroupPathFromProcFile(readFileSync(`${this.#procRoot}/${tgid}/cgroup`, 'utf8'));
    } catch {
      return null;
    }
  }

  #addWalk(found: Map<bigint, string>, now: bigint): void {
    for (const [id, path] of found) if (!this.#byCgroupId.has(id)) this.#add(id, path, now);
  }

  #add(id: bigint, path: string, seenNs: bigint): void {
    this.#byCgroupId.set(id, { path, identity: this.#identityFor(path, id, seenNs) });
  }

  #identityFor(path: string, id: bigint, seenNs: bigint): ContainerIdentity | null {
    const parsed = parseContainerCgroupPath(path);
    if (!parsed) return null;
    const known = this.#byContainerId.get(parsed.id);
    if (known) return known;
    // A sub-cgroup can be seen before its container's own cgroup; the identity names the container's cgroup.
    const containerCgroupId = parsed.cgroupPath === path ? id : (cgroupIdOf(this.#absolute(parsed.cgroupPath)) ?? id);
    const identity: ContainerIdentity = {
      id: parsed.id,
      runtime: parsed.runtime,
      cgroupPath: parsed.cgroupPath,
      cgroupId: containerCgroupId,
      firstSeenNs: seenNs,
    };
    if (parsed.podUid !== undefined) identity.podUid = parsed.podUid;
    if (parsed.qosClass !== undefined) identity.qosClass = parsed.qosClass;
    this.#byContainerId.set(parsed.id, identity);
    return identity;
  }
}
