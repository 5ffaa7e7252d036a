// The real agent end to end: kernel → agent → OTLP → a real OpenTelemetry Collector. Reports (never fails on a
// number) issue 4's acceptance figures. Needs root, build/kubesentry.bpf.o (`make`) and the Collector
// (scripts/build-otelcol.sh). Run: node bench/agent.ts [--quick]
//
// Load comes from bench/agent-load.c running as the first process of a cgroup laid out the way kubelet's systemd
// driver + containerd lay out a pod container, so the agent sees it as a container: read-only opens of a path the
// kernel filter reports (one decoded event each, no detection) and children that each call
// unshare(CLONE_NEWUSER) (one KS-ESC-001 detection each).
//
// Phases, in one run (bench/README.md has the long form):
// 1. Baselines: the generator alone with no agent (its own CPU, from its cgroup's cpu.stat), then the agent idle.
// 2. Latency at 100 detections/s: the LogRecord's timeUnixNano is the kernel event time (boot clock converted to
//    wall clock by the agent); the receive time is when this process sees the line the Collector's file exporter
//    wrote (inotify on its directory), so the figure includes up to FLUSH_INTERVAL_MS of exporter buffering. Split
//    at the agent's observedTimeUnixNano. Every detection made must arrive. Also the agent's CPU for detections alone.
// 3. Footprint: agent VmRSS/VmHWM and CPU (utime+stime of all threads, % of one core) under ~10,000 events/s
//    alone, then with 100 detections/s on top; events/s as the agent counted them (its Prometheus endpoint).
// 4. The highest detections/s exported with zero loss while keeping pace: rising steps until one loses detections,
//    falls behind by more than KEEP_PACE_MS, or the node cannot make the rate.

import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { kubepodsSystemdPath, runInCgroup } from '../test/helpers/cgroup.ts';
import { spawnBackground, type BackgroundProcess } from '../test/helpers/run.ts';
import { freeLoopbackPort, runCollectorWithConfig } from '../test/otelcol/collector.ts';
import { reportResult } from './result.ts';

const REPO = fileURLToPath(new URL('../', import.meta.url));
const AGENT_BIN = path.join(REPO, 'bin/kubesentry.js');
const USER_NAMESPACE_RULE = 'KS-ESC-001';
/** In the kernel filter's list (KS-ESC-001's id-map pattern); a read-only open of it raises nothing. */
const OPEN_PATH = '/proc/self/uid_map';
const FLUSH_INTERVAL_MS = 5;
/** The agent's counter update period (its status tick; the default). */
const STATUS_INTERVAL_MS = 2000;
const EVENTS_COUNTER = 'kubesentry_events_received_total';
const LATENCY_GOAL_MS = 100;
const RSS_GOAL_MB = 150;
const CPU_GOAL_PERCENT = 5;
const EVENTS_PER_SECOND = 10_000;
const DETECTIONS_PER_SECOND = 100;
/** After the generator ends, how long detections may take to reach the Collector before they count as lost. */
const DELIVERY_DEADLINE_MS = 30_000;

const USAGE =
  'usage: node bench/agent.ts [--quick] [--baseline CHECKOUT [--rounds N] [--ab-only]] [--cpu-profile FILE] [-- agent flags]';

/**
 * --quick; --baseline: a built checkout of another commit (npm ci && make in it) whose agent is measured against
 * this one, alternately, in the same run; agent flags after `--` (e.g. `-- --kernel.poll-interval-ms 100`) to
 * measure a setting's trade-off.
 */
