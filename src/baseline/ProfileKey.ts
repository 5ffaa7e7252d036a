// Which profile an event belongs to. Replicas of one workload share a profile, so a second replica (or a restarted
// pod) starts from what the first learned: the key names the workload, not the pod or container.

import type { ContainerIdentity } from '../receiver/identity.ts';

/** What the agent knows of a container's workload (from the pod informer, or the runtime outside Kubernetes). */
export interface WorkloadIdentity {
  namespace?: string;
  /** The top controller: Deployment (a ReplicaSet resolved), CronJob (a Job resolved), StatefulSet, DaemonSet… */
  ownerKind?: string;
  ownerName?: string;
  containerName?: string;
  /** Image repository without tag or digest. */
  image?: string;
  /** The image digest the runtime reports (`sha256:…`): one version of the profile per digest, not part of the key. */
  imageDigest?: string;
  /** Commands the kubelet execs into the container (exec probes, lifecycle hooks): known before they run. */
  execHooks?: readonly (readonly string[])[];
}

/** Flat k8s attribute keys → the owner kinds they name, most specific controller first. */
export const OWNER_ATTRIBUTES: readonly [string, string][] = [
  ['k8s.deployment.name', 'Deployment'],
  ['k8s.cronjob.name', 'CronJob'],
  ['k8s.statefulset.name', 'StatefulSet'],
  ['k8s.daemonset.name', 'DaemonSet'],
  ['k8s.job.name', 'Job'],
  ['k8s.replicaset.name', 'ReplicaSet'],
];

/** Reads a WorkloadIdentity from the flat attributes the k8s enricher (or the runtime metadata) produces. */
export function workloadFromAttributes(attributes: Readonly<Record<string, string>>): WorkloadIdentity {
  const owner = OWNER_ATTRIBUTES.find(([key]) => attributes[key] !== undefined);
  return {
    namespace: attributes['k8s.namespace.name'],
    ownerKind: owner?.[1],
    ownerName: owner ? attributes[owner[0]] : undefined,
    containerName: attributes['k8s.container.name'] ?? attributes['container.name'],
    image: attributes['container.image.name'],
    imageDigest: attributes['container.image.id'],
  };
}

/** The top controller as exceptions name it, Kind/name (Deployment/web); undefined for a bare pod. */
export function workloadName(workload: WorkloadIdentity): string | undefined {
  return workload.ownerKind && workload.ownerName ? `${workload.ownerKind}/${workload.ownerName}` : undefined;
}

/**
 * namespace/Kind/name/container for a pod with an owner; pod/<namespace>/<image> for a bare pod; image/<image>
 * outside Kubernetes; container/<id> when nothing better is known (learned per container, lost with it).
 * Parts are joined with '/', which Kubernetes names cannot contain; an image may, hence its place last.
 */
export function profileKey(container: ContainerIdentity, workload: WorkloadIdentity | undefined): string {
  const w = workload ?? {};
  if (w.namespace && w.ownerKind && w.ownerName && w.containerName) {
    return `${w.namespace}/${w.ownerKind}/${w.ownerName}/${w.containerName}`;
  }
  if (w.namespace && w.image) return `pod/${w.namespace}/${w.image}`;
  if (w.image) return `image/${w.image}`;
  return `container/${container.id}`;
}
