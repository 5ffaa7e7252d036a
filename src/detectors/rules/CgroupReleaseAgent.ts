// KS-ESC-004: the cgroup v1 release_agent escape (CVE-2022-0492): mount a cgroup fs, set notify_on_release and
// point release_agent at a script the kernel then runs as root on the host.

import { EventType, MountFact, Op, OpenFileFact, type MountEvent } from '../../receiver/events.ts';
import { Attr } from '../attributeKeys.ts';
import { NO_FINDINGS, type DetectionContext, type Detector, type DetectorEvent, type Finding, type RuleMetadata } from '../Detector.ts';
import { basename, hex, isRuntimeSetup, openedFileIs, opensForWrite } from '../internal/util.ts';
import { KernelEnforceCheck } from '../../receiver/enforcement.ts';

const CONTROL_FILES = new Set(['release_agent', 'notify_on_release']);
/** cpuset is cgroup v1's cpuset controller under its legacy name: a cgroup v1 hierarchy with its own release_agent. */
export const CGROUP_FSTYPES = new Set(['cgroup', 'cgroup2', 'cpuset']);
/** Option facts that can set a release agent: the option itself, or options the kernel program could not read. */
const RELEASE_AGENT_OPTION_FACTS = MountFact.ReleaseAgent | MountFact.DataUnreadable | MountFact.KeyUnreadable;

export class CgroupReleaseAgent implements Detector {
  readonly meta: RuleMetadata = {
    id: 'KS-ESC-004',
    version: '1.3.0',
    title: 'cgroup release_agent escape',
    category: 'container_escape',
    severity: 'high',
    mitre: { technique: 'T1611', name: 'Escape to Host' },
    events: [EventType.Open, EventType.Mount],
    description:
      'A container process opens a cgroup release_agent (critical) or notify_on_release file for writing, sets a ' +
      'release agent through a `release_agent=` mount option (a new mount or a remount) or an fsconfig ' +
      '`release_agent` key (critical), or mounts a cgroup, cgroup2 or cpuset (cgroup v1) filesystem ' +
      '(CVE-2022-0492). Mount options or an fsconfig key the kernel program could not read are reported as such. ' +
      'A successful open is judged by what the kernel says the file is: a release_agent or notify_on_release of a ' +
      'cgroup filesystem, wherever it is mounted or bind-mounted and whatever path reached it, opened with write ' +
      'access (the file\'s mode, not the flags passed); a file of another filesystem with that name is not reported. ' +
      'A refused open has no file: it is reported when the caller\'s string names such a file under /sys/fs/cgroup* ' +
      'or /tmp/*, so a refused relative or dirfd attempt is not seen. The container runtime\'s own cgroup mount while it ' +
      'sets a container up is not reported (recognised by the host runtime binary\'s device and inode, not by name).',
    falsePositives: ['Privileged system containers (e.g. a nested container runtime) that manage cgroup v1 hierarchies.'],
    tuning: 'Exception by image for nested runtimes (kind, docker-in-docker).',
    uuid: 'b0e93496-ef54-485b-bcf9-b678733c1dc3',
    enforcement: {
      checks: [KernelEnforceCheck.CgroupMount, KernelEnforceCheck.ReleaseAgentWrite],
      mount: { check: KernelEnforceCheck.CgroupMount, fsTypes: [...CGROUP_FSTYPES] },
      description:
        'mount or fsopen of a cgroup, cgroup2 or cpuset filesystem; a mount(2) whose options set `release_agent=` ' +
        '(remounts too) and an fsconfig `release_agent` key; a mount whose options, or an fsconfig whose key, ' +
        'cannot be read from the caller\'s memory (fails closed); and a successful open with write access of a ' +
        'release_agent or notify_on_release file of a cgroup filesystem (the kernel\'s facts of the opened file, not ' +
        'a path): the process dies before it writes, or before the ' +
        'remount/reconfigure applies the option. The mount itself is made. Through the 32-bit entry ' +
        '(int 0x80, KS-ESC-021) every mount and fsopen is killed, whatever its type (under KS-ESC-006 where that rule ' +
        'kills too); a 32-bit write-open is only reported.',
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
      if ((event.facts & RELEASE_AGENT_OPTION_FACTS) !== 0) return this.#onReleaseAgentOption(event, ctx);
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

  /** A release agent set through mount options or fsconfig, or options that could not be read to tell. */
  #onReleaseAgentOption(event: MountEvent, ctx: DetectionContext): readonly Finding[] {
    if (event.op !== Op.Mount && event.op !== Op.Fsconfig) return NO_FINDINGS;
    if (ctx.container(event) === null || isRuntimeSetup(event, ctx)) return NO_FINDINGS;
    const syscall = event.op === Op.Fsconfig ? 'fsconfig' : 'mount';
    const set = (event.facts & MountFact.ReleaseAgent) !== 0;
    const what = event.op === Op.Fsconfig ? 'key' : 'options';
    return [
      {
        severity: set ? 'critical' : undefined,
        summary: set
          ? `${event.comm} set a cgroup release_agent through ${syscall} inside a container`
          : `${event.comm} called ${syscall} with ${what} that could not be read (a release_agent may hide there) inside a container`,
        attributes: event.op === Op.Fsconfig
          ? { [Attr.syscall]: syscall, [Attr.mountFsType]: event.fstype, [Attr.mountOption]: `${event.source}=${event.target}` }
          : {
            [Attr.syscall]: syscall,
            [Attr.mountFsType]: event.fstype,
            [Attr.mountSource]: event.source,
            [Attr.mountTarget]: event.target,
            [Attr.mountFlags]: hex(event.mountFlags),
          },
      },
    ];
  }
}
