// The reader under a storm with a slow JS side: memory between the reader thread and JS stays bounded, and every
// record the generator caused is either received or counted as a drop, exactly. Takes a minute on purpose: a
// storm that lasts shows what a short one hides (queues that only grow, allocator fragmentation). Needs root and
// kernel BTF; never skipped (CI=true runs as root on a kernel with BTF).

import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { EventType } from '../src/receiver/events.ts';
import { openKernelSource, type KernelSource } from '../src/receiver/kernel.ts';
import { LAYOUT } from '../src/receiver/layout.ts';
import { kernelFixtures, startLoadgen, type KernelFixtures } from './helpers/kernelFixtures.ts';
import { waitFor } from './helpers/wait.ts';

const HEADER = LAYOUT.ks_header.fields;
const STORM_SECONDS = 60;
const RING_BYTES = 1 << 20;
const MAX_BATCH_BYTES = 1 << 20;
const MAX_QUEUED_BYTES = 8 << 20;
/**
 * What the storm may add to the process's peak RSS: the queue (MAX_QUEUED_BYTES, plus one record), the reader's
 * scratch batch and the batch JS is in (MAX_BATCH_BYTES each), the ring's data pages (mapped twice), and 16 MiB for
 * the runtime warming up under load (JIT code, V8's young generation, allocator slack; ~8 MiB measured). Batches
 * left for the garbage collector to free pushed this run to ~80 MiB.
 */
const RSS_GROWTH_BOUND_MIB = (MAX_QUEUED_BYTES + 2 * MAX_BATCH_BYTES + 2 * RING_BYTES) / (1 << 20) + 16;
/** The JS thread is held this long, then free for FREE_MS, over and over. */
const BLOCK_MS = 2000;
const FREE_MS = 3000;

function statusKiB(field: 'VmRSS' | 'VmHWM'): number {
  return Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'))![1]);
}

let fixtures: KernelFixtures;
let source: KernelSource | undefined;

before(() => {
  assert.equal(process.getuid?.(), 0, 'the kernel tests need root (CI runs them as root)');
  fixtures = kernelFixtures();
});
after(() => source?.close());

test(`a ${STORM_SECONDS} s storm with a slow JS side: memory stays bounded, generated = received + counted drops`, async () => {
  const threads = availableParallelism();
  const loadgen = startLoadgen(fixtures.loadgen, ['getppid-storm', String(threads), String(STORM_SECONDS)]);
  const u32 = Buffer.alloc(4);
  u32.writeUInt32LE(loadgen.pid);
  source = openKernelSource({
    objectPath: fixtures.fixtureObject,
    agentTgid: process.pid,
    pathPatterns: [],
    ringBytes: RING_BYTES,
    wakeupBatchBytes: 64 * 1024,
    tunables: { only_tgid: u32 },
  });
  let received = 0;
  let foreign = 0;
  let nextBlockAt = 0;
  source.start(
    (batch) => {
      for (let offset = 0; offset < batch.length; offset += batch.readUInt16LE(offset + HEADER.size.offset)) {
        const ours = batch.readUInt16LE(offset + HEADER.type.offset) === EventType.Namespace && batch.readUInt32LE(offset + HEADER.tgid.offset) === loadgen.pid;
        if (ours) received++;
        else foreign++;
      }
      // A consumer that falls behind for seconds at a time (a GC pause, a slow detector, a blocked write).
      if (performance.now() >= nextBlockAt) {
        const until = performance.now() + BLOCK_MS;
        while (performance.now() < until);
        nextBlockAt = performance.now() + FREE_MS;
      }
    },
    { maxBatchBytes: MAX_BATCH_BYTES, maxQueuedBytes: MAX_QUEUED_BYTES },
  );
  // The peak from here on: clear_refs 5 resets VmHWM to the current RSS.
  writeFileSync('/proc/self/clear_refs', '5');
  const baselineKiB = statusKiB('VmRSS');
  const output = await loadgen.go();
  const generated = Number(/^calls=(\d+)$/m.exec(output)?.[1]);
  assert.ok(generated > 0, `loadgen printed ${JSON.stringify(output)}`);
  const counted = () => {
    const stats = source!.readerStats()!;
    return { received, kernelDrops: Number(source!.drops().get(EventType.Namespace)!), undelivered: Number(stats.undeliveredRecords) };
  };
  // The ring and the queue drain after the generator stopped; nothing is generated any more.
  const final = await waitFor(
    () => {
      const c = counted();
      return c.received + c.kernelDrops + c.undelivered >= generated ? c : undefined;
    },
    { what: `received + drops to reach ${generated} (${JSON.stringify(counted())})`, timeoutMs: 60_000 },
  );
  const peakGrowthMiB = (statusKiB('VmHWM') - baselineKiB) / 1024;
  const stats = source.readerStats()!;
  process.stdout.write(
    `# storm: ${threads} threads, generated ${generated}, received ${final.received}, kernel drops ${final.kernelDrops}, ` +
      `undelivered ${final.undelivered}, flow-control waits ${stats.flowControlWaits}, queue peak ${stats.queuedBytesHighWater}, peak RSS growth ${peakGrowthMiB.toFixed(1)} MiB\n`,
  );
  assert.equal(foreign, 0, 'only the generator emits (only_tgid)');
  assert.equal(final.received + final.kernelDrops + final.undelivered, generated, 'every generated record is received or counted');
  assert.ok(final.kernelDrops > 0, 'the storm overflowed the ring while JS was held: the drop path was exercised');
  assert.ok(final.received > 0);
  // A record's size is a u16 (ks_header.size): the queue may pass its bound by that much, once.
  assert.ok(stats.queuedBytesHighWater <= BigInt(MAX_QUEUED_BYTES + 0xffff), `queue peaked at ${stats.queuedBytesHighWater} bytes`);
  assert.ok(peakGrowthMiB < RSS_GROWTH_BOUND_MIB, `peak RSS grew ${peakGrowthMiB.toFixed(1)} MiB (bound ${RSS_GROWTH_BOUND_MIB})`);
});
