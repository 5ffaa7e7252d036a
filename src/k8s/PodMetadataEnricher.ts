// The agent's view of Kubernetes metadata. enrich() answers from memory only (no I/O on the detection path);
// hold() parks a detection whose pod the informer has not delivered yet — a container's first exec routinely
// beats the kubelet's status update to the API server — and releases it enriched as soon as the pod (and its
// container status and owner) arrive, or with the bare ids when the hold expires or the API server is
// unreachable. Every bare release is counted as a metadata miss.

import { CONTAINER_ID, K8S_CONTAINER_NAME, K8S_POD_UID, type PodAttributes } from './attributes.ts';
import type { InformerState } from './PodInformer.ts';
import type { K8sLogger } from './Logger.ts';
import type { OwnerResolver } from './OwnerResolver.ts';
import type { PodCache } from './PodCache.ts';
import type { PodRecord } from './projectPod.ts';

export type EnrichResult = PodAttributes | 'pending' | 'miss';

/**
 * enriched: everything known; partial: pod known but its container status or owner not yet (pod-level
 * attributes plus container.id); bare: only container.id / k8s.pod.uid.
 */
export type ReleaseOutcome = 'enriched' | 'partial' | 'bare';
export type Release = (attributes: PodAttributes, outcome: ReleaseOutcome) => void;

export type MetadataState = InformerState | 'off';

export interface PodMetadataEnricherOptions {
  cache: PodCache | null;
  owners: OwnerResolver | null;
  state: () => MetadataState;
  log: K8sLogger;
  /** How long a detection may wait for its pod. */
  holdMs?: number;
  /** Held detections beyond this are released at once (bare or partial) and counted in holdOverflows. */
  maxHeld?: number;
}

export interface EnricherCounters {
  /** Released with complete metadata, at once or after waiting. */
  enriched: number;
  /** Of those, released after waiting for the pod. */
  enrichedAfterHold: number;
  /** Released with pod-level metadata only: the container status or owner lookup did not arrive in time. */
  partial: number;
  /** k8s metadata misses: a pod container (pod UID known) released with only container.id / k8s.pod.uid. */
  misses: number;
  /** Released bare because the container has no pod UID and no pod lists it: not a pod's container. */
  notInPod: number;
  /** Holds that ran out their time (each is also a partial or a miss). */
  holdsExpired: number;
  /** Holds refused because maxHeld were already waiting (each is also a partial or a miss). */
  holdOverflows: number;
  /** Release callbacks that threw; the error is logged and the enricher carries on. */
  releaseErrors: number;
}

interface Hold {
  podUid: string | undefined;
  containerId: string | undefined;
  deadlineMs: number;
  release: Release;
}

type Evaluation = { kind: 'complete'; attributes: PodAttributes } | { kind: 'pending' } | { kind: 'miss' };

export class PodMetadataEnricher {
  readonly counters: EnricherCounters = {
    enriched: 0, enrichedAfterHold: 0, partial: 0, misses: 0, notInPod: 0, holdsExpired: 0, holdOverflows: 0, releaseErrors: 0,
  };
  private readonly options: PodMetadataEnricherOptions;
  private readonly holdMs: number;
  private readonly maxHeld: number;
  /** Insertion order is deadline order, because every hold lasts holdMs. */
  private readonly holds = new Set<Hold>();
  private readonly holdsByPod = new Map<string, Set<Hold>>();
  private timer: NodeJS.Timeout | undefined;

  constructor(options: PodMetadataEnricherOptions) {
    this.options = options;
    this.holdMs = options.holdMs ?? 2000;
    this.maxHeld = options.maxHeld ?? 10_000;
  }

  get heldCount(): number {
    return this.holds.size;
  }

  /** Attributes ready to merge into a detection, 'pending' if waiting may help, 'miss' if it cannot. */
  enrich(podUid: string | undefined, containerId: string | undefined): EnrichResult {
    const evaluation = this.evaluate(podUid, containerId);
    return evaluation.kind === 'complete' ? evaluation.attributes : evaluation.kind;
  }

