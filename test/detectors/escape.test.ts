// Table-driven tests of the container-escape rules (KS-ESC-001 … KS-ESC-017) with synthetic events.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EventType, ExecFlag, MountFact, Op, OpenFileFact, OpenPathSource, OPEN_NO_PATTERN } from '../../src/receiver/events.ts';
import { Attr } from '../../src/detectors/attributeKeys.ts';
import { UserNamespaceCreation } from '../../src/detectors/rules/UserNamespaceCreation.ts';
import { SetnsIntoNamespace } from '../../src/detectors/rules/SetnsIntoNamespace.ts';
import { HostNamespaceShared } from '../../src/detectors/rules/HostNamespaceShared.ts';
import { CgroupReleaseAgent } from '../../src/detectors/rules/CgroupReleaseAgent.ts';
import { KernelTunableWrite } from '../../src/detectors/rules/KernelTunableWrite.ts';
import { SensitiveMount } from '../../src/detectors/rules/SensitiveMount.ts';
import { KernelModule } from '../../src/detectors/rules/KernelModule.ts';
import { RuntimeApiAccess } from '../../src/detectors/rules/RuntimeApiAccess.ts';
import { ProcessInjection } from '../../src/detectors/rules/ProcessInjection.ts';
import { KernelProgramLoad } from '../../src/detectors/rules/KernelProgramLoad.ts';
import { OpenByHandle } from '../../src/detectors/rules/OpenByHandle.ts';
import { HostResourceAccess } from '../../src/detectors/rules/HostResourceAccess.ts';
import { RuntimeBinaryOverwrite } from '../../src/detectors/rules/RuntimeBinaryOverwrite.ts';
import { UserfaultfdNonRoot } from '../../src/detectors/rules/UserfaultfdNonRoot.ts';
import { NodeCredentialAccess } from '../../src/detectors/rules/NodeCredentialAccess.ts';
import { PrivilegeRaise } from '../../src/detectors/rules/PrivilegeRaise.ts';
import { DriftExecution } from '../../src/detectors/rules/DriftExecution.ts';
import type { DetectorEvent } from '../../src/detectors/Detector.ts';
import { ProcessTable } from '../../src/receiver/ProcessTable.ts';
import type { KernelEvent } from '../../src/receiver/events.ts';
import {
  BOOT_TO_WALL, CONTAINER_NS, CONTAINER_SEEN_NS, HOST_CGROUP, HOST_NS, O_RDONLY, O_RDWR, O_WRONLY, OTHER, OTHER_POD_UID,
  POD_UID, WEB, detectionContext, ev, FakeAgent,
} from './fixtures.ts';
import { detectorTable } from './table.ts';

const onHost = { cgroupId: HOST_CGROUP };
/** The process table's verdict for the event's process (tgid 4242): the host's runtime binary, by device and inode. */
const isTheRuntime = (a: FakeAgent) => void a.addProcess({ tgid: 4242, comm: 'runc:[2:INIT]', executable: '/usr/sbin/runc', runtimeSetup: true });
/** The runtime's standing granted at the container's start (its exec), then an exec or fork record of the container lost. */
const keptTheRuntimesStandingPastALostExec = (a: FakeAgent) => {
  a.addProcess({ tgid: 4242, comm: 'unshare', executable: '/usr/sbin/runc', runtimeSetup: true, execTimeNs: CONTAINER_SEEN_NS });
  a.lineageLostAtNs.set(WEB.cgroupId, CONTAINER_SEEN_NS + 1_000_000n);
};
/** A container process that only took the runtime's names (comm, argv, basename). */
const namedLikeTheRuntime = (a: FakeAgent) => void a.addProcess({ tgid: 4242, comm: 'runc:[2:INIT]', executable: '/tmp/runc', argv: ['runc', 'init'] });
const minute = 60_000_000_000n;
/** The kernel's facts of an opened file (KS_OPEN_FACT_*): a successful open, with write access. */
const written = (fact: number) => ({ fileFacts: OpenFileFact.Known | OpenFileFact.Write | fact, pathSource: OpenPathSource.Resolved });

