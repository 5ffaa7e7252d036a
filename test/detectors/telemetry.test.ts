// KS-GAP-001 and the sampler that feeds it: drops the kernel counted per cgroup become one event per cgroup per read,
// with the counts since the previous read, and a detection that names the container.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TelemetryGap } from '../../src/detectors/rules/TelemetryGap.ts';
import { Attr } from '../../src/detectors/attributeKeys.ts';
import { SyntheticEventType, type TelemetryGapEvent } from '../../src/detectors/Detector.ts';
import { EventType } from '../../src/receiver/events.ts';
import { DropReason, type CgroupDrops } from '../../src/receiver/kernel.ts';
import { TelemetryGapSampler } from '../../src/receiver/TelemetryGapSampler.ts';
import { detectorTable } from './table.ts';
import { WEB } from './fixtures.ts';

function gap(o: Partial<Omit<TelemetryGapEvent, 'type'>> = {}): TelemetryGapEvent {
  const dropped = o.dropped ?? [{ type: 'exec', reason: 'rate_limit', count: 900, urgent: false }];
  return {
    type: SyntheticEventType.TelemetryGap,
    ktimeNs: 2_000_000_000_000n,
    cgroupId: WEB.cgroupId,
    container: WEB,
    windowNs: 5_000_000_000n,
    total: dropped.reduce((sum, d) => sum + d.count, 0),
    ...o,
    dropped,
  };
}

detectorTable(() => new TelemetryGap(), [
  {
    name: 'a container whose exec records were rate-limited is reported at medium with its counts',
    events: [gap({ dropped: [{ type: 'exec', reason: 'rate_limit', count: 900, urgent: false }, { type: 'fork', reason: 'headroom', count: 40, urgent: false }] })],
    expect: ['medium'],
    check: ([f]) => {
      assert.equal(f.attributes[Attr.droppedRecords], 940);
      assert.deepEqual(f.attributes[Attr.droppedDetail], ['exec/rate_limit=900', 'fork/headroom=40']);
      assert.equal(f.attributes[Attr.droppedWindowMs], 5000);
      assert.match(f.summary, /dropped 940 records of this container in the last 5000 ms/);
    },
  },
  {
    name: 'a lost namespace record (one that may have been a detection itself) is high',
    events: [gap({ dropped: [{ type: 'namespace', reason: 'ring_full', count: 1, urgent: true }] })],
    expect: ['high'],
  },
  {
    name: 'a host cgroup that lost records is reported, naming the cgroup',
    events: [gap({ cgroupId: 77n, container: null })],
    expect: ['medium'],
    check: ([f]) => assert.match(f.summary, /host cgroup 77/),
  },
  {
    name: 'drops the kernel could not attribute are reported without a container',
    events: [gap({ cgroupId: 0n, container: null, dropped: [{ type: 'unknown', reason: 'ring_full', count: 3, urgent: true }] })],
    expect: ['high'],
    check: ([f]) => assert.match(f.summary, /unattributed cgroups/),
  },
  {
    name: 'an event without drops is not a finding',
    events: [gap({ dropped: [], total: 0 })],
    expect: [],
  },
]);

class FakeDropSource {
  entries: CgroupDrops[] = [];
  unattributed = new Map<DropReason, bigint>([[DropReason.RingFull, 0n]]);
  cgroupDrops(): CgroupDrops[] {
    return this.entries.map((e) => ({ ...e }));
  }
  unattributedDrops(): Map<DropReason, bigint> {
    return new Map(this.unattributed);
  }
}

function sampler(source: FakeDropSource) {
  const gaps: TelemetryGapEvent[] = [];
  const metrics: string[] = [];
  let now = 1_000_000_000n;
  const s = new TelemetryGapSampler({
    source,
    resolveContainer: (id) => (id === WEB.cgroupId ? WEB : null),
    nowBootNs: () => (now += 1_000_000_000n),
    onGap: (g) => gaps.push(g),
    onDropped: (type, reason, count) => metrics.push(`${type}/${reason}=${count}`),
  });
  return { s, gaps, metrics };
}

describe('TelemetryGapSampler', () => {
  it('reports each cgroup once per read with the counts since the previous read, largest first', () => {
    const source = new FakeDropSource();
    const { s, gaps, metrics } = sampler(source);
    source.entries = [
      { cgroupId: WEB.cgroupId, type: EventType.Fork, reason: DropReason.Headroom, count: 5n },
      { cgroupId: WEB.cgroupId, type: EventType.Exec, reason: DropReason.RateLimit, count: 100n },
      { cgroupId: 55n, type: EventType.Exit, reason: DropReason.RingFull, count: 2n },
    ];
    s.sample();
    assert.equal(gaps.length, 2);
    const web = gaps.find((g) => g.cgroupId === WEB.cgroupId)!;
    assert.equal(web.container, WEB);
    assert.equal(web.total, 105);
    assert.deepEqual(web.dropped.map((d) => `${d.type}/${d.reason}=${d.count}`), ['exec/rate_limit=100', 'fork/headroom=5']);
    assert.equal(gaps.find((g) => g.cgroupId === 55n)!.container, null);
    assert.deepEqual(metrics.sort(), ['exec/rate_limit=100', 'exit/ring_full=2', 'fork/headroom=5']);

    gaps.length = 0;
    metrics.length = 0;
    source.entries[1].count = 130n;
    s.sample();
    assert.deepEqual(gaps.map((g) => [g.cgroupId, g.total]), [[WEB.cgroupId, 30]], 'only what grew, only where it grew');
    assert.deepEqual(metrics, ['exec/rate_limit=30']);
    assert.equal(gaps[0].windowNs, 1_000_000_000n);

    gaps.length = 0;
    s.sample();
    assert.deepEqual(gaps, [], 'no new drops, no event');
  });

  it('reports drops without a cgroup as cgroup 0, urgent, and as unattributed in the metrics', () => {
    const source = new FakeDropSource();
    const { s, gaps, metrics } = sampler(source);
    source.unattributed.set(DropReason.RingFull, 4n);
    s.sample();
    assert.equal(gaps.length, 1);
    assert.equal(gaps[0].cgroupId, 0n);
    assert.equal(gaps[0].container, null);
    assert.deepEqual(gaps[0].dropped, [{ type: 'unknown', reason: 'ring_full', count: 4, urgent: true }]);
    assert.deepEqual(metrics, ['unknown/unattributed_ring_full=4']);
  });

  it('marks lost records of the types outside the hot set as urgent', () => {
    const source = new FakeDropSource();
    const { s, gaps } = sampler(source);
    source.entries = [
      { cgroupId: WEB.cgroupId, type: EventType.Namespace, reason: DropReason.RingFull, count: 1n },
      { cgroupId: WEB.cgroupId, type: EventType.Connect, reason: DropReason.RateLimit, count: 1n },
    ];
    s.sample();
    const urgent = Object.fromEntries(gaps[0].dropped.map((d) => [d.type, d.urgent]));
    assert.deepEqual(urgent, { namespace: true, connect: false });
  });

  it('refuses an interval below 100 ms with a one-line message', () => {
    assert.throws(
      () => new TelemetryGapSampler({ source: new FakeDropSource(), resolveContainer: () => null, nowBootNs: () => 0n, intervalMs: 10, onGap: () => {} }),
      /intervalMs must be a whole number ≥ 100, got 10/,
    );
  });
});
