// Runtime set-up from kernel facts: the identity of the host's runtime binaries (device + inode, stat'd through a
// host root), the mount namespace an exec happens in, and the process table carrying the verdict across fork
// until the next exec.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import type { DetectionContext } from '../src/detectors/Detector.ts';
import { isRuntimeSetup } from '../src/detectors/internal/util.ts';
import { EventType, ExecFlag, Op, type ExecEvent, type ForkEvent, type NamespaceEvent } from '../src/receiver/events.ts';
import { HostRuntimeBinaries, kernelDevOf, statInRoot, type ExecFacts, type FileIdentity } from '../src/receiver/HostRuntimeBinaries.ts';
import { ProcessTable } from '../src/receiver/ProcessTable.ts';

const HOST_MNT = 4026531841;
const CONTAINER_MNT = 4026532301;

const root = mkdtempSync(path.join(tmpdir(), 'ks-host-root-'));
after(() => rmSync(root, { recursive: true, force: true }));

function hostFile(file: string, text = file): FileIdentity {
  mkdirSync(path.dirname(root + file), { recursive: true });
  writeFileSync(root + file, text);
  const stat = statSync(root + file, { bigint: true });
  return { dev: kernelDevOf(stat.dev), ino: stat.ino };
}

const runc = hostFile('/usr/sbin/runc');
const conmon = hostFile('/opt/runtimes/conmon');
const busybox = hostFile('/usr/bin/busybox');
// Debian's layout, with an absolute target: it must resolve inside the host root, not the agent's.
symlinkSync('/usr/sbin/runc', `${root}/usr/bin/runc`);

function facts(identity: FileIdentity, o: Partial<ExecFacts> = {}): ExecFacts {
  return { exeDev: identity.dev, exeIno: identity.ino, exeFlags: 0, mntNs: HOST_MNT, path: '/usr/bin/runc', ...o };
}

function runtimes(executables: Iterable<string> = ['runc', '/opt/runtimes/conmon', 'crun']): HostRuntimeBinaries {
  return new HostRuntimeBinaries({ hostRoot: root, hostMntNs: HOST_MNT, executables: () => executables });
}

