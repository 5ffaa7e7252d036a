// Kernel → JS throughput and per-syscall cost of the kernel programs. Reports numbers and ratios against the
// goals; never fails on a number (it fails only when it cannot measure). Needs root.
// Run: node bench/kernel.ts [--throughput-only | --syscall-cost-only | --enforcement-only | --compat-only]
//   [--baseline-object OBJECT | --baseline CHECKOUT]
//   (the syscall-cost and enforcement parts load build/kubesentry.bpf.o, which is slow). --baseline-object adds another
//   build's open programs (sys_enter_openat__tp and/or sys_exit_openat__tp, e.g. an older commit's object) to the same
//   rounds, with an empty program on entry + exit as its yardstick: a before/after in one run.
//
// 1. Throughput: generator processes make events as fast as one syscall each (getppid, reported by the test
//    fixture object as a 72-byte record), the source drains them and src/receiver/decoder.ts decodes every one.
//    Reported: records/s delivered to JS, and whether any were lost (kernel drops, or fewer received than made).
// 2. Per-syscall cost of openat(2) on ordinary, relative, candidate, leaf-hit and sensitive paths: bare, with an
//    empty program on sys_exit_openat (the yardstick) and two (the agent's count there), with the resolved-path filter
//    (sys_exit_openat__tp of build/kubesentry.bpf.o, with the agent's pattern list), with it and the host-fs check,
//    and with each part of emitting a record alone (native/test/emit_cost.bpf.c). Figures are native/test/loadgen.c's
//    time-open over interleaved rounds; ratios are taken per round (paired) and their median reported. A last round
//    with the kernel's run-time statistics on gives the time inside the programs, which machine load barely moves.
//    Other agents attached to the same tracepoints (other engineers' test agents) add to every figure, bare included.
// 3. Per-call cost of the enforcement checks (bpf/lib/enforce.h) on the hooked calls: setns, mount,
//    bpf(BPF_PROG_LOAD) and unshare(CLONE_NEWUSER) (failing calls, so that a loop can make them), an exec of /bin/true
//    (the arming test and the fileless test), a fork (the user-namespace comparison) and an ordinary open (the file
//    name's head compared against the control files'). Each call with the agent's program for it alone attached:
//    enforcement off, on for a container that is not armed and has nothing pending, and in dry-run for an armed
//    container whose rules kill (the whole decision, without the signal, which would end the loop), against the
//    same program with enforcement off. loadgen's time-enforced makes the calls from a new mount namespace and a
//    cgroup of its own, as a container's process would. The programs' own run time comes from the kernel's
//    statistics, held on by loadgen hold-bpf-stats for the whole part.
// 4. Per-syscall cost of the 32-bit syscall program (bpf/compat.bpf.c, on the raw sys_enter tracepoint: every
//    syscall on the node runs it) on an ordinary 64-bit syscall, getppid: bare, with an empty raw_tp/sys_enter
//    program (native/test/empty_sys_enter.bpf.c), and with sys_enter_compat__raw_tp. loadgen's time-getppid, from a
//    new mount namespace (a container process, past the host check if the program got that far); interleaved rounds,
//    per-round ratios, and the programs' own run time from the kernel's statistics.

import { execFile, execFileSync, spawn } from 'node:child_process';
import { parseArgs, promisify } from 'node:util';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cpus, loadavg } from 'node:os';
import { sensitivePathPatterns } from '../src/detectors/paths.ts';
import { createDecoderStats, decodeBatch } from '../src/receiver/decoder.ts';
import { EventType, type KernelEvent } from '../src/receiver/events.ts';
import { compilePathPatterns, DEFAULT_OBJECT_PATH, LEAF_HEADS_MAP, openKernelSource, writePathPatterns } from '../src/receiver/kernel.ts';
import { nativeAddon, type NativeBpfObject } from '../src/receiver/nativeAddon.ts';
import { DEFAULT_BTF_PATH, DEFAULT_PROBE_OBJECT_PATH, DEFAULT_TRACEFS_PATH, probeUntrustedLoads, tracepointId } from '../src/receiver/probe.ts';
import { kernelFixtures } from '../test/helpers/kernelFixtures.ts';
import { createCgroup } from '../test/helpers/cgroup.ts';
import { ENFORCEMENT_OUTCOMES, EnforceLevelsSlot, EnforcementMode, KERNEL_ENFORCE_CHECK_MAX, KernelEnforceCheck } from '../src/receiver/enforcement.ts';
import { cgroupLevel } from '../src/enforcement/ContainerEnforcement.ts';
import { reportResult } from './result.ts';

const THROUGHPUT_GOAL = 1_000_000;
const FILTERED_VS_EMPTY_GOAL = 1.1;
const EMITTING_VS_BARE_GOAL = 1.35;
const EVENTS_PER_GENERATOR = 2_000_000;
const OPENS_PER_RUN = 150_000;
const RUNS = 7;
const IN_PROGRAM_PASSES = 3;
/** The empty fixture's program; it attaches to any tracepoint (here sys_exit_openat, where the filter runs). */
const EMPTY_PROGRAM = 'sys_enter_openat__tp';
const OPENAT_EXIT_PROGRAM = 'sys_exit_openat__tp';
/** Earlier builds (before the filter moved to the exit) also matched the caller's string at entry. */
const BASELINE_ENTRY_PROGRAM = 'sys_enter_openat__tp';
/** native/test/emit_cost.bpf.c: the parts of emitting a record, each alone. */
const EMIT_COST_PROGRAMS: ReadonlyArray<readonly [program: string, what: string]> = [
  ['reserve_discard', 'ring reserve + discard of a ks_open'],
  ['reserve_submit', 'ring reserve + submit of a ks_open'],
  ['zero_and_output', 'zeroing a per-CPU ks_open + bpf_ringbuf_output of it'],
  ['header_helpers', 'the header helpers (pid, uid, boot time, cgroup, comm)'],
];
const HOSTFS_OPENAT_PROGRAM = 'hostfs_openat__tp';
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
async function timeOpen(open: OpenCase): Promise<number> {
  const command = open.unsharedMountNamespace ? 'time-open-unshared' : 'time-open';
  const { stdout } = await execFileAsync(fixtures.loadgen, [command, open.path, String(OPENS_PER_RUN)], {
    encoding: 'utf8',
    cwd: open.cwd,
  });
  return Number(stdout);
}

