// KS-ESC-012: opening host memory, raw disks, or another process's root directory from a container.

import { EventType } from '../../receiver/events.ts';
import { Attr } from '../attributeKeys.ts';
import { NO_FINDINGS, type DetectionContext, type Detector, type DetectorEvent, type Finding, type RuleMetadata } from '../Detector.ts';
import { hex, isOwnProcReference, processOf, splitProcPath } from '../internal/util.ts';

const MEMORY_DEVICES = new Set(['/proc/kcore', '/dev/mem', '/dev/kmem', '/dev/port']);
const DISK_PREFIXES = ['/dev/sd', '/dev/vd', '/dev/nvme', '/dev/xvd', '/dev/dm-', '/dev/hd', '/dev/mmcblk'];

export class HostResourceAccess implements Detector {
  readonly meta: RuleMetadata = {
    id: 'KS-ESC-012',
    version: '1.0.0',
    title: 'Host memory, raw disk or other process root opened from a container',
    category: 'container_escape',
    severity: 'high',
    mitre: { technique: 'T1611', name: 'Escape to Host' },
    events: [EventType.Open],
    description:
      'A container process opens /proc/kcore, /dev/mem, /dev/kmem or /dev/port (critical), a raw disk device ' +
      '(/dev/sd*, /dev/vd*, /dev/nvme*, /dev/xvd*, /dev/dm-*, /dev/hd*, /dev/mmcblk*: critical), or a path ' +
      'through /proc/<pid>/root of another process (high; critical when the process shares the host pid namespace, ' +
      'where /proc/1/root is the node\'s root). The memory devices and a raw disk directly under /dev are also ' +
      'matched on the opened file\'s resolved path (a relative path, dirfd or symlink to them is seen); ' +
      '/proc/<pid>/root paths only as the caller wrote them (the file resolves to the target\'s own path), and of ' +
      'a successful open only when the file is on a mount of another mount namespace (another container\'s or the ' +
      'host\'s root) or on a volume: through the root of a process in its own mount namespace a container ' +
      'reaches nothing it could not open directly, and that is not reported.',
    falsePositives: [
      'Storage daemonsets (CSI node plugins, Ceph OSDs) that open raw disks.',
      'Node-inspection tools in privileged pods that read /proc/<pid>/root of other processes.',
    ],
    tuning: 'Exception by namespace or image for storage and node-inspection daemonsets.',
    uuid: 'b7be129c-622d-4417-a9ab-f2b3cddfa64a',
    openPathPatterns: [
      '/proc/kcore', '/dev/mem', '/dev/kmem', '/dev/port', '/proc/*/root', '/proc/*/root/*',
      ...DISK_PREFIXES.map((p) => `${p}*`),
    ],
  };

  onEvent(event: DetectorEvent, ctx: DetectionContext): readonly Finding[] {
    if (event.type !== EventType.Open) return NO_FINDINGS;
    const path = event.path;
    let severity: 'critical' | undefined;
    let what: string;
    if (MEMORY_DEVICES.has(path)) {
      severity = 'critical';
      what = 'host memory device';
    } else if (DISK_PREFIXES.some((p) => path.startsWith(p))) {
      severity = 'critical';
      what = 'raw disk device';
    } else {
      const proc = splitProcPath(path);
      if (!proc || isOwnProcReference(proc.pid) || !(proc.rest === 'root' || proc.rest.startsWith('root/'))) {
        return NO_FINDINGS;
      }
      what = 'another process\'s root';
      const self = processOf(event, ctx);
      if (self && self.ns.pid !== 0 && self.ns.pid === ctx.hostNamespaces.pid) severity = 'critical';
    }
    if (ctx.container(event) === null) return NO_FINDINGS;
    return [
      {
        severity,
        summary: `${event.comm} opened ${path} (${what}) inside a container`,
        attributes: { [Attr.filePath]: path, [Attr.openFlags]: hex(event.openFlags) },
      },
    ];
  }
}
