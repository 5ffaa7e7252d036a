// The compact projection of a pod the cache keeps: only what enrichment needs, as ready-made attribute objects.
// A full pod object (spec, status, managedFields) is several kilobytes; this is a few hundred bytes, and the
// projection runs once per pod change, never on the detection path.

import {
  CONTAINER_ID,
  CONTAINER_IMAGE_ID,
  CONTAINER_IMAGE_NAME,
  K8S_CONTAINER_NAME,
  K8S_DAEMONSET_NAME,
  K8S_NAMESPACE_NAME,
  K8S_NODE_NAME,
  K8S_POD_LABEL_PREFIX,
  K8S_POD_NAME,
  K8S_POD_UID,
  K8S_STATEFULSET_NAME,
  KUBESENTRY_IMAGE_REFERENCE,
  KUBESENTRY_SERVICE_ACCOUNT,
  type PodAttributes,
} from './attributes.ts';

/** The controlling owner of a pod whose workload needs an API lookup to name fully. */
export interface PendingOwner {
  kind: 'ReplicaSet' | 'Job';
  name: string;
  /** The pod's pod-template-hash label: only used to guess the Deployment when reading ReplicaSets is forbidden. */
  podTemplateHash: string | undefined;
}

export interface PodRecord {
  uid: string;
  namespace: string;
  name: string;
  resourceVersion: string;
  /** Pod-level attributes, including workload kinds that need no lookup (StatefulSet, DaemonSet). */
  attributes: PodAttributes;
  /** Per container id (runtime prefix stripped): container-level attributes. */
  containers: Map<string, PodAttributes>;
  owner: PendingOwner | undefined;
  /**
   * Per container name: the commands the kubelet execs into it (exec probes, postStart/preStop hooks), which the
   * behavioural baseline takes as known. Bounded (EXEC_HOOK_BOUNDS); absent containers have none.
   */
  execHooks: Map<string, string[][]>;
}

/** A pod spec is the API user's text: a few commands per container, a few short words each, are what hooks use. */
export const EXEC_HOOK_BOUNDS = { perContainer: 8, words: 16, wordLength: 256 } as const;

interface ExecHandlerLike {
  exec?: { command?: unknown };
}

interface ContainerSpecLike {
  name?: string;
  livenessProbe?: ExecHandlerLike;
  readinessProbe?: ExecHandlerLike;
  startupProbe?: ExecHandlerLike;
  lifecycle?: { postStart?: ExecHandlerLike; preStop?: ExecHandlerLike };
}

/** The subset of a v1 Pod this module reads; both the typed list result and raw watch JSON satisfy it. */
export interface PodLike {
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    ownerReferences?: { kind?: string; name?: string; controller?: boolean }[];
  };
  spec?: { nodeName?: string; serviceAccountName?: string; containers?: ContainerSpecLike[] };
  status?: {
    containerStatuses?: ContainerStatusLike[];
    initContainerStatuses?: ContainerStatusLike[];
    ephemeralContainerStatuses?: ContainerStatusLike[];
  };
}

interface ContainerStatusLike {
  name?: string;
  containerID?: string;
  image?: string;
  imageID?: string;
}

