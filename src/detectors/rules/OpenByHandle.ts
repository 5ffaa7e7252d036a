// KS-ESC-011: open_by_handle_at from a container ("shocker"): file handles bypass the mount namespace, so a
// brute-forced handle opens any file on the host filesystem the container's mount lives on.

import { EventType, Op } from '../../receiver/events.ts';
import { Attr } from '../attributeKeys.ts';
import { SECCOMP_DENIED_NOTE } from '../internal/notes.ts';
import { NO_FINDINGS, type DetectionContext, type Detector, type DetectorEvent, type Finding, type RuleMetadata } from '../Detector.ts';
import { KernelEnforceCheck } from '../../receiver/enforcement.ts';

export class OpenByHandle implements Detector {
  readonly meta: RuleMetadata = {
    id: 'KS-ESC-011',
    version: '1.0.0',
    title: 'open_by_handle_at from a container',
    category: 'container_escape',
    severity: 'critical',
    mitre: { technique: 'T1611', name: 'Escape to Host' },
    events: [EventType.Open],
    description:
      'A container process calls open_by_handle_at(2) (the "shocker" escape, needs CAP_DAC_READ_SEARCH). File ' +
      'handles are not confined by the mount namespace.' +
      SECCOMP_DENIED_NOTE,
    falsePositives: ['User-space NFS servers (nfs-ganesha) running in a privileged pod.'],
    tuning: 'Exception by image for user-space file servers.',
    uuid: '2b0e8850-431a-4d2d-a0dc-042497187aab',
    enforcement: {
      checks: [KernelEnforceCheck.OpenByHandle],
      description:
        'open_by_handle_at, through the 32-bit entry (int 0x80, KS-ESC-021) too: the process dies before it reads ' +
        'through the descriptor.',
    },
  };

  onEvent(event: DetectorEvent, ctx: DetectionContext): readonly Finding[] {
    if (event.type !== EventType.Open || event.op !== Op.OpenByHandleAt) return NO_FINDINGS;
    if (ctx.container(event) === null) return NO_FINDINGS;
    return [
      {
        summary: `${event.comm} called open_by_handle_at from inside a container`,
        attributes: { [Attr.syscall]: 'open_by_handle_at' },
      },
    ];
  }
}
