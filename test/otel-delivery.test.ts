// Delivery guarantees against the real Collector: a 60 s outage during which 1,000 detections are produced and the
// producer is SIGKILLed and restarted loses nothing; an overflowing spool evicts oldest-first and says so in-band.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { after, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { createTelemetry } from '../src/otel/index.ts';
import { TestCollector, waitFor } from './otelcol/collector.ts';
import { detectionIdFor, syntheticDetection } from './otelcol/syntheticDetections.ts';

const producerScript = fileURLToPath(new URL('./otelcol/producer.ts', import.meta.url));
const OUTAGE_MS = 60_000;

interface Producer {
  child: ChildProcess;
  spooled: number;
  drained: boolean;
  exited: Promise<number | null>;
}

function startProducer(endpoint: string, stateDir: string, first: number, count: number, perSecond: number): Producer {
  const child = spawn(process.execPath, [producerScript, endpoint, stateDir, String(first), String(count), String(perSecond)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const producer: Producer = {
    child,
    spooled: 0,
    drained: false,
    exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))),
  };
  readline.createInterface({ input: child.stdout! }).on('line', (line) => {
    const message = JSON.parse(line);
    if (typeof message.spooled === 'number') producer.spooled = message.spooled;
    if (message.drained) producer.drained = true;
  });
  return producer;
}

describe('delivery across a Collector outage', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  test('1,000 detections produced during a 60 s outage, producer SIGKILLed and restarted: all arrive', { timeout: 5 * 60_000 }, async () => {
    const collector = await TestCollector.start();
    cleanups.push(() => collector.dispose());
    const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubesentry-otel-outage-'));
    cleanups.push(() => fs.rmSync(stateDir, { recursive: true, force: true }));

    await collector.stop();
    const outageStarted = Date.now();

    const first = startProducer(collector.endpoint, stateDir, 0, 500, 40);
    cleanups.push(() => void first.child.kill('SIGKILL'));
    await waitFor('the first producer to spool 500 detections', () => first.spooled === 500, OUTAGE_MS);
    first.child.kill('SIGKILL');
    assert.equal(await first.exited, null, 'the first producer died by signal, not by exiting');

    const second = startProducer(collector.endpoint, stateDir, 500, 500, 40);
    cleanups.push(() => void second.child.kill('SIGKILL'));
    await waitFor('the second producer to spool 500 detections', () => second.spooled === 500, OUTAGE_MS);
    assert.equal(collector.readLogs().length, 0, 'nothing can have arrived during the outage');

    // The scenario is a 60 s outage: keep the Collector down for the rest of it.
    await delay(Math.max(0, OUTAGE_MS - (Date.now() - outageStarted)));
    await collector.start();

    await waitFor('the restarted producer to deliver everything', () => second.drained, 3 * 60_000);
    const expected = new Set(Array.from({ length: 1000 }, (_, i) => detectionIdFor(i)));
    const logs = await waitFor('1,000 distinct detections in the Collector output', () => {
      const ids = new Set(collector.readLogs().map((l) => String(l.attributes['kubesentry.detection.id'])));
      return ids.size >= 1000 ? ids : undefined;
    });
    assert.deepEqual([...expected].filter((id) => !logs.has(id)), [], 'no detection lost');
    assert.equal(logs.size, 1000, 'only the produced detections arrived');
    const spanIds = new Set(
      collector
        .readSpans()
        .filter((s) => s.attributes['kubesentry.detection.id'] !== undefined)
        .map((s) => String(s.attributes['kubesentry.detection.id'])),
    );
    assert.deepEqual([...expected].filter((id) => !spanIds.has(id)), [], 'every detection span arrived too');
    assert.equal(await second.exited, 0);
  });

  test('an overflowing spool evicts oldest first, counts it, and reports the loss in-band', async () => {
    const collector = await TestCollector.start();
    cleanups.push(() => collector.dispose());
    await collector.stop();
    const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubesentry-otel-overflow-'));
    cleanups.push(() => fs.rmSync(stateDir, { recursive: true, force: true }));
    const telemetry = createTelemetry({
      endpoint: collector.endpoint,
      stateDir,
      spool: { maxBytes: 512 * 1024 },
      metrics: { otlp: false },
      export: { initialBackoffMs: 100, maxBackoffMs: 500 },
      env: {},
    });
    cleanups.push(() => telemetry.shutdown(1));

    const count = 600;
    for (let i = 0; i < count; i++) {
      telemetry.emit(syntheticDetection({ id: detectionIdFor(i), sequence: i }));
      // Several persisted batches, so the spool overflows during appends, as it would in a long outage.
      if (i % 50 === 49) await telemetry.persisted();
    }
    await telemetry.persisted();
    const pending = telemetry.status().pending;
    assert.ok(pending.logs < count, `the spool bound forced evictions (pending ${pending.logs} of ${count})`);
    assert.ok(telemetry.status().spoolBytes <= 512 * 1024);

    await collector.start();
    await telemetry.forceFlush(60_000);
    // Acknowledged by the Collector is not yet written by its file exporter: wait for the newest detection.
    const logs = await waitFor('the newest detection in the Collector output', () => {
      const found = collector.readLogs();
      return found.some((l) => l.attributes['kubesentry.test.sequence'] === count - 1) ? found : undefined;
    });
    const sequences = logs
      .filter((l) => l.eventName === 'kubesentry.detection')
      .map((l) => Number(l.attributes['kubesentry.test.sequence']))
      .sort((a, b) => a - b);
    assert.ok(sequences.length > 0 && sequences.length < count);
    assert.equal(sequences.at(-1), count - 1, 'the newest detection survived');
    assert.deepEqual(sequences, Array.from({ length: sequences.length }, (_, i) => count - sequences.length + i), 'what survived is a contiguous newest run: oldest were evicted');

    const overflow = logs.filter((l) => l.eventName === 'kubesentry.export.spool_overflow');
    assert.ok(overflow.length > 0, 'an in-band record reports the eviction');
    const droppedLogs = overflow.reduce((sum, l) => sum + Number(l.attributes['kubesentry.spool.dropped_log_records']), 0);
    assert.equal(droppedLogs + sequences.length, count, 'the in-band records account for every lost detection');
    assert.match(String(overflow[0].body), /dropped \d+ log records and \d+ span batches spooled between/);
  });
});