function u32(value: number): Buffer {
  const buffer = Buffer.alloc(4);
  buffer.writeUInt32LE(value);
  return buffer;
}

/** Loads only the named programs of an object, configured as openKernelSource would. */
function loadPrograms(objectPath: string, names: readonly string[], patterns: readonly string[], rodata: Record<string, Buffer> = {}): NativeBpfObject {
  const object = new (nativeAddon().BpfObject)(objectPath);
  for (const program of object.programs()) object.setAutoload(program.name, names.includes(program.name));
  object.setRodata('agent_tgid', u32(process.pid));
  for (const [name, value] of Object.entries(rodata)) object.setRodata(name, value);
  object.load();
  // an object from before the leaf index (--baseline of a checkout before issue 12) filters on the caller's string only
  writePathPatterns(object, compilePathPatterns(patterns), { leafIndex: object.maps().some((map) => map.name === LEAF_HEADS_MAP) });
  return object;
}

interface OpenCase {
  label: string;
  path: string;
  cwd?: string;
  /** From a new mount namespace with an overlay root (loadgen time-open-unshared): a container's process opening a file of its image. */
  unsharedMountNamespace?: boolean;
}

type Link = [object: NativeBpfObject, program: string, tracepoint: number];

/** Attaches each program to its tracepoint, runs `body`, detaches. A program attaches once per tracepoint. */
async function withAttached(links: readonly Link[], body: () => Promise<void>): Promise<void> {
  const attached: Array<[NativeBpfObject, ReturnType<NativeBpfObject['attachTracepoint']>]> = [];
  try {
    for (const [object, program, tracepoint] of links) attached.push([object, object.attachTracepoint(program, tracepoint)]);
    await body();
  } finally {
    for (const [object, link] of attached) object.detach(link);
  }
}

/**
 * Kernel run-time statistics (ns inside each program) are on while `body` runs, held by a loadgen (BPF_ENABLE_STATS):
 * reference-counted, so another bench putting the kernel.bpf_stats_enabled sysctl back to 0 meanwhile does not turn
 * them off under this one, nor this one under it.
 */
async function withProgramStats(body: () => Promise<void>): Promise<void> {
  const holder = spawn(fixtures.loadgen, ['hold-bpf-stats'], { stdio: ['pipe', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((resolve, reject) => {
      holder.stdout.once('data', () => resolve());
      holder.once('exit', (code) => reject(new Error(`loadgen hold-bpf-stats exited ${code}`)));
    });
    await body();
  } finally {
    holder.stdin.end();
  }
}

/**
 * ns inside the linked programs per open while `body` runs: for each program its time per run, summed (each runs once
 * per open). Its runs include other processes' opens meanwhile, a few percent of the bench's.
 */
async function nsPerRun(links: readonly Link[], body: () => Promise<void>): Promise<number> {
  const read = () =>
    links.map(([object, program]) => {
      const stats = object.programStats().find((s) => s.name === program);
      return { runTimeNs: stats?.runTimeNs ?? 0n, runs: stats?.runCount ?? 0n };
    });
  const before = read();
  await body();
  return read().reduce((sum, after, i) => sum + Number(after.runTimeNs - before[i].runTimeNs) / Number(after.runs - before[i].runs), 0);
}

/** Loaded programs on the open syscalls' tracepoints by their names (anyone's: call before loading ours). */
function openProgramIds(): number[] {
  try {
    const programs = JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'show'], { encoding: 'utf8', maxBuffer: 1 << 26 })) as { id: number; name?: string }[];
    return programs.filter((p) => /open(at2?)?_|creat_/.test(p.name ?? '')).map((p) => p.id);
  } catch {
    return [];
  }
}

/** ns per run of the programs with these ids, summed, while `body` runs (run-time statistics must be on). */
async function othersNsPerRun(ids: readonly number[], body: () => Promise<void>): Promise<number> {
  const read = () => {
    const programs = JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'show'], { encoding: 'utf8', maxBuffer: 1 << 26 })) as { id: number; run_time_ns?: number; run_cnt?: number }[];
    return new Map(programs.filter((p) => ids.includes(p.id)).map((p) => [p.id, [p.run_time_ns ?? 0, p.run_cnt ?? 0]]));
  };
  const before = read();
  await body();
  let ns = 0;
  for (const [id, [time, runs]] of read()) {
    const [time0, runs0] = before.get(id) ?? [time, runs];
    // Only the programs on openat ran once per open; the others (openat2, open, creat) barely ran.
    if (runs - runs0 >= OPENS_PER_RUN) ns += (time - time0) / (runs - runs0);
  }
  return ns;
}

