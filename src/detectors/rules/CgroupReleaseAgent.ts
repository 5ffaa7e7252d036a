// KS-ESC-004: the cgroup v1 release_agent escape (CVE-2022-0492): mount a cgroup fs, set notify_on_release and
// point release_agent at a script the kernel then runs as root on the host.

import { EventType, Op, OpenFileFact } from '../../receiver/events.ts';
import { Attr } from '../attributeKeys.ts';
import { NO_FINDINGS, type DetectionContext, type Detector, type DetectorEvent, type Finding, type RuleMetadata } from '../Detector.ts';
import { basename, hex, isRuntimeSetup, openedFileIs, opensForWrite } from '../internal/util.ts';
import { KernelEnforceCheck } from '../../receiver/enforcement.ts';

const CONTROL_FILES = new Set(['release_agent', 'notify_on_release']);
export const CGROUP_FSTYPES = new Set(['cgroup', 'cgroup2']);

export class CgroupReleaseAgent implements Detector {
  readonly meta: RuleMetadata = {
    id: 'KS-ESC-004',
    version: '1.2.0',
    title: 'cgroup release_agent escape',
    category: 'container_escape',
    severity: 'high',
    mitre: { technique: 'T1611', name: 'Escape to Host' },
    events: [EventType.Open, EventType.Mount],
    description:
      'A container process opens a cgroup release_agent (critical) or notify_on_release file for writing, or ' +
      'mounts a cgroup/cgroup2 filesystem (CVE-2022-0492). A successful open is judged by what the kernel says the ' +
      'file is: a release_agent or notify_on_release of a cgroup filesystem, wherever it is mounted or bind-mounted ' +
      'and whatever path reached it, opened with write access (the file\'s mode, not the flags passed); a file of ' +
      'another filesystem with that name is not reported. A refused open has no file: it is reported when the ' +
      'caller\'s string names such a file under /sys/fs/cgroup* or /tmp/*, so a refused relative or dirfd attempt is ' +
      'not seen. The container runtime\'s own cgroup mount while it ' +
      'sets a container up is not reported (recognised by the host runtime binary\'s device and inode, not by name).',
    falsePositives: ['Privileged system containers (e.g. a nested container runtime) that manage cgroup v1 hierarchies.'],
    tuning: 'Exception by image for nested runtimes (kind, docker-in-docker).',
    uuid: 'b0e93496-ef54-485b-bcf9-b678733c1dc3',
    enforcement: {
      checks: [KernelEnforceCheck.CgroupMount, KernelEnforceCheck.ReleaseAgentWrite],
      mount: { check: KernelEnforceCheck.CgroupMount, fsTypes: [...CGROUP_FSTYPES] },
      description:
        'mount or fsopen of a cgroup or cgroup2 filesystem, and a successful open with write access of a ' +
        'release_agent or notify_on_release file of a cgroup filesystem (the kernel\'s facts of the opened file, ' +
        'not a path): the process dies before it writes.',
    },
    // Where cgroup v1 hierarchies live, and where escape recipes mount one (mount -t cgroup ... /tmp/cgrp).
    openPathPatterns: [
      '/sys/fs/cgroup*/release_agent', '/sys/fs/cgroup*/notify_on_release', '/tmp/*/release_agent', '/tmp/*/notify_on_release',
    ],
  };

  onEvent(event: DetectorEvent, ctx: DetectionContext): readonly Finding[] {
    if (event.type === EventType.Open) {
      if (!opensForWrite(event)) return NO_FINDINGS;
      const file = basename(event.path);
      if (!openedFileIs(event, OpenFileFact.CgroupControl, () => CONTROL_FILES.has(file))) return NO_FINDINGS;
      if (ctx.container(event) === null) return NO_FINDINGS;
      return [
        {
          // a bind mount can give release_agent any name; only notify_on_release's own name lowers the severity
          severity: file === 'notify_on_release' ? undefined : 'critical',
          summary: `${event.comm} opened ${event.path} for writing inside a container`,
          attributes: { [Attr.filePath]: event.path, [Attr.openFlags]: hex(event.openFlags) },
        },
      ];
    }
    if (event.type === EventType.Mount) {
      if (event.op !== Op.Mount && event.op !== Op.Fsopen) return NO_FINDINGS;
      if (!CGROUP_FSTYPES.has(event.fstype)) return NO_FINDINGS;
      if (ctx.container(event) === null || isRuntimeSetup(event, ctx)) return NO_FINDINGS;
      return [
        {
          summary: `${event.comm} mounted a ${event.fstype} filesystem inside a container`,
          attributes: {
            [Attr.syscall]: event.op === Op.Fsopen ? 'fsopen' : 'mount',
            [Attr.mountFsType]: event.fstype,
            [Attr.mountSource]: event.source,
            [Attr.mountTarget]: event.target,
          },
        },
      ];
    }
    return NO_FINDINGS;
  }
}
