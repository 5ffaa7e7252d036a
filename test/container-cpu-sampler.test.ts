// ContainerCpuSampler on real cgroups: a busy shell loop in a container cgroup with a CPU quota, an idle one
// without, both found through the real ContainerResolver. The quota is set where this host keeps it: the v1 cpu
// hierarchy on hybrid hosts (this dev machine), cgroup2 cpu.max on pure-v2 nodes.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SyntheticEventType, type ContainerCpuSampleEvent } from '../src/detectors/Detector.ts';
import { ContainerCpuSampler, findCpuV1Mount } from '../src/receiver/ContainerCpuSampler.ts';
import { ContainerResolver } from '../src/receiver/ContainerResolver.ts';
import { cgroup2Root, createCgroup, runInCgroup, type Cgroup, type InCgroup } from './helpers/cgroup.ts';
import { waitFor } from './helpers/wait.ts';

const top = `/ks-cpu-sampler-test-${randomBytes(4).toString('hex')}`;
const POD = `${top}/kubepods/burstable/pod11111111-2222-4333-8444-555555555555`;
const BUSY_ID = 'c1'.repeat(32);
const IDLE_ID = 'd2'.repeat(32);
const QUOTA_US = 20_000;
const PERIOD_US = 100_000;
/** A node far larger than the quota, so a sample measured against the node instead of the quota stays tiny. */
const LARGE_NODE_CPUS = 64;

const cpuV1Mount = findCpuV1Mount();
const v1Dirs: string[] = [];
let busy: InCgroup;
let idle: InCgroup;
let resolver: ContainerResolver;
let clockNs = 0n;
const nowBootNs = () => clockNs;

/** Wall-clock-free time: the sampler's window is whatever the test says passed. */
function advance(ns: bigint): void {
  clockNs += ns;
}

function usageUsec(cgroup: Cgroup): number {
  return Number(/^usage_usec (\d+)$/m.exec(readFileSync(`${cgroup.path}/cpu.stat`, 'utf8'))![1]);
}

function limitCpu(relPath: string, pid: number): void {
  if (cpuV1Mount !== null) {
    // The v1 hierarchy mirrors the cgroup2 path (runc and kubelet create both); only the leaf needs the quota.
    const missing: string[] = [];
    for (let dir = path.join(cpuV1Mount, relPath); !existsSync(dir); dir = path.dirname(dir)) missing.push(dir);
    mkdirSync(path.join(cpuV1Mount, relPath), { recursive: true });
    v1Dirs.push(...missing);
    const leaf = path.join(cpuV1Mount, relPath);
    writeFileSync(`${leaf}/cpu.cfs_period_us`, String(PERIOD_US));
    writeFileSync(`${leaf}/cpu.cfs_quota_us`, String(QUOTA_US));
    writeFileSync(`${leaf}/cgroup.procs`, String(pid));
    return;
  }
  // Pure cgroup2: the cpu controller must be enabled on every ancestor for the leaf to get cpu.max.
  const parts = relPath.split('/').filter(Boolean);
  for (let i = 0; i < parts.length; i++) {
    writeFileSync(path.join(cgroup2Root(), ...parts.slice(0, i), 'cgroup.subtree_control'), '+cpu');
  }
  writeFileSync(path.join(cgroup2Root(), relPath, 'cpu.max'), `${QUOTA_US} ${PERIOD_US}`);
}

before(async () => {
  busy = await runInCgroup(`${POD}/${BUSY_ID}`, '/bin/sh', ['-c', 'while :; do :; done']);
  limitCpu(busy.cgroup.relPath, busy.pid);
  idle = await runInCgroup(`${POD}/${IDLE_ID}`, '/bin/sleep', ['3600']);
  resolver = new ContainerResolver({ nowBootNs });
  resolver.start();
});

after(async () => {
  await busy?.stop();
  await idle?.stop();
  for (const dir of v1Dirs) rmdirSync(dir);
});

function sampler(samples: ContainerCpuSampleEvent[], overrides: Partial<ConstructorParameters<typeof ContainerCpuSampler>[0]> = {}) {
  return new ContainerCpuSampler({
    resolver,
    nowBootNs,
    onSample: (e) => samples.push(e),
    nodeCpus: LARGE_NODE_CPUS,
    ...overrides,
  });
}

