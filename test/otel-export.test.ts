// End-to-end: Telemetry → real OpenTelemetry Collector over OTLP/gRPC → file exporter; checks what arrived.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createTelemetry, TelemetryConfigError, type Telemetry } from '../src/otel/index.ts';
import { TestCollector, waitFor } from './otelcol/collector.ts';
import { CONTAINER_ID, POD_UID, syntheticDetection } from './otelcol/syntheticDetections.ts';

function stateDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'kubesentry-otel-state-'));
}

describe('OTLP export to a real Collector', () => {
  let collector: TestCollector;
  let telemetry: Telemetry;

  before(async () => {
    collector = await TestCollector.start();
    telemetry = createTelemetry({
      endpoint: collector.endpoint,
      stateDir: stateDir(),
      nodeName: 'node-a',
      clusterName: 'test-cluster',
      metrics: { otlp: false },
      // The downward API's view of the agent's own pod.
      env: { K8S_POD_NAME: 'kubesentry-x7k2p', K8S_POD_UID: 'agent-pod-uid', K8S_NAMESPACE_NAME: 'kubesentry-system' },
    });
  });

  after(async () => {
    await telemetry?.shutdown();
    await collector?.dispose();
  });

  test('a detection arrives as a LogRecord with event name, severity, resource and rule attributes', async () => {
    const d = syntheticDetection({ severity: 'critical' });
    telemetry.emit(d);
    await telemetry.forceFlush();
    const log = await waitFor('the detection log record', () =>
      collector.readLogs().find((l) => l.attributes['kubesentry.detection.id'] === d.id),
    );
    assert.equal(log.eventName, 'kubesentry.detection');
    assert.equal(log.severityNumber, 21);
    assert.equal(log.severityText, 'FATAL');
    assert.equal(log.body, d.summary);
    assert.equal(log.timeUnixNano, d.timeUnixNs.toString());
    assert.ok(BigInt(log.observedTimeUnixNano) >= d.timeUnixNs, 'observed time is emission time, after the detection');
    assert.equal(log.attributes['container.id'], CONTAINER_ID);
    assert.equal(log.attributes['k8s.pod.uid'], POD_UID);
    for (const key of ['name', 'uuid', 'category', 'description', 'version', 'reference']) {
      assert.equal(log.attributes[`security_rule.${key}`], d.attributes[`security_rule.${key}`], key);
    }
    assert.deepEqual(log.attributes['kubesentry.process.ancestry'], [
      '4242 /usr/bin/xmrig',
      '4200 /bin/sh',
      '4100 /usr/local/bin/entrypoint',
    ]);
    assert.equal(log.resource['service.name'], 'kubesentry');
    assert.equal(log.resource['k8s.node.name'], 'node-a');
    assert.equal(log.resource['k8s.cluster.name'], 'test-cluster');
    // Detected by the stock host, os and process detectors.
    for (const key of ['service.version', 'service.instance.id', 'host.name', 'host.arch', 'os.type', 'process.pid', 'process.runtime.name']) {
      assert.ok(log.resource[key], `resource has ${key}`);
    }
    assert.equal(log.resource['process.pid'], process.pid);
    assert.equal(log.resource['process.command_args'], undefined, 'the agent\'s arguments (which may hold secrets) are not exported');
    // The agent's pod describes the agent: on its metrics' resource, never on a detection's (where it would read as
    // the workload's, and Loki would index the detection under the agent's pod).
    for (const key of ['k8s.pod.name', 'k8s.pod.uid', 'k8s.namespace.name']) {
      assert.equal(log.resource[key], undefined, `no ${key} on the detection's resource`);
    }
    await telemetry.resource.waitForAsyncAttributes?.();
    assert.equal(telemetry.resource.attributes['k8s.pod.name'], 'kubesentry-x7k2p');
    assert.equal(telemetry.resource.attributes['k8s.pod.uid'], 'agent-pod-uid');
    assert.equal(telemetry.resource.attributes['k8s.namespace.name'], 'kubesentry-system');
  });

  test('detections of one container form one trace whose ancestry spans are exported once and parented to the init', async () => {
    const containerId = 'c'.repeat(64);
    const first = syntheticDetection({ containerId, severity: 'high' });
    const second = syntheticDetection({ containerId, severity: 'medium', timeUnixNs: first.timeUnixNs + 1_000_000n });
    telemetry.emit(first);
    telemetry.emit(second);
    await telemetry.forceFlush();

    const logs = await waitFor('both log records', () => {
      const found = collector.readLogs().filter((l) => l.attributes['container.id'] === containerId);
      return found.length === 2 ? found : undefined;
    });
    const traceId = logs[0].traceId;
    assert.ok(traceId && /^[0-9a-f]{32}$/.test(traceId));
    assert.equal(logs[1].traceId, traceId, 'same container within the quiet window: same trace');

    const spans = await waitFor('all spans of the incident', () => {
      const found = collector.readSpans().filter((s) => s.traceId === traceId);
      return found.length === 5 ? found : undefined;
    });
    const byId = new Map(spans.map((s) => [s.spanId, s]));
    assert.equal(byId.size, 5, 'three ancestry spans once, plus one span per detection');

    for (const log of logs) {
      const detectionSpan = byId.get(log.spanId!);
      assert.ok(detectionSpan, 'the LogRecord span_id is the detection span');
      assert.equal(detectionSpan.attributes['kubesentry.detection.id'], log.attributes['kubesentry.detection.id']);
      assert.equal(detectionSpan.name, 'cryptominer_stratum_connect');
      // detection → xmrig → sh → entrypoint (root)
      const chain = [];
      for (let s = byId.get(detectionSpan.parentSpanId!); s; s = s.parentSpanId ? byId.get(s.parentSpanId) : undefined) {
        chain.push(s.attributes['process.pid']);
        if (!s.parentSpanId) assert.equal(s.attributes['process.executable.path'], '/usr/local/bin/entrypoint');
      }
      assert.deepEqual(chain, [4242, 4200, 4100]);
    }
    const init = spans.find((s) => s.attributes['process.pid'] === 4100)!;
    assert.equal(init.parentSpanId, undefined, 'the container init is the trace root');
    // The synthetic init exec'd 10 s before the detection; its span starts at that exec time, to the nanosecond.
    assert.equal(first.ancestry[2].start_time.length, 30, 'RFC 3339 with nanoseconds');
    assert.equal(init.startTimeUnixNano, String(first.timeUnixNs - 10_000_000_000n));
    assert.equal(init.endTimeUnixNano, String(first.timeUnixNs), 'ends at the first detection that showed it');
    assert.equal(init.attributes['container.id'], containerId);
  });

  test('another container gets its own trace', async () => {
    const a = syntheticDetection({ containerId: 'a'.repeat(64) });
    const b = syntheticDetection({ containerId: 'b'.repeat(64) });
    telemetry.emit(a);
    telemetry.emit(b);
    await telemetry.forceFlush();
    const logs = await waitFor('both log records', () => {
      const found = collector.readLogs().filter((l) => l.attributes['kubesentry.detection.id'] === a.id || l.attributes['kubesentry.detection.id'] === b.id);
      return found.length === 2 ? found : undefined;
    });
    assert.notEqual(logs[0].traceId, logs[1].traceId);
  });

  test('a negative export.lingerMs is a one-line configuration error; 0 (send at once) is allowed', async () => {
    assert.throws(
      () => createTelemetry({ endpoint: collector.endpoint, stateDir: stateDir(), env: {}, export: { lingerMs: -1 } }),
      (e: Error) => e instanceof TelemetryConfigError && e.message === 'telemetry: export.lingerMs must be 0 or more, got -1',
    );
    const t = createTelemetry({ endpoint: collector.endpoint, stateDir: stateDir(), metrics: { otlp: false }, env: {}, export: { lingerMs: 0 } });
    const d = syntheticDetection();
    t.emit(d);
    await t.forceFlush(20_000);
    await t.shutdown();
    assert.deepEqual(t.status().delivered, { logs: 1, traces: 1 });
  });
});

