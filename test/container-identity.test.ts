import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ContainerResolver } from '../src/receiver/ContainerResolver.ts';
import {
  cgroupPathFromProcFile,
  findCgroup2Mount,
  parseContainerCgroupPath,
  readCgroup2Mount,
  walkCgroups,
  type ParsedContainerCgroup,
} from '../src/receiver/cgroups.ts';
import { createDecoderStats, decodeBatch } from '../src/receiver/decoder.ts';
import { EventType, Op, type CgroupEvent, type ExecEvent, type KernelEvent } from '../src/receiver/events.ts';
import { openKernelSource, type KernelSource } from '../src/receiver/kernel.ts';
import { ProcessTable } from '../src/receiver/ProcessTable.ts';
import { namespacesDifferingFromHost, parseNamespaceLink, readHostNamespaces, readNamespaceInodes } from '../src/receiver/hostNamespaces.ts';
import { cgroup2Root, cgroupIdOf, createCgroup, runInCgroup, type Cgroup } from './helpers/cgroup.ts';
import { startContainer } from './helpers/podman.ts';
import { waitFor } from './helpers/wait.ts';

const ID = 'a'.repeat(60) + '0b1c';
const ID2 = '4f0c2a1e9b8d7c6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a21';
const UID = '3f9d0c1e-2b4a-4c5d-8e6f-7a8b9c0d1e2f';
const UID_ = UID.replaceAll('-', '_');