describe('host runtime binaries', () => {
  it('converts user-space st_dev to the kernel encoding the exec record carries (the major:minor of mountinfo)', () => {
    assert.equal(kernelDevOf(0x801), (8 << 20) | 1);
    // glibc's makedev(0, 300): minor bits above 8 live at bit 20 of the user encoding
    assert.equal(kernelDevOf((300 & 0xff) | ((300 & ~0xff) << 12)), 300);
    const self = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.split(' ')[4] === '/')!;
    const [major, minor] = self.split(' ')[2].split(':').map(Number);
    // an overlay or btrfs root reports another st_dev than its superblock's; only compare on plain file systems
    if (!/ - (overlay|btrfs) /.test(self)) assert.equal(kernelDevOf(statSync('/').dev), (major << 20) | minor);
  });

  it('follows an absolute symbolic link inside the host root', () => {
    const stat = statInRoot(root, '/usr/bin/runc');
    assert.equal(stat?.ino, runc.ino);
    assert.equal(statInRoot(root, '/usr/bin/missing'), null);
  });

  it('finds runtimes by base name in the usual directories and by absolute host path, once per file', () => {
    const found = runtimes().found();
    assert.deepEqual([...found.keys()].sort(), ['/opt/runtimes/conmon', '/usr/sbin/runc']);
    assert.deepEqual(found.get('/usr/sbin/runc'), runc);
  });

  it('recognises an exec of the host runtime binary in the host mount namespace', () => {
    const r = runtimes();
    assert.equal(r.isRuntimeSetupExec(facts(runc), false), true);
    assert.equal(r.isRuntimeSetupExec(facts(conmon, { path: '/opt/runtimes/conmon' }), false), true);
  });

  it('does not recognise the host runtime binary executed inside a container mount namespace (a hostPath mount)', () => {
    assert.equal(runtimes().isRuntimeSetupExec(facts(runc, { mntNs: CONTAINER_MNT, path: '/host/usr/sbin/runc' }), true), false);
  });

  it('does not recognise another file called runc, in the host mount namespace or a container', () => {
    const r = runtimes();
    assert.equal(r.isRuntimeSetupExec(facts(busybox, { path: '/tmp/runc' }), false), false);
    assert.equal(r.isRuntimeSetupExec(facts(busybox, { path: '/tmp/runc', mntNs: CONTAINER_MNT }), true), false);
    assert.equal(r.isRuntimeSetupExec(facts({ dev: runc.dev + 1, ino: runc.ino }), false), false, 'same inode, other device');
  });

  it('recognises the runtime re-executing its sealed copy, only while it is the runtime and in the host mount namespace', () => {
    const r = runtimes();
    const memfd = facts({ dev: 1, ino: 77n }, { exeFlags: ExecFlag.Memfd | ExecFlag.Unlinked, path: '/dev/fd/6' });
    const overlayFd = facts({ dev: 2, ino: 78n }, { path: '/proc/self/fd/7' });
    assert.equal(r.isRuntimeSetupExec(memfd, true), true);
    assert.equal(r.isRuntimeSetupExec(overlayFd, true), true);
    assert.equal(r.isRuntimeSetupExec(memfd, false), false, 'a memfd exec of a process that is not the runtime');
    assert.equal(r.isRuntimeSetupExec({ ...memfd, mntNs: CONTAINER_MNT }, true), false, 'inside the container');
    assert.equal(r.isRuntimeSetupExec(facts(busybox, { path: '/usr/bin/busybox' }), true), false, 'the runtime running something else');
  });

  it('stats again when a runtime-named host exec matches nothing (an upgraded binary), at a bounded rate', () => {
    hostFile('/usr/local/bin/youki', 'youki 1');
    const r = runtimes(['youki']);
    writeFileSync(`${root}/usr/local/bin/youki.new`, 'youki 2');
    renameSync(`${root}/usr/local/bin/youki.new`, `${root}/usr/local/bin/youki`);
    const upgraded = statSync(`${root}/usr/local/bin/youki`, { bigint: true });
    const exec = facts({ dev: kernelDevOf(upgraded.dev), ino: upgraded.ino }, { path: '/usr/local/bin/youki' });
    assert.equal(r.isRuntimeSetupExec(exec, false), true);
    assert.equal(r.restats, 1);
    assert.equal(r.isRuntimeSetupExec(facts(busybox, { path: '/usr/bin/youki' }), false), false);
    assert.equal(r.restats, 1, 'the next re-stat waits for the rate limit');
  });

  it('reads the configured executables again when the setting changes', () => {
    let configured: string[] = ['runc'];
    const r = new HostRuntimeBinaries({ hostRoot: root, hostMntNs: HOST_MNT, executables: () => configured });
    assert.equal(r.isRuntimeSetupExec(facts(conmon, { path: '/opt/runtimes/conmon' }), false), false);
    configured = ['runc', '/opt/runtimes/conmon'];
    assert.equal(r.isRuntimeSetupExec(facts(conmon, { path: '/opt/runtimes/conmon' }), false), true);
  });
});