describe('per-signal senders', () => {
  let collector: TestCollector;

  before(async () => {
    collector = await TestCollector.start();
  });

  after(async () => {
    await collector?.dispose();
  });

  test('log records leave at once while spans wait out their own linger', async () => {
    const t = createTelemetry({
      endpoint: collector.endpoint,
      stateDir: stateDir(),
      metrics: { otlp: false },
      env: {},
      export: { traceLingerMs: 60_000 },
    });
    try {
      const d = syntheticDetection();
      t.emit(d);
      await waitFor('the log record at the Collector', () =>
        collector.readLogs().find((l) => l.attributes['kubesentry.detection.id'] === d.id),
      );
      assert.equal(t.status().delivered.logs, 1);
      assert.equal(t.status().delivered.traces, 0, 'spans are still lingering');
      assert.ok(t.status().pending.traces > 0, 'and spooled, not lost');
    } finally {
      await t.shutdown(500);
    }
  });
});

describe('incident boundaries', () => {
  let collector: TestCollector;
  let telemetry: Telemetry;

  before(async () => {
    collector = await TestCollector.start();
    telemetry = createTelemetry({
      endpoint: collector.endpoint,
      stateDir: stateDir(),
      incidentQuietWindowMs: 60_000,
      hostName: 'node-under-test',
      metrics: { otlp: false },
      env: {},
    });
  });

  after(async () => {
    await telemetry?.shutdown();
    await collector?.dispose();
  });

  async function traceIdsOf(...ids: string[]): Promise<string[]> {
    const logs = await waitFor('the log records', () => {
      const found = ids.map((id) => collector.readLogs().find((l) => l.attributes['kubesentry.detection.id'] === id));
      return found.every((l) => l !== undefined) ? found : undefined;
    });
    return logs.map((l) => l!.traceId!);
  }

  test('after the quiet window (in detection time) the same container starts a new trace', async () => {
    const containerId = 'd'.repeat(64);
    const t0 = BigInt(Date.now()) * 1_000_000n;
    const a = syntheticDetection({ containerId, timeUnixNs: t0 });
    const b = syntheticDetection({ containerId, timeUnixNs: t0 + 59_000_000_000n });
    const c = syntheticDetection({ containerId, timeUnixNs: t0 + 59_000_000_000n + 61_000_000_000n });
    for (const d of [a, b, c]) telemetry.emit(d);
    await telemetry.forceFlush();
    const [ta, tb, tc] = await traceIdsOf(a.id, b.id, c.id);
    assert.equal(ta, tb, 'within the window');
    assert.notEqual(tb, tc, 'after 61 s of quiet');
    const spansOfC = await waitFor('the new trace re-exports its ancestry', () => {
      const found = collector.readSpans().filter((s) => s.traceId === tc);
      return found.length === 4 ? found : undefined;
    });
    assert.equal(spansOfC.filter((s) => s.attributes['kubesentry.process.start_boottime_ns'] !== undefined).length, 3);
  });

  test('host processes (no container.id) share one incident per host', async () => {
    const host1 = syntheticDetection();
    const host2 = syntheticDetection();
    for (const d of [host1, host2]) {
      delete d.attributes['container.id'];
      telemetry.emit(d);
    }
    await telemetry.forceFlush();
    const [t1, t2] = await traceIdsOf(host1.id, host2.id);
    assert.equal(t1, t2);
    const container = syntheticDetection();
    telemetry.emit(container);
    await telemetry.forceFlush();
    const [t3] = await traceIdsOf(container.id);
    assert.notEqual(t3, t1, 'a container detection is not part of the host incident');
  });
});

