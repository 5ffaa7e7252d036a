// Kernel → JS throughput and per-syscall cost of the kernel programs. Reports numbers and ratios against the
// goals; never fails on a number (it fails only when it cannot measure). Needs root.
// Run: node bench/kernel.ts [--throughput-only | --syscall-cost-only | --enforcement-only]   (the syscall-cost and
// enforcement parts load build/kubesentry.bpf.o, which is slow)
//
// 1. Throughput: generator processes make events as fast as one syscall each (getppid, reported by the test
//    fixture object as a 72-byte record), the source drains them and src/receiver/decoder.ts decodes every one.
//    Reported: records/s delivered to JS, and whether any were lost (kernel drops, or fewer received than made).
// 2. Per-syscall cost of openat(2) on ordinary, relative, candidate and sensitive paths: bare, with an empty program
//    on sys_enter_openat (today's baseline) and on sys_enter + sys_exit_openat (the resolved filter's), with today's
//    filter (sys_enter_openat__tp alone) and with the resolved-path filter (sys_enter_openat__tp + sys_exit_openat__tp
//    of build/kubesentry.bpf.o, with the agent's pattern list). Each figure is the median of interleaved rounds of
//    native/test/loadgen.c's time-open.
// 3. Per-syscall cost of the enforcement check (bpf/lib/enforce.h) on setns, mount and bpf(BPF_PROG_LOAD): the
//    agent's programs for them with enforcement off, on for a container that is not armed (every host process), and
//    in dry-run for an armed container whose rules kill (the whole decision, without the signal, which would end
//    the loop), against the same programs with enforcement off. loadgen's time-enforced runs the calls from a new
//    mount namespace and a cgroup of its own, as a container's process would.

import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cpus } from 'node:os';
import { sensitivePathPatterns } from '../src/detectors/paths.ts';
import { createDecoderStats, decodeBatch } from '../src/receiver/decoder.ts';
import { EventType, type KernelEvent } from '../src/receiver/events.ts';
import { compilePathPatterns, DEFAULT_OBJECT_PATH, openKernelSource, writePathPatterns } from '../src/receiver/kernel.ts';
import { nativeAddon, type NativeBpfObject } from '../src/receiver/nativeAddon.ts';
import { DEFAULT_TRACEFS_PATH, tracepointId } from '../src/receiver/probe.ts';
import { kernelFixtures } from '../test/helpers/kernelFixtures.ts';
import { createCgroup } from '../test/helpers/cgroup.ts';
import { ENFORCEMENT_OUTCOMES, EnforcementMode, KERNEL_ENFORCE_CHECK_MAX, KernelEnforceCheck } from '../src/receiver/enforcement.ts';
import { cgroupLevel } from '../src/enforcement/ContainerEnforcement.ts';
import { reportResult } from './result.ts';

