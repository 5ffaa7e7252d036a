// The kernel source against the real kernel: loading, variant fallback, verifier errors, exact drop accounting
// and batching. Needs root and kernel BTF; it is never skipped (CI=true runs as root on a kernel with BTF).
// Records are decoded only as far as their header: the full decoder is src/receiver/decoder.ts's job.

import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { EventType } from '../src/receiver/events.ts';
import { compilePathPatterns, encodePathPattern, openKernelSource, type KernelSource } from '../src/receiver/kernel.ts';
import { KernelError } from '../src/receiver/KernelError.ts';
import { LAYOUT } from '../src/receiver/layout.ts';
import { nativeAddon } from '../src/receiver/nativeAddon.ts';
import { kernelFixtures, startLoadgen, type KernelFixtures } from './helpers/kernelFixtures.ts';
import { waitFor } from './helpers/wait.ts';

const HEADER = LAYOUT.ks_header.fields;
const PROJECT_BAD_OBJECT = fileURLToPath(new URL('../build/kubesentry-test-bad.bpf.o', import.meta.url));
const PROJECT_OBJECT = fileURLToPath(new URL('../build/kubesentry.bpf.o', import.meta.url));

interface RecordHeader {
  type: number;
  size: number;
  tgid: number;
  offset: number;
}

/** Walks a batch by hdr.size; fails the test on a size that cannot delimit a record. */
function headersOf(batch: Buffer): RecordHeader[] {
  const headers: RecordHeader[] = [];
  let offset = 0;
  while (offset < batch.length) {
    const size = batch.readUInt16LE(offset + HEADER.size.offset);
    assert.ok(size >= LAYOUT.ks_header.size && size % 8 === 0, `record at ${offset} has size ${size}`);
    assert.ok(offset + size <= batch.length, `record at ${offset} (size ${size}) runs past the batch end ${batch.length}`);
    headers.push({
      type: batch.readUInt16LE(offset + HEADER.type.offset),
      size,
      tgid: batch.readUInt32LE(offset + HEADER.tgid.offset),
      offset,
    });
    offset += size;
  }
  return headers;
}

function u32(value: number): Buffer {
  const buffer = Buffer.alloc(4);
  buffer.writeUInt32LE(value);
  return buffer;
}

/** File descriptors of this process that hold BPF objects, links or the perf events tracepoints attach through. */
function kernelFdCount(): number {
  let count = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (/^anon_inode:(bpf|\[perf_event\])/.test(readlinkSync(`/proc/self/fd/${fd}`))) count++;
    } catch {
      // closed between listing and reading
    }
  }
  return count;
}

