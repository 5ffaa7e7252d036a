// Kernel → JS throughput and per-syscall cost of the kernel programs. Reports numbers and ratios against the
// goals; never fails on a number (it fails only when it cannot measure). Needs root.
// Run: node bench/kernel.ts [--throughput-only | --syscall-cost-only]   (the syscall-cost part loads build/kubesentry.bpf.o, which is slow)
//
// 1. Throughput: generator processes make events as fast as one syscall each (getppid, reported by the test
//    fixture object as a 72-byte record), the source drains them and src/receiver/decoder.ts decodes every one.
//    Reported: records/s delivered to JS, and whether any were lost (kernel drops, or fewer received than made).
// 2. Per-syscall cost of openat(2) on a path no pattern matches: bare, with an empty program on
//    sys_enter_openat, and with the project's filtering program (only that program of build/kubesentry.bpf.o is
//    loaded, with the agent's pattern list); and of an openat the filter reports, against bare. Each figure is
//    the median of interleaved rounds of native/test/loadgen.c's time-open.

import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync } from 'node:fs';
import { cpus } from 'node:os';
import { sensitivePathPatterns } from '../src/detectors/paths.ts';
import { createDecoderStats, decodeBatch } from '../src/receiver/decoder.ts';
import { EventType, type KernelEvent } from '../src/receiver/events.ts';
import { compilePathPatterns, DEFAULT_OBJECT_PATH, openKernelSource, writePathPatterns } from '../src/receiver/kernel.ts';
import { nativeAddon, type NativeBpfObject } from '../src/receiver/nativeAddon.ts';
import { DEFAULT_TRACEFS_PATH, tracepointId } from '../src/receiver/probe.ts';
import { kernelFixtures } from '../test/helpers/kernelFixtures.ts';
import { reportResult } from './result.ts';

const THROUGHPUT_GOAL = 1_000_000;
const FILTERED_VS_EMPTY_GOAL = 1.1;
const EMITTING_VS_BARE_GOAL = 1.35;
const EVENTS_PER_GENERATOR = 2_000_000;
const OPENS_PER_RUN = 200_000;
const RUNS = 5;
const OPENAT_PROGRAM = 'sys_enter_openat__tp';
const BENCH_PATH_PREFIX = `/tmp/kubesentry-bench-${process.pid}`;

