// KS-ESC-005: writing a kernel tunable that makes the host kernel run a program of the attacker's choosing
// (core_pattern, modprobe, uevent_helper) or act on the whole machine (sysrq-trigger).

import { EventType, OpenFileFact } from '../../receiver/events.ts';
import { Attr } from '../attributeKeys.ts';
import { NO_FINDINGS, type DetectionContext, type Detector, type DetectorEvent, type Finding, type RuleMetadata } from '../Detector.ts';
import { hex, openedFileIs, opensForWrite } from '../internal/util.ts';
import { KernelEnforceCheck } from '../../receiver/enforcement.ts';

const TUNABLES = ['/proc/sys/kernel/core_pattern', '/proc/sys/kernel/modprobe', '/sys/kernel/uevent_helper', '/proc/sysrq-trigger'];

export class KernelTunableWrite implements Detector {
  readonly meta: RuleMetadata = {
    id: 'KS-ESC-005',
    version: '1.1.0',
    title: 'Host kernel tunable written from a container',
    category: 'container_escape',
    severity: 'critical',
    mitre: { technique: 'T1611', name: 'Escape to Host' },
    events: [EventType.Open],
    description:
      'A container process opens /proc/sys/kernel/core_pattern, /proc/sys/kernel/modprobe, ' +
      '/sys/kernel/uevent_helper or /proc/sysrq-trigger for writing. The first three make the host kernel execute ' +
      'a program as root; the attempt is reported even when /proc/sys is read-only. A successful open is judged by ' +
      'what the kernel says the file is (proc\'s sys/kernel/core_pattern, modprobe, hotplug, sysrq-trigger; sysfs\'s ' +
      'kernel/uevent_helper), wherever that proc or sysfs is mounted or the file bind-mounted, opened with write ' +
      'access (the file\'s mode, not the flags passed). A refused open has no file: it is matched on the caller\'s ' +
      'string, so a refused relative attempt is not seen.',
    falsePositives: ['Privileged node-tuning daemonsets that configure core dumps (set core_pattern) at start-up.'],
    tuning: 'Exception by image or namespace for node-tuning daemonsets.',
    uuid: '34779103-e21f-42a5-b548-8e68b8b917c3',
    openPathPatterns: TUNABLES,
    enforcement: {
      checks: [KernelEnforceCheck.TunableWrite],
      description:
        'a successful open with write access of one of these files, recognised by its filesystem and dentry names ' +
        '(the caller\'s string never decides a kill): the process dies before it writes. ' +
        'A write-open through the 32-bit entry (int 0x80) is not enforced: KS-ESC-021 reports it.',
    },
  };

  onEvent(event: DetectorEvent, ctx: DetectionContext): readonly Finding[] {
    if (event.type !== EventType.Open || !opensForWrite(event)) return NO_FINDINGS;
    if (!openedFileIs(event, OpenFileFact.KernelTunable, () => TUNABLES.includes(event.path))) return NO_FINDINGS;
    if (ctx.container(event) === null) return NO_FINDINGS;
    return [
      {
        summary: `${event.comm} opened ${event.path} for writing inside a container`,
        attributes: { [Attr.filePath]: event.path, [Attr.openFlags]: hex(event.openFlags) },
      },
    ];
  }
}
