// KS-ESC-005: writing a kernel tunable that makes the host kernel run a program of the attacker's choosing
// (core_pattern, modprobe, uevent_helper) or act on the whole machine (sysrq-trigger).

import { EventType } from '../../receiver/events.ts';
import { Attr } from '../attributeKeys.ts';
import { NO_FINDINGS, type DetectionContext, type Detector, type DetectorEvent, type Finding, type RuleMetadata } from '../Detector.ts';
import { hex, isWriteOpen } from '../internal/util.ts';

// Matched as suffixes so that the host's /proc or /sys mounted into a pod (e.g. at /host) is covered too.
const TUNABLES = ['/proc/sys/kernel/core_pattern', '/proc/sys/kernel/modprobe', '/sys/kernel/uevent_helper', '/proc/sysrq-trigger'];

export class KernelTunableWrite implements Detector {
  readonly meta: RuleMetadata = {
    id: 'KS-ESC-005',
    version: '1.0.0',
    title: 'Host kernel tunable written from a container',
    category: 'container_escape',
    severity: 'critical',
    mitre: { technique: 'T1611', name: 'Escape to Host' },
    events: [EventType.Open],
    description:
      'A container process opens /proc/sys/kernel/core_pattern, /proc/sys/kernel/modprobe, ' +
      '/sys/kernel/uevent_helper or /proc/sysrq-trigger for writing (also under a host mount such as ' +
      '/host/proc/...). The first three make the host kernel execute a program as root; the attempt is reported ' +
      'even when /proc/sys is read-only. Relative paths are not seen by the kernel filter.',
    falsePositives: ['Privileged node-tuning daemonsets that configure core dumps (set core_pattern) at start-up.'],
    tuning: 'Exception by image or namespace for node-tuning daemonsets.',
    uuid: '34779103-e21f-42a5-b548-8e68b8b917c3',
    openPathPatterns: TUNABLES.map((t) => `/*${t}`).concat(TUNABLES),
  };

  onEvent(event: DetectorEvent, ctx: DetectionContext): readonly Finding[] {
    if (event.type !== EventType.Open || !isWriteOpen(event.openFlags)) return NO_FINDINGS;
    if (!TUNABLES.some((t) => event.path.endsWith(t))) return NO_FINDINGS;
    if (ctx.container(event) === null) return NO_FINDINGS;
    return [
      {
        summary: `${event.comm} opened ${event.path} for writing inside a container`,
        attributes: { [Attr.filePath]: event.path, [Attr.openFlags]: hex(event.openFlags) },
      },
    ];
  }
}