async function syscallCost(baselinePath: string | undefined): Promise<void> {
  // Other agents' open programs (other engineers' test agents) run on every open of ours, bare included.
  const others = openProgramIds();
  if (!existsSync(DEFAULT_OBJECT_PATH)) throw new Error(`${DEFAULT_OBJECT_PATH} is missing: run \`make bpf\``);
  const scratch = mkdtempSync(`${BENCH_PATH_PREFIX}-dir-`);
  // The bench's sensitive file: its name is the leaf of the `-match*` pattern, so the exit rebuilds its path and
  // the record is emitted (the caller's string matches the same pattern: one record). A file named `mem` is a leaf
  // of /proc/*/mem: its path is rebuilt and then matches nothing, the gate's false positive.
  const sensitive = `${BENCH_PATH_PREFIX}-match`;
  writeFileSync(sensitive, '');
  writeFileSync(`${scratch}/mem`, '');
  const cases = {
    // the common case: an ordinary path no pattern's head or leaf shares
    ordinary: { label: 'ordinary /usr/lib/os-release', path: '/usr/lib/os-release' },
    relative: { label: 'relative os-release (cwd /usr/lib)', path: 'os-release', cwd: '/usr/lib' },
    // a container's open: outside the host's mount namespace the gate also asks where the file is
    // (bpf/open.bpf.c ks_open_caller_string_matters): its image, an overlay, reads no caller's string
    container: { label: 'ordinary, from a container (an overlay root in a new mount namespace)', path: '/usr/lib/os-release', unsharedMountNamespace: true },
    // shares a long prefix with the `-match*` pattern: the caller's string is copied and matched, the open fails
    candidate: { label: 'candidate (prefix shared, ENOENT)', path: `${BENCH_PATH_PREFIX}-unmatched` },
    leafHit: { label: 'leaf gate hit, no match (a file named mem)', path: `${scratch}/mem` },
    sensitive: { label: 'sensitive, absolute (emitted)', path: sensitive },
    sensitiveRelative: { label: 'sensitive, relative (emitted)', path: path.basename(sensitive), cwd: path.dirname(sensitive) },
  } satisfies Record<string, OpenCase>;
  type CaseName = keyof typeof cases;
  const allCases = Object.keys(cases) as CaseName[];
  // The agent's real pattern list (every rule's), plus one the bench's own opens match.
  const patterns = [...sensitivePathPatterns().slice(0, 63), `${BENCH_PATH_PREFIX}-match*`];
  const empty = loadPrograms(fixtures.emptyOpenatObject, [EMPTY_PROGRAM], []);
  const secondEmpty = loadPrograms(fixtures.emptyOpenatObject, [EMPTY_PROGRAM], []);
  // As the agent loads them: the untrusted plain loads where this kernel's verifier takes them.
  const untrustedLoads = probeUntrustedLoads({ btfPath: DEFAULT_BTF_PATH, probeObjectPath: DEFAULT_PROBE_OBJECT_PATH }).supported;
  const filtering = loadPrograms(DEFAULT_OBJECT_PATH, [OPENAT_EXIT_PROGRAM, HOSTFS_OPENAT_PROGRAM], patterns, {
    // Most cases open from the host's mount namespace: the host-filesystem check's cheap path. Its cost for a
    // container's opens (~240 ns, a record ~1.3 µs) is in bpf/README.md.
    host_mnt_ns_inum: u32(statSync('/proc/self/ns/mnt').ino),
    untrusted_loads: u32(untrustedLoads ? 1 : 0),
  });
  const emitCost = loadPrograms(fixtures.emitCostObject, EMIT_COST_PROGRAMS.map(([program]) => program), []);
  const enter = tracepointId(DEFAULT_TRACEFS_PATH, 'syscalls/sys_enter_openat');
  const baselinePrograms: Array<[string, number]> = [[BASELINE_ENTRY_PROGRAM, enter], [OPENAT_EXIT_PROGRAM, tracepointId(DEFAULT_TRACEFS_PATH, 'syscalls/sys_exit_openat')]];
  let baseline: NativeBpfObject | undefined;
  if (baselinePath !== undefined) {
    const listed = new (nativeAddon().BpfObject)(baselinePath);
    const names = new Set(listed.programs().map((p) => p.name));
    listed.close();
    baseline = loadPrograms(baselinePath, baselinePrograms.map(([program]) => program).filter((program) => names.has(program)), patterns);
  }
  const readerOptions = { maxBatchBytes: 1 << 20, maxQueuedBytes: 64 << 20, pollIntervalMs: 50 };
  const readers = [filtering, emitCost, ...(baseline ? [baseline] : [])].map((object) => new (nativeAddon().RingBufferReader)(object.mapFd('events'), () => {}, readerOptions));
  const exit = tracepointId(DEFAULT_TRACEFS_PATH, 'syscalls/sys_exit_openat');
  const filter = 'resolved-path filter (exit)';
  const agent = "the agent's openat programs (filter + host-fs exit)";
  // Configurations, all on sys_exit_openat (the filter's only hook): nothing; an empty program (the filter's
  // yardstick) and two (the agent's, with the host-fs check); the filter; the agent's two; the emit parts.
  const configurations: Array<{ name: string; links: Link[]; cases: CaseName[] }> = [
    { name: 'bare', links: [], cases: allCases },
    { name: 'empty program', links: [[empty, EMPTY_PROGRAM, exit]], cases: allCases },
    { name: '2 empty programs', links: [[empty, EMPTY_PROGRAM, exit], [secondEmpty, EMPTY_PROGRAM, exit]], cases: ['ordinary', 'relative', 'sensitive'] },
    { name: filter, links: [[filtering, OPENAT_EXIT_PROGRAM, exit]], cases: allCases },
    { name: agent, links: [[filtering, OPENAT_EXIT_PROGRAM, exit], [filtering, HOSTFS_OPENAT_PROGRAM, exit]], cases: ['ordinary', 'relative', 'sensitive'] },
    ...EMIT_COST_PROGRAMS.map(([program, what]) => ({ name: what, links: [[emitCost, program, exit]] as Link[], cases: ['sensitive'] as CaseName[] })),
  ];
  const baselineName = `baseline ${baselinePath}`;
  if (baseline) {
    const links = baselinePrograms
      .filter(([program]) => baseline.programs().some((p) => p.name === program))
      .map(([program, tracepoint]): Link => [baseline, program, tracepoint]);
    configurations.push(
      { name: 'empty on entry + exit', links: [[empty, EMPTY_PROGRAM, enter], [empty, EMPTY_PROGRAM, exit]], cases: ['ordinary', 'relative', 'sensitive'] },
      { name: baselineName, links, cases: allCases },
    );
  }
  const samples = new Map<string, number[]>();
  const inProgram = new Map<string, number>();
  let othersNs = 0;
  const key = (configuration: string, name: CaseName) => `${configuration}|${name}`;
  try {
    // Rounds interleave the configurations, so drift in machine load hits them alike; ratios are taken round by
    // round (paired), then their median and minimum reported.
    for (let round = 0; round < RUNS; round++) {
      for (const configuration of configurations) {
        await withAttached(configuration.links, async () => {
          for (const name of configuration.cases) {
            const ns = await timeOpen(cases[name]);
            samples.set(key(configuration.name, name), [...(samples.get(key(configuration.name, name)) ?? []), ns]);
          }
        });
      }
    }
    // Then once more with the kernel's run-time statistics on (they add two clock reads per run, so they stay off
    // for the wall-clock rounds): the time inside the programs, which other work on the machine barely moves.
    // Three passes, the median kept: a single pass now and then caught the reader thread or another process
    // working on the same CPU and read 40% high.
    const passes = new Map<string, number[]>();
    await withProgramStats(async () => {
      for (let pass = 0; pass < IN_PROGRAM_PASSES; pass++) {
        for (const configuration of configurations.slice(1)) {
          await withAttached(configuration.links, async () => {
            for (const name of configuration.cases) {
              const ns = await nsPerRun(configuration.links, async () => void (await timeOpen(cases[name])));
              passes.set(key(configuration.name, name), [...(passes.get(key(configuration.name, name)) ?? []), ns]);
            }
          });
        }
      }
      for (const [k, values] of passes) inProgram.set(k, median(values));
      if (others.length > 0) othersNs = await othersNsPerRun(others, async () => void (await timeOpen(cases.sensitive)));
    });
  } finally {
    rmSync(sensitive, { force: true });
    rmSync(scratch, { recursive: true, force: true });
  }
  const dropped = filtering.perCpuSum('drops', EventType.Open);
  for (const reader of readers) reader.close();
  for (const object of [empty, secondEmpty, filtering, emitCost, ...(baseline ? [baseline] : [])]) object.close();
  const all = (configuration: string, name: CaseName): number[] => samples.get(key(configuration, name)) ?? [NaN];
  console.log(`openat+close per call (${RUNS} interleaved rounds x ${OPENS_PER_RUN.toLocaleString('en')} calls: median, min), ${patterns.length} patterns, untrusted loads ${untrustedLoads ? 'on' : 'off (this verifier refuses them)'}, load ${loadavg()[0].toFixed(1)}:`);
  for (const configuration of configurations) {
    const figures = configuration.cases.map((name) => {
      const wall = all(configuration.name, name);
      const inside = inProgram.get(key(configuration.name, name));
      return `${cases[name].label} ${median(wall).toFixed(0)}, ${Math.min(...wall).toFixed(0)} ns${inside === undefined ? '' : ` (${inside.toFixed(0)} in the program)`}`;
    });
    console.log(`  ${configuration.name}: ${figures.join('; ')}`);
  }
  /** Per-round ratios of two configurations' figures. */
  const paired = (a: [string, CaseName], b: [string, CaseName]): number[] => {
    const as = all(...a);
    const bs = all(...b);
    return as.map((value, i) => value / bs[i]);
  };
  const lines: Array<[string, [string, CaseName], [string, CaseName], string, { op: '<=' | '>='; value: number } | undefined]> = [
    ['openat.filtered_vs_empty', [filter, 'ordinary'], ['empty program', 'ordinary'], 'filter, ordinary path / empty program', { op: '<=', value: FILTERED_VS_EMPTY_GOAL }],
    ['openat.relative_filtered_vs_empty', [filter, 'relative'], ['empty program', 'relative'], 'filter, relative path / empty program', { op: '<=', value: FILTERED_VS_EMPTY_GOAL }],
    ['openat.container_filtered_vs_empty', [filter, 'container'], ['empty program', 'container'], 'filter, ordinary path from a container (overlay root) / empty program', { op: '<=', value: FILTERED_VS_EMPTY_GOAL }],
    ['openat.candidate_filtered_vs_empty', [filter, 'candidate'], ['empty program', 'candidate'], 'filter, candidate path / empty program', undefined],
    ['openat.leaf_hit_vs_empty', [filter, 'leafHit'], ['empty program', 'leafHit'], 'filter, leaf hit without match / empty program', undefined],
    ['openat.ordinary_vs_bare', [filter, 'ordinary'], ['bare', 'ordinary'], 'filter, ordinary path / bare', undefined],
    ['openat.relative_vs_bare', [filter, 'relative'], ['bare', 'relative'], 'filter, relative path / bare', undefined],
    ['openat.emitting_vs_bare', [filter, 'sensitive'], ['bare', 'sensitive'], 'filter, sensitive absolute (emitted) / bare', { op: '<=', value: EMITTING_VS_BARE_GOAL }],
    ['openat.relative_emitting_vs_bare', [filter, 'sensitiveRelative'], ['bare', 'sensitiveRelative'], 'filter, sensitive relative (emitted) / bare', { op: '<=', value: EMITTING_VS_BARE_GOAL }],
    ['openat.emitting_vs_empty', [filter, 'sensitive'], ['empty program', 'sensitive'], 'filter, sensitive absolute (emitted) / empty program', undefined],
    ['openat.agent.filtered_vs_empty', [agent, 'ordinary'], ['2 empty programs', 'ordinary'], "all the agent's openat programs, ordinary path / as many empty programs", { op: '<=', value: FILTERED_VS_EMPTY_GOAL }],
    ['openat.agent.relative_filtered_vs_empty', [agent, 'relative'], ['2 empty programs', 'relative'], "all the agent's openat programs, relative path / as many empty programs", { op: '<=', value: FILTERED_VS_EMPTY_GOAL }],
    ['openat.agent.emitting_vs_bare', [agent, 'sensitive'], ['bare', 'sensitive'], "all the agent's openat programs, sensitive absolute (emitted) / bare", { op: '<=', value: EMITTING_VS_BARE_GOAL }],
    ...EMIT_COST_PROGRAMS.map(([program, what]): (typeof lines)[number] => [`openat.part.${program}_vs_bare`, [what, 'sensitive'], ['bare', 'sensitive'], `${what} alone / bare`, undefined]),
  ];
  if (baseline) {
    lines.push(
      ['openat.baseline.filtered_vs_empty', [baselineName, 'ordinary'], ['empty on entry + exit', 'ordinary'], 'baseline, ordinary path / empty on entry + exit', { op: '<=', value: FILTERED_VS_EMPTY_GOAL }],
      ['openat.baseline.emitting_vs_bare', [baselineName, 'sensitive'], ['bare', 'sensitive'], 'baseline, sensitive absolute (emitted) / bare', { op: '<=', value: EMITTING_VS_BARE_GOAL }],
      ['openat.baseline.relative_emitting_vs_bare', [baselineName, 'sensitiveRelative'], ['bare', 'sensitiveRelative'], 'baseline, sensitive relative (emitted) / bare', { op: '<=', value: EMITTING_VS_BARE_GOAL }],
      ['openat.emitting_vs_baseline', [filter, 'sensitive'], [baselineName, 'sensitive'], 'filter / baseline, sensitive absolute (emitted)', undefined],
    );
  }
  for (const [name, a, b, what, goal] of lines) {
    const ratios = paired(a, b);
    console.log(`  ${what} = ${median(ratios).toFixed(3)} (min ${Math.min(...ratios).toFixed(3)})${goal ? ` (goal ${goal.op} ${goal.value})` : ''}`);
    reportResult(name, median(ratios), 'x', goal);
  }
  // The same goals from the kernel's own accounting: time inside the programs against the bare call's median.
  const bareSensitive = median(all('bare', 'sensitive'));
  const emptyInside = inProgram.get(key('empty program', 'ordinary')) ?? NaN;
  const inside = (configuration: string, name: CaseName) => inProgram.get(key(configuration, name)) ?? NaN;
  console.log(
    `  in-program time against the bare call (${bareSensitive.toFixed(0)} ns): filter, sensitive absolute ` +
      `1 + ${(inside(filter, 'sensitive') / bareSensitive).toFixed(3)}; ordinary: ${inside(filter, 'ordinary').toFixed(0)} ns vs an empty ` +
      `program's ${emptyInside.toFixed(0)} ns`,
  );
  reportResult('openat.inprogram.emitting_vs_bare', 1 + inside(filter, 'sensitive') / bareSensitive, 'x', { op: '<=', value: EMITTING_VS_BARE_GOAL });
  reportResult('openat.inprogram.relative_emitting_vs_bare', 1 + inside(filter, 'sensitiveRelative') / median(all('bare', 'sensitiveRelative')), 'x', { op: '<=', value: EMITTING_VS_BARE_GOAL });
  // filtered / empty as (bare + in-program) over (bare + the empty program's in-program), per case
  for (const name of ['ordinary', 'relative', 'container'] as const) {
    const bare = median(all('bare', name));
    const ratio = (bare + inside(filter, name)) / (bare + inside('empty program', name));
    console.log(`  in-program, ${cases[name].label}: filter ${inside(filter, name).toFixed(0)} ns, empty ${inside('empty program', name).toFixed(0)} ns, on a bare call of ${bare.toFixed(0)} ns: filtered / empty ${ratio.toFixed(3)}`);
    reportResult(`openat.inprogram.${name}_filtered_vs_empty`, ratio, 'x', { op: '<=', value: FILTERED_VS_EMPTY_GOAL });
  }
  if (baseline) {
    console.log(`  in-program, baseline: sensitive absolute 1 + ${(inside(baselineName, 'sensitive') / bareSensitive).toFixed(3)}; ordinary ${inside(baselineName, 'ordinary').toFixed(0)} ns`);
    reportResult('openat.inprogram.baseline.emitting_vs_bare', 1 + inside(baselineName, 'sensitive') / bareSensitive, 'x', { op: '<=', value: EMITTING_VS_BARE_GOAL });
  }
  if (others.length > 0) {
    // The bare call is not bare while other agents' programs run on it: what it would cost without them.
    const bareAlone = bareSensitive - othersNs;
    console.log(
      `  ${others.length} open programs of other agents were loaded when the bench started (test agents come and go); ` +
        `${othersNs.toFixed(0)} ns of each bare open was theirs during the in-program pass. ` +
        `Against the bare call without them (${bareAlone.toFixed(0)} ns): filter, sensitive absolute 1 + ${(inside(filter, 'sensitive') / bareAlone).toFixed(3)}`,
    );
    reportResult('openat.inprogram.emitting_vs_bare_alone', 1 + inside(filter, 'sensitive') / bareAlone, 'x', { op: '<=', value: EMITTING_VS_BARE_GOAL });
  } else {
    console.log('  no other agent had programs on the open syscalls');
  }
  console.log(`  ${dropped} open records dropped`);
}

