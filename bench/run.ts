// `npm run bench`: every benchmark as its own child process (`node bench/X.ts`), one after another so they do not
// compete for the cores, with their output streamed as it comes and a summary of their RESULT lines (see
// bench/result.ts) at the end. Numbers are reported, never judged: the exit status is non-zero only when a bench
// crashed or outlived its time limit.
//
//   node bench/run.ts [--only name,...] [--quick]
//
// --quick passes each bench its shorter settings. See bench/README.md.

import { spawn } from 'node:child_process';
import os from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { meetsGoal, parseResult, type Result } from './result.ts';

interface Bench {
  name: string;
  /** One line for the listing and the README. */
  what: string;
  quickArgs: string[];
  /** Takes --baseline CHECKOUT (another built checkout, measured against this one in the same run). */
  comparesBaseline?: boolean;
  /** Longest full run allowed on a loaded 2-core machine before it counts as hung. */
  timeoutMs: number;
}

const BENCHES: readonly Bench[] = [
  { name: 'decoder', what: 'ring-buffer record decoding, records/s on one core', quickArgs: [], timeoutMs: 120_000 },
  { name: 'detectors', what: 'detector engine on a benign stream, events per CPU-second', quickArgs: [], timeoutMs: 120_000 },
  { name: 'kernel', what: 'kernel → JS throughput and per-syscall cost of the BPF programs (root)', quickArgs: ['--throughput-only'], comparesBaseline: true, timeoutMs: 480_000 },
  { name: 'encoding', what: 'CPU per detection of the export encoding (stock path; against a hand encoder with --baseline)', quickArgs: ['--detections', '5000'], comparesBaseline: true, timeoutMs: 180_000 },
  { name: 'otel', what: 'OTLP export to a real Collector: latency at 100/s, burst drain rate', quickArgs: ['--seconds', '3', '--burst', '5000'], timeoutMs: 300_000 },
  { name: 'k8s-memory', what: 'pod informer cache memory for 110 realistic pods', quickArgs: [], timeoutMs: 180_000 },
  { name: 'baseline-memory', what: 'behavioural baseline heap: 2,000 profiles, a full profile, 10,000 domains saturating', quickArgs: [], timeoutMs: 180_000 },
  { name: 'baseline-flood', what: 'the real agent\'s RSS while a container asks 10,000 distinct domains (its DNS class saturates), as ratios to 10,000 known-name queries (root)', quickArgs: ['--queries', '3000'], timeoutMs: 600_000 },
  { name: 'agent', what: 'the real agent: kernel → Collector latency, footprint under load, zero-loss maximum (root); A/B with --baseline', quickArgs: ['--quick'], comparesBaseline: true, timeoutMs: 1_800_000 },
];

interface Outcome {
  bench: Bench;
  status: string;
  crashed: boolean;
  seconds: number;
  results: Result[];
}

function usage(message: string): never {
  console.error(`bench: ${message} (benches: ${BENCHES.map((b) => b.name).join(', ')})`);
  process.exit(2);
}

function loadAverage(): string {
  return os.loadavg().map((l) => l.toFixed(2)).join(' ');
}

function selectBenches(only: string | undefined): readonly Bench[] {
  if (only === undefined) return BENCHES;
  const names = only.split(',').map((n) => n.trim()).filter(Boolean);
  const unknown = names.filter((n) => !BENCHES.some((b) => b.name === n));
  if (names.length === 0 || unknown.length > 0) usage(`--only: unknown bench "${unknown.join(', ') || only}"`);
  return BENCHES.filter((b) => names.includes(b.name));
}

function runBench(bench: Bench, quick: boolean, baseline: string | undefined): Promise<Outcome> {
  const file = fileURLToPath(new URL(`./${bench.name}.ts`, import.meta.url));
  const args = [file, ...(quick ? bench.quickArgs : []), ...(baseline !== undefined && bench.comparesBaseline ? ['--baseline', baseline] : [])];
  const started = performance.now();
  const results: Result[] = [];
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 15_000).unref();
    }, bench.timeoutMs);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      console.log(line);
      const result = parseResult(line);
      if (result) results.push(result);
    });
    const finish = (status: string, crashed: boolean): void => {
      clearTimeout(timer);
      resolve({ bench, status, crashed, seconds: (performance.now() - started) / 1000, results });
    };
    child.once('error', (err) => finish(`could not start: ${err.message}`, true));
    child.once('close', (code, signal) => {
      if (timedOut) finish(`killed after ${bench.timeoutMs / 1000} s`, true);
      else if (code === 0) finish('ok', false);
      else finish(code === null ? `killed by ${signal}` : `exit ${code}`, true);
    });
  });
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'n/a';
  return Math.abs(v) >= 1000 ? Math.round(v).toLocaleString('en') : Number(v.toPrecision(3)).toString();
}

function summary(outcomes: readonly Outcome[]): string {
  const rows: string[][] = [['bench', 'result', 'value', 'unit', 'goal', '']];
  for (const o of outcomes) {
    if (o.results.length === 0) rows.push([o.bench.name, '(no RESULT lines)', '', '', '', '']);
    for (const r of o.results) {
      const met = meetsGoal(r);
      rows.push([o.bench.name, r.name, formatValue(r.value), r.unit, r.goal ? `${r.goal.op} ${r.goal.value}` : '', met === undefined ? '' : met ? 'met' : 'MISSED']);
    }
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  const lines = rows.map((row) => row.map((cell, i) => (i === 2 ? cell.padStart(widths[i]) : cell.padEnd(widths[i]))).join('  ').trimEnd());
  lines.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '));
  lines.push('');
  for (const o of outcomes) lines.push(`${o.bench.name}: ${o.status} in ${o.seconds.toFixed(0)} s`);
  return lines.join('\n');
}

function parseFlags() {
  try {
    return parseArgs({
      options: {
        only: { type: 'string' },
        quick: { type: 'boolean', default: false },
        list: { type: 'boolean', default: false },
        baseline: { type: 'string' },
      },
      strict: true,
    }).values;
  } catch (error) {
    usage((error as Error).message);
  }
}

const values = parseFlags();
if (values.list) {
  for (const b of BENCHES) console.log(`${b.name.padEnd(12)} ${b.what}`);
  process.exit(0);
}
const selected = selectBenches(values.only);
console.log(`benchmarks on ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? 'unknown'}), node ${process.version}, ` +
  `load average ${loadAverage()}${values.quick ? ', quick' : ''}`);
const outcomes: Outcome[] = [];
for (const bench of selected) {
  console.log(`\n=== ${bench.name}: ${bench.what} (load average ${loadAverage()})`);
  const outcome = await runBench(bench, values.quick!, values.baseline);
  if (outcome.crashed) console.log(`=== ${bench.name} FAILED: ${outcome.status}`);
  outcomes.push(outcome);
}
console.log(`\n=== summary (load average ${loadAverage()}; goals are reported, not enforced)\n${summary(outcomes)}`);
process.exitCode = outcomes.some((o) => o.crashed) ? 1 : 0;