detectorTable(() => new UserNamespaceCreation(), [
  { name: 'unshare(CLONE_NEWUSER) in a container is high', events: [ev.namespace()], expect: ['high'] },
  { name: 'clone3 with CLONE_NEWUSER in a container is high', events: [ev.namespace({ op: Op.Clone3, cloneFlags: 0x10000000n | 0x11n })], expect: ['high'] },
  { name: 'unshare(CLONE_NEWNS) without a user namespace is ignored', events: [ev.namespace({ cloneFlags: 0x20000n })], expect: [] },
  { name: 'clone3 whose clone_args the kernel could not read is high', events: [ev.namespace({ op: Op.Clone3, cloneFlags: 1n << 63n })], expect: ['high'] },
  { name: 'a user namespace created by a host process is ignored', events: [ev.namespace(onHost)], expect: [] },
  {
    name: 'runc creating the user namespace of a hostUsers: false pod is ignored',
    events: [ev.namespace({ op: Op.Clone, comm: 'runc:[1:CHILD]', cloneFlags: 0x10000000n | 0x20000n })],
    setup: isTheRuntime,
    expect: [],
  },
  {
    name: "a workload still holding the runtime's standing because the exec that ended it was lost is high",
    events: [ev.namespace({ comm: 'unshare' })],
    setup: keptTheRuntimesStandingPastALostExec,
    expect: ['high'],
  },
  {
    name: 'a container process named runc:[1:CHILD] creating a user namespace is high',
    events: [ev.namespace({ op: Op.Clone, comm: 'runc:[1:CHILD]', cloneFlags: 0x10000000n | 0x20000n })],
    setup: namedLikeTheRuntime,
    expect: ['high'],
  },
  {
    name: 'writing /proc/self/uid_map after creating the namespace is critical',
    events: [ev.namespace(), ev.open({ path: '/proc/self/uid_map', openFlags: O_WRONLY })],
    expect: ['critical'],
    check: (f) => assert.equal(f[0].attributes[Attr.filePath], '/proc/self/uid_map'),
  },
  {
    name: 'a child writing gid_map after its parent created the namespace is critical',
    events: [ev.namespace({ op: Op.Clone }), ev.fork({ childTgid: 5000, childStartBoottimeNs: 5000000n }),
      ev.open({ tgid: 5000, pid: 5000, startBoottimeNs: 5000000n, path: '/proc/5000/gid_map', openFlags: O_WRONLY })],
    expect: ['critical'],
  },
  {
    name: 'the escalation is reported once per namespace, not for every map file',
    events: [ev.namespace(), ev.open({ path: '/proc/self/uid_map', openFlags: O_WRONLY }), ev.open({ path: '/proc/self/gid_map', openFlags: O_WRONLY })],
    expect: [],
  },
  {
    name: 'reading uid_map after creating the namespace is not an escalation',
    events: [ev.namespace(), ev.open({ path: '/proc/self/uid_map', openFlags: O_RDONLY })],
    expect: [],
  },
  {
    name: 'writing uid_map without a preceding user namespace is ignored',
    events: [ev.open({ path: '/proc/self/uid_map', openFlags: O_WRONLY })],
    expect: [],
  },
  {
    name: 'writing uid_map after the follow-up window is ignored',
    events: [ev.namespace(), (ev.advance(2n * minute), ev.open({ path: '/proc/self/uid_map', openFlags: O_WRONLY }))],
    expect: [],
  },
  {
    name: 'a process that exited does not pass its namespace to the next process with its pid',
    events: [ev.namespace(), ev.exit({ startBoottimeNs: 4242000n }), ev.open({ path: '/proc/self/uid_map', openFlags: O_WRONLY })],
    setup: (a) => a.addProcess({ tgid: 4242, startBoottimeNs: 4242000n }),
    expect: [],
  },
  {
    name: 'the exit of an unrelated earlier process with the same pid does not end tracking',
    events: [ev.namespace(), ev.exit({ startBoottimeNs: 1n }), ev.open({ path: '/proc/self/uid_map', openFlags: O_WRONLY })],
    setup: (a) => a.addProcess({ tgid: 4242, startBoottimeNs: 4242000n }),
    expect: ['critical'],
  },
]);

// With the real process table, whose entry for a pid can change under one process: the rule must know the process
// by the start time its records carry, not by whatever entry the table holds for the pid at the time.
describe('KS-ESC-001 with the real process table', () => {
  it('escalates for a process whose fork and exec were lost while the table still held the pid\'s dead previous owner', () => {
    const table = new ProcessTable({
      maxEntries: 100,
      exitedGraceMs: 30_000,
      containers: { resolve: () => WEB, resolvePath: () => WEB, idOfPath: () => WEB.cgroupId },
      procfsReadsPerSecond: 0,
    });
    const ctx = { ...detectionContext(new FakeAgent()), process: (tgid: number, start?: bigint) => table.get(tgid, start) };
    const detector = new UserNamespaceCreation();
    // As the pipeline does: the table takes each record in before the rules see it.
    const feed = (e: KernelEvent & DetectorEvent) => {
      table.onEvent(e);
      return detector.onEvent(e, ctx).map((f) => f.severity ?? detector.meta.severity);
    };
    const previousOwner = 1_000_000n;
    const attacker = 9_000_000n;
    feed(ev.exec({ startBoottimeNs: previousOwner, path: '/bin/sh' }));
    // Its exit and the attacker's fork and exec are lost (a flood of hot records); the unshare is urgent and kept.
    assert.deepEqual(feed(ev.namespace({ startBoottimeNs: attacker })), ['high']);
    feed(ev.exec({ startBoottimeNs: attacker, path: '/tmp/map-ids', argv: ['/tmp/map-ids'] }));
    assert.deepEqual(feed(ev.open({ startBoottimeNs: attacker, path: '/proc/self/uid_map', openFlags: O_WRONLY })), ['critical']);
  });
});

