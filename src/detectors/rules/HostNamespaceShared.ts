// KS-ESC-003: a process in a container cgroup runs in the host's mount, pid or network namespace.

import { EventType, type NamespaceInodes } from '../../receiver/events.ts';
import { Attr } from '../attributeKeys.ts';
import { NO_FINDINGS, type DetectionContext, type Detector, type DetectorEvent, type Finding, type RuleMetadata } from '../Detector.ts';
import { BoundedMap } from '../internal/BoundedMap.ts';
import { isRuntimeSetup } from '../internal/util.ts';

const CHECKED: ReadonlyArray<keyof NamespaceInodes> = ['mnt', 'pid', 'net'];
const REPORTED_CONTAINERS = 8192;

export class HostNamespaceShared implements Detector {
  readonly meta: RuleMetadata = {
    id: 'KS-ESC-003',
    version: '1.1.0',
    title: 'Container process in a host namespace',
    category: 'container_escape',
    severity: 'high',
    mitre: { technique: 'T1611', name: 'Escape to Host' },
    events: [EventType.Exec],
    description:
      'A process that executed in a container cgroup is in the host\'s mount, pid or network namespace ' +
      '(compared by inode with the host\'s namespaces). Critical for the mount namespace: the process sees the ' +
      'node\'s filesystem (nsenter -t 1 -m, or a privileged pod started with hostPID and chroot /proc/1/root). ' +
      'High for the pid namespace (ptrace and /proc/<pid>/root of every node process). Low when only the network ' +
      'namespace is shared: hostNetwork is pod configuration (CNI agents, kube-proxy, ingress controllers), not an ' +
      'escape, so it is recorded without paging anyone. Reported once per container and set of shared namespaces. ' +
      'The runtime\'s own `runc init` (already in the container cgroup, not yet in its namespaces) is not reported: it ' +
      'is recognised by the device and inode of the host\'s runtime binary executed in the host\'s mount namespace, ' +
      'never by name.',
    falsePositives: [
      'Pods with hostNetwork: true (CNI agents, kube-proxy, ingress controllers) share the network namespace: low only.',
      'Pods with hostPID: true (node monitoring agents) share the pid namespace.',
    ],
    tuning: 'Exception by namespace (kube-system) or image for node agents that legitimately use hostNetwork/hostPID.',
    uuid: '1095542d-fb97-411a-948e-f413454382c0',
  };

  readonly #reported = new BoundedMap<string, true>(REPORTED_CONTAINERS);

  stateEvictions(): number {
    return this.#reported.evictions;
  }

  onEvent(event: DetectorEvent, ctx: DetectionContext): readonly Finding[] {
    if (event.type !== EventType.Exec) return NO_FINDINGS;
    const container = ctx.container(event);
    if (container === null) return NO_FINDINGS;
    const shared: string[] = [];
    for (const kind of CHECKED) {
      if (event.ns[kind] !== 0 && event.ns[kind] === ctx.hostNamespaces[kind]) shared.push(kind);
    }
    if (shared.length === 0 || isRuntimeSetup(event, ctx)) return NO_FINDINGS;
    const key = `${container.id}/${shared.join(',')}`;
    if (this.#reported.get(key)) return NO_FINDINGS;
    this.#reported.set(key, true);
    const severity = shared.includes('mnt') ? 'critical' : shared.includes('pid') ? 'high' : 'low';
    return [
      {
        severity,
        summary: `${event.path} runs in a container but in the host's ${shared.join(', ')} namespace`,
        attributes: { [Attr.namespaceShared]: shared },
      },
    ];
  }
}