  /**
   * What is known of a pod before its container's status (and its owner) arrive, for decisions that cannot wait
   * for them: the pod-level attributes, with the owner's once resolved. undefined while the pod is unknown.
   */
  podLevel(podUid: string | undefined): { attributes: PodAttributes; ownerKnown: boolean } | undefined {
    const state = this.options.state();
    if (!podUid || state === 'off' || state === 'stopped' || !this.options.cache) return undefined;
    const record = this.options.cache.byPodUid(podUid);
    if (!record) return undefined;
    if (!record.owner) return { attributes: record.attributes, ownerKnown: true };
    const owner = this.options.owners?.attributesFor(record.namespace, record.owner);
    return owner ? { attributes: { ...record.attributes, ...owner }, ownerKnown: true } : { attributes: record.attributes, ownerKnown: false };
  }

  /**
   * Calls release exactly once: synchronously when the answer is known now, otherwise when the pod arrives,
   * the hold expires, the API server becomes unreachable, or close() is called.
   */
  hold(podUid: string | undefined, containerId: string | undefined, release: Release): void {
    const evaluation = this.evaluate(podUid, containerId);
    if (evaluation.kind === 'complete') {
      this.counters.enriched += 1;
      this.invoke(release, evaluation.attributes, 'enriched');
      return;
    }
    if (evaluation.kind === 'miss') {
      this.releaseBestEffort(podUid, containerId, release);
      return;
    }
    if (this.holds.size >= this.maxHeld) {
      this.counters.holdOverflows += 1;
      this.releaseBestEffort(podUid, containerId, release);
      return;
    }
    const hold: Hold = { podUid, containerId, deadlineMs: performance.now() + this.holdMs, release };
    this.holds.add(hold);
    const key = podUid ?? '';
    let forPod = this.holdsByPod.get(key);
    if (!forPod) this.holdsByPod.set(key, (forPod = new Set()));
    forPod.add(hold);
    this.schedule();
  }

  /** The informer changed this pod: release the detections waiting for it if they can now be answered. */
  podChanged(uid: string): void {
    this.recheck(this.holdsByPod.get(uid));
    // Detections without a pod UID wait on a container id that any pod may bring.
    this.recheck(this.holdsByPod.get(''));
  }

  /** An owner lookup settled, or the informer state changed: every waiting detection may be answerable. */
  recheckAll(): void {
    this.recheck(this.holds);
  }

  /** The commands the kubelet execs into this container (exec probes, lifecycle hooks), from its pod's spec. */
  execHooks(podUid: string | undefined, containerId: string): readonly string[][] | undefined {
    const cache = this.options.cache;
    const record = (podUid ? cache?.byPodUid(podUid) : undefined) ?? cache?.byContainer(containerId);
    const name = record?.containers.get(containerId)?.[K8S_CONTAINER_NAME];
    return name === undefined ? undefined : record!.execHooks.get(name);
  }