detectorTable(() => new SetnsIntoNamespace(), [
  { name: 'setns into a non-host namespace in a container is medium', events: [ev.setns()], expect: ['medium'] },
  {
    name: 'setns into the host mount namespace from a container is critical',
    events: [ev.setns({ targetNsIno: HOST_NS.mnt, targetNsType: 0x00020000 })],
    expect: ['critical'],
    check: (f) => assert.deepEqual(f[0].attributes[Attr.namespaceShared], ['mnt']),
  },
  { name: 'setns into the host net namespace with unknown type is critical', events: [ev.setns({ targetNsIno: HOST_NS.net, targetNsType: 0 })], expect: ['critical'] },
  { name: 'setns by a host process is ignored', events: [ev.setns({ ...onHost, targetNsIno: HOST_NS.mnt })], expect: [] },
  { name: 'runc joining the container namespaces during exec is ignored', events: [ev.setns({ comm: 'runc:[1:CHILD]' })], setup: isTheRuntime, expect: [] },
  {
    name: 'a container process named runc:[1:CHILD] joining a namespace is reported',
    events: [ev.setns({ comm: 'runc:[1:CHILD]' })],
    setup: namedLikeTheRuntime,
    expect: ['medium'],
  },
  {
    name: 'a container process whose executable is called crun is reported',
    events: [ev.setns({ comm: 'crun' })],
    setup: (a) => a.addProcess({ tgid: 4242, executable: '/usr/bin/crun', comm: 'crun' }),
    expect: ['medium'],
  },
]);

detectorTable(() => new HostNamespaceShared(), [
  { name: 'a container process in its own namespaces is ignored', events: [ev.exec()], expect: [] },
  { name: 'a container process in the host mount namespace is critical', events: [ev.exec({ ns: { ...CONTAINER_NS, mnt: HOST_NS.mnt } })], expect: ['critical'] },
  { name: 'a container process in the host pid namespace is high', events: [ev.exec({ ns: { ...CONTAINER_NS, pid: HOST_NS.pid } })], expect: ['high'] },
  { name: 'a hostNetwork container process is low: configuration, not an escape', events: [ev.exec({ ns: { ...CONTAINER_NS, net: HOST_NS.net } })], expect: ['low'] },
  {
    name: 'a container sharing the host network and pid namespaces is still high',
    events: [ev.exec({ ns: { ...CONTAINER_NS, net: HOST_NS.net, pid: HOST_NS.pid } })],
    expect: ['high'],
  },
  { name: 'a host process in host namespaces is ignored', events: [ev.exec({ ...onHost, ns: HOST_NS })], expect: [] },
  {
    name: 'a second exec in the same hostNetwork container is not reported again',
    events: [ev.exec({ ns: { ...CONTAINER_NS, net: HOST_NS.net } }), ev.exec({ ns: { ...CONTAINER_NS, net: HOST_NS.net } })],
    expect: [],
  },
  {
    name: 'a hostNetwork container that then enters the host mount namespace is reported again',
    events: [ev.exec({ ns: { ...CONTAINER_NS, net: HOST_NS.net } }), ev.exec({ ns: { ...CONTAINER_NS, net: HOST_NS.net, mnt: HOST_NS.mnt } })],
    expect: ['critical'],
  },
  {
    name: 'runc init, already in the container cgroup but still in host namespaces, is ignored',
    events: [ev.exec({ path: '/dev/fd/6', argv: ['/usr/bin/runc', 'init'], comm: '6', ns: HOST_NS })],
    setup: isTheRuntime,
    expect: [],
  },
  {
    name: 'a process in a container cgroup and the host namespaces that runs a file called runc init is critical',
    events: [ev.exec({ path: '/tmp/runc', argv: ['/usr/bin/runc', 'init'], comm: 'runc', ns: HOST_NS })],
    setup: namedLikeTheRuntime,
    expect: ['critical'],
  },
  { name: 'an unknown (zero) namespace inode never matches', events: [ev.exec({ ns: { ...CONTAINER_NS, mnt: 0 } })], expect: [] },
]);

