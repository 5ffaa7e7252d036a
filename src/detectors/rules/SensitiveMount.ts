// KS-ESC-006: mounting host-revealing filesystems inside a container, and chroot/pivot_root into them.

import { EventType, MountFact, Op, type MountEvent, type RootChangeEvent } from '../../receiver/events.ts';
import type { ContainerIdentity } from '../../receiver/identity.ts';
import { Attr } from '../attributeKeys.ts';
import { NO_FINDINGS, type DetectionContext, type Detector, type DetectorEvent, type Finding, type RuleMetadata } from '../Detector.ts';
import { BoundedMap } from '../internal/BoundedMap.ts';
import { hex, isRuntimeSetup, trimTrailingSlash } from '../internal/util.ts';
import { CGROUP_FSTYPES } from './CgroupReleaseAgent.ts';
import { KernelEnforceCheck } from '../../receiver/enforcement.ts';

/**
 * Kernel interfaces that reach past the container: proc, sysfs, the debug/trace/BPF/config filesystems, the LSMs'
 * policy files (securityfs, selinuxfs, smackfs), binfmt_misc (an interpreter registered on the host's instance runs
 * as root for every matching exec), devtmpfs (one instance for the whole host: every device node, disks included),
 * efivarfs (UEFI variables; deleting some bricks the machine) and pstore (the host's crash logs, writable).
 */
const SENSITIVE_FSTYPES = new Set([
  'proc', 'sysfs', 'debugfs', 'securityfs', 'tracefs', 'bpf', 'configfs', 'selinuxfs', 'smackfs', 'binfmt_misc',
  'devtmpfs', 'efivarfs', 'pstore',
]);
/** Filesystems the kernel mounts from a block device: enforced by type, which the caller cannot disguise (a source path can be a symlink). */
const BLOCK_DEVICE_FSTYPES = [
  'ext2', 'ext3', 'ext4', 'xfs', 'btrfs', 'vfat', 'msdos', 'exfat', 'ntfs', 'ntfs3', 'f2fs', 'jfs', 'reiserfs',
  'squashfs', 'iso9660', 'udf', 'hfs', 'hfsplus', 'erofs', 'minix', 'nilfs2', 'ocfs2', 'gfs2',
];
const MS_BIND = 0x1000n;
const TRACKED_CONTAINERS = 4096;
const TARGETS_PER_CONTAINER = 64;

export class SensitiveMount implements Detector {
  readonly meta: RuleMetadata = {
    id: 'KS-ESC-006',
    version: '1.2.0',
    title: 'Sensitive filesystem mounted in a container',
    category: 'container_escape',
    severity: 'high',
    mitre: { technique: 'T1611', name: 'Escape to Host' },
    events: [EventType.Mount, EventType.RootChange],
    description:
      'A container process mounts a block device (/dev/...), proc, sysfs, debugfs, securityfs, tracefs, bpf, ' +
      'configfs, selinuxfs, smackfs, binfmt_misc, devtmpfs, efivarfs or pstore, mounts a filesystem whose type ' +
      'the kernel program could not read from the caller\'s memory, or bind-mounts (MS_BIND) a path; critical when ' +
      'it then chroots or pivot_roots into such a mount ' +
      'target or into /proc/<pid>/root. cgroup filesystems are reported by KS-ESC-004. The container runtime\'s ' +
      'own mounts while it sets a container up (runc, crun) are not reported: the runtime is recognised by the ' +
      'device and inode of the host\'s runtime binary executed in the host\'s mount namespace, never by name.',
    falsePositives: ['Privileged nested-container workloads (kind, docker-in-docker, build sandboxes).'],
    tuning: 'Exception by image for nested runtimes.',
    uuid: '6cb1e3f1-56db-4ac1-96de-7e44b960493f',
    enforcement: {
      checks: [KernelEnforceCheck.SensitiveMount],
      mount: { check: KernelEnforceCheck.SensitiveMount, fsTypes: [...SENSITIVE_FSTYPES, ...BLOCK_DEVICE_FSTYPES] },
      description:
        'mount or fsopen of proc, sysfs, debugfs, securityfs, tracefs, bpf, configfs, selinuxfs, smackfs, ' +
        'binfmt_misc, devtmpfs, efivarfs, pstore or a block-device filesystem type (ext4, xfs, ...), and of a type ' +
        'that cannot be read from the caller\'s memory (fails closed): the process dies before it uses the mount, ' +
        'which is made all the same; bind mounts are not enforced. ' +
        'Through the 32-bit entry (int 0x80, KS-ESC-021) every mount and fsopen is killed, whatever its type.',
    },
  };

