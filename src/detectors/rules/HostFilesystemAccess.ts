// KS-ESC-018: a container using the host's filesystem through a hostPath volume (the "bad pod" with / mounted):
// chroot into it, exec the host's binaries from it, write the host's configuration through it.

import { EventType, HostFsFlag, Op, type HostFsEvent } from '../../receiver/events.ts';
import type { ContainerIdentity } from '../../receiver/identity.ts';
import type { Severity } from '../../detection.ts';
import { Attr } from '../attributeKeys.ts';
import { NO_FINDINGS, type DetectionContext, type Detector, type DetectorEvent, type Finding, type RuleMetadata } from '../Detector.ts';
import { hex } from '../internal/util.ts';

/** Host directories whose change takes the node: what runs at boot or on a schedule, who logs in, the kubelet. */
const HOST_WRITE_TARGETS: readonly { dir: string; severity: Severity }[] = [
  { dir: '/etc', severity: 'critical' },
  { dir: '/root', severity: 'critical' },
  { dir: '/var/spool/cron', severity: 'critical' },
  { dir: '/var/lib/kubelet', severity: 'high' },
];

/** Where kubelet keeps each pod's volumes, etc-hosts and termination logs on the host. */
const KUBELET_PODS_DIR = '/var/lib/kubelet/pods';

function isBelowOrAt(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir + '/');
}

function syscallName(op: number): string {
  switch (op) {
    case Op.Chroot: return 'chroot';
    case Op.PivotRoot: return 'pivot_root';
    case Op.Exec: return 'execve';
    case Op.Open: return 'open';
    case Op.Openat2: return 'openat2';
    case Op.Creat: return 'creat';
    default: return 'openat';
  }
}

export class HostFilesystemAccess implements Detector {
  readonly meta: RuleMetadata = {
    id: 'KS-ESC-018',
    version: '1.0.0',
    title: 'Host filesystem used from a container through a volume',
    category: 'container_escape',
    severity: 'high',
    mitre: { technique: 'T1611', name: 'Escape to Host' },
    events: [EventType.HostFs],
    description:
      'A container process (not in the host\'s mount namespace) reaches a file on one of the host\'s filesystems: ' +
      'critical when it chroots or pivot_roots into the host\'s root directory (`-v /:/host` then `chroot /host`), ' +
      'medium when it chroots into another host directory; high when it executes a file of the host\'s root ' +
      'filesystem through a mount that shows all of that filesystem; critical when it opens for writing a file ' +
      'below the host\'s /etc, /root or /var/spool/cron, high below /var/lib/kubelet. Files below ' +
      '/var/lib/kubelet/pods/<its own pod uid>/ (its emptyDir, configmap, etc-hosts, termination log) are its own ' +
      'and not reported. A write-open of a host file with more than one link anywhere else, its own volumes ' +
      'included, is medium: the walk names one link, and a hard link made in a harmless place may be a watched file. ' +
      'Resolved in the kernel, whatever path the process passed (relative, "..", symlinks, a directory fd, ' +
      '/proc/<pid>/root/...): the new root is read from the process\'s fs->root after the call, the executed file ' +
      'from bprm->file, the written file from the opened fd (f_mode says it is writable); each is on a host ' +
      'filesystem when its superblock is one the host mounts (read from the host\'s mountinfo at start-up; proc, ' +
      'sysfs, tmpfs, devtmpfs, overlay and other non-storage filesystems are not), and its path is walked from that ' +
      'filesystem\'s root and mapped to where the host mounts it, so the host path is a kernel fact, not the ' +
      'container\'s view of it. ' +
      'Evasions that remain: changes that are not write-opens (rename, link, symlink, mkdir, unlink, chmod, ' +
      'truncate, mknod) and writes through io_uring; writing a harmless host path and renaming it below /etc; ' +
      'writes through a descriptor opened before the process entered the container (or passed to it); ' +
      'exec from a mount of a host subdirectory (`-v /usr/bin:/x`), which a toolchain volume looks like too; host ' +
      'filesystems mounted after the agent started; paths deeper than 32 components (reported as unresolvable, ' +
      'medium); a block device of the host opened or mounted directly (KS-ESC-006).',
    falsePositives: [
      'Node administration pods that chroot into the host on purpose (kubectl debug node, node-shell, some CSI ' +
        'and storage drivers that run host tools with chroot /host).',
      'Node agents that manage host configuration through a hostPath volume (/etc, kubelet configuration).',
    ],
    tuning: 'Exception by namespace or image for node administration and host-configuration agents.',
    uuid: '2b8f8a7e-3f0c-4d53-9c9e-6e1f6b7d4a21',
  };