const BPF_STATS_SYSCTL = '/proc/sys/kernel/bpf_stats_enabled';
/**
 * Each call timed by loadgen's time-enforced: the agent's program that sees it, where it attaches (a syscall
 * tracepoint, or undefined: where its SEC() says, tp_btf), the check whose dry-run decisions it counts, and how many
 * calls make a run (an exec or a fork costs a thousand times a failing syscall).
 */
const ENFORCED_CALLS = {
  setns: { program: 'sys_enter_setns__tp', tracepoint: 'syscalls/sys_enter_setns', check: KernelEnforceCheck.SetnsHost, perRun: 100_000 },
  mount: { program: 'sys_enter_mount__tp', tracepoint: 'syscalls/sys_enter_mount', check: KernelEnforceCheck.SensitiveMount, perRun: 100_000 },
  bpf: { program: 'sys_enter_bpf__tp', tracepoint: 'syscalls/sys_enter_bpf', check: KernelEnforceCheck.BpfProgLoad, perRun: 100_000 },
  unshare: { program: 'sys_enter_unshare__tp', tracepoint: 'syscalls/sys_enter_unshare', check: KernelEnforceCheck.UserNamespace, perRun: 100_000 },
  // An ordinary exec: the arming test, then the fileless test (an armed container whose rules kill memfd execs),
  // which finds nothing, so no decision.
  exec: { program: 'sched_exec__tp_btf', tracepoint: undefined, check: KernelEnforceCheck.MemfdExec, perRun: 300 },
  // A child in its parent's user namespace: the comparison only.
  fork: { program: 'sched_fork__tp_btf', tracepoint: undefined, check: KernelEnforceCheck.UserNamespace, perRun: 1_000 },
  // An ordinary file (the agent's pattern list loaded): the name's first 8 bytes compared, no file facts read, no decision.
  open: { program: 'sys_exit_openat__tp', tracepoint: 'syscalls/sys_exit_openat', check: KernelEnforceCheck.TunableWrite, perRun: 100_000 },
} as const;
type EnforcedCall = keyof typeof ENFORCED_CALLS;