describe('ContainerCpuSampler', () => {
  it('lists the containers through the resolver, including both test containers', () => {
    const ids = [...resolver.containers()].map((c) => c.id);
    assert.ok(ids.includes(BUSY_ID) && ids.includes(IDLE_ID), `resolver lists ${ids.join(', ')}`);
  });

  it('measures a busy container against its CPU quota, not the node, and an idle one near zero', async () => {
    const samples: ContainerCpuSampleEvent[] = [];
    const s = sampler(samples);
    s.tick();
    const baselineNs = clockNs;
    assert.equal(samples.length, 0, 'the first reading is only a baseline');
    const startUsage = usageUsec(busy.cgroup);
    const wallStart = process.hrtime.bigint();
    // Enough CPU time that scheduling noise is small against it.
    await waitFor(() => usageUsec(busy.cgroup) - startUsage >= 300_000, { what: 'the busy loop to use 300 ms of CPU', timeoutMs: 30_000 });
    advance(process.hrtime.bigint() - wallStart);
    s.tick();

    const busySample = samples.find((e) => e.container.id === BUSY_ID);
    const idleSample = samples.find((e) => e.container.id === IDLE_ID);
    assert.ok(busySample && idleSample, `samples for both containers, got ${samples.map((e) => e.container.id.slice(0, 4)).join(', ')}`);
    assert.equal(busySample.type, SyntheticEventType.ContainerCpuSample);
    assert.equal(busySample.cgroupId, busy.cgroup.id);
    assert.equal(busySample.ktimeNs, clockNs);
    assert.ok(busySample.windowNs > 0n && busySample.windowNs === clockNs - baselineNs, 'the window runs from the baseline reading');
    // Throttled to 0.2 CPU, the loop uses all it may: close to 1 of its quota, where 1/64 of the node would be ≤ 0.016.
    assert.ok(busySample.utilization > 0.6 && busySample.utilization <= 1, `busy utilization ${busySample.utilization}`);
    assert.ok(idleSample.utilization < 0.05, `idle utilization ${idleSample.utilization}`);
    assert.equal(s.stats.samples, samples.length);
  });

  it('without a quota measures against the node CPU count', async () => {
    const samples: ContainerCpuSampleEvent[] = [];
    // The busy container's quota is invisible when the sampler is told there is no v1 hierarchy; on pure v2 the
    // quota sits in cpu.max, so this case only applies to the v1 layout.
    if (cpuV1Mount === null) {
      assert.ok(existsSync(path.join(busy.cgroup.path, 'cpu.max')), 'on pure cgroup2 the quota is in cpu.max');
      return;
    }
    const s = sampler(samples, { cpuV1Mount: null, nodeCpus: 1 });
    s.tick();
    const startUsage = usageUsec(busy.cgroup);
    const wallStart = process.hrtime.bigint();
    await waitFor(() => usageUsec(busy.cgroup) - startUsage >= 300_000, { what: 'the busy loop to use 300 ms of CPU', timeoutMs: 30_000 });
    advance(process.hrtime.bigint() - wallStart);
    s.tick();
    const busySample = samples.find((e) => e.container.id === BUSY_ID)!;
    // 0.2 CPU of a 1-CPU node.
    assert.ok(busySample.utilization > 0.1 && busySample.utilization < 0.5, `busy utilization against one node CPU ${busySample.utilization}`);
  });

  it('reads at most its per-tick budget and reaches the rest on later ticks', () => {
    const samples: ContainerCpuSampleEvent[] = [];
    const s = sampler(samples, { maxContainersPerTick: 1 });
    const containers = [...resolver.containers()].length;
    for (let i = 0; i < containers * 2; i++) {
      s.tick();
      advance(1_000_000n);
    }
    assert.equal(s.trackedContainers, containers, 'every container got a baseline');
    assert.equal(s.stats.deferred, (containers - 1) * containers * 2);
  });

  it('forgets a container the resolver no longer lists and counts one whose cgroup cannot be read', () => {
    const samples: ContainerCpuSampleEvent[] = [];
    const gone = { ...[...resolver.containers()].find((c) => c.id === IDLE_ID)!, id: 'e3'.repeat(32), cgroupPath: `${POD}/${'e3'.repeat(32)}` };
    let listed = [...resolver.containers(), gone];
    const s = sampler(samples, { resolver: { mountPoint: resolver.mountPoint, containers: () => listed } });
    s.tick();
    assert.equal(s.stats.readFailures, 1, 'the missing cgroup is counted');
    const withBaseline = s.trackedContainers;
    listed = listed.filter((c) => c.id !== BUSY_ID && c.id !== gone.id);
    s.tick();
    assert.equal(s.trackedContainers, withBaseline - 1, 'the busy container was forgotten');
  });

  it('rejects an interval below 100 ms with a one-line message', () => {
    assert.throws(() => sampler([], { intervalMs: 5 }), /intervalMs must be a whole number ≥ 100, got 5/);
  });
});
