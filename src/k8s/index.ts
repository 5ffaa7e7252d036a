// Public surface of the Kubernetes metadata module.

export {
  CONTAINER_ID,
  CONTAINER_IMAGE_ID,
  CONTAINER_IMAGE_NAME,
  CONTAINER_NAME,
  K8S_CONTAINER_NAME,
  K8S_CRONJOB_NAME,
  K8S_DAEMONSET_NAME,
  K8S_DEPLOYMENT_NAME,
  K8S_JOB_NAME,
  K8S_NAMESPACE_NAME,
  K8S_NODE_NAME,
  K8S_POD_LABEL_PREFIX,
  K8S_POD_NAME,
  K8S_POD_UID,
  K8S_REPLICASET_NAME,
  K8S_STATEFULSET_NAME,
  KUBESENTRY_IMAGE_REFERENCE,
  KUBESENTRY_SERVICE_ACCOUNT,
} from './attributes.ts';
export type { PodAttributes } from './attributes.ts';
export { ContainerRuntimeMetadata, DEFAULT_RUNTIME_SOCKETS } from './ContainerRuntimeMetadata.ts';
export type {
  ContainerRuntimeMetadataOptions, RuntimeMetadataCounters, RuntimeRelease, RuntimeReleaseOutcome,
} from './ContainerRuntimeMetadata.ts';
export { DEFAULT_LABEL_ALLOW_LIST, KubernetesMetadata } from './KubernetesMetadata.ts';
export type { KubernetesMetadataCounters, KubernetesMetadataOptions } from './KubernetesMetadata.ts';
export { loadKubeConfig } from './loadKubeConfig.ts';
export type { KubeConfigOptions, KubeConfigResult } from './loadKubeConfig.ts';
export { silentLogger } from './Logger.ts';
export type { K8sLogger } from './Logger.ts';
export { OwnerResolver } from './OwnerResolver.ts';
export type { OwnerResolverCounters, OwnerResolverOptions } from './OwnerResolver.ts';
export { PodCache } from './PodCache.ts';
export { PodInformer } from './PodInformer.ts';
export type { InformerState, PodInformerCounters, PodInformerOptions } from './PodInformer.ts';
export { PodMetadataEnricher } from './PodMetadataEnricher.ts';
export type {
  EnrichResult, EnricherCounters, MetadataState, PodMetadataEnricherOptions, Release, ReleaseOutcome,
} from './PodMetadataEnricher.ts';
export { imageDigest, imageRepository, projectPod, stripRuntimePrefix } from './projectPod.ts';
export type { PendingOwner, PodLike, PodRecord } from './projectPod.ts';