describe('kernel source', () => {
  let fixtures: KernelFixtures;
  const opened: KernelSource[] = [];
  const open = (options: Parameters<typeof openKernelSource>[0]): KernelSource => {
    const source = openKernelSource(options);
    opened.push(source);
    return source;
  };

  before(() => {
    assert.equal(process.getuid?.(), 0, 'the kernel tests need root (CI runs them as root)');
    fixtures = kernelFixtures();
  });
  after(() => {
    for (const source of opened) source.close();
  });

  test('a missing BTF file is a one-line KernelError that names the path', () => {
    const btfPath = '/nonexistent/kubesentry/vmlinux';
    assert.throws(
      () => openKernelSource({ objectPath: fixtures.fixtureObject, agentTgid: process.pid, pathPatterns: [], btfPath }),
      (error: unknown) => {
        assert.ok(error instanceof KernelError);
        assert.equal(error.code, 'EBTF_MISSING');
        assert.ok(error.message.includes(btfPath), error.message);
        assert.ok(!error.message.includes('\n'), 'message must be one line');
        return true;
      },
    );
  });

  test('a path pattern the kernel filter cannot express is rejected with a one-line KernelError', () => {
    for (const pattern of ['/a*b*c', 'relative/*', '/x**', `/${'a'.repeat(70)}*`]) {
      assert.throws(
        () => openKernelSource({ objectPath: fixtures.fixtureObject, agentTgid: process.pid, pathPatterns: [pattern] }),
        (error: unknown) =>
          error instanceof KernelError && error.code === 'EPATTERN' && error.message.includes(pattern.slice(0, 10)) && !error.message.includes('\n'),
        `pattern ${pattern}`,
      );
    }
  });

  test('path patterns are encoded as struct ks_path_pattern of each kind', () => {
    const [exact, prefix, suffix, infix] = compilePathPatterns(['/dev/mem', '/etc/kubernetes/*', '/proc/*/uid_map', '/*/containerd-shim*']);
    const fields = LAYOUT.ks_path_pattern.fields;
    const decode = (entry: Buffer) => ({
      kind: entry.readUInt32LE(fields.kind.offset),
      prefix: entry.toString('latin1', fields.prefix.offset, fields.prefix.offset + entry.readUInt16LE(fields.prefix_len.offset)),
      second: entry.toString('latin1', fields.second.offset, fields.second.offset + entry.readUInt16LE(fields.second_len.offset)),
    });
    assert.deepEqual(decode(encodePathPattern(exact)), { kind: 1, prefix: '/dev/mem', second: '' });
    assert.deepEqual(decode(encodePathPattern(prefix)), { kind: 2, prefix: '/etc/kubernetes/', second: '' });
    assert.deepEqual(decode(encodePathPattern(suffix)), { kind: 3, prefix: '/proc/', second: '/uid_map' });
    assert.deepEqual(decode(encodePathPattern(infix)), { kind: 4, prefix: '/', second: '/containerd-shim' });
    assert.equal(encodePathPattern(exact).length, LAYOUT.ks_path_pattern.size);
  });

  test("the verifier's rejection of build/kubesentry-test-bad.bpf.o reaches JS as a KernelError with errno and log", () => {
    assert.ok(existsSync(PROJECT_BAD_OBJECT), `${PROJECT_BAD_OBJECT} is missing: run \`make bpf\``);
    const object = new (nativeAddon().BpfObject)(PROJECT_BAD_OBJECT);
    try {
      assert.throws(
        () => object.load(),
        (error: unknown) => {
          assert.ok(error instanceof KernelError, `not a KernelError: ${String(error)}`);
          assert.equal(error.code, 'EBPF_LOAD');
          assert.ok(error.errno > 0, `errno ${error.errno}`);
          assert.match(error.verifierLog, /invalid mem access/);
          assert.ok(error.verifierLog.length <= 4096, 'the log is a bounded tail');
          return true;
        },
      );
    } finally {
      object.close();
      object.close();
    }
  });

  test('openKernelSource fails with EBPF_LOAD and the verifier log when the only variant of a hook is rejected', () => {
    assert.throws(
      () => openKernelSource({ objectPath: fixtures.badObject, agentTgid: process.pid, pathPatterns: [] }),
      (error: unknown) => {
        assert.ok(error instanceof KernelError);
        assert.equal(error.code, 'EBPF_LOAD');
        assert.equal(error.errno, 13); // EACCES: the verifier's refusal
        assert.match(error.verifierLog, /R0 invalid mem access 'scalar'/);
        assert.match(error.verifierLog, /prog 'sys_enter_getpid__tp'/);
        return true;
      },
    );
  });

  test('a tp_btf variant the verifier refuses is replaced by the raw_tp variant, and hooks() says why', () => {
    const source = open({ objectPath: fixtures.fallbackObject, agentTgid: process.pid, pathPatterns: [] });
    const [choice, ...others] = source.hooks();
    assert.equal(others.length, 0);
    assert.equal(choice.hook, 'sched_exec');
    assert.equal(choice.variant, 'raw_tp');
    assert.equal(choice.program, 'sched_exec__raw_tp');
    assert.equal(choice.rejected.length, 1);
    assert.equal(choice.rejected[0].variant, 'tp_btf');
    assert.match(choice.rejected[0].reason, /invalid mem access/);
    source.start(() => {});
    source.close();
  });

  test('the untrusted loads are on where the probe loads them, and a missing probe object turns them off with the reason', () => {
    const probed = open({ objectPath: fixtures.fixtureObject, agentTgid: process.pid, pathPatterns: [] });
    assert.deepEqual(probed.untrustedLoads(), { enabled: true, reason: null }, 'this 6.18 verifier takes them');
    probed.close();
    const unprobed = open({ objectPath: fixtures.fixtureObject, agentTgid: process.pid, pathPatterns: [], probeObjectPath: '/nonexistent/probe.bpf.o' });
    assert.equal(unprobed.untrustedLoads().enabled, false);
    assert.match(unprobed.untrustedLoads().reason ?? '', /no probe object at \/nonexistent\/probe\.bpf\.o/);
    unprobed.close();
  });

  test('an open program refused with the untrusted loads though the probe took them is loaded without them', () => {
    const source = open({ objectPath: fixtures.untrustedRefusedObject, agentTgid: process.pid, pathPatterns: [] });
    const state = source.untrustedLoads();
    assert.equal(state.enabled, false);
    assert.match(state.reason ?? '', /refused sys_exit_openat__tp with them: .*invalid mem access/);
    const [choice] = source.hooks();
    assert.equal(choice.program, 'sys_exit_openat__tp', 'the same program, not a demoted variant');
    assert.deepEqual(choice.rejected, []);
    source.start(() => {});
    source.close();
  });

  test('hooks() prefers tp_btf and honours a restricted variant list', () => {
    const preferred = open({ objectPath: fixtures.fixtureObject, agentTgid: process.pid, pathPatterns: [] });
    const byHook = new Map(preferred.hooks().map((h) => [h.hook, h]));
    assert.equal(byHook.get('sched_exec')?.variant, 'tp_btf');
    assert.equal(byHook.get('sys_enter_unshare')?.variant, 'tp');
    preferred.close();

    const restricted = open({ objectPath: fixtures.fixtureObject, agentTgid: process.pid, pathPatterns: [], variants: ['tp'] });
    const schedExec = restricted.hooks().find((h) => h.hook === 'sched_exec');
    assert.equal(schedExec?.variant, 'tp');
    assert.deepEqual(schedExec?.rejected.map((r) => r.variant), ['tp_btf', 'raw_tp']);
    restricted.start(() => {});
    restricted.close();
  });

  test('a hook disabled by configuration is not loaded, and hooks() says so', () => {
    const source = open({ objectPath: fixtures.fixtureObject, agentTgid: process.pid, pathPatterns: [], disabledHooks: ['sched_exec'] });
    const schedExec = source.hooks().find((h) => h.hook === 'sched_exec');
    assert.equal(schedExec?.variant, null, 'no variant chosen');
    assert.ok(schedExec?.rejected.length, 'every variant is listed as rejected');
    assert.ok(schedExec?.rejected.every((r) => r.reason === 'disabled by configuration'));
    assert.equal(source.hooks().find((h) => h.hook === 'sys_enter_unshare')?.variant, 'tp', 'the other hooks load');
    source.close();
  });

  test('drop accounting is exact: records received plus drops counted equal the events generated', async () => {
    const generated = 5000;
    const loadgen = startLoadgen(fixtures.loadgen, ['unshare', String(generated)]);
    const source = open({
      objectPath: fixtures.fixtureObject,
      agentTgid: process.pid,
      pathPatterns: [],
      ringBytes: 16384, // ~200 namespace records: the generator overflows it many times over
      wakeupBatchBytes: 0,
      tunables: { only_tgid: u32(loadgen.pid) },
    });
    let received = 0;
    let otherRecords = 0;
    source.start((batch) => {
      for (const header of headersOf(batch)) {
        if (header.type === EventType.Namespace && header.tgid === loadgen.pid) received++;
        else otherRecords++;
      }
    });
    source.pause();
    await loadgen.go();
    const dropped = source.drops().get(EventType.Namespace)!;
    assert.ok(dropped > 0n, 'the paused ring must have overflowed');
    source.resume();
    await waitFor(() => BigInt(received) + dropped === BigInt(generated), {
      what: `received (${received}) + dropped (${dropped}) to reach ${generated}`,
    });
    assert.ok(received > 0, 'records that fit in the ring are delivered after resume');
    assert.equal(otherRecords, 0);
    assert.equal(source.drops().get(EventType.Namespace), dropped, 'no drops after the generator exited');
    source.close();
  });

  test('batches hold many whole records back to back, one call per batch', async () => {
    const generated = 2000;
    const loadgen = startLoadgen(fixtures.loadgen, ['unshare', String(generated)]);
    const source = open({
      objectPath: fixtures.fixtureObject,
      agentTgid: process.pid,
      pathPatterns: [],
      ringBytes: 1 << 20,
      wakeupBatchBytes: 64 * 1024,
      tunables: { only_tgid: u32(loadgen.pid) },
    });
    const recordsPerBatch: number[] = [];
    let received = 0;
    source.start((batch) => {
      const headers = headersOf(batch);
      assert.equal(headers.reduce((sum, h) => sum + h.size, 0), batch.length, 'a batch is records and nothing else');
      recordsPerBatch.push(headers.length);
      received += headers.filter((h) => h.tgid === loadgen.pid).length;
    });
    await loadgen.go();
    await waitFor(() => received === generated, { what: `all ${generated} records (got ${received})` });
    assert.equal(source.drops().get(EventType.Namespace), 0n);
    assert.ok(Math.max(...recordsPerBatch) > 1, `batches: ${recordsPerBatch.join(',')}`);
    assert.ok(recordsPerBatch.length < generated, 'fewer JS calls than records');
    const stats = source.readerStats()!;
    assert.equal(stats.records, BigInt(recordsPerBatch.reduce((a, b) => a + b, 0)));
    assert.equal(stats.batches, BigInt(recordsPerBatch.length));
    source.close();
  });

  /**
   * Reads a paced trickle of `generated` unshare records 5 ms apart with a 100 ms poll interval; resolves with the
   * records per batch. The fixture object wakes the reader on every record when wakeupBatchBytes is 0, like urgent
   * records do. `started` runs once the source reads, `done` once every record arrived, before the source closes.
   */
  async function readTrickle(
    generated: number,
    coalesceBelowBytes: number,
    observe: { started?: () => Promise<void>; done?: () => void } = {},
  ): Promise<number[]> {
    const loadgen = startLoadgen(fixtures.loadgen, ['unshare-every', '5000', String(generated)]);
    const source = open({
      objectPath: fixtures.fixtureObject,
      agentTgid: process.pid,
      pathPatterns: [],
      wakeupBatchBytes: 0,
      tunables: { only_tgid: u32(loadgen.pid) },
    });
    const recordsPerBatch: number[] = [];
    let received = 0;
    source.start(
      (batch) => {
        const ours = headersOf(batch).filter((h) => h.tgid === loadgen.pid).length;
        if (ours > 0) recordsPerBatch.push(ours);
        received += ours;
      },
      { pollIntervalMs: 100, coalesceBelowBytes },
    );
    await observe.started?.();
    await loadgen.go();
    await waitFor(() => received === generated, { what: `all ${generated} records (got ${received})` });
    observe.done?.();
    source.close();
    return recordsPerBatch;
  }

  test('a trickle of wakeups is read once per poll interval when coalescing; a lone record after quiet at once', async () => {
    // 40 records 5 ms apart span ~200 ms: two or three poll intervals, plus the first record on its own.
    const coalesced = await readTrickle(40, 1 << 20);
    assert.equal(coalesced[0], 1, `the first record after a quiet ring is read at once: ${coalesced.join(',')}`);
    assert.ok(coalesced.length <= 5, `coalesced into ${coalesced.length} batches: ${coalesced.join(',')}`);
    const immediate = await readTrickle(40, 0);
    assert.ok(immediate.length > 20, `without coalescing every wakeup is a batch: ${immediate.length} batches`);
  });

  test('within a steady trickle the reader thread wakes about once per poll interval, not also for each first urgent record', async () => {
    const readerThreads = (): Set<string> =>
      new Set(readdirSync('/proc/self/task').filter((tid) => readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim() === 'ks-ring-reader'));
    const wakeupsOf = (tid: string): number =>
      Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(readFileSync(`/proc/self/task/${tid}/status`, 'utf8'))![1]);
    const existing = readerThreads();
    let reader = '';
    let before = 0;
    let wakeups = 0;
    // 200 records: about 1 s of trickle, ten poll intervals.
    await readTrickle(200, 1 << 20, {
      started: async () => {
        // The thread names itself once it runs.
        reader = await waitFor(() => [...readerThreads()].find((tid) => !existing.has(tid)), { what: 'a thread named ks-ring-reader' });
        before = wakeupsOf(reader);
      },
      done: () => (wakeups = wakeupsOf(reader) - before),
    });
    // One wakeup per interval, plus the lone first record and the interval that finds the trickle over: ~12.
    // Waking for the first urgent record of every interval and again at its end was 23 (measured).
    assert.ok(wakeups <= 16, `the reader thread woke ${wakeups} times during ~10 poll intervals of trickle`);
  });

  test('when JS falls behind, the reader stops reading at maxQueuedBytes instead of queueing without bound', async () => {
    const generated = 3000;
    const loadgen = startLoadgen(fixtures.loadgen, ['unshare', String(generated)]);
    const source = open({
      objectPath: fixtures.fixtureObject,
      agentTgid: process.pid,
      pathPatterns: [],
      ringBytes: 1 << 20, // holds every record: whatever JS cannot take yet waits in the kernel, not in the addon
      wakeupBatchBytes: 0,
      tunables: { only_tgid: u32(loadgen.pid) },
    });
    let received = 0;
    let largestBatch = 0;
    source.start(
      (batch) => {
        largestBatch = Math.max(largestBatch, batch.length);
        received += headersOf(batch).filter((h) => h.tgid === loadgen.pid).length;
        // A slow consumer: hold the JS thread long enough for the reader to hit the bound.
        const until = performance.now() + 2;
        while (performance.now() < until);
      },
      { maxBatchBytes: 4096, maxQueuedBytes: 8192, pollIntervalMs: 5 },
    );
    await loadgen.go();
    await waitFor(() => received === generated, { what: `all ${generated} records (got ${received})` });
    const stats = source.readerStats()!;
    assert.ok(stats.flowControlWaits > 0n, 'the reader waited for JS at least once');
    assert.equal(stats.undeliveredBatches, 0n);
    assert.ok(largestBatch <= 4096, `batch of ${largestBatch} bytes exceeds maxBatchBytes`);
    assert.equal(source.drops().get(EventType.Namespace), 0n);
    source.close();
  });

  test('programStats: true counts program runs and restores the sysctl on close', async () => {
    const sysctl = '/proc/sys/kernel/bpf_stats_enabled';
    const before = readFileSync(sysctl, 'utf8').trim();
    const loadgen = startLoadgen(fixtures.loadgen, ['unshare', '25']);
    const source = open({ objectPath: fixtures.fixtureObject, agentTgid: process.pid, pathPatterns: [], programStats: true });
    source.start(() => {});
    await loadgen.go();
    const unshare = source.programStats().find((p) => p.program === 'sys_enter_unshare__tp');
    assert.ok(unshare !== undefined && unshare.runCount >= 25n, `run count ${unshare?.runCount}`);
    assert.ok(unshare.runTimeNs > 0n);
    source.close();
    assert.equal(readFileSync(sysctl, 'utf8').trim(), before);
  });

  test('close() twice is safe, and a closed source refuses further use', () => {
    const source = open({ objectPath: fixtures.fixtureObject, agentTgid: process.pid, pathPatterns: [] });
    source.start(() => {});
    source.close();
    source.close();
    assert.throws(() => source.drops(), (error: unknown) => error instanceof KernelError && error.code === 'EBPF_CLOSED');
    assert.throws(() => source.snapshot(), (error: unknown) => error instanceof KernelError && error.code === 'EBPF_CLOSED');
  });

  test('terminating a worker with a running source releases its programs, links and reader', async () => {
    const before = kernelFdCount();
    const worker = new Worker(new URL('./helpers/kernelSourceWorker.ts', import.meta.url), {
      workerData: { objectPath: fixtures.fixtureObject },
    });
    await new Promise((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    assert.ok(kernelFdCount() > before, 'the worker holds BPF file descriptors while running');
    await worker.terminate();
    assert.equal(kernelFdCount(), before, 'every BPF fd is closed with the worker');
  });

  describe('with the project object (build/kubesentry.bpf.o)', () => {
    // Loading the real object takes the verifier a while, so both tests share one source.
    const marker = `/tmp/kubesentry-kernel-test-${process.pid}`;
    let source: KernelSource;
    const snapshotTgids = new Set<number>();
    const opensByTgid = new Map<number, number>();

    before(() => {
      assert.ok(existsSync(PROJECT_OBJECT), `${PROJECT_OBJECT} is missing: run \`make bpf\``);
      source = open({ agentTgid: process.pid, pathPatterns: [`${marker}-match*`] });
      source.start((batch) => {
        for (const h of headersOf(batch)) {
          if (h.type === EventType.Exec) {
            const flags = batch.readUInt32LE(h.offset + LAYOUT.ks_exec.fields.exe_flags.offset);
            if ((flags & 1) !== 0) snapshotTgids.add(h.tgid);
          } else if (h.type === EventType.Open) {
            opensByTgid.set(h.tgid, (opensByTgid.get(h.tgid) ?? 0) + 1);
          }
        }
      });
    });

    test('one variant per hook is loaded, hooks the kernel lacks are reported, not fatal', () => {
      const hooks = source.hooks();
      assert.ok(hooks.length > 0);
      assert.equal(new Set(hooks.map((h) => h.hook)).size, hooks.length, 'one entry per hook');
      for (const hook of hooks) {
        if (hook.variant === null) assert.ok(hook.rejected.length > 0, `${hook.hook} is left out without a reason`);
        else assert.ok(hook.program?.endsWith(`__${hook.variant}`), `${hook.hook}: ${hook.program}`);
      }
      assert.equal(hooks.find((h) => h.hook === 'sched_exec')?.variant, 'tp_btf', 'this kernel allows tp_btf');
    });

    test('the snapshot reports processes that existed before it', async () => {
      const existing = startLoadgen(fixtures.loadgen, ['unshare', '1']); // blocks on stdin until released
      source.snapshot();
      await waitFor(() => snapshotTgids.has(existing.pid) && snapshotTgids.has(process.ppid), {
        what: `snapshot records for ${existing.pid} and ${process.ppid} (have ${snapshotTgids.size} processes)`,
      });
      await existing.go();
    });

    test('path patterns reach the kernel filter: only opens of matching paths are reported', async () => {
      const unmatched = startLoadgen(fixtures.loadgen, ['open', `${marker}-other`, '3']);
      await unmatched.go();
      const matched = startLoadgen(fixtures.loadgen, ['open', `${marker}-match-1`, '3']);
      await matched.go();
      // The ring is FIFO: once the later generator's opens are in, the earlier one's would be too.
      await waitFor(() => opensByTgid.get(matched.pid) === 3, { what: `3 open records from ${matched.pid}` });
      assert.equal(opensByTgid.get(unmatched.pid), undefined);
    });
  });
});
