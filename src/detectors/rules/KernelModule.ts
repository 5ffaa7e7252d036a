// KS-ESC-007: loading or unloading a kernel module. Anywhere on the node; critical from a container.

import { EventType, Op } from '../../receiver/events.ts';
import { Attr } from '../attributeKeys.ts';
import { SECCOMP_DENIED_NOTE } from '../internal/notes.ts';
import { NO_FINDINGS, type DetectionContext, type Detector, type DetectorEvent, type Finding, type RuleMetadata } from '../Detector.ts';
import { KernelEnforceCheck } from '../../receiver/enforcement.ts';

const SYSCALLS: Record<number, string> = {
  [Op.InitModule]: 'init_module',
  [Op.FinitModule]: 'finit_module',
  [Op.DeleteModule]: 'delete_module',
};

export class KernelModule implements Detector {
  readonly meta: RuleMetadata = {
    id: 'KS-ESC-007',
    version: '1.0.0',
    title: 'Kernel module loaded or unloaded',
    category: 'container_escape',
    severity: 'high',
    mitre: { technique: 'T1547.006', name: 'Boot or Logon Autostart Execution: Kernel Modules and Extensions' },
    events: [EventType.Module],
    description:
      'init_module, finit_module or delete_module was called. On the host this is high; from a container it is ' +
      'critical (a module runs in the host kernel). The attempt is reported even when it fails with EPERM.' +
      SECCOMP_DENIED_NOTE,
    falsePositives: [
      'modprobe started by the kernel or by kube-proxy/CNI plugins on the host to load netfilter or IPVS modules.',
    ],
    tuning: 'Exception by executable (/usr/sbin/modprobe, /sbin/modprobe) for expected host module loads.',
    uuid: '183d8364-4279-4122-878d-c046e2595a95',
    enforcement: {
      checks: [KernelEnforceCheck.ModuleLoad],
      description:
        'init_module or finit_module (the call may still load the module: it completes before the signal is delivered), ' +
        'through the 32-bit entry (int 0x80, KS-ESC-021) too.',
    },
  };

  onEvent(event: DetectorEvent, ctx: DetectionContext): readonly Finding[] {
    if (event.type !== EventType.Module) return NO_FINDINGS;
    const syscall = SYSCALLS[event.op] ?? 'init_module';
    const inContainer = ctx.container(event) !== null;
    const verb = event.op === Op.DeleteModule ? 'unloaded' : 'loaded';
    const name = event.name === '' ? 'a kernel module' : `kernel module ${event.name}`;
    const attributes: Finding['attributes'] = { [Attr.syscall]: syscall };
    if (event.name !== '') attributes[Attr.moduleName] = event.name;
    return [
      {
        severity: inContainer ? 'critical' : undefined,
        summary: `${event.comm} ${verb} ${name}${inContainer ? ' from inside a container' : ' on the host'}`,
        attributes,
      },
    ];
  }
}