  onEvent(event: DetectorEvent, ctx: DetectionContext): readonly Finding[] {
    if (event.type !== EventType.HostFs) return NO_FINDINGS;
    const container = ctx.container(event);
    if (container === null) return NO_FINDINGS;
    const resolved = (event.hostFsFlags & HostFsFlag.FsPathTruncated) === 0;
    const ownPodFile = resolved && event.hostPath !== '' && isOwnPodFile(event.hostPath, container);
    switch (event.op) {
      case Op.Chroot:
      case Op.PivotRoot:
        return ownPodFile ? NO_FINDINGS : this.#onRootChange(event, resolved);
      case Op.Exec:
        return ownPodFile ? NO_FINDINGS : this.#onExec(event);
      default:
        return this.#onWriteOpen(event, resolved, ownPodFile);
    }
  }

  #onRootChange(event: HostFsEvent, resolved: boolean): readonly Finding[] {
    const syscall = syscallName(event.op);
    if (resolved && event.hostPath === '/') {
      return [finding(event, 'critical', `${event.comm} called ${syscall} into the host's root directory (${event.path}) inside a container`)];
    }
    // A runtime may pivot_root into a directory root filesystem on the host (containerd's native snapshotter).
    if (event.op !== Op.Chroot) return NO_FINDINGS;
    return [finding(event, 'medium', `${event.comm} called chroot into host directory ${describeHostPath(event, resolved)} inside a container`)];
  }

  #onExec(event: HostFsEvent): readonly Finding[] {
    // A bind of a host subdirectory (a read-only /usr as a toolchain) is common; all of the host's root is not.
    if ((event.hostFsFlags & HostFsFlag.WholeFs) === 0 || event.fsRootHostPath !== '/') return NO_FINDINGS;
    return [
      finding(
        event,
        'high',
        `${event.comm} executed the host's ${event.hostPath || event.fsPath} (as ${event.path}) from a mount of the host's root filesystem inside a container`,
      ),
    ];
  }

  #onWriteOpen(event: HostFsEvent, resolved: boolean, ownPodFile: boolean): readonly Finding[] {
    if (!resolved) {
      return [finding(event, 'medium', `${event.comm} opened ${event.path} on a host filesystem for writing at a depth the kernel could not resolve, inside a container`)];
    }
    const where = event.hostPath || event.fsPath;
    const target = ownPodFile ? undefined : HOST_WRITE_TARGETS.find(({ dir }) => isBelowOrAt(where, dir));
    if (target !== undefined) {
      return [finding(event, target.severity, `${event.comm} opened the host's ${where} (as ${event.path}) for writing inside a container`)];
    }
    // The walk names one link of the file: a hard link made in a harmless place may be /etc/shadow's inode.
    if (event.nlink > 1) {
      return [finding(event, 'medium', `${event.comm} opened the host's ${where} (as ${event.path}) for writing inside a container; the file has ${event.nlink} links, so it may also be a watched host file`)];
    }
    return NO_FINDINGS;
  }
}

/** Below /var/lib/kubelet/pods/<its own pod uid>/: kubelet made it for this pod. */
function isOwnPodFile(hostPath: string, container: ContainerIdentity): boolean {
  return container.podUid !== undefined && isBelowOrAt(hostPath, `${KUBELET_PODS_DIR}/${container.podUid}`);
}

function describeHostPath(event: HostFsEvent, resolved: boolean): string {
  if (!resolved) return `${event.path} (too deep to resolve)`;
  return event.hostPath || event.fsPath;
}

function finding(event: HostFsEvent, severity: Severity, summary: string): Finding {
  const attributes: Finding['attributes'] = {
    [Attr.syscall]: syscallName(event.op),
    [Attr.filePath]: event.path,
    [Attr.hostPath]: event.hostPath || event.fsPath,
    [Attr.hostFsDevice]: `${event.dev >>> 20}:${event.dev & 0xfffff}`,
  };
  if (event.op !== Op.Chroot && event.op !== Op.PivotRoot && event.op !== Op.Exec) attributes[Attr.openFlags] = hex(event.openFlags);
  return { severity, summary, attributes };
}
