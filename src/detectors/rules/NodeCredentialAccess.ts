// KS-ESC-015: reading the kubelet's credentials, or another pod's service-account token, from a container.

import { EventType } from '../../receiver/events.ts';
import { Attr } from '../attributeKeys.ts';
import { NO_FINDINGS, type DetectionContext, type Detector, type DetectorEvent, type Finding, type RuleMetadata } from '../Detector.ts';
import { hex } from '../internal/util.ts';

const POD_VOLUMES = /^\/var\/lib\/kubelet\/pods\/([^/]+)\/volumes\/kubernetes\.io~(projected|secret)\//;

export class NodeCredentialAccess implements Detector {
  readonly meta: RuleMetadata = {
    id: 'KS-ESC-015',
    version: '1.0.0',
    title: 'Kubelet credentials or another pod\'s token read from a container',
    category: 'container_escape',
    severity: 'high',
    mitre: { technique: 'T1552.001', name: 'Unsecured Credentials: Credentials In Files' },
    events: [EventType.Open],
    description:
      'A container process opens the kubelet\'s credentials (/var/lib/kubelet/pki/*, /var/lib/kubelet/kubeconfig, ' +
      '/etc/kubernetes/*.conf, /etc/kubernetes/pki/*: critical) or a projected/secret volume of another pod under ' +
      '/var/lib/kubelet/pods/<uid>/volumes/ (uid differs from the process\'s own pod). /var/lib/kubelet/kubeconfig ' +
      'is also matched on the opened file\'s resolved path; the other patterns end in * and are matched on the ' +
      'caller\'s string only, so a relative path, dirfd open or symlink to a certificate or token is not seen. The ' +
      'string of a successful open is read when the file is on a volume (a filesystem other than the container\'s ' +
      'image and the kernel\'s own proc, sysfs and cgroup). A ' +
      'host /var/lib/kubelet is seen mounted at the same path; a hostPath mounted elsewhere ' +
      '(e.g. /host/var/lib/kubelet) is not matched.',
    falsePositives: ['Node agents that legitimately read kubelet certificates (some monitoring and log shippers).'],
    tuning: 'Exception by namespace or image for node agents.',
    uuid: 'edda5eac-743c-4579-98a4-592cbb2593af',
    openPathPatterns: [
      '/var/lib/kubelet/pki/*',
      '/var/lib/kubelet/kubeconfig',
      '/etc/kubernetes/*.conf',
      '/etc/kubernetes/pki/*',
      '/var/lib/kubelet/pods/*/volumes/kubernetes.io~projected/*',
      '/var/lib/kubelet/pods/*/volumes/kubernetes.io~secret/*',
    ],
  };

  onEvent(event: DetectorEvent, ctx: DetectionContext): readonly Finding[] {
    if (event.type !== EventType.Open) return NO_FINDINGS;
    const path = event.path;
    const kubeletCredential =
      path.startsWith('/var/lib/kubelet/pki/') ||
      path === '/var/lib/kubelet/kubeconfig' ||
      path.startsWith('/etc/kubernetes/pki/') ||
      (path.startsWith('/etc/kubernetes/') && path.endsWith('.conf'));
    const podVolume = kubeletCredential ? null : POD_VOLUMES.exec(path);
    if (!kubeletCredential && !podVolume) return NO_FINDINGS;
    const container = ctx.container(event);
    if (container === null) return NO_FINDINGS;
    const attributes = { [Attr.filePath]: path, [Attr.openFlags]: hex(event.openFlags) };
    if (kubeletCredential) {
      return [{ severity: 'critical', summary: `${event.comm} read kubelet credentials ${path} inside a container`, attributes }];
    }
    const podUid = podVolume![1];
    if (container.podUid !== undefined && podUid === container.podUid) return NO_FINDINGS;
    return [
      { summary: `${event.comm} read a ${podVolume![2]} volume of pod ${podUid} from another pod's container`, attributes },
    ];
  }
}