  /** container id → mount targets it created, to recognise a later chroot/pivot_root into one. */
  readonly #targets = new BoundedMap<string, Set<string>>(TRACKED_CONTAINERS);

  stateEvictions(): number {
    return this.#targets.evictions;
  }

  onEvent(event: DetectorEvent, ctx: DetectionContext): readonly Finding[] {
    if (event.type !== EventType.Mount && event.type !== EventType.RootChange) return NO_FINDINGS;
    const container = ctx.container(event);
    if (container === null || isRuntimeSetup(event, ctx)) return NO_FINDINGS;
    return event.type === EventType.Mount ? this.#onMount(event, container) : this.#onRootChange(event, container);
  }

  #onMount(event: MountEvent, container: ContainerIdentity): readonly Finding[] {
    if (event.op !== Op.Mount && event.op !== Op.Fsopen) return NO_FINDINGS;
    if (CGROUP_FSTYPES.has(event.fstype)) return NO_FINDINGS;
    let what: string;
    if ((event.facts & MountFact.TypeUnreadable) !== 0) what = 'a filesystem whose type could not be read';
    else if (SENSITIVE_FSTYPES.has(event.fstype)) what = `a ${event.fstype} filesystem`;
    else if (event.source.startsWith('/dev/') && event.op === Op.Mount && (event.mountFlags & MS_BIND) === 0n) {
      what = `block device ${event.source}`;
    } else if (event.op === Op.Mount && (event.mountFlags & MS_BIND) !== 0n) what = `a bind mount of ${event.source}`;
    else return NO_FINDINGS;
    if (event.target !== '') {
      let targets = this.#targets.get(container.id);
      if (!targets) this.#targets.set(container.id, (targets = new Set()));
      if (targets.size < TARGETS_PER_CONTAINER) targets.add(trimTrailingSlash(event.target));
    }
    return [
      {
        summary: `${event.comm} mounted ${what} on ${event.target || '(detached)'} inside a container`,
        attributes: {
          [Attr.syscall]: event.op === Op.Fsopen ? 'fsopen' : 'mount',
          [Attr.mountSource]: event.source,
          [Attr.mountTarget]: event.target,
          [Attr.mountFsType]: event.fstype,
          [Attr.mountFlags]: hex(event.mountFlags),
        },
      },
    ];
  }

  #onRootChange(event: RootChangeEvent, container: ContainerIdentity): readonly Finding[] {
    const newRoot = trimTrailingSlash(event.newRoot);
    const targets = this.#targets.peek(container.id);
    const intoMount = targets !== undefined && [...targets].some((t) => newRoot === t || newRoot.startsWith(t + '/'));
    const intoProcRoot = /^\/proc\/[^/]+\/root(\/|$)/.test(newRoot);
    if (!intoMount && !intoProcRoot) return NO_FINDINGS;
    const syscall = event.op === Op.PivotRoot ? 'pivot_root' : 'chroot';
    return [
      {
        severity: 'critical',
        summary: `${event.comm} called ${syscall} into ${newRoot}, ${intoMount ? 'a filesystem it mounted' : 'another process\'s root'}, inside a container`,
        attributes: { [Attr.syscall]: syscall, [Attr.rootNew]: newRoot },
      },
    ];
  }
}