const fixtures = kernelFixtures();
const execFileAsync = promisify(execFile);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function runToExit(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'inherit'] });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${command} ${args.join(' ')} exited ${code}`))));
  });
}

async function throughput(generators: number): Promise<void> {
  const source = openKernelSource({
    objectPath: fixtures.fixtureObject,
    agentTgid: process.pid,
    pathPatterns: [],
    ringBytes: 64 << 20,
    wakeupBatchBytes: 256 << 10,
  });
  const stats = createDecoderStats();
  const generatorPids = new Set<number>();
  let received = 0;
  let target = Number.POSITIVE_INFINITY;
  let drained: () => void = () => {};
  const allDrained = new Promise<void>((resolve) => (drained = resolve));
  const onEvent = (event: KernelEvent) => {
    if (event.type === EventType.Namespace && generatorPids.has(event.tgid)) received++;
  };
  const cpuBefore = process.cpuUsage();
  const started = process.hrtime.bigint();
  source.start(
    (batch) => {
      decodeBatch(batch, onEvent, stats);
      if (received >= target) drained();
    },
    { maxBatchBytes: 4 << 20, maxQueuedBytes: 256 << 20, pollIntervalMs: 10 },
  );
  const runs: Promise<void>[] = [];
  for (let i = 0; i < generators; i++) {
    const child = spawn(fixtures.loadgen, ['getppid', String(EVENTS_PER_GENERATOR)], { stdio: 'ignore' });
    generatorPids.add(child.pid!);
    runs.push(new Promise((resolve) => child.on('exit', () => resolve())));
  }
  await Promise.all(runs);
  const generatedAt = process.hrtime.bigint();
  const dropped = source.drops().get(EventType.Namespace)!;
  // Everything not dropped is in the ring or on its way to JS.
  target = generators * EVENTS_PER_GENERATOR - Number(dropped);
  if (received >= target) drained();
  let deadlineTimer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((resolve) => (deadlineTimer = setTimeout(resolve, 60_000)));
  await Promise.race([allDrained, deadline]);
  clearTimeout(deadlineTimer);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = process.cpuUsage(cpuBefore);
  const cpuNsPerRecord = ((cpu.user + cpu.system) * 1000) / Math.max(received, 1);
  const rate = received / seconds;
  const reader = source.readerStats()!;
  const lost = generators * EVENTS_PER_GENERATOR - received;
  console.log(
    `throughput, ${generators} generator(s): ${Math.round(rate).toLocaleString('en')} records/s reached JS decoded ` +
      `(${(rate / THROUGHPUT_GOAL).toFixed(2)}x the 1M/s goal), ${lost === 0 ? 'zero loss' : `${lost} lost (${dropped} dropped in the kernel)`}; ` +
      `${reader.batches} batches of ~${Math.round(Number(reader.records) / Number(reader.batches))} records`,
  );
  reportResult(`throughput.${generators}gen`, rate, 'records/s', { op: '>=', value: THROUGHPUT_GOAL });
  reportResult(`throughput.${generators}gen.lost`, lost, 'records', { op: '<=', value: 0 });
  const generatorSeconds = Number(generatedAt - started) / 1e9;
  console.log(
    `  the generators made ${Math.round((generators * EVENTS_PER_GENERATOR) / generatorSeconds).toLocaleString('en')} ` +
      `events/s (syscall + tracepoint + BPF program in the kernel); JS had every record ` +
      `${((seconds - generatorSeconds) * 1000).toFixed(0)} ms after the last one was made`,
  );
  console.log(
    `  agent CPU (native reader + JS decode): ${cpuNsPerRecord.toFixed(0)} ns per record, a ceiling of ` +
      `${Math.round(1e9 / cpuNsPerRecord).toLocaleString('en')} records/s per core if generators were free`,
  );
  source.close();
}

/** Asynchronous, so the event loop keeps taking batches while the emitting case runs (a blocked loop would stall
 * the reader at maxQueuedBytes and turn the measurement into one of drops). */
async function timeOpen(path: string): Promise<number> {
  const { stdout } = await execFileAsync(fixtures.loadgen, ['time-open', path, String(OPENS_PER_RUN)], { encoding: 'utf8' });
  return Number(stdout);
}

function u32(value: number): Buffer {
  const buffer = Buffer.alloc(4);
  buffer.writeUInt32LE(value);
  return buffer;
}

/** Loads only the sys_enter_openat program of an object, configured as openKernelSource would. */
function loadOpenatProgram(objectPath: string, patterns: readonly string[]): NativeBpfObject {
  const object = new (nativeAddon().BpfObject)(objectPath);
  for (const program of object.programs()) object.setAutoload(program.name, program.name === OPENAT_PROGRAM);
  object.setRodata('agent_tgid', u32(process.pid));
  object.load();
  writePathPatterns(object, compilePathPatterns(patterns));
  return object;
}

async function syscallCost(): Promise<void> {
  if (!existsSync(DEFAULT_OBJECT_PATH)) throw new Error(`${DEFAULT_OBJECT_PATH} is missing: run \`make bpf\``);
  // The common case: an ordinary path no pattern's head shares. The bench's own `-unmatched` path shares a long
  // prefix with its `-match*` pattern, so it is a candidate that takes the full match: the filter's worst case.
  const ordinary = '/usr/lib/os-release';
  const unmatched = `${BENCH_PATH_PREFIX}-unmatched`;
  const matched = `${BENCH_PATH_PREFIX}-match`;
  // The agent's real pattern list (every rule's), plus one the bench's own opens match.
  const patterns = [...sensitivePathPatterns().slice(0, 63), `${BENCH_PATH_PREFIX}-match*`];
  const empty = loadOpenatProgram(fixtures.emptyOpenatObject, []);
  const filtering = loadOpenatProgram(DEFAULT_OBJECT_PATH, patterns);
  const reader = new (nativeAddon().RingBufferReader)(filtering.mapFd('events'), () => {}, {
    maxBatchBytes: 1 << 20,
    maxQueuedBytes: 64 << 20,
    pollIntervalMs: 50,
  });
  const tracepoint = tracepointId(DEFAULT_TRACEFS_PATH, 'syscalls/sys_enter_openat');
  const samples = {
    bare: [] as number[],
    empty: [] as number[],
    filtered: [] as number[],
    emitting: [] as number[],
    ordinaryEmpty: [] as number[],
    ordinaryFiltered: [] as number[],
  };
  // Rounds interleave the configurations so drift in machine load hits them alike.
  for (let round = 0; round < RUNS; round++) {
    samples.bare.push(await timeOpen(unmatched));
    let link = empty.attachTracepoint(OPENAT_PROGRAM, tracepoint);
    samples.empty.push(await timeOpen(unmatched));
    samples.ordinaryEmpty.push(await timeOpen(ordinary));
    empty.detach(link);
    link = filtering.attachTracepoint(OPENAT_PROGRAM, tracepoint);
    samples.filtered.push(await timeOpen(unmatched));
    samples.ordinaryFiltered.push(await timeOpen(ordinary));
    samples.emitting.push(await timeOpen(matched));
    filtering.detach(link);
  }
  const dropped = filtering.perCpuSum('drops', EventType.Open);
  reader.close();
  empty.close();
  filtering.close();
  const [bare, emptyCost, filtered, emitting, ordinaryEmpty, ordinaryFiltered] = [
    samples.bare, samples.empty, samples.filtered, samples.emitting, samples.ordinaryEmpty, samples.ordinaryFiltered,
  ].map(median);
  console.log(
    `openat, non-matching path (median of ${RUNS} interleaved rounds x ${OPENS_PER_RUN.toLocaleString('en')} calls): ` +
      `bare ${bare.toFixed(0)} ns, empty program ${emptyCost.toFixed(0)} ns, filtering program (${patterns.length} patterns) ${filtered.toFixed(0)} ns`,
  );
  console.log(`openat, ordinary path ${ordinary}: empty program ${ordinaryEmpty.toFixed(0)} ns, filtering program ${ordinaryFiltered.toFixed(0)} ns`);
  console.log(`  ordinary path: filtered / empty program = ${(ordinaryFiltered / ordinaryEmpty).toFixed(3)} (goal <= ${FILTERED_VS_EMPTY_GOAL})`);
  console.log(`  candidate path (shares a pattern's prefix, full match): filtered / empty program = ${(filtered / emptyCost).toFixed(3)}; empty / bare = ${(emptyCost / bare).toFixed(3)}`);
  console.log(`openat, matching path (record emitted and drained): ${emitting.toFixed(0)} ns, ${dropped} dropped`);
  console.log(`  emitting / bare = ${(emitting / bare).toFixed(3)} (goal <= ${EMITTING_VS_BARE_GOAL})`);
  reportResult('openat.filtered_vs_empty', ordinaryFiltered / ordinaryEmpty, 'x', { op: '<=', value: FILTERED_VS_EMPTY_GOAL });
  reportResult('openat.candidate_filtered_vs_empty', filtered / emptyCost, 'x');
  reportResult('openat.emitting_vs_bare', emitting / bare, 'x', { op: '<=', value: EMITTING_VS_BARE_GOAL });
}

console.log(`kernel bench on ${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown'})`);
const only = process.argv[2];
if (only !== '--syscall-cost-only') {
  await throughput(1);
  await throughput(2);
}
if (only !== '--throughput-only') await syscallCost();