describe('telemetry configuration', () => {
  test('plaintext to a non-loopback endpoint needs insecure: true', () => {
    assert.throws(
      () => createTelemetry({ endpoint: 'http://collector.example:4317', stateDir: stateDir(), env: {} }),
      (e: Error) => e instanceof TelemetryConfigError && /refusing plaintext OTLP to non-loopback endpoint/.test(e.message),
    );
  });

  test('explicit settings override OTEL_* environment variables', async () => {
    const t = createTelemetry({
      stateDir: stateDir(),
      serviceName: 'explicit',
      metrics: { otlp: false },
      env: {
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector.example:4317',
        OTEL_EXPORTER_OTLP_INSECURE: 'true',
        OTEL_SERVICE_NAME: 'from-env',
        OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=prod,k8s.cluster.name=env-cluster',
      },
      clusterName: 'explicit-cluster',
    });
    try {
      assert.equal(t.resource.attributes['service.name'], 'explicit');
      assert.equal(t.resource.attributes['k8s.cluster.name'], 'explicit-cluster');
      assert.equal(t.resource.attributes['deployment.environment.name'], 'prod');
    } finally {
      await t.shutdown(1);
    }
  });

  test('a malformed OTEL_EXPORTER_OTLP_HEADERS gives a one-line error', () => {
    assert.throws(
      () => createTelemetry({ stateDir: stateDir(), env: { OTEL_EXPORTER_OTLP_HEADERS: 'novalue' } }),
      /OTEL_EXPORTER_OTLP_HEADERS entry is not key=value: novalue/,
    );
  });
});