/** loadgen in `cgroupDir` (a container's place in the hierarchy: the kernel looks containers up at their level). */
async function timeEnforced(call: EnforcedCall, cgroupDir: string): Promise<number> {
  const { stdout } = await execFileAsync(
    'sh',
    ['-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', cgroupDir, fixtures.loadgen, 'time-enforced', call, String(ENFORCED_CALLS[call].perRun)],
    { encoding: 'utf8' },
  );
  return Number(stdout);
}

function u64(value: bigint): Buffer {
  const buffer = Buffer.alloc(8);
  buffer.writeBigUInt64LE(value);
  return buffer;
}

async function enforcementCost(): Promise<void> {
  if (!existsSync(DEFAULT_OBJECT_PATH)) throw new Error(`${DEFAULT_OBJECT_PATH} is missing: run \`make bpf\``);
  const calls = Object.keys(ENFORCED_CALLS) as EnforcedCall[];
  const object = loadPrograms(DEFAULT_OBJECT_PATH, calls.map((call) => ENFORCED_CALLS[call].program), sensitivePathPatterns(), {
    host_mnt_ns_inum: u32(statSync('/proc/self/ns/mnt').ino),
  });
  // What the agent writes: the mount check's filesystem types, the host's namespaces (loadgen joins its own uts
  // namespace, the host's), and, for the armed configuration, loadgen's cgroup (the bench's) with every check.
  const proc = Buffer.alloc(32);
  proc.write('proc');
  object.mapUpdate('enforce_fstypes', proc, u32(KernelEnforceCheck.SensitiveMount));
  object.mapUpdate('host_namespaces', u32(statSync('/proc/self/ns/uts').ino), Buffer.of(1));
  const cgroup = createCgroup(`/kubesentry-bench-enforce-${process.pid}`);
  const cgroupKey = u64(cgroup.id);
  const level = u64(1n << BigInt(cgroupLevel(cgroup.relPath)));
  object.mapUpdate('enforce_levels', u32(EnforceLevelsSlot.ArmedByAgent), level);
  // A pending level with no entry for loadgen's cgroup: an exec outside the host's mount namespace in a container
  // that is not armed pays the pending lookup too, the longest path short of arming (once per container).
  object.mapUpdate('enforce_levels', u32(EnforceLevelsSlot.Pending), level);
  const reader = new (nativeAddon().RingBufferReader)(object.mapFd('events'), () => {}, {
    maxBatchBytes: 1 << 20,
    maxQueuedBytes: 64 << 20,
    pollIntervalMs: 50,
  });
  const configurations: Array<{ name: string; mode: number; armed: boolean; attached: boolean }> = [
    { name: 'bare', mode: EnforcementMode.off, armed: false, attached: false },
    { name: 'enforcement off', mode: EnforcementMode.off, armed: false, attached: true },
    { name: 'on, cgroup not armed', mode: EnforcementMode.on, armed: false, attached: true },
    { name: 'dry-run, armed (full decision)', mode: EnforcementMode['dry-run'], armed: true, attached: true },
  ];
  const samples = new Map<string, number[]>();
  // The programs' own run time per call (bpf_stats): free of the syscall's noise on a shared machine.
  const programNs = new Map<string, { runs: bigint; ns: bigint }>();
  const dryRuns = new Map<EnforcedCall, bigint>();
  const dryRunCount = (call: EnforcedCall) =>
    object.perCpuSum('enforce_actions', ENFORCED_CALLS[call].check * ENFORCEMENT_OUTCOMES.length + ENFORCEMENT_OUTCOMES.indexOf('dry-run'));
  const programTotals = () => new Map(object.programStats().map((p) => [p.name, p]));
  try {
    await withProgramStats(async () => {
      for (let round = 0; round < RUNS; round++) {
        for (const configuration of configurations) {
          object.mapUpdate('enforce_mode', u32(0), u32(configuration.mode));
          if (configuration.armed) object.mapUpdate('enforce_cgroups', cgroupKey, u32((1 << KERNEL_ENFORCE_CHECK_MAX) - 1));
          else object.mapDelete('enforce_cgroups', cgroupKey);
          for (const call of calls) {
            const { program, tracepoint } = ENFORCED_CALLS[call];
            // One program at a time: an exec's spawn is also a fork, whose program would count in the exec's time.
            const links: Array<[NativeBpfObject, string, number?]> = configuration.attached
              ? [[object, program, tracepoint === undefined ? undefined : tracepointId(DEFAULT_TRACEFS_PATH, tracepoint)]]
              : [];
            await withRawAttached(links, async () => {
              const key = `${configuration.name}|${call}`;
              const before = programTotals().get(program)!;
              const decisionsBefore = dryRunCount(call);
              samples.set(key, [...(samples.get(key) ?? []), await timeEnforced(call, cgroup.path)]);
              const after = programTotals().get(program)!;
              const total = programNs.get(key) ?? { runs: 0n, ns: 0n };
              programNs.set(key, { runs: total.runs + after.runCount - before.runCount, ns: total.ns + after.runTimeNs - before.runTimeNs });
              if (configuration.armed) dryRuns.set(call, (dryRuns.get(call) ?? 0n) + dryRunCount(call) - decisionsBefore);
            });
          }
        }
      }
    });
  } finally {
    object.mapUpdate('enforce_mode', u32(0), u32(EnforcementMode.off));
    await cgroup.remove();
  }
  reader.close();
  object.close();
  const ns = (configuration: string, call: EnforcedCall) => median(samples.get(`${configuration}|${call}`) ?? [NaN]);
  const format = (value: number) => (value >= 100_000 ? `${(value / 1000).toFixed(0)} µs` : `${value.toFixed(0)} ns`);
  console.log(`enforced calls, per call (median of ${RUNS} interleaved rounds; ${calls.map((call) => `${call} x ${ENFORCED_CALLS[call].perRun.toLocaleString('en')}`).join(', ')}):`);
  console.log('  setns, mount (ENOENT), bpf (EFAULT), unshare (CLONE_NEWUSER, EINVAL); exec = posix_spawn of /bin/true + wait; fork = fork + _exit + wait; open = openat + close of an ordinary file');
  for (const configuration of configurations) {
    console.log(`  ${configuration.name}: ${calls.map((call) => `${call} ${format(ns(configuration.name, call))}`).join('; ')}`);
  }
  const perRun = (configuration: string, call: EnforcedCall) => {
    const t = programNs.get(`${configuration}|${call}`);
    return t && t.runs > 0n ? Number(t.ns) / Number(t.runs) : NaN;
  };
  console.log('  the program itself, per call (bpf_stats run time / run count):');
  for (const configuration of configurations.filter((c) => c.attached)) {
    console.log(`    ${configuration.name}: ${calls.map((call) => `${ENFORCED_CALLS[call].program} ${perRun(configuration.name, call).toFixed(0)} ns`).join('; ')}`);
  }
  for (const call of calls) {
    const programOff = perRun('enforcement off', call);
    for (const [name, configuration] of [['armed', 'dry-run, armed (full decision)'], ['unarmed', 'on, cgroup not armed']] as const) {
      const value = perRun(configuration, call) / programOff;
      console.log(`  ${call} program run time: ${configuration} / enforcement off = ${value.toFixed(3)}`);
      reportResult(`enforcement.${call}.program_${name}_vs_off`, value, 'x');
    }
  }
  for (const call of calls) {
    const off = ns('enforcement off', call);
    const lines: Array<[string, number, string]> = [
      [`enforcement.${call}.armed_vs_off`, ns('dry-run, armed (full decision)', call) / off, `${call}: armed container, full decision (dry-run) / enforcement off`],
      [`enforcement.${call}.unarmed_vs_off`, ns('on, cgroup not armed', call) / off, `${call}: enforcement on, cgroup not armed / enforcement off`],
    ];
    for (const [name, value, what] of lines) {
      console.log(`  ${what} = ${value.toFixed(3)}`);
      reportResult(name, value, 'x');
    }
  }
  // exec, fork and open decide nothing here (an ordinary file, no new user namespace): their checks ran and found nothing.
  console.log(`  dry-run decisions counted by the kernel in the armed rounds: ${calls.map((call) => `${call} ${dryRuns.get(call) ?? 0n}`).join(', ')}`);
}