detectorTable(() => new CgroupReleaseAgent(), [
  { name: 'opening release_agent for writing in a container is critical', events: [ev.open({ path: '/tmp/cgrp/release_agent', openFlags: O_WRONLY })], expect: ['critical'] },
  { name: 'opening notify_on_release for writing in a container is high', events: [ev.open({ path: '/sys/fs/cgroup/rdma/x/notify_on_release', openFlags: O_RDWR })], expect: ['high'] },
  { name: 'reading release_agent is ignored', events: [ev.open({ path: '/sys/fs/cgroup/memory/release_agent', openFlags: O_RDONLY })], expect: [] },
  { name: 'a host process writing release_agent is ignored', events: [ev.open({ ...onHost, path: '/sys/fs/cgroup/memory/release_agent', openFlags: O_WRONLY })], expect: [] },
  { name: 'mounting a cgroup filesystem in a container is high', events: [ev.mount({ fstype: 'cgroup', source: 'cgroup', target: '/tmp/cgrp' })], expect: ['high'] },
  { name: 'fsopen("cgroup2") in a container is high', events: [ev.mount({ op: Op.Fsopen, fstype: 'cgroup2', source: '', target: '' })], expect: ['high'] },
  { name: 'runc mounting the container cgroup during set-up is ignored', events: [ev.mount({ fstype: 'cgroup2', comm: 'runc:[2:INIT]' })], setup: isTheRuntime, expect: [] },
  {
    name: 'a container process named runc:[2:INIT] mounting a cgroup filesystem is high',
    events: [ev.mount({ fstype: 'cgroup2', comm: 'runc:[2:INIT]' })],
    setup: namedLikeTheRuntime,
    expect: ['high'],
  },
  { name: 'mounting tmpfs in a container is ignored', events: [ev.mount({ fstype: 'tmpfs', source: 'tmpfs' })], expect: [] },
  {
    name: "a cgroup's release_agent bind-mounted elsewhere, opened with flags that read 0 but write access, is critical",
    events: [ev.open({ path: '/mnt/x', patternId: OPEN_NO_PATTERN, openFlags: 0, ...written(OpenFileFact.CgroupControl) })],
    expect: ['critical'],
  },
  {
    name: 'a file named notify_on_release that is no cgroup file (tmpfs) is ignored',
    events: [ev.open({ path: '/tmp/app/notify_on_release', openFlags: O_WRONLY, ...written(0) })],
    expect: [],
  },
  {
    name: 'a refused open (no file) of /tmp/*/release_agent is still judged by its path',
    events: [ev.open({ path: '/tmp/cgrp/release_agent', openFlags: O_WRONLY, result: -13, fileFacts: 0 })],
    expect: ['critical'],
  },
  { name: 'mounting cpuset (a cgroup v1 hierarchy) in a container is high', events: [ev.mount({ fstype: 'cpuset', source: 'cpuset', target: '/mnt/cs' })], expect: ['high'] },
  {
    name: 'a remount whose options set release_agent is critical, with no cgroup type',
    events: [ev.mount({ fstype: '', source: '', target: '/mnt/cg', mountFlags: 32n, facts: MountFact.ReleaseAgent })],
    expect: ['critical'],
  },
  {
    name: 'an fsconfig release_agent key is critical and names the option',
    events: [ev.mount({ op: Op.Fsconfig, fstype: 'cgroup', source: 'release_agent', target: '/x', mountFlags: 1n, facts: MountFact.ReleaseAgent })],
    expect: ['critical'],
  },
  { name: 'mount options that could not be read are high', events: [ev.mount({ fstype: 'tmpfs', facts: MountFact.DataUnreadable })], expect: ['high'] },
  { name: 'an fsconfig key that could not be read is high', events: [ev.mount({ op: Op.Fsconfig, fstype: 'tmpfs', source: '', target: '', facts: MountFact.KeyUnreadable })], expect: ['high'] },
  { name: 'a host process setting release_agent by remount is ignored', events: [ev.mount({ ...onHost, fstype: '', facts: MountFact.ReleaseAgent })], expect: [] },
  { name: 'an fsconfig with another key is ignored', events: [ev.mount({ op: Op.Fsconfig, fstype: 'tmpfs', source: 'size', target: '1m', facts: 0 })], expect: [] },
]);

detectorTable(() => new KernelTunableWrite(), [
  {
    name: 'core_pattern bind-mounted at /tmp/cpb and opened with write access is critical',
    events: [ev.open({ path: '/tmp/cpb', patternId: OPEN_NO_PATTERN, ...written(OpenFileFact.KernelTunable) })],
    expect: ['critical'],
  },
  {
    name: 'a tmpfs file at /proc/sys/kernel/core_pattern (a chroot of its own) is ignored',
    events: [ev.open({ path: '/proc/sys/kernel/core_pattern', openFlags: O_WRONLY, ...written(0) })],
    expect: [],
  },
  { name: 'writing core_pattern in a container is critical', events: [ev.open({ path: '/proc/sys/kernel/core_pattern', openFlags: O_WRONLY })], expect: ['critical'] },
  { name: 'writing modprobe with O_TRUNC is critical', events: [ev.open({ path: '/proc/sys/kernel/modprobe', openFlags: O_WRONLY | 0o1000 })], expect: ['critical'] },
  { name: 'writing uevent_helper is critical', events: [ev.open({ path: '/sys/kernel/uevent_helper', openFlags: O_WRONLY })], expect: ['critical'] },
  { name: 'writing sysrq-trigger is critical', events: [ev.open({ path: '/proc/sysrq-trigger', openFlags: O_WRONLY })], expect: ['critical'] },
  { name: 'reading core_pattern is ignored', events: [ev.open({ path: '/proc/sys/kernel/core_pattern', openFlags: O_RDONLY })], expect: [] },
  { name: 'a host process setting core_pattern is ignored', events: [ev.open({ ...onHost, path: '/proc/sys/kernel/core_pattern', openFlags: O_WRONLY })], expect: [] },
]);