  /** Releases every waiting detection with what is known now. */
  close(): void {
    for (const hold of [...this.holds]) this.finish(hold, null);
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private evaluate(podUid: string | undefined, containerId: string | undefined): Evaluation {
    const state = this.options.state();
    const cache = this.options.cache;
    if (state === 'off' || state === 'stopped' || !cache) return { kind: 'miss' };
    const waitable = state === 'syncing' || state === 'synced';
    let record = podUid ? cache.byPodUid(podUid) : undefined;
    if (!record && containerId) record = cache.byContainer(containerId);
    if (!record) {
      // A container outside any pod (no pod UID in its cgroup) can only be waited for before the first sync.
      if (!podUid && state !== 'syncing') return { kind: 'miss' };
      return waitable ? { kind: 'pending' } : { kind: 'miss' };
    }
    const attributes = this.complete(record, containerId);
    if (attributes) return { kind: 'complete', attributes };
    return waitable ? { kind: 'pending' } : { kind: 'miss' };
  }

  /** All attributes of this pod and container, or undefined while part of them is still to come. */
  private complete(record: PodRecord, containerId: string | undefined): PodAttributes | undefined {
    let containerAttributes: PodAttributes | undefined;
    if (containerId) {
      containerAttributes = record.containers.get(containerId);
      if (!containerAttributes) return undefined;
    }
    let ownerAttributes: PodAttributes | undefined;
    if (record.owner && this.options.owners) {
      ownerAttributes = this.options.owners.attributesFor(record.namespace, record.owner);
      if (!ownerAttributes) {
        this.options.owners.request(record.namespace, record.owner);
        return undefined;
      }
    }
    return { ...record.attributes, ...ownerAttributes, ...containerAttributes };
  }

  private recheck(holds: Iterable<Hold> | undefined): void {
    if (!holds) return;
    for (const hold of [...holds]) {
      const evaluation = this.evaluate(hold.podUid, hold.containerId);
      if (evaluation.kind === 'complete') this.finish(hold, evaluation.attributes);
      else if (evaluation.kind === 'miss') this.finish(hold, null);
    }
  }

  private finish(hold: Hold, attributes: PodAttributes | null): void {
    this.holds.delete(hold);
    const key = hold.podUid ?? '';
    const forPod = this.holdsByPod.get(key);
    forPod?.delete(hold);
    if (forPod?.size === 0) this.holdsByPod.delete(key);
    if (attributes) {
      this.counters.enriched += 1;
      this.counters.enrichedAfterHold += 1;
      this.invoke(hold.release, attributes, 'enriched');
    } else {
      this.releaseBestEffort(hold.podUid, hold.containerId, hold.release);
    }
  }

  private releaseBestEffort(podUid: string | undefined, containerId: string | undefined, release: Release): void {
    const cache = this.options.cache;
    let record = podUid ? cache?.byPodUid(podUid) : undefined;
    if (!record && containerId) record = cache?.byContainer(containerId);
    const attributes: PodAttributes = {};
    if (record) {
      Object.assign(attributes, record.attributes);
      if (record.owner && this.options.owners) {
        Object.assign(attributes, this.options.owners.attributesFor(record.namespace, record.owner));
      }
      if (containerId) Object.assign(attributes, record.containers.get(containerId));
    }
    if (podUid && !attributes[K8S_POD_UID]) attributes[K8S_POD_UID] = podUid;
    if (containerId) attributes[CONTAINER_ID] = containerId;
    // With Kubernetes off there is no metadata to miss.
    const off = this.options.state() === 'off';
    if (record) this.counters.partial += 1;
    else if (!podUid) this.counters.notInPod += 1;
    else if (!off) this.counters.misses += 1;
    this.invoke(release, attributes, record ? 'partial' : 'bare');
  }

  private invoke(release: Release, attributes: PodAttributes, outcome: ReleaseOutcome): void {
    try {
      release(attributes, outcome);
    } catch (error) {
      this.counters.releaseErrors += 1;
      this.options.log.warn(`k8s: a held detection's release callback threw: ${String(error)}`);
    }
  }

  private schedule(): void {
    if (this.timer || this.holds.size === 0) return;
    const first = this.holds.values().next().value as Hold;
    this.timer = setTimeout(() => this.expire(), Math.max(0, first.deadlineMs - performance.now()));
    // Waiting detections must not keep a stopping agent alive; close() releases them.
    this.timer.unref();
  }

  private expire(): void {
    this.timer = undefined;
    const now = performance.now();
    for (const hold of [...this.holds]) {
      if (hold.deadlineMs > now) break;
      this.counters.holdsExpired += 1;
      this.finish(hold, null);
    }
    this.schedule();
  }
}