const parseCases: { name: string; path: string; expected: Omit<ParsedContainerCgroup, 'cgroupPath'> | null; cgroupPath?: string }[] = [
  {
    name: 'containerd under the systemd driver in a besteffort pod translates the pod UID underscores',
    path: `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_}.slice/cri-containerd-${ID}.scope`,
    expected: { id: ID, runtime: 'containerd', podUid: UID, qosClass: 'besteffort' },
  },
  {
    name: 'a guaranteed pod under the systemd driver has no QoS slice',
    path: `/kubepods.slice/kubepods-pod${UID_}.slice/cri-containerd-${ID}.scope`,
    expected: { id: ID, runtime: 'containerd', podUid: UID, qosClass: 'guaranteed' },
  },
  {
    name: 'a burstable pod under the systemd driver is burstable',
    path: `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/cri-containerd-${ID}.scope`,
    expected: { id: ID, runtime: 'containerd', podUid: UID, qosClass: 'burstable' },
  },
  {
    name: 'containerd under the cgroupfs driver is a bare id below the pod',
    path: `/kubepods/besteffort/pod${UID}/${ID}`,
    expected: { id: ID, runtime: 'containerd', podUid: UID, qosClass: 'besteffort' },
  },
  {
    name: 'a guaranteed pod under the cgroupfs driver sits directly under kubepods',
    path: `/kubepods/pod${UID}/${ID}`,
    expected: { id: ID, runtime: 'containerd', podUid: UID, qosClass: 'guaranteed' },
  },
  {
    name: 'CRI-O under the systemd driver is a crio scope',
    path: `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/crio-${ID}.scope`,
    expected: { id: ID, runtime: 'cri-o', podUid: UID, qosClass: 'burstable' },
  },
  {
    name: 'the CRI-O conmon scope is not a container',
    path: `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/crio-conmon-${ID}.scope`,
    expected: null,
  },
  {
    name: 'a static pod UID of 32 hex digits is accepted',
    path: `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0123456789abcdef0123456789abcdef.slice/crio-${ID}.scope`,
    expected: { id: ID, runtime: 'cri-o', podUid: '0123456789abcdef0123456789abcdef', qosClass: 'burstable' },
  },
  {
    name: 'Docker under systemd is a docker scope in system.slice, outside any pod',
    path: `/system.slice/docker-${ID}.scope`,
    expected: { id: ID, runtime: 'docker' },
  },
  {
    name: 'Docker under cgroupfs is a bare id below /docker',
    path: `/docker/${ID}`,
    expected: { id: ID, runtime: 'docker' },
  },
  {
    name: 'Podman under systemd is a libpod scope in machine.slice',
    path: `/machine.slice/libpod-${ID}.scope`,
    expected: { id: ID, runtime: 'podman' },
  },
  {
    name: 'a sub-cgroup a container makes inside its scope belongs to that container',
    path: `/machine.slice/libpod-${ID}.scope/container`,
    expected: { id: ID, runtime: 'podman' },
    cgroupPath: `/machine.slice/libpod-${ID}.scope`,
  },
  {
    name: 'the Podman conmon scope is not a container',
    path: `/machine.slice/libpod-conmon-${ID}.scope`,
    expected: null,
  },
  {
    name: 'Podman with a kubepods cgroup parent is a libpod directory below the pod',
    path: `/kubepods/besteffort/pod${UID}/libpod-${ID}`,
    expected: { id: ID, runtime: 'podman', podUid: UID, qosClass: 'besteffort' },
  },
  {
    name: 'a container of a kind node nested in a Docker container resolves to the innermost container',
    path: `/system.slice/docker-${ID2}.scope/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod${UID_}.slice/cri-containerd-${ID}.scope`,
    expected: { id: ID, runtime: 'containerd', podUid: UID, qosClass: 'besteffort' },
  },
  {
    name: 'a v1 memory-controller path from /proc/<pid>/cgroup parses the same as v2',
    path: `/kubepods/burstable/pod${UID}/${ID}`,
    expected: { id: ID, runtime: 'containerd', podUid: UID, qosClass: 'burstable' },
  },
  {
    name: 'a crio-conmon-looking cgroup a container makes below its own is still that container',
    path: `/kubepods/besteffort/pod${UID}/libpod-${ID}/crio-conmon-${ID2}`,
    expected: { id: ID, runtime: 'podman', podUid: UID, qosClass: 'besteffort' },
    cgroupPath: `/kubepods/besteffort/pod${UID}/libpod-${ID}`,
  },
  {
    name: 'a docker-scope-looking cgroup a container makes below its own does not name another container',
    path: `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_}.slice/cri-containerd-${ID}.scope/docker-${ID2}.scope`,
    expected: { id: ID, runtime: 'containerd', podUid: UID, qosClass: 'besteffort' },
    cgroupPath: `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_}.slice/cri-containerd-${ID}.scope`,
  },
  {
    name: 'a whole kubepods tree a container makes below its own does not name another pod',
    path: `/kubepods/burstable/pod${UID}/${ID}/kubepods/besteffort/pod0123456789abcdef0123456789abcdef/${ID2}`,
    expected: { id: ID, runtime: 'containerd', podUid: UID, qosClass: 'burstable' },
    cgroupPath: `/kubepods/burstable/pod${UID}/${ID}`,
  },
  {
    name: 'outside kubepods the outermost container wins over segments below it',
    path: `/system.slice/docker-${ID}.scope/libpod-conmon-${ID2}.scope`,
    expected: { id: ID, runtime: 'docker' },
    cgroupPath: `/system.slice/docker-${ID}.scope`,
  },
  {
    name: 'a conmon scope of a kind node belongs to the node container around it',
    path: `/system.slice/docker-${ID2}.scope/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod${UID_}.slice/crio-conmon-${ID}.scope`,
    expected: { id: ID2, runtime: 'docker' },
    cgroupPath: `/system.slice/docker-${ID2}.scope`,
  },
  { name: 'a pod cgroup itself is not a container', path: `/kubepods/besteffort/pod${UID}`, expected: null },
  { name: 'the root cgroup is the host', path: '/', expected: null },
  { name: 'a systemd service is the host', path: '/system.slice/containerd.service', expected: null },
  { name: 'a user session is the host', path: '/user.slice/user-1000.slice/session-3.scope', expected: null },
  { name: 'the kubepods slice itself is not a container', path: `/kubepods.slice/kubepods-pod${UID_}.slice`, expected: null },
  { name: 'an id of the wrong length is not a container', path: `/docker/${ID.slice(1)}`, expected: null },
];

