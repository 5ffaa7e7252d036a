// LineageRecordLoss: when exec or fork records of a cgroup were lost, which decides whether a process's runtime
// set-up standing (granted at an exec the agent saw) can still be trusted.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventType } from '../src/receiver/events.ts';
import { LineageRecordLoss } from '../src/receiver/LineageRecordLoss.ts';
import type { CgroupDrops, DropReason } from '../src/receiver/kernel.ts';

const CONTAINER = 4242n;
const OTHER = 7777n;

class FakeKernel {
  readonly counts = new Map<string, bigint>();
  unattributed = 0n;
  add(cgroupId: bigint, type: EventType, n: bigint): void {
    const key = `${cgroupId}/${type}`;
    this.counts.set(key, (this.counts.get(key) ?? 0n) + n);
  }
  cgroupDropCount(cgroupId: bigint, types: readonly EventType[]): bigint {
    return types.reduce((sum, t) => sum + (this.counts.get(`${cgroupId}/${t}`) ?? 0n), 0n);
  }
  unattributedDrops(): Map<DropReason, bigint> {
    return new Map([[0 as DropReason, this.unattributed]]);
  }
  cgroupDrops(): CgroupDrops[] {
    return [...this.counts].map(([key, count]) => {
      const [cgroupId, type] = key.split('/');
      return { cgroupId: BigInt(cgroupId), type: Number(type) as EventType, reason: 0 as DropReason, count };
    });
  }
}

function setup() {
  const kernel = new FakeKernel();
  const clock = { now: 1_000n };
  const loss = new LineageRecordLoss(kernel, () => clock.now);
  return { kernel, clock, loss };
}

describe('lineage record loss', () => {
  it('says nothing was lost while the kernel dropped no exec or fork record of the cgroup', () => {
    const { kernel, loss } = setup();
    kernel.add(CONTAINER, EventType.Mount, 5n);
    kernel.add(CONTAINER, EventType.Exit, 5n);
    assert.equal(loss.lostSince(CONTAINER, 0n), false);
  });

  it('sees an exec record lost since the last sampler read when asked, dated at the asking', () => {
    const { kernel, clock, loss } = setup();
    kernel.add(CONTAINER, EventType.Exec, 1n);
    clock.now = 2_000n;
    assert.equal(loss.lostSince(CONTAINER, 1_500n), true, 'a standing granted before the read that saw the loss');
    clock.now = 3_000n;
    assert.equal(loss.lostSince(CONTAINER, 2_500n), false, 'a standing granted after it, with nothing lost since');
    kernel.add(CONTAINER, EventType.Fork, 1n);
    assert.equal(loss.lostSince(CONTAINER, 2_500n), true, 'a fork record lost after that');
  });

  it('dates a loss at the sampler read that first saw it, so a later standing is trusted', () => {
    const { kernel, clock, loss } = setup();
    kernel.add(CONTAINER, EventType.Exec, 3n);
    clock.now = 2_000n;
    loss.observe(kernel.cgroupDrops(), kernel.unattributedDrops());
    clock.now = 9_000n;
    assert.equal(loss.lostSince(CONTAINER, 5_000n), false);
    assert.equal(loss.lostSince(CONTAINER, 2_000n), true);
  });

  it("does not hold one cgroup's loss against another", () => {
    const { kernel, loss } = setup();
    kernel.add(OTHER, EventType.Exec, 100n);
    assert.equal(loss.lostSince(CONTAINER, 0n), false);
    assert.equal(loss.lostSince(OTHER, 0n), true);
  });

  it('holds records lost without a cgroup (the per-cgroup map full) against every cgroup', () => {
    const { kernel, clock, loss } = setup();
    assert.equal(loss.lostSince(CONTAINER, 0n), false);
    kernel.unattributed = 1n;
    clock.now = 2_000n;
    assert.equal(loss.lostSince(CONTAINER, 1_000n), true);
  });

  it('after forgetting a cgroup, dates whatever it has lost at the next question, never earlier', () => {
    const { kernel, clock, loss } = setup();
    kernel.add(CONTAINER, EventType.Exec, 1n);
    loss.observe(kernel.cgroupDrops(), kernel.unattributedDrops());
    loss.forget(CONTAINER);
    clock.now = 5_000n;
    assert.equal(loss.lostSince(CONTAINER, 4_000n), true);
  });
});
