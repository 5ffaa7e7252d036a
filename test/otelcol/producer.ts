// Child-process producer for the outage test: emits detections with deterministic ids through the telemetry
// library and reports progress as JSON lines on stdout, so the test can SIGKILL it at a known point.
//   node test/otelcol/producer.ts <endpoint> <stateDir> <first sequence> <count> <per second>
// Prints {"spooled":n} after each persisted detection and {"drained":true} once the Collector acknowledged all.
import { setTimeout as delay } from 'node:timers/promises';
import { createTelemetry } from '../../src/otel/index.ts';
import { detectionIdFor, syntheticDetection } from './syntheticDetections.ts';

const [endpoint, stateDir, firstText, countText, rateText] = process.argv.slice(2);
const first = Number(firstText);
const count = Number(countText);
const rate = Number(rateText);
if (!endpoint || !stateDir || !Number.isInteger(first) || !Number.isInteger(count) || !(rate > 0)) {
  process.stderr.write('usage: producer.ts <endpoint> <stateDir> <first sequence> <count> <per second>\n');
  process.exit(2);
}

const telemetry = createTelemetry({
  endpoint,
  stateDir,
  metrics: { otlp: false },
  // Short backoff so the test does not wait out a long retry sleep once the Collector is back.
  export: { initialBackoffMs: 200, maxBackoffMs: 1000 },
  onDiagnostic: (message) => process.stderr.write(`${message}\n`),
  env: {},
});

for (let i = 0; i < count; i++) {
  const sequence = first + i;
  telemetry.emit(syntheticDetection({ id: detectionIdFor(sequence), sequence }));
  await telemetry.persisted();
  process.stdout.write(`${JSON.stringify({ spooled: i + 1 })}\n`);
  // Pacing: the outage scenario spreads production over time, like a real burst of detections.
  await delay(1000 / rate);
}
await telemetry.forceFlush(10 * 60_000);
process.stdout.write(`${JSON.stringify({ drained: true, status: telemetry.status() })}\n`);
await telemetry.shutdown();