detectorTable(() => new SensitiveMount(), [
  { name: 'mounting proc in a container is high', events: [ev.mount()], expect: ['high'] },
  { name: 'mounting a block device in a container is high', events: [ev.mount({ source: '/dev/sda1', fstype: 'ext4', target: '/mnt/host' })], expect: ['high'] },
  { name: 'bind-mounting a path in a container is high', events: [ev.mount({ source: '/', fstype: '', mountFlags: 0x1000n, target: '/mnt/b' })], expect: ['high'] },
  { name: 'mounting tmpfs in a container is ignored', events: [ev.mount({ source: 'tmpfs', fstype: 'tmpfs' })], expect: [] },
  { name: 'cgroup mounts are left to KS-ESC-004', events: [ev.mount({ source: 'cgroup', fstype: 'cgroup' })], expect: [] },
  { name: 'cpuset mounts are left to KS-ESC-004', events: [ev.mount({ source: 'cpuset', fstype: 'cpuset' })], expect: [] },
  ...['binfmt_misc', 'devtmpfs', 'efivarfs', 'pstore', 'selinuxfs', 'smackfs'].map((fstype) => (
    { name: `mounting ${fstype} in a container is high`, events: [ev.mount({ source: 'none', fstype })], expect: ['high'] })),
  { name: 'a mount whose type could not be read is high', events: [ev.mount({ source: '', fstype: '', facts: MountFact.TypeUnreadable })], expect: ['high'] },
  { name: 'the kernel\'s type seen at exit is judged like the caller\'s', events: [ev.mount({ fstype: 'proc', facts: MountFact.KernelType })], expect: ['high'] },
  { name: 'runc mounting proc while setting the container up is ignored', events: [ev.mount({ comm: 'runc:[2:INIT]' })], setup: isTheRuntime, expect: [] },
  { name: 'a container process named runc:[2:INIT] mounting proc is high', events: [ev.mount({ comm: 'runc:[2:INIT]' })], setup: namedLikeTheRuntime, expect: ['high'] },
  { name: 'a host process mounting proc is ignored', events: [ev.mount(onHost)], expect: [] },
  {
    name: 'chroot into a block device it mounted is critical',
    events: [ev.mount({ source: '/dev/vda1', fstype: 'ext4', target: '/mnt/host/' }), ev.rootChange({ newRoot: '/mnt/host' })],
    expect: ['critical'],
  },
  {
    name: 'pivot_root into a subdirectory of its mount is critical',
    events: [ev.mount({ source: '/dev/vda1', fstype: 'ext4', target: '/mnt/host' }), ev.rootChange({ op: Op.PivotRoot, newRoot: '/mnt/host/root' })],
    expect: ['critical'],
  },
  { name: 'chroot into /proc/1/root is critical', events: [ev.rootChange({ newRoot: '/proc/1/root' })], expect: ['critical'] },
  { name: 'chroot into an ordinary directory is ignored', events: [ev.rootChange({ newRoot: '/srv/jail' })], expect: [] },
  {
    name: 'chroot into a mount made by another container is ignored',
    events: [ev.mount({ cgroupId: OTHER.cgroupId, source: '/dev/vda1', fstype: 'ext4', target: '/mnt/host' }), ev.rootChange({ newRoot: '/mnt/host' })],
    expect: [],
  },
]);

detectorTable(() => new KernelModule(), [
  { name: 'init_module from a container is critical', events: [ev.module()], expect: ['critical'] },
  { name: 'finit_module on the host is high', events: [ev.module({ ...onHost, op: Op.FinitModule, name: 'ip_vs.ko' })], expect: ['high'] },
  {
    name: 'delete_module on the host names the module',
    events: [ev.module({ ...onHost, op: Op.DeleteModule, name: 'nf_tables' })],
    expect: ['high'],
    check: (f) => assert.equal(f[0].attributes[Attr.moduleName], 'nf_tables'),
  },
]);

detectorTable(() => new RuntimeApiAccess(), [
  { name: 'connecting to the Docker socket from a container is high', events: [ev.connect({ family: 1, unixPath: '/var/run/docker.sock', port: 0, address: '' })], expect: ['high'] },
  { name: 'connecting to containerd.sock mounted elsewhere is high', events: [ev.connect({ family: 1, unixPath: '/host/run/containerd/containerd.sock' })], expect: ['high'] },
  { name: 'connecting to an unrelated unix socket is ignored', events: [ev.connect({ family: 1, unixPath: '/run/app/app.sock' })], expect: [] },
  { name: 'the host Docker CLI connecting to the socket is ignored', events: [ev.connect({ ...onHost, family: 1, unixPath: '/run/docker.sock' })], expect: [] },
  { name: 'connecting to the kubelet port 10250 from a container is high', events: [ev.connect({ port: 10250, address: '10.0.0.5' })], expect: ['high'] },
  { name: 'connecting to the read-only kubelet port over IPv6 is high', events: [ev.connect({ family: 10, port: 10255, address: 'fd00::5' })], expect: ['high'] },
  { name: 'connecting to port 443 is ignored', events: [ev.connect()], expect: [] },
  { name: 'opening the crio socket path from a container is high', events: [ev.open({ path: '/var/run/crio/crio.sock', openFlags: O_RDWR })], expect: ['high'] },
]);

