// Table-driven tests of KS-ESC-018 (host filesystem used from a container) with synthetic host_fs records, as the
// receiver hands them on: hostPath and fsRootHostPath already mapped through the host's mount table.

import assert from 'node:assert/strict';
import { EventType, HostFsFlag, Op, type HostFsEvent } from '../../src/receiver/events.ts';
import { Attr } from '../../src/detectors/attributeKeys.ts';
import { HostFilesystemAccess } from '../../src/detectors/rules/HostFilesystemAccess.ts';
import { HOST_CGROUP, OTHER_POD_UID, POD_UID, WEB, O_WRONLY } from './fixtures.ts';
import { detectorTable } from './table.ts';

const ROOT_DEV = (254 << 20) | 0;
let clock = 5_000_000_000_000n;

function hostFs(o: Partial<Omit<HostFsEvent, 'type'>> = {}): HostFsEvent {
  clock += 1_000_000n;
  return {
    type: EventType.HostFs, flags: 0, ktimeNs: clock, cgroupId: WEB.cgroupId, tgid: 4242, pid: 4242, uid: 0, gid: 0,
    comm: 'sh', startBoottimeNs: 4242000n, op: Op.Openat, hostFsFlags: HostFsFlag.WholeFs, dev: ROOT_DEV, openFlags: O_WRONLY, ino: 77n, nlink: 1,
    fsPath: '/etc/cron.d/x', path: '/host/etc/cron.d/x', hostPath: '/etc/cron.d/x', fsRootHostPath: '/', ...o,
  };
}

const chroot = (o: Partial<HostFsEvent> = {}) => hostFs({ op: Op.Chroot, openFlags: 0, fsPath: '/', path: '/host', hostPath: '/', ...o });
const exec = (o: Partial<HostFsEvent> = {}) =>
  hostFs({ op: Op.Exec, openFlags: 0, fsPath: '/usr/bin/busybox', path: '/host/usr/bin/busybox', hostPath: '/usr/bin/busybox', ...o });
const ownEmptyDir = `/var/lib/kubelet/pods/${POD_UID}/volumes/kubernetes.io~empty-dir/cache/f`;

detectorTable(() => new HostFilesystemAccess(), [
  {
    name: 'a chroot into the host root directory is critical, whatever the path the container named it by',
    events: [chroot({ path: '/mnt/x' })],
    expect: ['critical'],
    check: ([f]) => {
      assert.equal(f.attributes[Attr.syscall], 'chroot');
      assert.equal(f.attributes[Attr.hostPath], '/');
    },
  },
  { name: 'a pivot_root into the host root directory is critical', events: [chroot({ op: Op.PivotRoot })], expect: ['critical'] },
  {
    name: 'a chroot into another host directory is medium',
    events: [chroot({ fsPath: '/srv/rootfs', hostPath: '/srv/rootfs', hostFsFlags: 0 })],
    expect: ['medium'],
  },
  {
    name: 'a pivot_root into a directory root filesystem on the host (a runtime\'s native snapshotter) is not reported',
    events: [chroot({ op: Op.PivotRoot, fsPath: '/var/lib/containerd/snap/5/fs', hostPath: '/var/lib/containerd/snap/5/fs', hostFsFlags: 0 })],
    expect: [],
  },
  { name: 'a chroot into the pod\'s own volume is not reported', events: [chroot({ fsPath: ownEmptyDir, hostPath: ownEmptyDir })], expect: [] },
  {
    name: 'exec of a host binary through a mount of the whole host root filesystem is high',
    events: [exec()],
    expect: ['high'],
    check: ([f]) => assert.equal(f.attributes[Attr.hostPath], '/usr/bin/busybox'),
  },
  {
    name: 'exec of a host binary through a bind of a host subdirectory (a toolchain /usr) is not reported',
    events: [exec({ hostFsFlags: 0, path: '/usr/bin/gcc', fsPath: '/usr/bin/gcc', hostPath: '/usr/bin/gcc' })],
    expect: [],
  },
  {
    name: 'exec from a whole filesystem that is not the host\'s root (a data disk) is not reported',
    events: [exec({ fsRootHostPath: '/data', fsPath: '/tool', hostPath: '/data/tool' })],
    expect: [],
  },
  {
    name: 'a write-open below the host /etc is critical',
    events: [hostFs()],
    expect: ['critical'],
    check: ([f]) => {
      assert.equal(f.attributes[Attr.hostPath], '/etc/cron.d/x');
      assert.equal(f.attributes[Attr.filePath], '/host/etc/cron.d/x');
      assert.equal(f.attributes[Attr.openFlags], '0x1');
    },
  },
  { name: 'a write-open below the host /root is critical', events: [hostFs({ hostPath: '/root/.ssh/authorized_keys' })], expect: ['critical'] },
  { name: 'a write-open below the host /var/spool/cron is critical', events: [hostFs({ hostPath: '/var/spool/cron/crontabs/root' })], expect: ['critical'] },
  {
    name: 'a write-open into another pod\'s kubelet directory is high',
    events: [hostFs({ hostPath: `/var/lib/kubelet/pods/${OTHER_POD_UID}/volumes/kubernetes.io~empty-dir/x/f` })],
    expect: ['high'],
  },
  { name: 'a write-open into the pod\'s own emptyDir is not reported', events: [hostFs({ hostPath: ownEmptyDir, fsPath: ownEmptyDir })], expect: [] },
  {
    name: 'the pod\'s own directory is matched as a whole path component (a uid prefix is another pod)',
    events: [hostFs({ hostPath: `/var/lib/kubelet/pods/${POD_UID}x/volumes/f` })],
    expect: ['high'],
  },
  { name: 'a write-open of a harmless host path is not reported', events: [hostFs({ hostPath: '/tmp/scratch' })], expect: [] },
  {
    name: 'a write-open of a harmless host path with another link (maybe a hard link of a host file) is medium',
    events: [hostFs({ hostPath: '/tmp/scratch', nlink: 2 })],
    expect: ['medium'],
  },
  {
    name: 'a write-open in the pod\'s own volume of a file with another link is medium',
    events: [hostFs({ hostPath: ownEmptyDir, fsPath: ownEmptyDir, nlink: 2 })],
    expect: ['medium'],
  },
  {
    name: 'a multiply-linked file below the host /etc keeps the severity of /etc',
    events: [hostFs({ nlink: 3 })],
    expect: ['critical'],
  },
  { name: '/etcetera is not below /etc', events: [hostFs({ hostPath: '/etcetera/x' })], expect: [] },
  {
    name: 'a write-open whose path was too deep to resolve is medium, since its prefix is unknown',
    events: [hostFs({ hostFsFlags: HostFsFlag.FsPathTruncated, hostPath: '/a/b', fsPath: '/a/b' })],
    expect: ['medium'],
  },
  {
    name: 'a filesystem part the host does not mount is judged by its path from the filesystem root',
    events: [hostFs({ hostPath: '', fsPath: '/etc/shadow' })],
    expect: ['critical'],
  },
  { name: 'a host process is not judged', events: [hostFs({ cgroupId: HOST_CGROUP })], expect: [] },
]);
