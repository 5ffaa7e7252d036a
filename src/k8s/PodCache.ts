// The informer's store: compact pod records indexed by pod UID and by container id. Deleted pods stay
// answerable for a grace period, because the last events of a dying container can reach the agent after
// the API server has already announced the deletion.

import type { PodRecord } from './projectPod.ts';

export class PodCache {
  private readonly byUid = new Map<string, PodRecord>();
  private readonly byContainerId = new Map<string, PodRecord>();
  /** uid → time (ms, monotonic) after which a deleted pod is forgotten. */
  private readonly deletedUntil = new Map<string, number>();
  private readonly deletedPodGraceMs: number;

  constructor(deletedPodGraceMs: number) {
    this.deletedPodGraceMs = deletedPodGraceMs;
  }

  get size(): number {
    return this.byUid.size;
  }

  byPodUid(uid: string): PodRecord | undefined {
    return this.byUid.get(uid);
  }

  byContainer(containerId: string): PodRecord | undefined {
    return this.byContainerId.get(containerId);
  }

  uids(): IterableIterator<string> {
    return this.byUid.keys();
  }

  upsert(record: PodRecord): void {
    const previous = this.byUid.get(record.uid);
    if (previous) this.unindexContainers(previous);
    this.deletedUntil.delete(record.uid);
    this.byUid.set(record.uid, record);
    for (const id of record.containers.keys()) this.byContainerId.set(id, record);
  }

  /** Marks a pod deleted; it is dropped once the grace period has passed (at the next sweep). */
  markDeleted(uid: string, nowMs: number): void {
    if (!this.byUid.has(uid)) return;
    if (this.deletedPodGraceMs <= 0) this.remove(uid);
    else this.deletedUntil.set(uid, nowMs + this.deletedPodGraceMs);
    this.sweep(nowMs);
  }

  /** Forgets deleted pods whose grace period is over. Cheap when nothing is deleted. */
  sweep(nowMs: number): void {
    for (const [uid, until] of this.deletedUntil) {
      if (until <= nowMs) this.remove(uid);
    }
  }

  private remove(uid: string): void {
    const record = this.byUid.get(uid);
    this.deletedUntil.delete(uid);
    if (!record) return;
    this.byUid.delete(uid);
    this.unindexContainers(record);
  }

  private unindexContainers(record: PodRecord): void {
    for (const id of record.containers.keys()) {
      if (this.byContainerId.get(id) === record) this.byContainerId.delete(id);
    }
  }
}
