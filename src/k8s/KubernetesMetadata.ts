// Wires the Kubernetes metadata pieces together for the agent: credentials → informer → cache → enricher,
// plus the owner resolver. Without credentials everything but the enricher is absent and every lookup is a
// (not counted) miss, so callers need no special case for hosts without Kubernetes.

import { hostname } from 'node:os';
import { KubeConfigApiReader } from './internal/ApiReader.ts';
import { loadKubeConfig, type KubeConfigOptions } from './loadKubeConfig.ts';
import { silentLogger, type K8sLogger } from './Logger.ts';
import { OwnerResolver, type OwnerResolverCounters } from './OwnerResolver.ts';
import { PodCache } from './PodCache.ts';
import { PodInformer, type PodInformerCounters } from './PodInformer.ts';
import { PodMetadataEnricher, type EnricherCounters, type MetadataState } from './PodMetadataEnricher.ts';
import { projectPod } from './projectPod.ts';

export interface KubernetesMetadataOptions extends KubeConfigOptions {
  /** This node's name; defaults to $K8S_NODE_NAME or $NODE_NAME (downward API in the DaemonSet), then the hostname. */
  nodeName?: string;
  /** Pod label keys copied to k8s.pod.label.<key>; any other label is not kept. */
  labelAllowList?: readonly string[];
  holdMs?: number;
  maxHeld?: number;
  /** How long a deleted pod still answers lookups (late events of its dying containers). */
  deletedPodGraceMs?: number;
  listPageSize?: number;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  watchTimeoutSeconds?: { min: number; max: number };
  log?: K8sLogger;
}

export const DEFAULT_LABEL_ALLOW_LIST: readonly string[] = [
  'app',
  'app.kubernetes.io/name',
  'app.kubernetes.io/instance',
  'app.kubernetes.io/version',
  'app.kubernetes.io/component',
  'app.kubernetes.io/part-of',
];

export interface KubernetesMetadataCounters {
  informer: PodInformerCounters | null;
  owners: OwnerResolverCounters | null;
  enricher: EnricherCounters;
  cachedPods: number;
  heldDetections: number;
}

export class KubernetesMetadata {
  readonly enricher: PodMetadataEnricher;
  readonly informer: PodInformer | null;
  readonly owners: OwnerResolver | null;
  readonly cache: PodCache | null;
  readonly nodeName: string;
  private readonly sweepTimer: NodeJS.Timeout | undefined;

  constructor(options: KubernetesMetadataOptions = {}) {
    const log = options.log ?? silentLogger;
    this.nodeName = options.nodeName ?? (process.env.K8S_NODE_NAME || process.env.NODE_NAME || hostname());
    const loaded = loadKubeConfig(options);
    if (!loaded.config) {
      log.info(`k8s: pod metadata off: ${loaded.reason}`);
      this.informer = null;
      this.owners = null;
      this.cache = null;
      this.enricher = new PodMetadataEnricher({ cache: null, owners: null, state: () => 'off', log });
      return;
    }
    log.info(`k8s: pod metadata for node ${this.nodeName} from ${loaded.source}`);
    const graceMs = options.deletedPodGraceMs ?? 30_000;
    const cache = new PodCache(graceMs);
    const labelAllowList = new Set(options.labelAllowList ?? DEFAULT_LABEL_ALLOW_LIST);
    let enricher: PodMetadataEnricher | undefined;
    const reader = new KubeConfigApiReader(loaded.config);
    const owners = new OwnerResolver({
      reader,
      log,
      onResolved: () => enricher?.recheckAll(),
    });
    const informer = new PodInformer({
      reader,
      nodeName: this.nodeName,
      cache,
      project: (pod) => {
        const record = projectPod(pod, labelAllowList);
        // Look the owner up as soon as the pod is known, so a later detection finds it cached.
        if (record?.owner) owners.request(record.namespace, record.owner);
        return record;
      },
      log,
      onPodChanged: (uid) => enricher?.podChanged(uid),
      onStateChanged: () => enricher?.recheckAll(),
      listPageSize: options.listPageSize,
      backoffInitialMs: options.backoffInitialMs,
      backoffMaxMs: options.backoffMaxMs,
      watchTimeoutSeconds: options.watchTimeoutSeconds,
    });
    enricher = new PodMetadataEnricher({
      cache, owners, state: () => informer.state, log, holdMs: options.holdMs, maxHeld: options.maxHeld,
    });
    this.cache = cache;
    this.owners = owners;
    this.informer = informer;
    this.enricher = enricher;
    if (graceMs > 0) {
      this.sweepTimer = setInterval(() => cache.sweep(performance.now()), graceMs);
      this.sweepTimer.unref();
    }
    informer.start();
  }

  get state(): MetadataState {
    return this.informer?.state ?? 'off';
  }

  counters(): KubernetesMetadataCounters {
    return {
      informer: this.informer?.counters ?? null,
      owners: this.owners?.counters ?? null,
      enricher: this.enricher.counters,
      cachedPods: this.cache?.size ?? 0,
      heldDetections: this.enricher.heldCount,
    };
  }

  /** Stops the informer and releases every held detection with what is known. */
  async stop(): Promise<void> {
    clearInterval(this.sweepTimer);
    await this.informer?.stop();
    this.enricher.close();
  }
}
