// The kernel's admission of hot records (bpf/lib/emit.h ks_admit) against the real kernel with the agent's object:
// a fork/exec flood stops short of the ring's reserve so an urgent record after it still gets in, one cgroup past
// its rate is limited while another is not, and every refusal is counted under its cgroup and reason. Needs root
// and kernel BTF; never skipped (CI=true runs as root on a kernel with BTF).

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { EventType } from '../src/receiver/events.ts';
import { DropReason, openKernelSource, type KernelSource, type KernelSourceOptions } from '../src/receiver/kernel.ts';
import { LAYOUT } from '../src/receiver/layout.ts';
import { runInCgroup } from './helpers/cgroup.ts';
import { waitFor } from './helpers/wait.ts';

const HEADER = LAYOUT.ks_header.fields;
const sources: KernelSource[] = [];

before(() => assert.equal(process.getuid?.(), 0, 'the kernel tests need root (CI runs them as root)'));
after(() => sources.forEach((s) => s.close()));

/** Opens the agent's object and counts, per cgroup id, the records of each type it delivers. */
function open(options: Partial<KernelSourceOptions>): { source: KernelSource; received: (cgroupId: bigint, type: EventType) => number } {
  const source = openKernelSource({ agentTgid: process.pid, pathPatterns: [], wakeupBatchBytes: 0, ...options });
  sources.push(source);
  const counts = new Map<string, number>();
  source.start((batch) => {
    for (let offset = 0; offset + LAYOUT.ks_header.size <= batch.length; ) {
      const size = batch.readUInt16LE(offset + HEADER.size.offset);
      if (size === 0) break;
      const key = `${batch.readBigUInt64LE(offset + HEADER.cgroup_id.offset)}/${batch.readUInt16LE(offset + HEADER.type.offset)}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
      offset += size;
    }
  });
  return { source, received: (cgroupId, type) => counts.get(`${cgroupId}/${type}`) ?? 0 };
}

/** Runs a shell script in a fresh cgroup to its end; resolves with the cgroup id. */
async function runScriptInCgroup(script: string): Promise<bigint> {
  const running = await runInCgroup(`/ks-admission-${randomUUID()}`, '/bin/sh', ['-c', script]);
  const status = await running.process.exited;
  assert.equal(status.code, 0, `script exited ${status.code ?? status.signal}: ${running.process.lines.join('\n')}`);
  const id = running.cgroup.id;
  await running.stop();
  return id;
}

function cgroupDropCount(source: KernelSource, cgroupId: bigint, type: EventType, reason: DropReason): bigint {
  return source.cgroupDrops().find((d) => d.cgroupId === cgroupId && d.type === type && d.reason === reason)?.count ?? 0n;
}

test('with nothing reading, a fork/exec flood stops at the reserve and the user namespace created after it still reaches the ring', async () => {
  // 512 KiB: ~600 exec + fork + exit triples (~1.1 KiB each) overflow it, and the 128 KiB reserve has room for
  // the urgent records of whatever else the machine does meanwhile.
  const { source, received } = open({ ringBytes: 512 << 10 });
  source.pause();
  const cgroupId = await runScriptInCgroup('for i in $(seq 600); do /bin/true; done; unshare -U true');
  const refused = cgroupDropCount(source, cgroupId, EventType.Exec, DropReason.Headroom);
  source.resume();
  await waitFor(() => received(cgroupId, EventType.Namespace) === 1, {
    what: `the unshare's namespace record from cgroup ${cgroupId}`,
  });
  assert.ok(refused > 0n, 'the flood was refused at the reserve, counted under its cgroup');
  assert.equal(cgroupDropCount(source, cgroupId, EventType.Namespace, DropReason.RingFull), 0n);
  assert.ok(source.drops().get(EventType.Exec)! >= refused, 'drops[type] counts every reason');
});

test('a cgroup past its hot-record rate is limited and counted; another cgroup under it is not', async () => {
  const { source, received } = open({ ringBytes: 4 << 20, hotRecordsPerSecond: 50, hotRecordsBurst: 20 });
  // 300 execs (900 hot records) in the few seconds this takes is far past 20 + 50/s.
  const flooding = await runScriptInCgroup('for i in $(seq 300); do /bin/true; done');
  const quiet = await runScriptInCgroup('/bin/true; /bin/true; /bin/true');
  await waitFor(() => received(quiet, EventType.Exec) >= 3, { what: "the quiet cgroup's 3 exec records" });
  const limited = cgroupDropCount(source, flooding, EventType.Exec, DropReason.RateLimit);
  assert.ok(limited > 0n, 'the flooding cgroup was rate-limited');
  assert.ok(received(flooding, EventType.Exec) > 0, 'within its burst and rate it still gets records through');
  assert.deepEqual(source.cgroupDrops().filter((d) => d.cgroupId === quiet), [], 'nothing of the quiet cgroup was dropped');
});
