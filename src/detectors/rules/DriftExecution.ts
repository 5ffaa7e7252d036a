// KS-ESC-017: executing something that is not part of the container image: a memfd (fileless), a deleted file,
// a file in /dev/shm or /tmp, or a binary modified after the container started.

import { EventType, ExecFlag, executablePath } from '../../receiver/events.ts';
import { Attr } from '../attributeKeys.ts';
import { isRuntimeSetup } from '../internal/util.ts';
import { NO_FINDINGS, type DetectionContext, type Detector, type DetectorEvent, type Finding, type RuleMetadata } from '../Detector.ts';
import { KernelEnforceCheck } from '../../receiver/enforcement.ts';

const SCRATCH_DIRS = ['/dev/shm/', '/tmp/', '/var/tmp/'];

export class DriftExecution implements Detector {
  readonly meta: RuleMetadata = {
    id: 'KS-ESC-017',
    version: '1.2.0',
    title: 'Fileless or dropped binary executed in a container',
    category: 'container_escape',
    severity: 'medium',
    mitre: { technique: 'T1620', name: 'Reflective Code Loading' },
    events: [EventType.Exec],
    description:
      'A container process executes a memfd (fileless, high; recognised by its inode, not by a memfd: name), a file ' +
      'already unlinked (high), a file under ' +
      '/dev/shm, /tmp or /var/tmp (high), or a binary whose modification time is after the agent first saw the ' +
      'container (drift from the image, medium). The directory test uses the executed file\'s path resolved in ' +
      'the kernel (bprm->file up to the process\'s root: ./x, /usr/bin/../../tmp/x and symlinks resolve) and also ' +
      'the filename as given; a #! script run by a relative or disguised name is seen only as its interpreter. ' +
      'The mtime comparison converts the container\'s boot-time start ' +
      'to wall-clock time; a binary dropped before the agent saw the container is not reported as drift. The runtime ' +
      're-executing its own sealed copy in the host\'s mount namespace (runc init from a memfd, /proc/self/exe or an ' +
      'fd) is not reported; it is recognised by the host runtime binary\'s device and inode, not by name, and a ' +
      'binary called runc inside the container is reported like any other.',
    falsePositives: [
      'Entrypoints that install packages or compile code at start-up (pip/npm install with native builds).',
      'JIT runtimes or test harnesses that execute from /tmp.',
    ],
    tuning: 'Exception by image for images that build at start-up; by executable for known /tmp launchers.',
    uuid: '227c512b-f1c5-473f-b265-d050be8f0d30',
    enforcement: {
      checks: [KernelEnforceCheck.MemfdExec],
      description:
        'exec of a file with no links in memory (a memfd, a deleted or O_TMPFILE tmpfs file), judged by its inode, ' +
        'and of a #! script whose fd exec names as /dev/fd/N or /proc/self/fd/N: the process dies before the ' +
        "program's first instruction (other drift is not enforced).",
    },
  };

  onEvent(event: DetectorEvent, ctx: DetectionContext): readonly Finding[] {
    if (event.type !== EventType.Exec) return NO_FINDINGS;
    const container = ctx.container(event);
    if (container === null) return NO_FINDINGS;
    const reasons: string[] = [];
    if ((event.exeFlags & ExecFlag.Memfd) !== 0) reasons.push('memfd');
    if ((event.exeFlags & ExecFlag.Unlinked) !== 0) reasons.push('unlinked');
    // The executed file's resolved path sees through ./x, '..' and symlinks; the filename as given still names a
    // #! script, whose executed file is its interpreter.
    const executable = executablePath(event);
    if (SCRATCH_DIRS.some((d) => executable.startsWith(d) || event.path.startsWith(d))) reasons.push('scratch_directory');
    const high = reasons.length > 0;
    // A snapshot of a process that predates the agent says nothing about when its binary changed.
    const snapshot = (event.exeFlags & ExecFlag.Snapshot) !== 0;
    if (!snapshot && event.exeMtimeNs > 0n && event.exeMtimeNs > ctx.bootToWallNs(container.firstSeenNs)) {
      reasons.push('modified_after_container_start');
    }
    if (reasons.length === 0 || isRuntimeSetup(event, ctx)) return NO_FINDINGS;
    return [
      {
        severity: high ? 'high' : undefined,
        summary: `${executable} executed in a container (${reasons.join(', ').replaceAll('_', ' ')})`,
        attributes: { [Attr.execReasons]: reasons },
      },
    ];
  }
}
