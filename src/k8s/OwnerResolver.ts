// Names the workload behind a pod's ReplicaSet or Job. The pod only points at its ReplicaSet (or Job); the
// Deployment (or CronJob) is the ReplicaSet's own controller, so it takes one GET per ReplicaSet, cached —
// a node has a handful of ReplicaSets and they never change owner. Lookups run in the background; the
// enricher reads the cache synchronously and treats "not yet known" as pending.

import {
  K8S_CRONJOB_NAME,
  K8S_DEPLOYMENT_NAME,
  K8S_JOB_NAME,
  K8S_REPLICASET_NAME,
  type PodAttributes,
} from './attributes.ts';
import type { ApiReader } from './internal/ApiReader.ts';
import { describeError } from './internal/describeError.ts';
import type { K8sLogger } from './Logger.ts';
import type { PendingOwner } from './projectPod.ts';

export interface OwnerResolverOptions {
  reader: ApiReader;
  log: K8sLogger;
  /** Called after a lookup settles, so held detections waiting on it can be released. */
  onResolved: () => void;
  /** Entries kept; ReplicaSets come and go with every rollout, so the cache is bounded. */
  maxEntries?: number;
  /** A lookup that failed for a transient reason (network, 5xx) is retried after this long. */
  retryAfterMs?: number;
  now?: () => number;
}

export interface OwnerResolverCounters {
  lookups: number;
  /** Lookups that failed for a reason other than 403/404; the workload is reported without its top owner. */
  failures: number;
  /** Lookups refused by RBAC (403). */
  forbidden: number;
}

interface OwnedObject {
  metadata?: { ownerReferences?: { kind?: string; name?: string; controller?: boolean }[] };
}

interface Entry {
  attributes: PodAttributes;
  /** Set for results of a transient failure: look again after this time. */
  retryAtMs?: number;
}

export class OwnerResolver {
  readonly counters: OwnerResolverCounters = { lookups: 0, failures: 0, forbidden: 0 };
  private readonly options: Required<Omit<OwnerResolverOptions, 'reader' | 'log' | 'onResolved'>> & OwnerResolverOptions;
  private readonly cache = new Map<string, Entry>();
  private readonly inFlight = new Set<string>();
  private readonly forbiddenLogged = new Set<string>();

  constructor(options: OwnerResolverOptions) {
    this.options = { maxEntries: 4096, retryAfterMs: 30_000, now: () => performance.now(), ...options };
  }

  /** The workload attributes for this owner, or undefined while its lookup has not settled. */
  attributesFor(namespace: string, owner: PendingOwner): PodAttributes | undefined {
    const entry = this.cache.get(cacheKey(namespace, owner));
    if (entry?.retryAtMs !== undefined && entry.retryAtMs <= this.options.now()) this.request(namespace, owner);
    return entry?.attributes;
  }

  /** Starts a background lookup unless the owner is cached (and fresh) or already being looked up. */
  request(namespace: string, owner: PendingOwner): void {
    const key = cacheKey(namespace, owner);
    const entry = this.cache.get(key);
    if (this.inFlight.has(key)) return;
    if (entry && (entry.retryAtMs === undefined || entry.retryAtMs > this.options.now())) return;
    this.inFlight.add(key);
    this.counters.lookups += 1;
    this.lookUp(namespace, owner)
      .then((result) => this.store(key, result))
      .finally(() => {
        this.inFlight.delete(key);
        this.options.onResolved();
      });
  }

  private async lookUp(namespace: string, owner: PendingOwner): Promise<Entry> {
    const directKey = owner.kind === 'ReplicaSet' ? K8S_REPLICASET_NAME : K8S_JOB_NAME;
    const direct: PodAttributes = { [directKey]: owner.name };
    try {
      const path = owner.kind === 'ReplicaSet'
        ? `/apis/apps/v1/namespaces/${encodeURIComponent(namespace)}/replicasets/${encodeURIComponent(owner.name)}`
        : `/apis/batch/v1/namespaces/${encodeURIComponent(namespace)}/jobs/${encodeURIComponent(owner.name)}`;
      const object = await this.options.reader.getJson(path) as OwnedObject;
      const controller = object.metadata?.ownerReferences?.find((ref) => ref.controller === true);
      if (owner.kind === 'ReplicaSet' && controller?.kind === 'Deployment' && controller.name) {
        return { attributes: { ...direct, [K8S_DEPLOYMENT_NAME]: controller.name } };
      }
      if (owner.kind === 'Job' && controller?.kind === 'CronJob' && controller.name) {
        return { attributes: { ...direct, [K8S_CRONJOB_NAME]: controller.name } };
      }
      return { attributes: direct };
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (code === 404) return { attributes: direct };
      if (code === 403) return { attributes: this.forbiddenFallback(owner, direct) };
      this.counters.failures += 1;
      this.options.log.warn(`k8s: could not read ${owner.kind} ${namespace}/${owner.name} (${describeError(error)}); ` +
        `retrying in ${Math.round(this.options.retryAfterMs / 1000)} s`);
      return { attributes: direct, retryAtMs: this.options.now() + this.options.retryAfterMs };
    }
  }

  private forbiddenFallback(owner: PendingOwner, direct: PodAttributes): PodAttributes {
    this.counters.forbidden += 1;
    const resource = owner.kind === 'ReplicaSet' ? 'replicasets.apps' : 'jobs.batch';
    if (!this.forbiddenLogged.has(resource)) {
      this.forbiddenLogged.add(resource);
      this.options.log.warn(owner.kind === 'ReplicaSet'
        ? `k8s: RBAC forbids get on ${resource}; deriving k8s.deployment.name from the pod-template-hash label ` +
          `(a guess: grant get on ${resource} for the exact owner)`
        : `k8s: RBAC forbids get on ${resource}; k8s.cronjob.name will be missing (grant get on ${resource})`);
    }
    const hash = owner.podTemplateHash;
    if (owner.kind === 'ReplicaSet' && hash && owner.name.endsWith(`-${hash}`)) {
      return { ...direct, [K8S_DEPLOYMENT_NAME]: owner.name.slice(0, -(hash.length + 1)) };
    }
    return direct;
  }

  private store(key: string, entry: Entry): void {
    this.cache.delete(key);
    this.cache.set(key, entry);
    // Map iteration is insertion order: the first key is the least recently stored.
    while (this.cache.size > this.options.maxEntries) {
      const oldest = this.cache.keys().next().value as string;
      this.cache.delete(oldest);
    }
  }
}

function cacheKey(namespace: string, owner: PendingOwner): string {
  return `${owner.kind}/${namespace}/${owner.name}`;
}