describe('container cgroup path parsing', () => {
  for (const c of parseCases) {
    it(c.name, () => {
      const parsed = parseContainerCgroupPath(c.path);
      if (c.expected === null) assert.equal(parsed, null);
      else assert.deepEqual(parsed, { ...c.expected, cgroupPath: c.cgroupPath ?? c.path });
    });
  }
});

describe('cgroup2 mount and /proc/<pid>/cgroup', () => {
  it('finds cgroup2 on a hybrid host below the v1 controllers', () => {
    const mountinfo = [
      '30 23 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755',
      '31 30 0:27 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,memory',
      '41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
    ].join('\n');
    assert.equal(findCgroup2Mount(mountinfo), '/sys/fs/cgroup/unified');
  });

  it('finds cgroup2 on a pure v2 host and unescapes octal escapes in the mount point', () => {
    assert.equal(findCgroup2Mount('35 24 0:30 / /sys/fs/cgroup rw,nosuid shared:9 - cgroup2 cgroup2 rw,nsdelegate'), '/sys/fs/cgroup');
    assert.equal(findCgroup2Mount('35 24 0:30 / /mnt/my\\040cgroups rw shared:9 - cgroup2 none rw'), '/mnt/my cgroups');
  });

  it('reports no cgroup2 mount when there is none', () => {
    assert.equal(findCgroup2Mount('31 30 0:27 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory'), null);
  });

  it('finds the cgroup2 mount of this machine where the test helpers do', () => {
    assert.equal(readCgroup2Mount(), cgroup2Root());
  });

  it('prefers the cgroup2 line of /proc/<pid>/cgroup, then name=systemd, then the first v1 line', () => {
    assert.equal(cgroupPathFromProcFile(`9:name=systemd:/a\n4:memory:/b\n0::/kubepods/x\n`), '/kubepods/x');
    assert.equal(cgroupPathFromProcFile(`4:memory:/b\n9:name=systemd:/a\n`), '/a');
    assert.equal(cgroupPathFromProcFile(`4:memory:/b\n3:cpu,cpuacct:/c\n`), '/b');
    assert.equal(cgroupPathFromProcFile(''), null);
  });
});