const THROUGHPUT_GOAL = 1_000_000;
const FILTERED_VS_EMPTY_GOAL = 1.1;
const EMITTING_VS_BARE_GOAL = 1.35;
const EVENTS_PER_GENERATOR = 2_000_000;
const OPENS_PER_RUN = 200_000;
const RUNS = 5;
const OPENAT_PROGRAM = 'sys_enter_openat__tp';
const OPENAT_EXIT_PROGRAM = 'sys_exit_openat__tp';
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
  const { stdout } = await execFileAsync(fixtures.loadgen, ['time-open', open.path, String(OPENS_PER_RUN)], {
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
  writePathPatterns(object, compilePathPatterns(patterns));
  return object;
}

interface OpenCase {
  label: string;
  path: string;
  cwd?: string;
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

async function syscallCost(): Promise<void> {
  if (!existsSync(DEFAULT_OBJECT_PATH)) throw new Error(`${DEFAULT_OBJECT_PATH} is missing: run \`make bpf\``);
  const scratch = mkdtempSync(`${BENCH_PATH_PREFIX}-dir-`);
  // The bench's sensitive file: its name is the leaf of the `-match*` pattern, so the exit rebuilds its path and
  // the record is emitted (the entry also matches the absolute string). A file named `mem` is a leaf of
  // /proc/*/mem: its path is rebuilt and then matches nothing, the gate's false positive.
  const sensitive = `${BENCH_PATH_PREFIX}-match`;
  writeFileSync(sensitive, '');
  writeFileSync(`${scratch}/mem`, '');
  const cases = {
    // the common case: an ordinary path no pattern's head or leaf shares
    ordinary: { label: 'ordinary /usr/lib/os-release', path: '/usr/lib/os-release' },
    relative: { label: 'relative os-release (cwd /usr/lib)', path: 'os-release', cwd: '/usr/lib' },
    // shares a long prefix with the `-match*` pattern: the entry's full match, then a failed open (ENOENT)
    candidate: { label: 'candidate (prefix shared, ENOENT)', path: `${BENCH_PATH_PREFIX}-unmatched` },
    leafHit: { label: 'leaf gate hit, no match (a file named mem)', path: `${scratch}/mem` },
    sensitive: { label: 'sensitive, absolute (emitted)', path: sensitive },
    sensitiveRelative: { label: 'sensitive, relative (emitted at exit only)', path: path.basename(sensitive), cwd: path.dirname(sensitive) },
  } satisfies Record<string, OpenCase>;
  // The agent's real pattern list (every rule's), plus one the bench's own opens match.
  const patterns = [...sensitivePathPatterns().slice(0, 63), `${BENCH_PATH_PREFIX}-match*`];
  const empty = loadPrograms(fixtures.emptyOpenatObject, [OPENAT_PROGRAM], []);
  const secondEmpty = loadPrograms(fixtures.emptyOpenatObject, [OPENAT_PROGRAM], []);
  const filtering = loadPrograms(DEFAULT_OBJECT_PATH, [OPENAT_PROGRAM, OPENAT_EXIT_PROGRAM, HOSTFS_OPENAT_PROGRAM], patterns, {
    // The bench opens from the host's mount namespace, as most of a node's opens are: the host-filesystem check's
    // cheap path. Its cost for a container's opens (~240 ns, a record ~1.3 µs) is in bpf/README.md.
    host_mnt_ns_inum: u32(statSync('/proc/self/ns/mnt').ino),
  });
  const reader = new (nativeAddon().RingBufferReader)(filtering.mapFd('events'), () => {}, {
    maxBatchBytes: 1 << 20,
    maxQueuedBytes: 64 << 20,
    pollIntervalMs: 50,
  });
  const enter = tracepointId(DEFAULT_TRACEFS_PATH, 'syscalls/sys_enter_openat');
  const exit = tracepointId(DEFAULT_TRACEFS_PATH, 'syscalls/sys_exit_openat');
  type CaseName = keyof typeof cases;
  // Configurations: nothing; the empty program on entry (today's baseline) and on entry + exit (the new filter's);
  // today's filter (the entry program alone, which is what main ran); the resolved-path filter (entry + exit).
  const configurations: Array<{ name: string; links: Link[]; cases: CaseName[] }> = [
    { name: 'bare', links: [], cases: ['ordinary', 'relative', 'candidate', 'sensitive'] },
    { name: 'empty on entry', links: [[empty, OPENAT_PROGRAM, enter]], cases: ['ordinary', 'candidate'] },
    { name: 'empty on entry + exit', links: [[empty, OPENAT_PROGRAM, enter], [empty, OPENAT_PROGRAM, exit]], cases: ['ordinary', 'relative', 'candidate', 'leafHit'] },
    { name: 'empty on entry + 2 x exit', links: [[empty, OPENAT_PROGRAM, enter], [empty, OPENAT_PROGRAM, exit], [secondEmpty, OPENAT_PROGRAM, exit]], cases: ['ordinary', 'relative'] },
    { name: "today's filter (entry only)", links: [[filtering, OPENAT_PROGRAM, enter]], cases: ['ordinary', 'candidate'] },
    {
      name: 'resolved-path filter (entry + exit)',
      links: [[filtering, OPENAT_PROGRAM, enter], [filtering, OPENAT_EXIT_PROGRAM, exit]],
      cases: ['ordinary', 'relative', 'candidate', 'leafHit', 'sensitive', 'sensitiveRelative'],
    },
    {
      name: "the agent's openat programs (entry + resolved exit + host-fs exit)",
      links: [[filtering, OPENAT_PROGRAM, enter], [filtering, OPENAT_EXIT_PROGRAM, exit], [filtering, HOSTFS_OPENAT_PROGRAM, exit]],
      cases: ['ordinary', 'relative', 'sensitive'],
    },
  ];
  const samples = new Map<string, number[]>();
  const key = (configuration: string, name: CaseName) => `${configuration}|${name}`;
  try {
    // Rounds interleave the configurations so drift in machine load hits them alike.
    for (let round = 0; round < RUNS; round++) {
      for (const configuration of configurations) {
        const measure = async () => {
          for (const name of configuration.cases) {
            const ns = await timeOpen(cases[name]);
            samples.set(key(configuration.name, name), [...(samples.get(key(configuration.name, name)) ?? []), ns]);
          }
        };
        await withAttached(configuration.links, measure);
      }
    }
  } finally {
    rmSync(sensitive, { force: true });
    rmSync(scratch, { recursive: true, force: true });
  }
  const dropped = filtering.perCpuSum('drops', EventType.Open);
  reader.close();
  empty.close();
  secondEmpty.close();
  filtering.close();
  const ns = (configuration: string, name: CaseName): number => median(samples.get(key(configuration, name)) ?? [NaN]);
  console.log(`openat+close per call (median of ${RUNS} interleaved rounds x ${OPENS_PER_RUN.toLocaleString('en')} calls), ${patterns.length} patterns:`);
  for (const configuration of configurations) {
    console.log(`  ${configuration.name}: ${configuration.cases.map((name) => `${cases[name].label} ${ns(configuration.name, name).toFixed(0)} ns`).join('; ')}`);
  }
  const ratio = (a: number, b: number) => a / b;
  const today = "today's filter (entry only)";
  const resolved = 'resolved-path filter (entry + exit)';
  const emptyEnter = 'empty on entry';
  const emptyBoth = 'empty on entry + exit';
  const agent = "the agent's openat programs (entry + resolved exit + host-fs exit)";
  const emptyAgent = 'empty on entry + 2 x exit';
  const lines: Array<[string, number, string, { op: '<=' | '>='; value: number } | undefined]> = [
    ['openat.today.filtered_vs_empty', ratio(ns(today, 'ordinary'), ns(emptyEnter, 'ordinary')), "today's filter, ordinary path / empty on entry", { op: '<=', value: FILTERED_VS_EMPTY_GOAL }],
    ['openat.today.candidate_vs_empty', ratio(ns(today, 'candidate'), ns(emptyEnter, 'candidate')), "today's filter, candidate path / empty on entry", undefined],
    ['openat.filtered_vs_empty', ratio(ns(resolved, 'ordinary'), ns(emptyBoth, 'ordinary')), 'resolved filter, ordinary path / empty on entry + exit', { op: '<=', value: FILTERED_VS_EMPTY_GOAL }],
    ['openat.relative_filtered_vs_empty', ratio(ns(resolved, 'relative'), ns(emptyBoth, 'relative')), 'resolved filter, relative path / empty on entry + exit', { op: '<=', value: FILTERED_VS_EMPTY_GOAL }],
    ['openat.candidate_filtered_vs_empty', ratio(ns(resolved, 'candidate'), ns(emptyBoth, 'candidate')), 'resolved filter, candidate path / empty on entry + exit', undefined],
    ['openat.leaf_hit_vs_empty', ratio(ns(resolved, 'leafHit'), ns(emptyBoth, 'leafHit')), 'resolved filter, leaf hit without match / empty on entry + exit', undefined],
    ['openat.filtered_vs_empty_entry', ratio(ns(resolved, 'ordinary'), ns(emptyEnter, 'ordinary')), 'resolved filter, ordinary path / empty on entry only (the exit hook counted as cost)', undefined],
    ['openat.ordinary_vs_bare', ratio(ns(resolved, 'ordinary'), ns('bare', 'ordinary')), 'resolved filter, ordinary path / bare', undefined],
    ['openat.relative_vs_bare', ratio(ns(resolved, 'relative'), ns('bare', 'relative')), 'resolved filter, relative path / bare', undefined],
    ['openat.agent.filtered_vs_empty', ratio(ns(agent, 'ordinary'), ns(emptyAgent, 'ordinary')), "all the agent's openat programs, ordinary path / as many empty programs", { op: '<=', value: FILTERED_VS_EMPTY_GOAL }],
    ['openat.agent.relative_filtered_vs_empty', ratio(ns(agent, 'relative'), ns(emptyAgent, 'relative')), "all the agent's openat programs, relative path / as many empty programs", { op: '<=', value: FILTERED_VS_EMPTY_GOAL }],
    ['openat.agent.emitting_vs_bare', ratio(ns(agent, 'sensitive'), ns('bare', 'sensitive')), "all the agent's openat programs, sensitive absolute (emitted) / bare", { op: '<=', value: EMITTING_VS_BARE_GOAL }],
    ['openat.emitting_vs_bare', ratio(ns(resolved, 'sensitive'), ns('bare', 'sensitive')), 'resolved filter, sensitive absolute (emitted) / bare', { op: '<=', value: EMITTING_VS_BARE_GOAL }],
    ['openat.relative_emitting_vs_bare', ratio(ns(resolved, 'sensitiveRelative'), ns('bare', 'sensitive')), 'resolved filter, sensitive relative (emitted) / bare absolute', { op: '<=', value: EMITTING_VS_BARE_GOAL }],
  ];
  for (const [name, value, what, goal] of lines) {
    console.log(`  ${what} = ${value.toFixed(3)}${goal ? ` (goal ${goal.op} ${goal.value})` : ''}`);
    reportResult(name, value, 'x', goal);
  }
  console.log(`  ${dropped} open records dropped`);
}

const ENFORCED_CALLS_PER_RUN = 100_000;
const BPF_STATS_SYSCTL = '/proc/sys/kernel/bpf_stats_enabled';
const ENFORCED_PROGRAMS = { setns: 'sys_enter_setns__tp', mount: 'sys_enter_mount__tp', bpf: 'sys_enter_bpf__tp' } as const;
type EnforcedCall = keyof typeof ENFORCED_PROGRAMS;

/** loadgen in `cgroupDir` (a container's place in the hierarchy: the kernel looks containers up at their level). */
async function timeEnforced(call: EnforcedCall, cgroupDir: string): Promise<number> {
  const { stdout } = await execFileAsync(
    'sh',
    ['-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', cgroupDir, fixtures.loadgen, 'time-enforced', call, String(ENFORCED_CALLS_PER_RUN)],
    { encoding: 'utf8' },
  );
  return Number(stdout);
}

async function enforcementCost(): Promise<void> {
  if (!existsSync(DEFAULT_OBJECT_PATH)) throw new Error(`${DEFAULT_OBJECT_PATH} is missing: run \`make bpf\``);
  const calls = Object.keys(ENFORCED_PROGRAMS) as EnforcedCall[];
  const object = loadPrograms(DEFAULT_OBJECT_PATH, Object.values(ENFORCED_PROGRAMS), [], {
    host_mnt_ns_inum: u32(statSync('/proc/self/ns/mnt').ino),
  });
  // What the agent writes: the mount check's filesystem types, the host's namespaces (loadgen joins its own uts
  // namespace, the host's), and, for the armed configuration, loadgen's cgroup (the bench's) with every check.
  const proc = Buffer.alloc(32);
  proc.write('proc');
  object.mapUpdate('enforce_fstypes', proc, u32(KernelEnforceCheck.SensitiveMount));
  object.mapUpdate('host_namespaces', u32(statSync('/proc/self/ns/uts').ino), Buffer.of(1));
  const cgroup = createCgroup(`/kubesentry-bench-enforce-${process.pid}`);
  const cgroupKey = Buffer.alloc(8);
  cgroupKey.writeBigUInt64LE(cgroup.id);
  const levels = Buffer.alloc(8);
  levels.writeBigUInt64LE(1n << BigInt(cgroupLevel(cgroup.relPath)));
  object.mapUpdate('enforce_levels', u32(0), levels);
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
  // The programs' own run time per call (kernel.bpf_stats_enabled): free of the syscall's noise on a shared machine.
  const programNs = new Map<string, { runs: bigint; ns: bigint }>();
  const statsWereOn = readFileSync(BPF_STATS_SYSCTL, 'utf8').trim() !== '0';
  if (!statsWereOn) writeFileSync(BPF_STATS_SYSCTL, '1');
  const programTotals = () => new Map(object.programStats().map((p) => [p.name, p]));
  try {
    for (let round = 0; round < RUNS; round++) {
      for (const configuration of configurations) {
        object.mapUpdate('enforce_mode', u32(0), u32(configuration.mode));
        if (configuration.armed) object.mapUpdate('enforce_cgroups', cgroupKey, u32((1 << KERNEL_ENFORCE_CHECK_MAX) - 1));
        else object.mapDelete('enforce_cgroups', cgroupKey);
        const links: Link[] = configuration.attached
          ? calls.map((call) => [object, ENFORCED_PROGRAMS[call], tracepointId(DEFAULT_TRACEFS_PATH, `syscalls/${ENFORCED_PROGRAMS[call].replace('__tp', '')}`)])
          : [];
        await withAttached(links, async () => {
          for (const call of calls) {
            const key = `${configuration.name}|${call}`;
            const before = programTotals().get(ENFORCED_PROGRAMS[call])!;
            samples.set(key, [...(samples.get(key) ?? []), await timeEnforced(call, cgroup.path)]);
            const after = programTotals().get(ENFORCED_PROGRAMS[call])!;
            const total = programNs.get(key) ?? { runs: 0n, ns: 0n };
            programNs.set(key, { runs: total.runs + after.runCount - before.runCount, ns: total.ns + after.runTimeNs - before.runTimeNs });
          }
        });
      }
    }
  } finally {
    object.mapUpdate('enforce_mode', u32(0), u32(EnforcementMode.off));
    if (!statsWereOn) writeFileSync(BPF_STATS_SYSCTL, '0');
    await cgroup.remove();
  }
  const dryRuns = calls.map((_, i) => object.perCpuSum('enforce_actions', [KernelEnforceCheck.SetnsHost, KernelEnforceCheck.SensitiveMount, KernelEnforceCheck.BpfProgLoad][i] * ENFORCEMENT_OUTCOMES.length + ENFORCEMENT_OUTCOMES.indexOf('dry-run')));
  reader.close();
  object.close();
  const ns = (configuration: string, call: EnforcedCall) => median(samples.get(`${configuration}|${call}`) ?? [NaN]);
  console.log(`enforced syscalls, per call (median of ${RUNS} interleaved rounds x ${ENFORCED_CALLS_PER_RUN.toLocaleString('en')} calls):`);
  for (const configuration of configurations) {
    console.log(`  ${configuration.name}: ${calls.map((call) => `${call} ${ns(configuration.name, call).toFixed(0)} ns`).join('; ')}`);
  }
  const perRun = (configuration: string, call: EnforcedCall) => {
    const t = programNs.get(`${configuration}|${call}`);
    return t && t.runs > 0n ? Number(t.ns) / Number(t.runs) : NaN;
  };
  console.log('  the program itself, per call (bpf_stats run time / run count):');
  for (const configuration of configurations.filter((c) => c.attached)) {
    console.log(`    ${configuration.name}: ${calls.map((call) => `${ENFORCED_PROGRAMS[call]} ${perRun(configuration.name, call).toFixed(0)} ns`).join('; ')}`);
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
  console.log(`  dry-run decisions counted by the kernel: ${calls.map((call, i) => `${call} ${dryRuns[i]}`).join(', ')}`);
}

console.log(`kernel bench on ${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown'})`);
const only = process.argv[2];
if (only === undefined || only === '--throughput-only') {
  await throughput(1);
  await throughput(2);
}
if (only === undefined || only === '--syscall-cost-only') await syscallCost();
if (only === undefined || only === '--enforcement-only') await enforcementCost();