const GETPPID_CALLS_PER_RUN = 2_000_000;
const COMPAT_PROGRAM = 'sys_enter_compat__raw_tp';
const EMPTY_SYS_ENTER_PROGRAM = 'empty_sys_enter__raw_tp';

async function timeGetppid(): Promise<number> {
  const { stdout } = await execFileAsync(fixtures.loadgen, ['time-getppid', String(GETPPID_CALLS_PER_RUN)], { encoding: 'utf8' });
  return Number(stdout);
}

/**
 * Attaches each program where its SEC() says (raw_tp/sys_enter), or to the given tracepoint, runs `body`, detaches.
 */
async function withRawAttached(programs: ReadonlyArray<[NativeBpfObject, string, number?]>, body: () => Promise<void>): Promise<void> {
  const links: Array<[NativeBpfObject, number]> = [];
  try {
    for (const [object, program, tracepoint] of programs) {
      links.push([object, tracepoint === undefined ? object.attach(program) : object.attachTracepoint(program, tracepoint)]);
    }
    await body();
  } finally {
    for (const [object, link] of links) object.detach(link);
  }
}

async function compatCost(): Promise<void> {
  if (!existsSync(DEFAULT_OBJECT_PATH)) throw new Error(`${DEFAULT_OBJECT_PATH} is missing: run \`make bpf\``);
  const compat = loadPrograms(DEFAULT_OBJECT_PATH, [COMPAT_PROGRAM], [], { host_mnt_ns_inum: u32(statSync('/proc/self/ns/mnt').ino) });
  const empty = new (nativeAddon().BpfObject)(fixtures.emptySysEnterObject);
  empty.load();
  // Any syscall tracepoint in use (the agent has dozens) sends every task's syscalls through the kernel's slow path
  // (SYSCALL_WORK_SYSCALL_TRACEPOINT), whichever syscall it is on: an empty program on sys_enter_openat stands for
  // the agent's, so the last two configurations show what the compat program adds to a node running the agent.
  const openat = new (nativeAddon().BpfObject)(fixtures.emptyOpenatObject);
  openat.load();
  const tracing: [NativeBpfObject, string, number] = [openat, EMPTY_PROGRAM, tracepointId(DEFAULT_TRACEFS_PATH, 'syscalls/sys_enter_openat')];
  const configurations: Array<{ name: string; programs: Array<[NativeBpfObject, string, number?]> }> = [
    { name: 'bare', programs: [] },
    { name: 'empty raw_tp/sys_enter', programs: [[empty, EMPTY_SYS_ENTER_PROGRAM]] },
    { name: 'compat program', programs: [[compat, COMPAT_PROGRAM]] },
    { name: 'agent-like (a sys_enter_openat program)', programs: [tracing] },
    { name: 'agent-like + empty raw_tp/sys_enter', programs: [tracing, [empty, EMPTY_SYS_ENTER_PROGRAM]] },
    { name: 'agent-like + compat program', programs: [tracing, [compat, COMPAT_PROGRAM]] },
  ];
  const samples = new Map<string, number[]>();
  const inProgram = new Map<string, number>();
  // Run-time statistics cost every program run two clock reads; another bench (or agent) may hold them on.
  const statsDuringRounds = readFileSync(BPF_STATS_SYSCTL, 'utf8').trim() !== '0';
  try {
    for (let round = 0; round < RUNS; round++) {
      for (const configuration of configurations) {
        await withRawAttached(configuration.programs, async () => {
          samples.set(configuration.name, [...(samples.get(configuration.name) ?? []), await timeGetppid()]);
        });
      }
    }
    await withProgramStats(async () => {
      for (const configuration of configurations.slice(1, 3)) {
        const [object, program] = configuration.programs[0];
        await withRawAttached(configuration.programs, async () => {
          inProgram.set(configuration.name, await nsPerRun([[object, program, 0]], async () => void (await timeGetppid())));
        });
      }
    });
  } finally {
    compat.close();
    empty.close();
    openat.close();
  }
  const all = (name: string) => samples.get(name) ?? [NaN];
  console.log(`getppid(2) with a raw_tp/sys_enter program, per call (median of ${RUNS} interleaved rounds x ${GETPPID_CALLS_PER_RUN.toLocaleString('en')} calls):`);
  console.log(`  BPF run-time statistics during the timed rounds: ${statsDuringRounds ? 'on (held by someone else: every program run pays two clock reads more)' : 'off'}`);
  for (const { name } of configurations) {
    const inside = inProgram.get(name);
    console.log(`  ${name}: ${median(all(name)).toFixed(1)} ns${inside === undefined ? '' : ` (${inside.toFixed(1)} ns inside the program, kernel run-time stats)`}`);
  }
  const ratio = (a: string, b: string) => median(all(a).map((value, i) => value / all(b)[i]));
  for (const [name, a, b] of [
    ['compat.getppid.program_vs_bare', 'compat program', 'bare'],
    ['compat.getppid.program_vs_empty', 'compat program', 'empty raw_tp/sys_enter'],
    ['compat.getppid.empty_vs_bare', 'empty raw_tp/sys_enter', 'bare'],
    ['compat.getppid.agent_like_program_vs_without', 'agent-like + compat program', 'agent-like (a sys_enter_openat program)'],
    ['compat.getppid.agent_like_program_vs_empty', 'agent-like + compat program', 'agent-like + empty raw_tp/sys_enter'],
    ['compat.getppid.agent_like_vs_bare', 'agent-like (a sys_enter_openat program)', 'bare'],
  ] as const) {
    const value = ratio(a, b);
    console.log(`  ${a} / ${b} = ${value.toFixed(3)} (per-round ratios, median)`);
    reportResult(name, value, 'x');
  }
}

console.log(`kernel bench on ${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown'})`);
const { values: flags } = parseArgs({
  options: {
    'syscall-cost-only': { type: 'boolean' },
    'throughput-only': { type: 'boolean' },
    'enforcement-only': { type: 'boolean' },
    'compat-only': { type: 'boolean' },
    'baseline-object': { type: 'string' },
    // bench/run.ts --baseline CHECKOUT: that checkout's built object
    baseline: { type: 'string' },
  },
});
const baselineObject = flags['baseline-object'] ?? (flags.baseline === undefined ? undefined : path.join(flags.baseline, 'build/kubesentry.bpf.o'));
if (baselineObject !== undefined && !existsSync(baselineObject)) throw new Error(`--baseline-object ${baselineObject}: no such file`);
const only = flags['syscall-cost-only'] || flags['throughput-only'] || flags['enforcement-only'] || flags['compat-only'];
if (!only || flags['throughput-only']) {
  await throughput(1);
  await throughput(2);
}
if (!only || flags['syscall-cost-only']) await syscallCost(baselineObject);
if (!only || flags['enforcement-only']) await enforcementCost();
if (!only || flags['compat-only']) await compatCost();