describe('container resolver on real cgroups', () => {
  // A unique top-level directory keeps these cgroups apart from other tests that use kubepods paths at the root.
  const top = `/ks-identity-test-${randomBytes(4).toString('hex')}`;
  const systemdStyle = `${top}/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_}.slice/cri-containerd-${ID}.scope`;
  const cgroupfsStyle = `${top}/kubepods/burstable/pod${UID}/${ID2}`;
  const conmon = `${top}/machine.slice/libpod-conmon-${ID}.scope`;
  const created: Cgroup[] = [];
  let resolver: ContainerResolver;
  let boot = 1000n;

  const mkdir = (path: string) => {
    const cgroup = createCgroup(path);
    created.push(cgroup);
    return cgroup;
  };
  const cgroupEvent = (op: Op, id: bigint, path: string): CgroupEvent => ({
    type: EventType.Cgroup,
    flags: 0,
    ktimeNs: 777n,
    cgroupId: 0n,
    tgid: 1,
    pid: 1,
    uid: 0,
    gid: 0,
    comm: 'runc',
    startBoottimeNs: 0n,
    op,
    id,
    level: path.split('/').length - 1,
    path,
  });

  before(() => {
    mkdir(systemdStyle);
    mkdir(cgroupfsStyle);
    mkdir(conmon);
    resolver = new ContainerResolver({ nowBootNs: () => ++boot });
    resolver.start();
  });

  after(async () => {
    // Deepest first; the helper also removes the ancestors it created.
    for (const cgroup of created.reverse()) await cgroup.remove();
  });

  it('uses the inode of a cgroup directory as its id, as the kernel does', () => {
    const walked = walkCgroups(cgroup2Root());
    assert.equal(walked.get(cgroupIdOf(systemdStyle)), systemdStyle);
  });

  it('resolves a systemd-driver containerd cgroup found by the start-up walk', () => {
    const identity = resolver.resolve(cgroupIdOf(systemdStyle));
    assert.ok(identity);
    assert.equal(identity.id, ID);
    assert.equal(identity.runtime, 'containerd');
    assert.equal(identity.podUid, UID);
    assert.equal(identity.qosClass, 'besteffort');
    assert.equal(identity.cgroupPath, systemdStyle);
    assert.equal(identity.cgroupId, cgroupIdOf(systemdStyle));
    assert.equal(resolver.stats.misses, 0);
  });

  it('resolves a cgroupfs-driver container found by the start-up walk', () => {
    const identity = resolver.resolve(cgroupIdOf(cgroupfsStyle));
    assert.deepEqual([identity?.id, identity?.podUid, identity?.qosClass], [ID2, UID, 'burstable']);
  });

  it('resolves the pod slice, the conmon scope and the root as the host', () => {
    assert.equal(resolver.resolve(cgroupIdOf(`${top}/kubepods.slice`)), null);
    assert.equal(resolver.resolve(cgroupIdOf(conmon)), null);
    assert.equal(resolver.resolve(cgroupIdOf('/')), null);
  });

  it('resolves a container created after start-up from its mkdir event, without re-walking', () => {
    const podUid = '11111111-2222-4333-8444-555555555555';
    const containerId = 'c'.repeat(64);
    const path = `${top}/kubepods.slice/kubepods-pod${podUid.replaceAll('-', '_')}.slice/cri-containerd-${containerId}.scope`;
    const cgroup = mkdir(path);
    const rewalksBefore = resolver.stats.rewalks;
    resolver.onCgroupEvent(cgroupEvent(Op.CgroupMkdir, cgroup.id, path));
    const identity = resolver.resolve(cgroup.id);
    assert.deepEqual([identity?.id, identity?.podUid, identity?.qosClass, identity?.firstSeenNs], [containerId, podUid, 'guaranteed', 777n]);
    assert.equal(resolver.stats.rewalks, rewalksBefore);
  });

  it('resolves runtime-looking cgroups made below a known container to that container, by event and by walk', () => {
    const spoofs = [`${systemdStyle}/crio-conmon-${'f'.repeat(64)}`, `${systemdStyle}/docker-${'f'.repeat(64)}.scope`];
    const byEvent = mkdir(spoofs[0]);
    resolver.onCgroupEvent(cgroupEvent(Op.CgroupMkdir, byEvent.id, spoofs[0]));
    const byWalk = mkdir(spoofs[1]);
    for (const id of [byEvent.id, byWalk.id]) {
      const identity = resolver.resolve(id);
      assert.deepEqual([identity?.id, identity?.podUid, identity?.cgroupId], [ID, UID, cgroupIdOf(systemdStyle)]);
    }
  });

  it('ignores a mkdir event whose id is not the directory inode (another hierarchy)', () => {
    const ignoredBefore = resolver.stats.cgroupEventsIgnored;
    resolver.onCgroupEvent(cgroupEvent(Op.CgroupMkdir, 123456789n, systemdStyle));
    assert.equal(resolver.stats.cgroupEventsIgnored, ignoredBefore + 1);
    assert.equal(resolver.pathOf(123456789n), undefined);
  });

  it('finds a cgroup it missed the event for by re-walking, and counts the miss', () => {
    const containerId = 'd'.repeat(64);
    const path = `${top}/docker/${containerId}`;
    const cgroup = mkdir(path);
    const before = { ...resolver.stats };
    const identity = resolver.resolve(cgroup.id);
    assert.deepEqual([identity?.id, identity?.runtime], [containerId, 'docker']);
    assert.equal(resolver.stats.misses, before.misses + 1);
    assert.equal(resolver.stats.rewalks, before.rewalks + 1);
  });

  it('resolves a missed cgroup through the /proc entry of the pid that came with it', async () => {
    const containerId = 'e'.repeat(64);
    const path = `${top}/kubepods/besteffort/pod${UID}/${containerId}`;
    const inside = await runInCgroup(path, 'sleep', ['1000']);
    created.push(inside.cgroup);
    try {
      const identity = resolver.resolve(inside.cgroup.id, inside.pid);
      assert.deepEqual([identity?.id, identity?.podUid], [containerId, UID]);
      assert.equal(resolver.resolvePath(path)?.id, containerId);
    } finally {
      await inside.stop();
    }
  });

  it('keeps resolving a removed container for late events, after its rmdir event', async () => {
    const containerId = 'f'.repeat(64);
    const path = `${top}/machine.slice/libpod-${containerId}.scope`;
    const cgroup = mkdir(path);
    resolver.onCgroupEvent(cgroupEvent(Op.CgroupMkdir, cgroup.id, path));
    const containersBefore = resolver.containerCount;
    await cgroup.remove();
    resolver.onCgroupEvent(cgroupEvent(Op.CgroupRmdir, cgroup.id, path));
    assert.equal(resolver.resolve(cgroup.id)?.id, containerId);
    assert.equal(resolver.containerCount, containersBefore - 1);
  });

  it('stops re-walking at its rate limit and counts what it left unresolved', () => {
    const limited = new ContainerResolver({ nowBootNs: () => 0n, rewalksPerSecond: 0.0001 });
    for (let i = 0; i < 20; i++) assert.equal(limited.resolve(BigInt(1e15) + BigInt(i)), null);
    assert.equal(limited.stats.misses, 20);
    assert.equal(limited.stats.rewalks, 5); // the burst
    assert.equal(limited.stats.rewalksRateLimited, 15);
  });
});