/** Returns undefined for an object without the identity every pod has (name, namespace, uid). */
export function projectPod(pod: PodLike, labelAllowList: ReadonlySet<string>): PodRecord | undefined {
  const metadata = pod.metadata;
  if (!metadata?.uid || !metadata.name || !metadata.namespace) return undefined;
  const attributes: PodAttributes = {
    [K8S_POD_NAME]: metadata.name,
    [K8S_NAMESPACE_NAME]: metadata.namespace,
    [K8S_POD_UID]: metadata.uid,
  };
  if (pod.spec?.nodeName) attributes[K8S_NODE_NAME] = pod.spec.nodeName;
  if (pod.spec?.serviceAccountName) attributes[KUBESENTRY_SERVICE_ACCOUNT] = pod.spec.serviceAccountName;
  const labels = metadata.labels ?? {};
  for (const key of labelAllowList) {
    const value = labels[key];
    if (value !== undefined) attributes[K8S_POD_LABEL_PREFIX + key] = value;
  }

  let owner: PendingOwner | undefined;
  const controller = metadata.ownerReferences?.find((ref) => ref.controller === true);
  if (controller?.name) {
    switch (controller.kind) {
      case 'StatefulSet':
        attributes[K8S_STATEFULSET_NAME] = controller.name;
        break;
      case 'DaemonSet':
        attributes[K8S_DAEMONSET_NAME] = controller.name;
        break;
      case 'ReplicaSet':
      case 'Job':
        owner = { kind: controller.kind, name: controller.name, podTemplateHash: labels['pod-template-hash'] };
        break;
    }
  }

  const containers = new Map<string, PodAttributes>();
  const status = pod.status;
  for (const list of [status?.containerStatuses, status?.initContainerStatuses, status?.ephemeralContainerStatuses]) {
    for (const container of list ?? []) {
      const id = stripRuntimePrefix(container.containerID);
      if (!id || !container.name) continue;
      const containerAttributes: PodAttributes = { [CONTAINER_ID]: id, [K8S_CONTAINER_NAME]: container.name };
      if (container.image) {
        containerAttributes[CONTAINER_IMAGE_NAME] = imageRepository(container.image);
        containerAttributes[KUBESENTRY_IMAGE_REFERENCE] = container.image;
      }
      const digest = imageDigest(container.imageID);
      if (digest) containerAttributes[CONTAINER_IMAGE_ID] = digest;
      containers.set(id, containerAttributes);
    }
  }
  return {
    uid: metadata.uid,
    namespace: metadata.namespace,
    name: metadata.name,
    resourceVersion: metadata.resourceVersion ?? '',
    attributes,
    containers,
    owner,
    execHooks: execHooksOf(pod.spec?.containers),
  };
}

function execHooksOf(specs: ContainerSpecLike[] | undefined): Map<string, string[][]> {
  const hooks = new Map<string, string[][]>();
  for (const spec of Array.isArray(specs) ? specs : []) {
    if (typeof spec?.name !== 'string') continue;
    const handlers = [spec.livenessProbe, spec.readinessProbe, spec.startupProbe, spec.lifecycle?.postStart, spec.lifecycle?.preStop];
    const commands: string[][] = [];
    for (const handler of handlers) {
      const command = handler?.exec?.command;
      if (!Array.isArray(command) || command.length === 0 || commands.length >= EXEC_HOOK_BOUNDS.perContainer) continue;
      commands.push(command.slice(0, EXEC_HOOK_BOUNDS.words).map((word) => String(word).slice(0, EXEC_HOOK_BOUNDS.wordLength)));
    }
    if (commands.length > 0) hooks.set(spec.name, commands);
  }
  return hooks;
}

/** `containerd://<id>`, `cri-o://<id>`, `docker://<id>` → `<id>`; the cgroup path carries the bare id. */
export function stripRuntimePrefix(containerId: string | undefined): string | undefined {
  if (!containerId) return undefined;
  const separator = containerId.indexOf('://');
  return separator < 0 ? containerId : containerId.slice(separator + 3);
}

/** `registry:5000/team/app:1.2@sha256:…` → `registry:5000/team/app` (a port colon is not a tag). */
export function imageRepository(image: string): string {
  const withoutDigest = image.split('@', 1)[0];
  const lastSlash = withoutDigest.lastIndexOf('/');
  const tagColon = withoutDigest.indexOf(':', lastSlash + 1);
  return tagColon < 0 ? withoutDigest : withoutDigest.slice(0, tagColon);
}

/** `docker.io/library/nginx@sha256:…`, `docker-pullable://nginx@sha256:…` or `sha256:…` → `sha256:…`. */
export function imageDigest(imageId: string | undefined): string | undefined {
  if (!imageId) return undefined;
  const at = imageId.lastIndexOf('@');
  if (at >= 0) return imageId.slice(at + 1);
  return stripRuntimePrefix(imageId);
}
