// Attribute keys the Kubernetes metadata module emits: OpenTelemetry semantic conventions (k8s.*, container.*),
// ours under kubesentry.*. Every key this module writes is named here and nowhere else.

export const K8S_POD_NAME = 'k8s.pod.name';
export const K8S_POD_UID = 'k8s.pod.uid';
export const K8S_NAMESPACE_NAME = 'k8s.namespace.name';
export const K8S_NODE_NAME = 'k8s.node.name';
export const K8S_CONTAINER_NAME = 'k8s.container.name';
export const K8S_POD_LABEL_PREFIX = 'k8s.pod.label.';
export const K8S_DEPLOYMENT_NAME = 'k8s.deployment.name';
export const K8S_REPLICASET_NAME = 'k8s.replicaset.name';
export const K8S_STATEFULSET_NAME = 'k8s.statefulset.name';
export const K8S_DAEMONSET_NAME = 'k8s.daemonset.name';
export const K8S_JOB_NAME = 'k8s.job.name';
export const K8S_CRONJOB_NAME = 'k8s.cronjob.name';
export const CONTAINER_ID = 'container.id';
export const CONTAINER_NAME = 'container.name';
/** Repository without tag or digest, as the semantic conventions define container.image.name. */
export const CONTAINER_IMAGE_NAME = 'container.image.name';
/** The digest the runtime reports for the image (containerStatuses[].imageID without its repository). */
export const CONTAINER_IMAGE_ID = 'container.image.id';
/** The image exactly as the pod spec / runtime names it, tag included: what a person searches for. */
export const KUBESENTRY_IMAGE_REFERENCE = 'kubesentry.container.image.reference';
export const KUBESENTRY_SERVICE_ACCOUNT = 'kubesentry.k8s.service_account';

/** Flat attribute set, ready to merge into Detection.attributes. */
export type PodAttributes = Record<string, string>;