detectorTable(() => new ProcessInjection(), [
  {
    name: 'PTRACE_ATTACH to a process in the same container is high',
    events: [ev.ptrace()],
    setup: (a) => a.addProcess({ tgid: 4343 }),
    expect: ['high'],
  },
  {
    name: 'PTRACE_SEIZE of a host process from a container is critical',
    events: [ev.ptrace({ request: 0x4206n })],
    setup: (a) => a.addProcess({ tgid: 4343, container: null, cgroupId: HOST_CGROUP, executable: '/usr/bin/kubelet' }),
    expect: ['critical'],
    check: (f) => assert.equal(f[0].attributes[Attr.targetExecutable], '/usr/bin/kubelet'),
  },
  {
    name: 'PTRACE_POKEDATA into another container is critical',
    events: [ev.ptrace({ request: 5n })],
    setup: (a) => a.addProcess({ tgid: 4343, container: OTHER, cgroupId: OTHER.cgroupId }),
    expect: ['critical'],
  },
  { name: 'PTRACE_PEEKDATA (a read) is ignored', events: [ev.ptrace({ request: 2n })], expect: [] },
  { name: 'PTRACE_TRACEME-style self reference is ignored', events: [ev.ptrace({ targetTgid: 4242 })], expect: [] },
  { name: 'ptrace by a host debugger is ignored', events: [ev.ptrace(onHost)], expect: [] },
  { name: 'process_vm_writev into an unresolved process is high', events: [ev.ptrace({ op: Op.ProcessVmWritev, targetTgid: 0, request: 0n })], expect: ['high'] },
  { name: 'opening /proc/<pid>/mem for writing is high', events: [ev.open({ path: '/proc/7/mem', openFlags: O_RDWR })], expect: ['high'] },
  { name: 'opening /proc/self/mem for writing is ignored', events: [ev.open({ path: '/proc/self/mem', openFlags: O_RDWR })], expect: [] },
  {
    name: 'opening its own /proc/<pid>/mem for writing is ignored: the kernel says the proc inode is the opener\'s',
    events: [ev.open({ path: '/proc/7/mem', pathSource: OpenPathSource.Resolved, fileFacts: OpenFileFact.Known | OpenFileFact.Write | OpenFileFact.OwnProcess, openFlags: O_RDWR })],
    expect: [],
  },
  {
    name: 'the caller writing /proc/self/mem is no evidence: another pid\'s mem without the kernel\'s OwnProcess is high',
    events: [ev.open({ path: '/proc/7/mem', pathSource: OpenPathSource.Resolved, callerPath: '/proc/self/mem', fileFacts: OpenFileFact.Known | OpenFileFact.Write, openFlags: O_RDWR })],
    expect: ['high'],
  },
  {
    name: 'another pid\'s mem reached through /proc/self/.. is high on its resolved path',
    events: [ev.open({ path: '/proc/7/mem', pathSource: OpenPathSource.Resolved, callerPath: '/proc/self/../7/mem', openFlags: O_RDWR })],
    expect: ['high'],
  },
  { name: 'reading /proc/<pid>/mem is ignored', events: [ev.open({ path: '/proc/7/mem', openFlags: O_RDONLY })], expect: [] },
]);

detectorTable(() => new KernelProgramLoad(), [
  { name: 'bpf(BPF_PROG_LOAD) from a container is high', events: [ev.bpf()], expect: ['high'] },
  { name: 'bpf(BPF_MAP_CREATE) from a container is ignored', events: [ev.bpf({ cmd: 0 })], expect: [] },
  { name: 'perf_event_open from a container is medium', events: [ev.bpf({ op: Op.PerfEventOpen, cmd: 1 })], expect: ['medium'] },
  { name: 'a host eBPF agent loading programs is ignored', events: [ev.bpf(onHost)], expect: [] },
]);

detectorTable(() => new OpenByHandle(), [
  { name: 'open_by_handle_at from a container is critical', events: [ev.open({ op: Op.OpenByHandleAt, path: '', dirfd: 3 })], expect: ['critical'] },
  { name: 'open_by_handle_at on the host is ignored', events: [ev.open({ ...onHost, op: Op.OpenByHandleAt, path: '' })], expect: [] },
  { name: 'an ordinary openat is ignored', events: [ev.open({ path: '/dev/mem' })], expect: [] },
]);

