// KS-ESC-014: userfaultfd by a non-root container process: its main use outside a few runtimes is to widen race
// windows in kernel exploits.

import { EventType, Op } from '../../receiver/events.ts';
import { Attr } from '../attributeKeys.ts';
import { SECCOMP_DENIED_NOTE } from '../internal/notes.ts';
import { NO_FINDINGS, type DetectionContext, type Detector, type DetectorEvent, type Finding, type RuleMetadata } from '../Detector.ts';

export class UserfaultfdNonRoot implements Detector {
  readonly meta: RuleMetadata = {
    id: 'KS-ESC-014',
    version: '1.0.0',
    title: 'userfaultfd by a non-root container process',
    category: 'privilege_escalation',
    severity: 'medium',
    mitre: { technique: 'T1068', name: 'Exploitation for Privilege Escalation' },
    events: [EventType.FdCreate],
    description:
      'A container process whose real uid (as seen from the host) is not 0 calls userfaultfd(2), a primitive used ' +
      'by kernel exploits to stall the kernel mid-copy. Root processes are not reported (rule is about non-root).' +
      SECCOMP_DENIED_NOTE,
    falsePositives: ['Live-migration and checkpointing tools (CRIU), some JVMs and garbage collectors.'],
    tuning: 'Exception by image or executable for CRIU-based tooling.',
    uuid: '5bba796f-dda0-4d22-b480-28605b4c2712',
  };

  onEvent(event: DetectorEvent, ctx: DetectionContext): readonly Finding[] {
    if (event.type !== EventType.FdCreate || event.op !== Op.Userfaultfd || event.uid === 0) return NO_FINDINGS;
    if (ctx.container(event) === null) return NO_FINDINGS;
    return [
      {
        summary: `${event.comm} (uid ${event.uid}) called userfaultfd inside a container`,
        attributes: { [Attr.syscall]: 'userfaultfd' },
      },
    ];
  }
}