describe('process table runtime set-up', () => {
  const noContainers = { resolve: () => null, resolvePath: () => null, idOfPath: () => null };
  const header = { flags: 0, uid: 0, gid: 0, cgroupId: 1n, startBoottimeNs: 0n };
  let clock = 1_000_000n;

  function exec(tgid: number, start: bigint, exe: FileIdentity, o: { mnt?: number; path?: string; exeFlags?: number } = {}): ExecEvent {
    return {
      ...header, type: EventType.Exec, ktimeNs: (clock += 1000n), tgid, pid: tgid, comm: 'x', startBoottimeNs: start,
      exeIno: exe.ino, exeDev: exe.dev, exeMtimeNs: 0n, ppid: 1, euid: 0, egid: 0, exeFlags: o.exeFlags ?? 0, exeNlink: 1,
      ns: { mnt: o.mnt ?? HOST_MNT, pid: 2, net: 3, user: 4, uts: 5, ipc: 6, cgroup: 7 }, capEffective: 0n, argc: 1,
      path: o.path ?? '/usr/bin/runc', exePath: '', argv: ['runc'],
    };
  }
  function fork(parent: number, child: number, childStart: bigint): ForkEvent {
    return {
      ...header, type: EventType.Fork, ktimeNs: (clock += 1000n), tgid: parent, pid: parent, comm: 'x',
      childStartBoottimeNs: childStart, childTgid: child, childPid: child, cloneFlags: 0n,
    };
  }
  const table = () =>
    new ProcessTable({ maxEntries: 100, exitedGraceMs: 1000, containers: noContainers, procfsReadsPerSecond: 0, runtime: runtimes() });

  it('follows runc from its exec through its sealed re-exec and forks, and ends at the container entrypoint', () => {
    const t = table();
    t.onEvent(exec(100, 10n, runc)); // runc create
    assert.equal(t.get(100)?.runtimeSetup, true);
    t.onEvent(fork(100, 101, 11n));
    t.onEvent(exec(101, 11n, { dev: 1, ino: 99n }, { exeFlags: ExecFlag.Memfd, path: '/dev/fd/6' })); // runc init
    assert.equal(t.get(101)?.runtimeSetup, true);
    t.onEvent(fork(101, 102, 12n)); // runc:[1:CHILD], then runc:[2:INIT]
    t.onEvent(fork(102, 103, 13n));
    assert.equal(t.get(103)?.runtimeSetup, true);
    t.onEvent(exec(103, 13n, busybox, { mnt: CONTAINER_MNT, path: '/bin/sleep' })); // the entrypoint
    assert.equal(t.get(103)?.runtimeSetup, false);
    t.onEvent(fork(103, 104, 14n));
    assert.equal(t.get(104)?.runtimeSetup, false, 'the entrypoint\'s children are the workload');
    t.onEvent(exec(104, 14n, { dev: 1, ino: 98n }, { exeFlags: ExecFlag.Memfd, path: '/dev/fd/6', mnt: HOST_MNT }));
    assert.equal(t.get(104)?.runtimeSetup, false, 'a workload in the host mount namespace re-exec-ing a memfd is not the runtime');
  });

  it('does not lend a dead runc\'s standing to the next process on its pid when the records in between were lost', () => {
    const t = table();
    t.onEvent(exec(300, 10_000_000_000n, runc));
    // runc's exit, and the fork and exec of the process that got pid 300 next, were dropped in a flood: the first
    // record the agent sees from the new owner is an urgent one.
    const unshare: NamespaceEvent = {
      ...header, type: EventType.Namespace, ktimeNs: (clock += 1000n), tgid: 300, pid: 300, comm: 'runc:[2:INIT]',
      startBoottimeNs: 50_000_000_000n, op: Op.Unshare, cloneFlags: 0x10000000n,
    };
    const ctx = { process: (tgid: number, start?: bigint) => t.get(tgid, start) } as Partial<DetectionContext> as DetectionContext;
    assert.equal(isRuntimeSetup(unshare, ctx), false);
    assert.equal(t.get(300, 10_000_000_000n)?.runtimeSetup, true, 'the dead runc keeps its own entry under its start time');
    assert.equal(t.hasExited(300, 10_000_000_000n), true, 'and is known to have exited');
    assert.equal(t.stats.reusedPids, 1);
  });

  it('does not count a process as runtime set-up without a classifier', () => {
    const t = new ProcessTable({ maxEntries: 100, exitedGraceMs: 1000, containers: noContainers, procfsReadsPerSecond: 0 });
    t.onEvent(exec(200, 10n, runc));
    assert.equal(t.get(200)?.runtimeSetup, false);
  });
});