detectorTable(() => new HostResourceAccess(), [
  { name: 'opening /dev/mem in a container is critical', events: [ev.open({ path: '/dev/mem' })], expect: ['critical'] },
  { name: 'opening /proc/kcore in a container is critical', events: [ev.open({ path: '/proc/kcore' })], expect: ['critical'] },
  { name: 'opening a raw NVMe disk in a container is critical', events: [ev.open({ path: '/dev/nvme0n1' })], expect: ['critical'] },
  { name: 'opening a device-mapper disk is critical', events: [ev.open({ path: '/dev/dm-0', openFlags: O_RDWR })], expect: ['critical'] },
  { name: 'reading through /proc/<pid>/root of another process is high', events: [ev.open({ path: '/proc/12/root/etc/shadow' })], expect: ['high'] },
  {
    name: 'reading /proc/1/root from a hostPID container is critical',
    events: [ev.open({ path: '/proc/1/root/etc/shadow' })],
    setup: (a) => a.addProcess({ tgid: 4242, ns: { ...CONTAINER_NS, pid: HOST_NS.pid } }),
    expect: ['critical'],
  },
  { name: 'reading through /proc/self/root is ignored', events: [ev.open({ path: '/proc/self/root/etc/hosts' })], expect: [] },
  { name: 'reading /proc/12/rootfs-like names is ignored', events: [ev.open({ path: '/proc/12/rootx' })], expect: [] },
  { name: 'a host process reading a raw disk is ignored', events: [ev.open({ ...onHost, path: '/dev/sda' })], expect: [] },
  { name: 'opening /dev/null is ignored', events: [ev.open({ path: '/dev/null' })], expect: [] },
]);

detectorTable(() => new RuntimeBinaryOverwrite(), [
  { name: 'opening /proc/self/exe for writing is critical', events: [ev.open({ path: '/proc/self/exe', openFlags: O_WRONLY })], expect: ['critical'] },
  { name: 'opening /proc/<pid>/exe of another process read-only is high', events: [ev.open({ path: '/proc/31/exe', openFlags: O_RDONLY })], expect: ['high'] },
  { name: 'opening /proc/self/exe read-only is ignored', events: [ev.open({ path: '/proc/self/exe', openFlags: O_RDONLY })], expect: [] },
  { name: 'writing /usr/bin/runc is critical', events: [ev.open({ path: '/usr/bin/runc', openFlags: O_WRONLY | 0o1000 })], expect: ['critical'] },
  { name: 'writing containerd-shim-runc-v2 is critical', events: [ev.open({ path: '/usr/bin/containerd-shim-runc-v2', openFlags: O_RDWR })], expect: ['critical'] },
  { name: 'reading runc is ignored', events: [ev.open({ path: '/usr/bin/runc', openFlags: O_RDONLY })], expect: [] },
  { name: 'a host package manager replacing runc is ignored', events: [ev.open({ ...onHost, path: '/usr/bin/runc', openFlags: O_WRONLY })], expect: [] },
]);

detectorTable(() => new UserfaultfdNonRoot(), [
  { name: 'userfaultfd by uid 1000 in a container is medium', events: [ev.fdCreate()], expect: ['medium'] },
  { name: 'userfaultfd by root in a container is ignored', events: [ev.fdCreate({ uid: 0 })], expect: [] },
  { name: 'memfd_create is not userfaultfd', events: [ev.fdCreate({ op: Op.MemfdCreate, name: 'x' })], expect: [] },
  { name: 'userfaultfd on the host is ignored', events: [ev.fdCreate(onHost)], expect: [] },
]);

detectorTable(() => new NodeCredentialAccess(), [
  { name: 'reading the kubelet client certificate is critical', events: [ev.open({ path: '/var/lib/kubelet/pki/kubelet-client-current.pem' })], expect: ['critical'] },
  { name: 'reading /etc/kubernetes/admin.conf is critical', events: [ev.open({ path: '/etc/kubernetes/admin.conf' })], expect: ['critical'] },
  { name: 'reading /etc/kubernetes/manifests is ignored', events: [ev.open({ path: '/etc/kubernetes/manifests/etcd.yaml' })], expect: [] },
  {
    name: 'reading another pod\'s service-account token is high',
    events: [ev.open({ path: `/var/lib/kubelet/pods/${OTHER_POD_UID}/volumes/kubernetes.io~projected/kube-api-access-x/token` })],
    expect: ['high'],
  },
  {
    name: 'reading another pod\'s secret volume is high',
    events: [ev.open({ path: `/var/lib/kubelet/pods/${OTHER_POD_UID}/volumes/kubernetes.io~secret/db/password` })],
    expect: ['high'],
  },
  {
    name: 'reading its own pod\'s token through the kubelet path is ignored',
    events: [ev.open({ path: `/var/lib/kubelet/pods/${POD_UID}/volumes/kubernetes.io~projected/kube-api-access-x/token` })],
    expect: [],
  },
  { name: 'the kubelet reading its own certificate on the host is ignored', events: [ev.open({ ...onHost, path: '/var/lib/kubelet/pki/kubelet.crt' })], expect: [] },
]);