function parseCommandLine(): {
  quick: boolean;
  baseline?: string;
  rounds: number;
  abOnly: boolean;
  cpuProfile?: string;
  agentArgs: string[];
} {
  const separator = process.argv.indexOf('--');
  const own = separator < 0 ? process.argv.slice(2) : process.argv.slice(2, separator);
  try {
    const { values } = parseArgs({
      args: own,
      options: {
        quick: { type: 'boolean', default: false },
        baseline: { type: 'string' },
        rounds: { type: 'string', default: '3' },
        'ab-only': { type: 'boolean', default: false },
        'cpu-profile': { type: 'string' },
      },
    });
    const rounds = Number(values.rounds);
    if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds must be a positive integer, got ${values.rounds}`);
    const baseline = values.baseline === undefined ? undefined : path.resolve(values.baseline);
    if (baseline !== undefined && !fs.existsSync(path.join(baseline, 'bin/kubesentry.js'))) {
      throw new Error(`--baseline ${baseline} is not a kubesentry checkout (no bin/kubesentry.js)`);
    }
    if (baseline !== undefined && !fs.existsSync(path.join(baseline, 'build/kubesentry.bpf.o'))) {
      throw new Error(`--baseline ${baseline} is not built (run npm ci && make in it)`);
    }
    if (values['ab-only'] && baseline === undefined) throw new Error('--ab-only needs --baseline');
    const cpuProfile = values['cpu-profile'] === undefined ? undefined : path.resolve(values['cpu-profile']);
    return {
      quick: values.quick!,
      baseline,
      rounds,
      abOnly: values['ab-only']!,
      cpuProfile,
      agentArgs: separator < 0 ? [] : process.argv.slice(separator + 1),
    };
  } catch (error) {
    console.error(`bench/agent.ts: ${(error as Error).message} (${USAGE})`);
    process.exit(2);
  }
}

const { quick, baseline, rounds, abOnly, cpuProfile, agentArgs } = parseCommandLine();
const LATENCY_SECONDS = quick ? 8 : 20;
const FOOTPRINT_SECONDS = quick ? 10 : 30;
const IDLE_SECONDS = quick ? 5 : 10;
/** Isolated detections, one a second: what urgent wakeups buy when detections are rare (the usual case). */
const ISOLATED_SECONDS = quick ? 5 : 15;
const RAMP_STEP_SECONDS = quick ? 3 : 5;
const RAMP_RATES = quick ? [200, 400, 800, 1600, 3200] : [200, 300, 400, 600, 800, 1200, 1600, 2400, 3200, 4800];
/** A ramp step keeps pace when every detection reaches the Collector within this of its kernel event. */
const KEEP_PACE_MS = 2000;

if (process.getuid?.() !== 0) {
  console.error('bench/agent.ts needs root (kernel programs, cgroups)');
  process.exit(1);
}

const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }));

function loadAverage(): string {
  return os.loadavg().map((l) => l.toFixed(2)).join(' ');
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function nowWallNs(): bigint {
  return BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));
}

/** Other kubesentry agents on this node: their kernel programs also run on the generator's syscalls. */
function otherAgents(exceptPid?: number): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === exceptPid) continue;
    try {
      const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (argv.some((a) => a.endsWith('kubesentry.js')) && argv.includes('run')) pids.push(pid);
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

/** Loaded programs that run on syscalls and scheduler events (anyone's, ours included), or undefined without bpftool. */
function tracingPrograms(): number | undefined {
  try {
    const programs = JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'show'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })) as { type: string }[];
    return programs.filter((p) => ['tracepoint', 'raw_tracepoint', 'tracing'].includes(p.type)).length;
  } catch {
    return undefined;
  }
}

function describeOtherAgents(exceptPid?: number): string {
  const others = otherAgents(exceptPid);
  const programs = tracingPrograms();
  return (others.length === 0 ? 'no other kubesentry agent running' : `${others.length} other kubesentry agent(s) running (pids ${others.join(', ')})`) +
    (programs === undefined ? '' : `, ${programs} tracing BPF programs loaded on the node`);
}

function buildGenerator(): string {
  const source = path.join(REPO, 'bench/agent-load.c');
  const output = path.join(REPO, 'build/bench/agent-load');
  if (!fs.existsSync(output) || fs.statSync(output).mtimeMs < fs.statSync(source).mtimeMs) {
    fs.mkdirSync(path.dirname(output), { recursive: true });
    execFileSync('cc', ['-O2', '-Wall', '-Werror', '-o', `${output}.tmp`, source], { stdio: ['ignore', 'inherit', 'inherit'] });
    fs.renameSync(`${output}.tmp`, output);
  }
  return output;
}

// ---- the Collector and what it received ----

interface Received {
  ruleId: string;
  eventNs: bigint;
  /** The agent's observedTimeUnixNano: when it built the record (millisecond resolution). */
  observedNs: bigint;
  receivedNs: bigint;
}

/** Follows the file exporter's output and files every LogRecord under its container id, stamped on arrival. */
class CollectorOutput {
  readonly #file: string;
  readonly #byContainer = new Map<string, Received[]>();
  readonly #watcher: fs.FSWatcher;
  readonly #fallbackPoll: NodeJS.Timeout;
  #offset = 0;
  #partial = '';

  constructor(dir: string, file: string) {
    this.#file = file;
    this.#watcher = fs.watch(dir, () => this.poll());
    // inotify is the clock; the slow poll only guards against a missed notification.
    this.#fallbackPoll = setInterval(() => this.poll(), 200);
  }

  poll(): void {
    let fd: number;
    try {
      fd = fs.openSync(this.#file, 'r');
    } catch {
      return; // not created yet
    }
    try {
      const size = fs.fstatSync(fd).size;
      if (size <= this.#offset) return;
      const receivedNs = nowWallNs();
      const buf = Buffer.alloc(size - this.#offset);
      const n = fs.readSync(fd, buf, 0, buf.length, this.#offset);
      this.#offset += n;
      const lines = (this.#partial + buf.subarray(0, n).toString('utf8')).split('\n');
      this.#partial = lines.pop()!;
      for (const line of lines) if (line.trim() !== '') this.#add(JSON.parse(line), receivedNs);
    } finally {
      fs.closeSync(fd);
    }
  }

  #add(request: any, receivedNs: bigint): void {
    for (const rl of request.resourceLogs ?? []) {
      for (const sl of rl.scopeLogs ?? []) {
        for (const lr of sl.logRecords ?? []) {
          const attrs = new Map<string, string>();
          for (const kv of lr.attributes ?? []) if (kv.value?.stringValue !== undefined) attrs.set(kv.key, kv.value.stringValue);
          const containerId = attrs.get('container.id');
          const ruleId = attrs.get('kubesentry.rule.id');
          if (containerId === undefined || ruleId === undefined) continue;
          let list = this.#byContainer.get(containerId);
          if (!list) this.#byContainer.set(containerId, (list = []));
          list.push({ ruleId, eventNs: BigInt(lr.timeUnixNano), observedNs: BigInt(lr.observedTimeUnixNano), receivedNs });
        }
      }
    }
  }

  detections(containerId: string, ruleId = USER_NAMESPACE_RULE): Received[] {
    return (this.#byContainer.get(containerId) ?? []).filter((r) => r.ruleId === ruleId);
  }

  close(): void {
    this.#watcher.close();
    clearInterval(this.#fallbackPoll);
  }
}

async function startCollector(): Promise<{ endpoint: string; output: CollectorOutput; stop(): Promise<void> }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubesentry-bench-otelcol-'));
  const port = await freeLoopbackPort();
  const logsFile = path.join(dir, 'logs.jsonl');
  const configFile = path.join(dir, 'config.yaml');
  fs.writeFileSync(
    configFile,
    stringify({
      receivers: { otlp: { protocols: { grpc: { endpoint: `127.0.0.1:${port}` } } } },
      exporters: {
        // Logs alone in their file, flushed often: the arrival of their lines is the receive clock.
        'file/logs': { path: logsFile, format: 'json', flush_interval: `${FLUSH_INTERVAL_MS}ms` },
        'file/other': { path: path.join(dir, 'other.jsonl'), format: 'json', flush_interval: '1s' },
      },
      service: {
        telemetry: { metrics: { level: 'none' }, logs: { level: 'warn' } },
        pipelines: {
          logs: { receivers: ['otlp'], exporters: ['file/logs'] },
          traces: { receivers: ['otlp'], exporters: ['file/other'] },
          metrics: { receivers: ['otlp'], exporters: ['file/other'] },
        },
      },
    }),
  );
  const output = new CollectorOutput(dir, logsFile);
  const collector = await runCollectorWithConfig(configFile, {}, port);
  return {
    endpoint: `http://127.0.0.1:${port}`,
    output,
    async stop() {
      output.close();
      await collector.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---- the agent ----

interface Agent {
  readonly process: BackgroundProcess;
  readonly pid: number;
  /** Sum of every sample of each metric on the agent's Prometheus endpoint. */
  scrape(): Promise<Map<string, number>>;
  /**
   * The agent moves its event counters once per status tick; this resolves with the first scrape after the
   * counters moved, so everything the agent had decoded when it was called is counted.
   */
  nextCounterUpdate(): Promise<Map<string, number>>;
  stop(): Promise<void>;
}

async function startAgent(otlpEndpoint: string, agentBin = AGENT_BIN, nodeArgs: readonly string[] = []): Promise<Agent> {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubesentry-bench-agent-'));
  const metricsPort = await freeLoopbackPort();
  const proc = spawnBackground(process.execPath, [
    ...nodeArgs,
    agentBin, 'run',
    '--console.enabled', 'false',
    '--otlp.endpoint', otlpEndpoint,
    '--state-dir', stateDir,
    '--kubernetes.enabled', 'off',
    '--prometheus.listen', `127.0.0.1:${metricsPort}`,
    '--console.status-interval-ms', String(STATUS_INTERVAL_MS),
    ...agentArgs,
  ]);
  const exitedEarly = proc.exited.then((s) => {
    throw new Error(`agent exited (${s.code ?? s.signal}) before it ran:\n${proc.lines.slice(-20).join('\n')}`);
  });
  exitedEarly.catch(() => {});
  // Loading and verifying every kernel program takes seconds, more on a loaded 2-core machine.
  await Promise.race([proc.waitForLine(/kubesentry running/, 180_000), exitedEarly]);
  const scrape = async (): Promise<Map<string, number>> => {
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const sums = new Map<string, number>();
    for (const line of text.split('\n')) {
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{[^}]*\})? (\S+)/.exec(line);
      if (m) sums.set(m[1], (sums.get(m[1]) ?? 0) + Number(m[2]));
    }
    return sums;
  };
  return {
    process: proc,
    pid: proc.pid,
    scrape,
    async nextCounterUpdate() {
      const deadline = performance.now() + STATUS_INTERVAL_MS * 5;
      const now = await scrape();
      for (;;) {
        await new Promise((r) => setTimeout(r, 100));
        const next = await scrape();
        if (next.get(EVENTS_COUNTER) !== now.get(EVENTS_COUNTER) || performance.now() > deadline) return next;
      }
    },
    async stop() {
      await proc.kill('SIGTERM', 15_000);
      fs.rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

/** utime + stime of every thread of the process, in seconds. */
function cpuSeconds(pid: number): number {
  return cpuSecondsOfStat(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
}

/** utime + stime from a /proc stat line (a process's or one thread's), in seconds. */
function cpuSecondsOfStat(stat: string): number {
  // Fields after the parenthesised comm (which may contain spaces): state is field 3, utime 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

interface ThreadUse {
  cpuSeconds: number;
  /** Voluntary context switches: each is a sleep and a wakeup, a fixed cost that dominates at low rates. */
  wakeups: number;
}

/**
 * CPU and wakeups per kind of thread: the JS thread (the process's own tid), the ring-buffer reader, V8's
 * platform workers (compilers, GC helpers) and whatever else (libuv pool). Where the agent's CPU goes.
 */
function threadUse(pid: number): Map<string, ThreadUse> {
  const use = new Map<string, ThreadUse>();
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    let stat: string;
    let status: string;
    try {
      stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      status = fs.readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
    } catch {
      continue; // the thread ended meanwhile
    }
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const kind = Number(tid) === pid ? 'JS thread' : comm === 'ks-ring-reader' ? 'ring reader' : comm === 'V8Worker' ? 'V8 workers' : 'other';
    const sum = use.get(kind) ?? { cpuSeconds: 0, wakeups: 0 };
    sum.cpuSeconds += cpuSecondsOfStat(stat);
    sum.wakeups += Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1] ?? 0);
    use.set(kind, sum);
  }
  return use;
}

function describeThreadUse(before: Map<string, ThreadUse>, after: Map<string, ThreadUse>, seconds: number): string {
  const parts: string[] = [];
  for (const [kind, end] of after) {
    const start = before.get(kind) ?? { cpuSeconds: 0, wakeups: 0 };
    const cpu = ((end.cpuSeconds - start.cpuSeconds) / seconds) * 100;
    const wakeups = (end.wakeups - start.wakeups) / seconds;
    if (cpu > 0 || wakeups > 0) parts.push(`${kind} ${cpu.toFixed(1)}% (${Math.round(wakeups)} wakeups/s)`);
  }
  return parts.join(', ');
}

function memoryMb(pid: number): { rss: number; hwm: number; anon: number; file: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
  return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024, anon: kb('RssAnon') / 1024, file: kb('RssFile') / 1024 };
}

interface Footprint {
  cpuPercent: number;
  rssMaxMb: number;
  rssEndMb: number;
  hwmMb: number;
  /** At the end: anonymous memory (heaps, native allocations) and mapped files (node binary, libraries). */
  anonEndMb: number;
  fileEndMb: number;
  /** CPU and wakeups per kind of thread over the window. */
  threads: string;
}

/** Samples the process's memory every 250 ms while `during` runs; CPU is the difference over the whole window. */
async function measureFootprint<T>(pid: number, during: () => Promise<T>): Promise<{ footprint: Footprint; value: T }> {
  let rssMax = memoryMb(pid).rss;
  const sampler = setInterval(() => (rssMax = Math.max(rssMax, memoryMb(pid).rss)), 250);
  const cpuBefore = cpuSeconds(pid);
  const threadsBefore = threadUse(pid);
  const started = performance.now();
  try {
    const value = await during();
    const seconds = (performance.now() - started) / 1000;
    const mem = memoryMb(pid);
    const footprint = {
      cpuPercent: ((cpuSeconds(pid) - cpuBefore) / seconds) * 100,
      rssMaxMb: Math.max(rssMax, mem.rss),
      rssEndMb: mem.rss,
      hwmMb: mem.hwm,
      anonEndMb: mem.anon,
      fileEndMb: mem.file,
      threads: describeThreadUse(threadsBefore, threadUse(pid), seconds),
    };
    return { footprint, value };
  } finally {
    clearInterval(sampler);
  }
}

// ---- the load ----

interface LoadRun {
  containerId: string;
  opens: number;
  detections: number;
  failed: number;
  seconds: number;
  /** CPU of the generator and its children, % of one core over its run. */
  cpuPercent: number;
}

async function runLoad(generator: string, opensPerSecond: number, detectionsPerSecond: number, seconds: number): Promise<LoadRun> {
  const layout = kubepodsSystemdPath({ podUid: randomUUID() });
  const load = await runInCgroup(layout.relPath, generator, [String(opensPerSecond), String(detectionsPerSecond), String(seconds), OPEN_PATH]);
  try {
    const summary = await load.process.waitForLine(/^opens=(\d+) detections=(\d+) failed=(\d+) seconds=(\S+)$/, seconds * 1000 + 60_000);
    await load.process.exited;
    // cgroup2's cpu.stat keeps the usage of tasks that have exited, children included.
    const usageUs = Number(/^usage_usec (\d+)$/m.exec(fs.readFileSync(path.join(load.cgroup.path, 'cpu.stat'), 'utf8'))![1]);
    const ran = Number(summary[4]);
    return {
      containerId: layout.containerId,
      opens: Number(summary[1]),
      detections: Number(summary[2]),
      failed: Number(summary[3]),
      seconds: ran,
      cpuPercent: (usageUs / 1e6 / ran) * 100,
    };
  } finally {
    await load.stop();
  }
}

/** Waits until the Collector has every detection of the run, or DELIVERY_DEADLINE_MS passes; returns what arrived. */
async function delivered(output: CollectorOutput, run: LoadRun): Promise<Received[]> {
  const deadline = performance.now() + DELIVERY_DEADLINE_MS;
  for (;;) {
    output.poll();
    const got = output.detections(run.containerId);
    if (got.length >= run.detections || performance.now() > deadline) return got;
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface Latencies {
  /** Kernel event → line in the Collector's file, sorted, ms. */
  total: number[];
  /** Kernel event → the agent built the LogRecord (observedTimeUnixNano), sorted, ms. */
  toAgent: number[];
  /** LogRecord built → line in the Collector's file, sorted, ms. */
  export: number[];
}

function latencies(received: readonly Received[]): Latencies {
  const ms = (from: (r: Received) => bigint, to: (r: Received) => bigint): number[] =>
    received.map((r) => Number(to(r) - from(r)) / 1e6).sort((a, b) => a - b);
  return {
    total: ms((r) => r.eventNs, (r) => r.receivedNs),
    toAgent: ms((r) => r.eventNs, (r) => r.observedNs),
    export: ms((r) => r.observedNs, (r) => r.receivedNs),
  };
}

function describeLatency(l: Latencies): string {
  const f = (sorted: number[], p: number): string => percentile(sorted, p).toFixed(1);
  return `p50 ${f(l.total, 50)} ms, p99 ${f(l.total, 99)} ms, max ${f(l.total, 100)} ms ` +
    `(kernel → agent record p50 ${f(l.toAgent, 50)} / p99 ${f(l.toAgent, 99)} ms; ` +
    `record → Collector p50 ${f(l.export, 50)} / p99 ${f(l.export, 99)} ms)`;
}

function describeDelivery(run: LoadRun, got: readonly Received[]): string {
  const lost = run.detections - got.length;
  return `${got.length}/${run.detections} detections at the Collector${lost > 0 ? ` (${lost} missing after ${DELIVERY_DEADLINE_MS / 1000} s)` : ''}` +
    `${run.failed > 0 ? `, ${run.failed} unshare calls failed` : ''}`;
}

// ---- the bench ----

const generator = buildGenerator();
console.log(
  `agent bench${quick ? ' (quick)' : ''}${agentArgs.length > 0 ? ` with agent flags ${agentArgs.join(' ')}` : ''}: ` +
    `${os.cpus().length} CPUs, load average ${loadAverage()} (1/5/15 min)`,
);

if (cpuProfile !== undefined) {
  const collector = await startCollector();
  try {
    await profileUnderLoad(cpuProfile, collector.endpoint);
  } finally {
    await collector.stop();
  }
  process.exit(0);
}

if (abOnly) {
  const collector = await startCollector();
  try {
    await compareWithBaseline(baseline!, collector);
  } finally {
    await collector.stop();
  }
  console.log(`agent bench done; load average ${loadAverage()}`);
  process.exit(0);
}

// Baseline 1: the generator's own cost, nothing attached.
const alone = await runLoad(generator, EVENTS_PER_SECOND, DETECTIONS_PER_SECOND, FOOTPRINT_SECONDS);
console.log(
  `generator alone (no agent): ${Math.round(alone.opens / alone.seconds)} opens/s + ${Math.round(alone.detections / alone.seconds)} ` +
    `unshare children/s for ${alone.seconds.toFixed(1)} s, ${alone.cpuPercent.toFixed(1)}% of a core; ${describeOtherAgents()}`,
);

const collector = await startCollector();
let agent: Agent | undefined;
try {
  agent = await startAgent(collector.endpoint);
  const running = agent;
  const { pid } = running;
  console.log(`agent pid ${pid} running; ${describeOtherAgents(pid)}; load average ${loadAverage()}`);

  /** Footprint of the agent while `during` runs, and the counters the agent moved meanwhile. */
  const measureAgent = async <T>(during: () => Promise<T>) => {
    const before = await running.scrape();
    const measured = await measureFootprint(pid, during);
    const after = await running.nextCounterUpdate();
    const counted = (name: string): number => (after.get(name) ?? 0) - (before.get(name) ?? 0);
    return { ...measured, counted };
  };

  // Baseline 2: the agent idle (the node's own background activity still reaches it).
  const idle = await measureAgent(() => new Promise((r) => setTimeout(r, IDLE_SECONDS * 1000)));
  console.log(
    `agent idle ${IDLE_SECONDS} s: CPU ${idle.footprint.cpuPercent.toFixed(2)}% of a core, RSS ${idle.footprint.rssEndMb.toFixed(1)} MB ` +
      `(anon ${idle.footprint.anonEndMb.toFixed(1)}, file ${idle.footprint.fileEndMb.toFixed(1)}; HWM ${idle.footprint.hwmMb.toFixed(1)} MB), ${Math.round(idle.counted(EVENTS_COUNTER) / IDLE_SECONDS)} background events/s`,
  );
  reportResult('agent.idle.cpu', idle.footprint.cpuPercent, '%core');
  reportResult('agent.idle.rss', idle.footprint.rssEndMb, 'MB');

  // 1. Latency at 100 detections/s.
  const detectionsOnly = await measureAgent(() => runLoad(generator, 0, DETECTIONS_PER_SECOND, LATENCY_SECONDS));
  const latencyRun = detectionsOnly.value;
  const latencyGot = await delivered(collector.output, latencyRun);
  const lat = latencies(latencyGot);
  console.log(
    `latency at ${DETECTIONS_PER_SECOND} detections/s for ${latencyRun.seconds.toFixed(0)} s, kernel event → Collector file ` +
      `(includes up to ${FLUSH_INTERVAL_MS} ms exporter flush): ${describeLatency(lat)}; ${describeDelivery(latencyRun, latencyGot)}; ` +
      `agent CPU ${detectionsOnly.footprint.cpuPercent.toFixed(1)}% of a core (${detectionsOnly.footprint.threads}); load average ${loadAverage()}`,
  );
  reportResult('detections_only.cpu', detectionsOnly.footprint.cpuPercent, '%core');
  reportResult('latency.p50', percentile(lat.total, 50), 'ms');
  reportResult('latency.p99', percentile(lat.total, 99), 'ms', { op: '<=', value: LATENCY_GOAL_MS });
  reportResult('latency.delivered', latencyGot.length / Math.max(latencyRun.detections, 1), 'fraction', { op: '>=', value: 1 });

  // 1b. Isolated detections: no poll interval to wait out, so kernel → agent is the urgent wakeup's latency.
  const isolatedRun = await runLoad(generator, 0, 1, ISOLATED_SECONDS);
  const isolatedGot = await delivered(collector.output, isolatedRun);
  const isolated = latencies(isolatedGot);
  console.log(
    `latency of isolated detections (1/s for ${isolatedRun.seconds.toFixed(0)} s): ${describeLatency(isolated)}; ` +
      `${describeDelivery(isolatedRun, isolatedGot)}; load average ${loadAverage()}`,
  );
  reportResult('latency.isolated.p50', percentile(isolated.total, 50), 'ms');

  // 2a. Footprint under ~10,000 events/s alone: what decoding and dismissing events costs.
  const eventsOnly = await measureAgent(() => runLoad(generator, EVENTS_PER_SECOND, 0, FOOTPRINT_SECONDS));
  console.log(
    `agent under ${EVENTS_PER_SECOND} opens/s, no detections, for ${eventsOnly.value.seconds.toFixed(0)} s: ` +
      `${Math.round(eventsOnly.counted(EVENTS_COUNTER) / eventsOnly.value.seconds)} events/s received, ` +
      `CPU ${eventsOnly.footprint.cpuPercent.toFixed(1)}% of a core, RSS max ${eventsOnly.footprint.rssMaxMb.toFixed(1)} MB; ` +
      `load average ${loadAverage()}`,
  );
  reportResult('events_only.cpu', eventsOnly.footprint.cpuPercent, '%core', { op: '<=', value: CPU_GOAL_PERCENT });

  // 2b. Footprint under ~10,000 events/s + 100 detections/s.
  const loaded = await measureAgent(() => runLoad(generator, EVENTS_PER_SECOND, DETECTIONS_PER_SECOND, FOOTPRINT_SECONDS));
  const load = loaded.value;
  // Per second of load; the few hundred ms of cgroup setup and teardown in the window add only background events.
  const eventsPerSecond = loaded.counted(EVENTS_COUNTER) / load.seconds;
  const loadGot = await delivered(collector.output, load);
  const loadLat = latencies(loadGot);
  console.log(
    `agent under load for ${load.seconds.toFixed(0)} s: ${Math.round(eventsPerSecond)} events/s received and decoded ` +
      `(kernel drops ${loaded.counted('kubesentry_events_kernel_dropped_total')}, decoder errors ${loaded.counted('kubesentry_decoder_errors_total')}), ` +
      `${Math.round(load.detections / load.seconds)} detections/s; ${describeDelivery(load, loadGot)}`,
  );
  console.log(
    `  agent CPU ${loaded.footprint.cpuPercent.toFixed(1)}% of a core (events only ${eventsOnly.footprint.cpuPercent.toFixed(1)}%, ` +
      `${DETECTIONS_PER_SECOND} detections/s only ${detectionsOnly.footprint.cpuPercent.toFixed(1)}%, ` +
      `idle ${idle.footprint.cpuPercent.toFixed(2)}%), RSS max ${loaded.footprint.rssMaxMb.toFixed(1)} MB / end ${loaded.footprint.rssEndMb.toFixed(1)} MB ` +
      `(anon ${loaded.footprint.anonEndMb.toFixed(1)}, file ${loaded.footprint.fileEndMb.toFixed(1)}), ` +
      `HWM ${loaded.footprint.hwmMb.toFixed(1)} MB (idle ${idle.footprint.rssEndMb.toFixed(1)} MB); goals CPU <= ${CPU_GOAL_PERCENT}%, RSS <= ${RSS_GOAL_MB} MB`,
  );
  console.log(`  agent threads under load: ${loaded.footprint.threads}`);
  console.log(
    `  generator CPU ${load.cpuPercent.toFixed(1)}% of a core with the agent's programs attached vs ${alone.cpuPercent.toFixed(1)}% ` +
      `alone (x${(load.cpuPercent / alone.cpuPercent).toFixed(2)}); latency under load ${describeLatency(loadLat)}; load average ${loadAverage()}`,
  );
  reportResult('load.events_per_s', eventsPerSecond, 'events/s');
  reportResult('load.cpu', loaded.footprint.cpuPercent, '%core', { op: '<=', value: CPU_GOAL_PERCENT });
  reportResult('load.rss_max', loaded.footprint.rssMaxMb, 'MB', { op: '<=', value: RSS_GOAL_MB });
  reportResult('load.hwm', loaded.footprint.hwmMb, 'MB', { op: '<=', value: RSS_GOAL_MB });
  reportResult('load.generator_cpu_ratio', load.cpuPercent / alone.cpuPercent, 'x');
  reportResult('load.latency.p99', percentile(loadLat.total, 99), 'ms', { op: '<=', value: LATENCY_GOAL_MS });

  // 3. Highest detections/s exported with zero loss while keeping pace: the spool would absorb any backlog and
  //    deliver it later, so a step that only drains after the load stops is a rate the agent cannot sustain.
  let best = 0;
  let ending = `stopped after the last step (${RAMP_RATES.at(-1)}/s)`;
  for (const rate of RAMP_RATES) {
    const step = await measureAgent(() => runLoad(generator, 0, rate, RAMP_STEP_SECONDS));
    const run = step.value;
    const got = await delivered(collector.output, run);
    const made = run.detections / run.seconds;
    const stepLat = latencies(got);
    const spanNs = got.length === 0 ? 0n : got.reduce((m, r) => (r.receivedNs > m ? r.receivedNs : m), 0n) -
      got.reduce((m, r) => (r.eventNs < m ? r.eventNs : m), got[0].eventNs);
    const drainRate = got.length / (Number(spanNs) / 1e9);
    const losses = ['kubesentry_export_dropped_total', 'kubesentry_export_spool_evictions_total', 'kubesentry_events_kernel_dropped_total']
      .map((n) => `${n.replace(/^kubesentry_|_total$/g, '')} ${step.counted(n)}`)
      .join(', ');
    console.log(
      `ramp ${rate}/s: made ${Math.round(made)}/s for ${run.seconds.toFixed(1)} s; ${describeDelivery(run, got)} ` +
        `(${Math.round(drainRate)}/s first event to last arrival); latency p99 ${percentile(stepLat.total, 99).toFixed(0)} ms, ` +
        `max ${percentile(stepLat.total, 100).toFixed(0)} ms; agent CPU ${step.footprint.cpuPercent.toFixed(0)}%; ${losses}; load average ${loadAverage()}`,
    );
    if (got.length < run.detections) {
      ending = `lost detections at ${Math.round(made)}/s`;
      break;
    }
    if (percentile(stepLat.total, 100) > KEEP_PACE_MS) {
      ending = `at ${Math.round(made)}/s none were lost but export fell behind (max latency over ${KEEP_PACE_MS} ms; ` +
        `it drained ${Math.round(drainRate)}/s)`;
      break;
    }
    best = Math.max(best, made);
    if (made < rate * 0.9) {
      ending = `the node could make only ${Math.round(made)} of ${rate} detections/s (generator and agent share the cores), none lost`;
      break;
    }
  }
  console.log(`zero-loss maximum: ${Math.round(best)} detections/s (${ending})`);
  reportResult('max_zero_loss', Math.round(best), 'detections/s');

  if (baseline !== undefined) {
    await running.stop();
    agent = undefined;
    await compareWithBaseline(baseline, collector);
  }
} finally {
  await agent?.stop();
  await collector.stop();
}

/**
 * This build against another, alternately (the order flips every round, so neither always runs on the warmer
 * machine), each a fresh agent under the full load: CPU as a ratio to the baseline in the same run, and each one's
 * p99 and RSS against the goals.
 */
async function compareWithBaseline(baselineCheckout: string, collector: { endpoint: string; output: CollectorOutput }): Promise<void> {
  const builds = [
    { name: 'this build', bin: AGENT_BIN, cpu: [] as number[], p99: [] as number[], rss: [] as number[], lost: 0 },
    { name: 'baseline', bin: path.join(baselineCheckout, 'bin/kubesentry.js'), cpu: [] as number[], p99: [] as number[], rss: [] as number[], lost: 0 },
  ];
  console.log(`A/B against ${baselineCheckout} (${gitDescribe(baselineCheckout)}) vs this build (${gitDescribe(REPO)}): ${rounds} rounds`);
  for (let round = 0; round < rounds; round++) {
    for (const build of round % 2 === 0 ? builds : [...builds].reverse()) {
      const measured = await startAgent(collector.endpoint, build.bin);
      try {
        // Settle after the load of the kernel programs, as the main phases do with their idle baseline.
        await new Promise((r) => setTimeout(r, IDLE_SECONDS * 1000));
        const { footprint, value: run } = await measureFootprint(measured.pid, () =>
          runLoad(generator, EVENTS_PER_SECOND, DETECTIONS_PER_SECOND, FOOTPRINT_SECONDS),
        );
        const got = await delivered(collector.output, run);
        const p99 = percentile(latencies(got).total, 99);
        build.cpu.push(footprint.cpuPercent);
        build.p99.push(p99);
        build.rss.push(footprint.rssMaxMb);
        build.lost += run.detections - got.length;
        console.log(
          `  round ${round + 1}, ${build.name}: CPU ${footprint.cpuPercent.toFixed(2)}% of a core, p99 ${p99.toFixed(1)} ms, ` +
            `RSS max ${footprint.rssMaxMb.toFixed(1)} MB; ${describeDelivery(run, got)}; ${footprint.threads}; load average ${loadAverage()}`,
        );
      } finally {
        await measured.stop();
      }
    }
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const [candidate, base] = builds;
  for (const build of builds) {
    console.log(
      `  ${build.name}: CPU median ${median(build.cpu).toFixed(2)}% (${build.cpu.map((c) => c.toFixed(2)).join(', ')}), ` +
        `p99 median ${median(build.p99).toFixed(1)} ms, RSS max ${Math.max(...build.rss).toFixed(1)} MB, ${build.lost} detections lost`,
    );
  }
  const ratio = median(candidate.cpu) / median(base.cpu);
  console.log(`  CPU this build / baseline: x${ratio.toFixed(2)} (median of ${rounds} rounds each, under ${EVENTS_PER_SECOND} events/s + ${DETECTIONS_PER_SECOND} detections/s)`);
  reportResult('ab.cpu_ratio', ratio, 'x');
  reportResult('ab.cpu', median(candidate.cpu), '%core');
  reportResult('ab.baseline_cpu', median(base.cpu), '%core');
  reportResult('ab.p99', median(candidate.p99), 'ms', { op: '<=', value: LATENCY_GOAL_MS });
  reportResult('ab.baseline_p99', median(base.p99), 'ms', { op: '<=', value: LATENCY_GOAL_MS });
  reportResult('ab.rss_max', Math.max(...candidate.rss), 'MB', { op: '<=', value: RSS_GOAL_MB });
  reportResult('ab.baseline_rss_max', Math.max(...base.rss), 'MB', { op: '<=', value: RSS_GOAL_MB });
  reportResult('ab.lost', candidate.lost, 'detections', { op: '<=', value: 0 });
}

/**
 * The agent's JS thread profiled under the full load. `node --cpu-prof` cannot be used: its SIGPROF timer
 * interrupts the BPF verifier at load time (bpf() returns EAGAIN and the agent gives up), so the profiler is
 * started over the inspector once the programs are loaded. Writes a .cpuprofile (Chrome DevTools, speedscope) and
 * prints the functions with the most self time.
 */
async function profileUnderLoad(file: string, otlpEndpoint: string): Promise<void> {
  const agent = await startAgent(otlpEndpoint, AGENT_BIN, ['--inspect=127.0.0.1:0']);
  try {
    // The last address: bin/kubesentry.js re-executes Node (same pid) with its heap flags, and each prints one.
    const listening = agent.process.lines.map((line) => /Debugger listening on (ws:\/\/\S+)/.exec(line)).findLast((m) => m !== null);
    if (!listening) throw new Error('the agent did not print its inspector address');
    const inspector = await connectInspector(listening[1]);
    await inspector.call('Profiler.enable');
    await inspector.call('Profiler.setSamplingInterval', { interval: 500 });
    await inspector.call('Profiler.start');
    await runLoad(generator, EVENTS_PER_SECOND, DETECTIONS_PER_SECOND, FOOTPRINT_SECONDS);
    const { profile } = (await inspector.call('Profiler.stop')) as { profile: CpuProfile };
    inspector.close();
    fs.writeFileSync(file, JSON.stringify(profile));
    console.log(`CPU profile of the agent under ${EVENTS_PER_SECOND} events/s + ${DETECTIONS_PER_SECOND} detections/s: ${file}`);
    for (const line of topSelfTime(profile, 25)) console.log(`  ${line}`);
  } finally {
    await agent.stop();
  }
}

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples: number[];
}

function topSelfTime(profile: CpuProfile, count: number): string[] {
  const byNode = new Map(profile.nodes.map((n) => [n.id, n]));
  const hits = new Map<string, number>();
  for (const id of profile.samples) {
    const frame = byNode.get(id)!.callFrame;
    const where = frame.url === '' ? '' : ` ${frame.url.replace(/^file:\/\/.*?\/node_modules\//, '').replace(`file://${REPO}`, '')}:${frame.lineNumber + 1}`;
    const key = `${frame.functionName || '(anonymous)'}${where}`;
    hits.set(key, (hits.get(key) ?? 0) + 1);
  }
  const total = profile.samples.length;
  return [...hits]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([key, n]) => `${((100 * n) / total).toFixed(1).padStart(5)}%  ${key}`);
}

async function connectInspector(url: string): Promise<{ call(method: string, params?: object): Promise<unknown>; close(): void }> {
  const socket = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    socket.addEventListener('open', () => resolve(), { once: true });
    socket.addEventListener('error', () => reject(new Error(`cannot reach the agent's inspector at ${url}`)), { once: true });
  });
  let nextId = 1;
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  socket.addEventListener('message', (event) => {
    const message = JSON.parse(String(event.data)) as { id?: number; result?: unknown; error?: { message: string } };
    const waiter = message.id === undefined ? undefined : pending.get(message.id);
    if (!waiter) return;
    pending.delete(message.id!);
    if (message.error) waiter.reject(new Error(message.error.message));
    else waiter.resolve(message.result);
  });
  return {
    call(method, params = {}) {
      const id = nextId++;
      socket.send(JSON.stringify({ id, method, params }));
      return new Promise((resolve, reject) => pending.set(id, { resolve, reject }));
    },
    close: () => socket.close(),
  };
}

function gitDescribe(checkout: string): string {
  try {
    return execFileSync('git', ['-C', checkout, 'log', '-1', '--format=%h %s'], { encoding: 'utf8' }).trim().slice(0, 80);
  } catch {
    return 'not a git checkout';
  }
}
console.log(`agent bench done; load average ${loadAverage()}`);
