// KS-ESC-013: overwriting the container runtime's binary (runc CVE-2019-5736): the next `exec` into any container
// on the node runs the attacker's code as root on the host.

import { EventType } from '../../receiver/events.ts';
import { Attr } from '../attributeKeys.ts';
import { NO_FINDINGS, type DetectionContext, type Detector, type DetectorEvent, type Finding, type RuleMetadata } from '../Detector.ts';
import { basename, hex, isOwnProcReference, isWriteOpen, splitProcPath } from '../internal/util.ts';

const RUNTIME_BINARIES = new Set(['runc', 'crun', 'conmon', 'docker-runc', 'youki']);

export class RuntimeBinaryOverwrite implements Detector {
  readonly meta: RuleMetadata = {
    id: 'KS-ESC-013',
    version: '1.0.0',
    title: 'Runtime binary or /proc/<pid>/exe opened for writing from a container',
    category: 'container_escape',
    severity: 'critical',
    mitre: { technique: 'T1611', name: 'Escape to Host' },
    events: [EventType.Open],
    description:
      'A container process opens /proc/self/exe or /proc/<pid>/exe for writing, or a file named runc, crun, ' +
      'conmon, docker-runc, youki or containerd-shim* for writing (CVE-2019-5736). Opening /proc/<pid>/exe of ' +
      'another process read-only is reported as high: the exploit first holds the runtime\'s binary open that ' +
      'way and writes later through /proc/self/fd/N, which the path filter does not see. Runtime binaries are ' +
      'seen at their usual install paths (/usr/bin, /usr/sbin, /usr/local/bin, /usr/local/sbin, ' +
      '/usr/libexec/podman) only, there also on the opened file\'s resolved path (a symlink or relative path to ' +
      'them is seen). /proc/<pid>/exe is matched as the caller wrote it: it resolves to the binary itself. The ' +
      'string of a successful open is read for a process of another container or the host (the binary is on ' +
      'another mount namespace\'s mount), so a read-only open of /proc/<pid>/exe of a process of the same ' +
      'container is not seen; a write-open of the runtime\'s binary is, on its resolved path.',
    falsePositives: ['Images that build or install container runtimes (CI images compiling runc).'],
    tuning: 'Exception by image for runtime build pipelines.',
    uuid: 'fb0da87c-be18-4187-82a6-686cf6d9d3fb',
    // Where distributions install the runtimes; a pattern starting with just '/' would make every open a
    // candidate for the kernel's full path comparison.
    openPathPatterns: [
      '/proc/*/exe', '/usr/bin/runc', '/usr/sbin/runc', '/usr/local/bin/runc', '/usr/local/sbin/runc', '/usr/bin/crun',
      '/usr/bin/conmon', '/usr/libexec/podman/conmon', '/usr/bin/containerd-shim*',
    ],
  };

  onEvent(event: DetectorEvent, ctx: DetectionContext): readonly Finding[] {
    if (event.type !== EventType.Open) return NO_FINDINGS;
    const write = isWriteOpen(event.openFlags);
    const proc = splitProcPath(event.path);
    let severity: 'high' | undefined;
    if (proc && proc.rest === 'exe') {
      if (!write) {
        if (isOwnProcReference(proc.pid)) return NO_FINDINGS;
        severity = 'high';
      }
    } else {
      const name = basename(event.path);
      if (!write || !(RUNTIME_BINARIES.has(name) || name.startsWith('containerd-shim'))) return NO_FINDINGS;
    }
    if (ctx.container(event) === null) return NO_FINDINGS;
    return [
      {
        severity,
        summary: `${event.comm} opened ${event.path} ${write ? 'for writing' : 'read-only'} inside a container`,
        attributes: { [Attr.filePath]: event.path, [Attr.openFlags]: hex(event.openFlags) },
      },
    ];
  }
}