detectorTable(() => new PrivilegeRaise(), [
  { name: 'setuid(0) by a non-root container process is high', events: [ev.creds()], expect: ['high'] },
  { name: 'setresuid(-1, 0, -1) by a non-root process is high', events: [ev.creds({ op: Op.Setresuid, args: [0xffffffff, 0, 0xffffffff] })], expect: ['high'] },
  { name: 'setgid(0) by a non-root process is high', events: [ev.creds({ op: Op.Setgid })], expect: ['high'] },
  { name: 'setgid(0) by a process whose real gid is 0 (busybox dropping privileges) is ignored', events: [ev.creds({ op: Op.Setgid, gid: 0 })], expect: [] },
  { name: 'setuid(0) by a root daemon that lowered its effective uid is ignored', events: [ev.creds({ uid: 0 })], expect: [] },
  {
    name: 'capset raising an effective capability it is permitted is ignored',
    events: [ev.creds({ op: Op.Capset, capPermittedBefore: 1n << 13n, capPermittedNew: 1n << 13n, capEffectiveNew: 1n << 13n })],
    expect: [],
  },
  {
    name: 'runc applying the container user\'s capabilities is ignored',
    events: [ev.creds({ op: Op.Capset, comm: 'runc:[2:INIT]', capEffectiveNew: 0x800405fbn, capPermittedNew: 0x800405fbn })],
    setup: isTheRuntime,
    expect: [],
  },
  {
    name: 'a non-root container process named runc:[2:INIT] asking capset for more is high',
    events: [ev.creds({ op: Op.Capset, comm: 'runc:[2:INIT]', capEffectiveNew: 0x800405fbn, capPermittedNew: 0x800405fbn })],
    setup: namedLikeTheRuntime,
    expect: ['high'],
  },
  { name: 'root dropping to uid 1000 is ignored', events: [ev.creds({ euidBefore: 0, args: [1000, 0xffffffff, 0xffffffff] })], expect: [] },
  { name: 'a non-root process calling setuid(1000) is ignored', events: [ev.creds({ args: [1000, 0, 0] })], expect: [] },
  {
    name: 'capset adding CAP_SYS_ADMIN by a non-root process is high',
    events: [ev.creds({ op: Op.Capset, capEffectiveNew: 1n << 21n, capPermittedNew: 1n << 21n })],
    expect: ['high'],
    check: (f) => assert.equal(f[0].attributes[Attr.capsAdded], '0x200000'),
  },
  {
    name: 'capset dropping capabilities is ignored',
    events: [ev.creds({ op: Op.Capset, capEffectiveBefore: 3n, capPermittedBefore: 3n, capEffectiveNew: 1n, capPermittedNew: 1n })],
    expect: [],
  },
  { name: 'setuid(0) by a host process is ignored', events: [ev.creds(onHost)], expect: [] },
]);

const seenWall = CONTAINER_SEEN_NS + BOOT_TO_WALL;
detectorTable(() => new DriftExecution(), [
  { name: 'executing an image binary is ignored', events: [ev.exec()], expect: [] },
  {
    name: 'executing a memfd is high',
    events: [ev.exec({ exeFlags: ExecFlag.Memfd, path: '/memfd:x (deleted)' })],
    expect: ['high'],
    check: (f) => assert.deepEqual(f[0].attributes[Attr.execReasons], ['memfd']),
  },
  {
    name: 'runc re-executing itself from a memfd as runc init is ignored',
    events: [ev.exec({ exeFlags: ExecFlag.Memfd, path: '/memfd:runc_cloned:/usr/bin/runc (deleted)', argv: ['runc', 'init'] })],
    setup: isTheRuntime,
    expect: [],
  },
  {
    name: 'a container process executing a memfd it calls runc init is high',
    events: [ev.exec({ exeFlags: ExecFlag.Memfd, path: '/memfd:runc_cloned:/usr/bin/runc (deleted)', argv: ['runc', 'init'], comm: 'runc' })],
    setup: namedLikeTheRuntime,
    expect: ['high'],
  },
  { name: 'executing an unlinked file is high', events: [ev.exec({ exeFlags: ExecFlag.Unlinked, path: '/app/x' })], expect: ['high'] },
  { name: 'executing from /dev/shm is high', events: [ev.exec({ path: '/dev/shm/x' })], expect: ['high'] },
  { name: 'executing from /tmp is high', events: [ev.exec({ path: '/tmp/.x/run' })], expect: ['high'] },
  { name: 'executing ./x whose file resolves into /tmp is high', events: [ev.exec({ path: './x', exePath: '/tmp/x' })], expect: ['high'] },
  {
    name: 'a #! script in /tmp is high by its filename though the executed file is its interpreter',
    events: [ev.exec({ path: '/tmp/run.sh', exePath: '/bin/busybox' })],
    expect: ['high'],
  },
  { name: 'a binary modified after the container started is medium', events: [ev.exec({ path: '/usr/bin/curl', exeMtimeNs: seenWall + 1n })], expect: ['medium'] },
  { name: 'a binary modified before the container started is ignored', events: [ev.exec({ path: '/usr/bin/curl', exeMtimeNs: seenWall - 1n })], expect: [] },
  {
    name: 'a snapshot of a running process is not judged by its mtime',
    events: [ev.exec({ exeFlags: ExecFlag.Snapshot, exeMtimeNs: seenWall + 1n })],
    expect: [],
  },
  { name: 'a host process executing from /tmp is ignored', events: [ev.exec({ ...onHost, path: '/tmp/x' })], expect: [] },
]);

// The events a synthetic case uses must be those the detector declares; a mistake here would hide a rule.
assert.ok(new UserNamespaceCreation().meta.events.includes(EventType.Fork));
assert.equal(WEB.podUid, POD_UID);
