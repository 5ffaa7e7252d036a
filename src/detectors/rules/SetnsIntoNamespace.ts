// KS-ESC-002: a container process joins another namespace with setns(2); critical when it is a host namespace.

import { EventType } from '../../receiver/events.ts';
import { Attr } from '../attributeKeys.ts';
import { NO_FINDINGS, type DetectionContext, type Detector, type DetectorEvent, type Finding, type RuleMetadata } from '../Detector.ts';
import { isRuntimeSetup } from '../internal/util.ts';
import { namespaceTypeName, hostNamespaceNamed } from '../internal/namespaces.ts';
import { KernelEnforceCheck } from '../../receiver/enforcement.ts';

export class SetnsIntoNamespace implements Detector {
  readonly meta: RuleMetadata = {
    id: 'KS-ESC-002',
    version: '1.1.0',
    title: 'Container process joined another namespace',
    category: 'container_escape',
    severity: 'medium',
    mitre: { technique: 'T1611', name: 'Escape to Host' },
    events: [EventType.Setns],
    description:
      'A process in a container called setns(2). Critical when the target is one of the host\'s namespaces ' +
      '(nsenter into the node through a host /proc or a leaked namespace fd). The runtime\'s own setns while ' +
      'starting or exec-ing into a container (runc, crun) is not reported; the runtime is recognised by the file it ' +
      'executed (device and inode of the host\'s runtime binary, executed in the host\'s mount namespace), never by ' +
      'its name.',
    falsePositives: ['Debugging tools running in a privileged pod that enter other containers\' namespaces.'],
    tuning: 'Exception by image or executable for node-debugging tools.',
    uuid: 'e10e1b51-60cd-4cd5-a9c1-7c87fff62df6',
    enforcement: {
      checks: [KernelEnforceCheck.SetnsHost],
      description:
        "setns with an nsfs file naming one of the host's namespaces, or with a pidfd of a process in one of them (the namespace types setns asks for; pidfs kernels, 6.9+): the process dies before it runs anything inside. " +
        'Through the 32-bit entry (int 0x80, KS-ESC-021) every setns is killed: its fd is not looked at (under ' +
        'KS-ESC-001 where only that rule kills).',
    },
  };

  onEvent(event: DetectorEvent, ctx: DetectionContext): readonly Finding[] {
    if (event.type !== EventType.Setns) return NO_FINDINGS;
    if (ctx.container(event) === null || isRuntimeSetup(event, ctx)) return NO_FINDINGS;
    const hostNs = hostNamespaceNamed(event.targetNsIno, event.targetNsType, ctx.hostNamespaces);
    const typeName = namespaceTypeName(event.targetNsType || event.nstype);
    const attributes = {
      [Attr.syscall]: 'setns',
      [Attr.namespaceType]: typeName,
      [Attr.namespaceTargetInode]: event.targetNsIno,
    };
    if (hostNs !== undefined) {
      return [
        {
          severity: 'critical',
          summary: `${event.comm} joined the host's ${hostNs} namespace from inside a container`,
          attributes: { ...attributes, [Attr.namespaceShared]: [hostNs] },
        },
      ];
    }
    return [{ summary: `${event.comm} joined a ${typeName} namespace from inside a container`, attributes }];
  }
}
