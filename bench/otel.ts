// OTLP export benchmark against the real Collector (reports only, asserts nothing):
//  1. latency from emit() to the Collector's acknowledgement at a steady 100 detections/s (p50/p99);
//  2. the highest sustained rate with zero loss: emit as fast as emit() allows, measure the end-to-end drain rate,
//     and check that every detection id arrived in the Collector's output.
// Run: node bench/otel.ts [--seconds 10] [--burst 20000]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as delay } from 'node:timers/promises';
import { createTelemetry, type Telemetry } from '../src/otel/index.ts';
import { TestCollector, waitFor } from '../test/otelcol/collector.ts';
import { detectionIdFor, syntheticDetection } from '../test/otelcol/syntheticDetections.ts';
import { reportResult } from './result.ts';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '10' }, burst: { type: 'string', default: '20000' } } });
const steadySeconds = Number(values.seconds);
const burst = Number(values.burst);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function newTelemetry(endpoint: string): Telemetry {
  return createTelemetry({
    endpoint,
    stateDir: fs.mkdtempSync(path.join(os.tmpdir(), 'kubesentry-otel-bench-')),
    metrics: { otlp: false },
    env: {},
  });
}

/** Ack times by polling delivered counts: delivery is FIFO per signal, so the n-th ack is the n-th detection's. */
function watchAcks(telemetry: Telemetry, ackedAt: number[]): () => void {
  let stopped = false;
  const poll = (): void => {
    if (stopped) return;
    const delivered = telemetry.status().delivered.logs;
    const now = performance.now();
    while (ackedAt.length < delivered) ackedAt.push(now);
    setImmediate(poll);
  };
  poll();
  return () => {
    stopped = true;
  };
}

const collector = await TestCollector.start();
try {
  // 1. Steady 100/s.
  const steady = newTelemetry(collector.endpoint);
  const emittedAt: number[] = [];
  const ackedAt: number[] = [];
  const stop = watchAcks(steady, ackedAt);
  const total = steadySeconds * 100;
  const start = performance.now();
  for (let i = 0; i < total; i++) {
    const due = start + i * 10;
    const wait = due - performance.now();
    if (wait > 0) await delay(wait); // pacing the load generator, not synchronisation
    emittedAt.push(performance.now());
    steady.emit(syntheticDetection({ sequence: i }));
  }
  await steady.forceFlush(60_000);
  await waitFor('all steady-state acks observed', () => ackedAt.length >= total);
  stop();
  const latencies = emittedAt.map((t, i) => ackedAt[i] - t).sort((a, b) => a - b);
  await steady.shutdown();

  // 2. Burst: emit as fast as possible, then drain.
  const burstTelemetry = newTelemetry(collector.endpoint);
  const emitStart = performance.now();
  for (let i = 0; i < burst; i++) {
    burstTelemetry.emit(syntheticDetection({ id: detectionIdFor(1_000_000 + i), sequence: 1_000_000 + i }));
    // Yield now and then so the spool flush and sender run, as they would between ring-buffer batches.
    if (i % 500 === 499) await new Promise((r) => setImmediate(r));
  }
  const emitMs = performance.now() - emitStart;
  await burstTelemetry.forceFlush(10 * 60_000);
  const drainMs = performance.now() - emitStart;
  const status = burstTelemetry.status();
  await burstTelemetry.shutdown();
  const expected = new Set(Array.from({ length: burst }, (_, i) => detectionIdFor(1_000_000 + i)));
  const arrived = await waitFor('burst detections in the Collector output', () => {
    const ids = new Set(
      collector
        .readLogs()
        .map((l) => String(l.attributes['kubesentry.detection.id']))
        .filter((id) => expected.has(id)),
    );
    return ids.size === burst ? ids : undefined;
  }, 120_000).catch(() => new Set<string>());

  const sustained = burst / (drainMs / 1000);
  process.stdout.write(
    `${JSON.stringify(
      {
        steady: {
          ratePerSecond: 100,
          detections: total,
          latencyMs: { p50: +percentile(latencies, 50).toFixed(2), p99: +percentile(latencies, 99).toFixed(2), max: +latencies.at(-1)!.toFixed(2) },
        },
        burst: {
          detections: burst,
          emitPerSecond: Math.round(burst / (emitMs / 1000)),
          deliveredPerSecond: Math.round(sustained),
          arrived: arrived.size,
          lost: burst - arrived.size,
          dropped: status.dropped,
          evicted: status.evicted,
          ratioToTarget100PerSecond: +(sustained / 100).toFixed(1),
        },
      },
      null,
      2,
    )}\n`,
  );
  reportResult('steady.latency.p50', percentile(latencies, 50), 'ms');
  reportResult('steady.latency.p99', percentile(latencies, 99), 'ms');
  reportResult('burst.delivered_per_s', sustained, 'detections/s');
  reportResult('burst.lost', burst - arrived.size, 'detections', { op: '<=', value: 0 });
} finally {
  await collector.dispose();
}