describe('container resolver with a real podman container', () => {
  it('resolves a podman container under a kubepods cgroup parent to its pod', async () => {
    const podUid = `${randomBytes(4).toString('hex')}-aaaa-4bbb-8ccc-${randomBytes(6).toString('hex')}`;
    const container = await startContainer({ podUid });
    try {
      const resolver = new ContainerResolver({ nowBootNs: () => 0n });
      resolver.start();
      const identity = resolver.resolve(container.cgroupId);
      assert.ok(identity, `no identity for ${container.cgroupPath}`);
      assert.deepEqual(
        [identity.id, identity.runtime, identity.podUid, identity.qosClass, identity.cgroupPath],
        [container.id, 'podman', podUid, 'besteffort', container.cgroupPath],
      );
    } finally {
      await container.remove();
    }
  });
});

describe('host namespaces', () => {
  it('reads the initial namespaces from kthreadd, which match the agent running on the host', () => {
    const warnings: string[] = [];
    const host = readHostNamespaces((m) => warnings.push(m));
    assert.equal(host.source, '/proc/2/ns');
    assert.deepEqual(warnings, []);
    // This test runs in the host's namespaces, so nothing differs.
    assert.deepEqual(namespacesDifferingFromHost(readNamespaceInodes('self'), host.inodes), []);
  });

  it('names the namespaces a process does not share with the host', () => {
    const host = { mnt: 1, pid: 2, net: 3, user: 4, uts: 5, ipc: 6, cgroup: 7 };
    assert.deepEqual(namespacesDifferingFromHost({ ...host, mnt: 10, net: 30 }, host), ['mnt', 'net']);
  });

  it('parses a namespace link and rejects anything else', () => {
    assert.equal(parseNamespaceLink('mnt:[4026531841]'), 4026531841);
    assert.throws(() => parseNamespaceLink('/proc/self/ns/mnt'), /unexpected namespace link target/);
  });
});

