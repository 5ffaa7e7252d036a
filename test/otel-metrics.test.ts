// Agent metrics: every name in MetricNames reaches the Collector over OTLP, and the Prometheus scrape endpoint
// exposes exactly the `prometheus` names the dashboards are built against.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createTelemetry, MetricNames, type Telemetry } from '../src/otel/index.ts';
import { freeLoopbackPort, TestCollector, valueOf, waitFor } from './otelcol/collector.ts';
import { syntheticDetection } from './otelcol/syntheticDetections.ts';

test('docs/otel.md lists every metric with its OTLP name, Prometheus name and attributes', () => {
  const docs = fs.readFileSync(new URL('../docs/otel.md', import.meta.url), 'utf8');
  for (const def of Object.values(MetricNames)) {
    const row = docs.split('\n').find((line) => line.startsWith(`| \`${def.name}\` |`));
    assert.ok(row, `${def.name} has a row`);
    assert.ok(row.includes(`\`${def.prometheus}\``), `${def.name}: Prometheus name`);
    assert.ok(row.includes(`| ${def.kind} |`), `${def.name}: kind`);
    for (const attribute of def.attributes) assert.ok(row.includes(`\`${attribute}\``), `${def.name}: ${attribute}`);
  }
});

describe('agent metrics', () => {
  let collector: TestCollector;
  let telemetry: Telemetry;
  let promPort: number;

  before(async () => {
    collector = await TestCollector.start();
    promPort = await freeLoopbackPort();
    telemetry = createTelemetry({
      endpoint: collector.endpoint,
      stateDir: fs.mkdtempSync(path.join(os.tmpdir(), 'kubesentry-otel-metrics-')),
      metrics: { exportIntervalMs: 200, prometheus: { port: promPort, host: '127.0.0.1' } },
      env: {},
    });
    const m = telemetry.metrics;
    m.eventsReceived('exec', 3);
    m.kernelDropped('open', 2);
    m.decoderError('truncated');
    m.k8sMetadataMiss();
    m.runtimeMetadataMiss();
    m.detectorStateEvicted('KS-ESC-001', 2);
    m.outputError('jsonl', 1);
    m.detectorError('KS-ESC-005', 4);
    m.metadataOversized('runtime', 2);
    m.enforcementActions('KS-ESC-001', 'killed', 2);
    m.setDetectorsDisabled(new Map([['KS-ESC-005', true], ['KS-ESC-001', false]]));
    m.setProcessTableSize(42);
    m.setContainerCacheSize(7);
    m.detection('cryptominer_stratum_connect', 'high');
    m.observeBaselineProfiles(() => new Map([['stable', 3], ['learning', 1]]));
    m.baselineDeviations('exec', 'high', 2);
    m.baselineSuppressed('duplicate', 5);
    m.baselineStoreError('write', 1);
    telemetry.emit(syntheticDetection({ severity: 'high' }));
    await telemetry.forceFlush();
  });

  after(async () => {
    await telemetry?.shutdown();
    await collector?.dispose();
  });

  test('the Prometheus endpoint serves the documented names with the recorded values', async () => {
    const text = await waitFor('a scrape with the export counters', async () => {
      const body = await (await fetch(`http://127.0.0.1:${promPort}/metrics`)).text();
      return body.includes(MetricNames.exportedItems.prometheus) ? body : undefined;
    });
    const sample = (name: string, labels = ''): number | undefined => {
      const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
      return line === undefined ? undefined : Number(line.split(' ').at(-1));
    };
    assert.equal(sample(MetricNames.eventsReceived.prometheus, 'kubesentry_event_type="exec"'), 3);
    assert.equal(sample(MetricNames.kernelDrops.prometheus, 'kubesentry_event_type="open"'), 2);
    assert.equal(sample(MetricNames.decoderErrors.prometheus, 'error_type="truncated"'), 1);
    assert.equal(sample(MetricNames.k8sMetadataMisses.prometheus), 1);
    assert.equal(sample(MetricNames.runtimeMetadataMisses.prometheus), 1);
    assert.equal(sample(MetricNames.detectorStateEvictions.prometheus, 'security_rule_name="KS-ESC-001"'), 2);
    assert.equal(sample(MetricNames.outputErrors.prometheus, 'kubesentry_output="jsonl"'), 1);
    assert.equal(sample(MetricNames.enforcementActions.prometheus, 'kubesentry_enforcement_outcome="killed"'), 2);
    assert.equal(sample(MetricNames.baselineProfiles.prometheus, 'kubesentry_baseline_state="stable"'), 3);
    assert.equal(sample(MetricNames.baselineDeviations.prometheus, 'kubesentry_baseline_class="exec"'), 2);
    assert.match(text, /kubesentry_baseline_deviations_total\{[^}]*kubesentry_detection_severity="high"/);
    assert.equal(sample(MetricNames.baselineSuppressed.prometheus, 'kubesentry_baseline_suppress_reason="duplicate"'), 5);
    assert.equal(sample(MetricNames.baselineStoreErrors.prometheus, 'error_type="write"'), 1);
    assert.equal(sample(MetricNames.detectorErrors.prometheus, 'security_rule_name="KS-ESC-005"'), 4);
    assert.equal(sample(MetricNames.metadataOversized.prometheus, 'kubesentry_metadata_source="runtime"'), 2);
    assert.equal(sample(MetricNames.detectorDisabled.prometheus, 'security_rule_name="KS-ESC-005"'), 1);
    assert.equal(sample(MetricNames.detectorDisabled.prometheus, 'security_rule_name="KS-ESC-001"'), 0);
    assert.equal(sample(MetricNames.processTableSize.prometheus), 42);
    assert.equal(sample(MetricNames.containerCacheSize.prometheus), 7);
    assert.equal(sample(MetricNames.detections.prometheus, 'security_rule_name="cryptominer_stratum_connect"'), 1);
    assert.match(text, /kubesentry_detections_total\{[^}]*kubesentry_detection_severity="high"/);
    assert.equal(sample(MetricNames.exportedItems.prometheus, 'kubesentry_otel_signal="logs"'), 1);
    assert.equal(sample(MetricNames.exportQueueDepth.prometheus, 'kubesentry_otel_signal="logs"'), 0);
    assert.ok(sample(MetricNames.spoolBytes.prometheus)! >= 0);
    const documented = new Set<string>(Object.values(MetricNames).map((d) => d.prometheus));
    const served = new Set([...text.matchAll(/^(kubesentry_[a-z0-9_]+)\{/gm)].map((m) => m[1]));
    assert.ok(served.size >= 10);
    for (const name of served) assert.ok(documented.has(name), `${name} is listed in MetricNames`);
  });

  test('every metric reaches the Collector over OTLP under its documented name', async () => {
    const expected = new Set<string>([
      MetricNames.eventsReceived.name,
      MetricNames.kernelDrops.name,
      MetricNames.decoderErrors.name,
      MetricNames.detections.name,
      MetricNames.k8sMetadataMisses.name,
      MetricNames.processTableSize.name,
      MetricNames.containerCacheSize.name,
      MetricNames.exportQueueDepth.name,
      MetricNames.spoolBytes.name,
      MetricNames.exportedItems.name,
    ]);
    const seen = await waitFor('agent metrics in the Collector output', () => {
      const names = new Map<string, any>();
      for (const request of collector.readRequests()) {
        for (const rm of (request.resourceMetrics as any[]) ?? []) {
          for (const sm of rm.scopeMetrics ?? []) for (const metric of sm.metrics ?? []) names.set(metric.name, metric);
        }
      }
      return [...expected].every((n) => names.has(n)) ? names : undefined;
    });
    const gauge = seen.get(MetricNames.processTableSize.name);
    assert.equal(valueOf({ intValue: gauge.gauge.dataPoints.at(-1).asInt ?? gauge.gauge.dataPoints.at(-1).asDouble }), 42);
    assert.equal(seen.get(MetricNames.spoolBytes.name).unit, 'By');
    for (const name of seen.keys()) {
      if (name.startsWith('kubesentry.')) assert.ok(Object.values(MetricNames).some((d) => d.name === name), `${name} is documented`);
    }
  });
});