describe('container identity from the real kernel programs', () => {
  // Records of the agent's own process are dropped in the kernel, so every cgroup and process here is made by a
  // child process, as runtimes make them.
  let source: KernelSource;
  let resolver: ContainerResolver;
  let processes: ProcessTable;
  const events: KernelEvent[] = [];
  const decoderStats = createDecoderStats();
  const top = `/ks-identity-kernel-${randomBytes(4).toString('hex')}`;

  before(() => {
    resolver = new ContainerResolver({ nowBootNs: () => 0n });
    resolver.start();
    processes = new ProcessTable({ maxEntries: 100_000, exitedGraceMs: 30_000, containers: resolver });
    source = openKernelSource({ agentTgid: process.pid, pathPatterns: [] });
    source.start((batch) =>
      decodeBatch(batch, (event) => {
        if (event.type === EventType.Cgroup) resolver.onCgroupEvent(event);
        processes.onEvent(event);
        events.push(event);
      }, decoderStats),
    );
  });

  after(() => {
    source?.close();
    // Deepest first, up to and including the test's own top directory.
    const topAbsolute = cgroup2Root() + top;
    for (const created of createdByChild) {
      for (let dir = created; dir.startsWith(topAbsolute); dir = dirname(dir)) {
        try {
          rmdirSync(dir);
        } catch {
          // already gone, or still holds another test's cgroup
        }
      }
    }
  });
  const createdByChild: string[] = [];

  it('stamps records with the inode of the process cgroup, which resolves to the container', async () => {
    const containerId = randomBytes(32).toString('hex');
    const path = `${top}/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_}.slice/cri-containerd-${containerId}.scope`;
    const inside = await runInCgroup(path, 'sleep', ['1000']);
    try {
      const exec = await waitFor(
        () => events.find((e): e is ExecEvent => e.type === EventType.Exec && e.tgid === inside.pid && e.path.endsWith('sleep')),
        { what: `the exec record of sleep (pid ${inside.pid})` },
      );
      assert.equal(exec.cgroupId, inside.cgroup.id);
      const identity = resolver.resolve(exec.cgroupId, exec.tgid);
      assert.deepEqual([identity?.id, identity?.podUid, identity?.qosClass], [containerId, UID, 'besteffort']);
      const info = processes.get(inside.pid);
      assert.deepEqual([info?.argv, info?.container?.id], [['sleep', '1000'], containerId]);
      assert.deepEqual(decoderStats.dropped, { unknown_type: 0, size_mismatch: 0, truncated: 0, bad_size: 0 });
    } finally {
      await inside.stop();
    }
  });

  it('learns a cgroup another process creates from its mkdir record, without re-walking', async () => {
    const containerId = randomBytes(32).toString('hex');
    const path = `${top}/kubepods/burstable/pod${UID}/${containerId}`;
    const absolute = cgroup2Root() + path;
    createdByChild.push(absolute);
    const made = spawnSync('mkdir', ['-p', absolute]);
    assert.equal(made.status, 0, made.stderr.toString());
    const mkdir = await waitFor(
      () => events.find((e): e is CgroupEvent => e.type === EventType.Cgroup && e.op === Op.CgroupMkdir && e.path === path),
      { what: `the mkdir record of ${path}` },
    );
    assert.equal(mkdir.id, cgroupIdOf(path));
    const rewalks = resolver.stats.rewalks;
    assert.deepEqual([resolver.resolve(mkdir.id)?.id, resolver.resolve(mkdir.id)?.qosClass], [containerId, 'burstable']);
    assert.equal(resolver.stats.rewalks, rewalks);

    const removed = spawnSync('rmdir', [absolute]);
    assert.equal(removed.status, 0, removed.stderr.toString());
    await waitFor(
      () => events.find((e) => e.type === EventType.Cgroup && e.op === Op.CgroupRmdir && e.path === path),
      { what: `the rmdir record of ${path}` },
    );
    assert.equal(resolver.resolve(mkdir.id)?.id, containerId, 'a removed container still resolves for late events');
  });
});
