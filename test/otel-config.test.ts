// The shipped Collector configs: validated by the real Collector, checked for the delivery properties we rely on,
// and run end to end: Telemetry → agent.yaml Collector → gateway.yaml Collector (TLS) → stand-ins for Loki and Tempo.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { createTelemetry } from '../src/otel/index.ts';
import { collectorBinary, freeLoopbackPort, runCollectorWithConfig, TestCollector, waitFor } from './otelcol/collector.ts';
import { makePki } from './otelcol/pki.ts';
import { syntheticDetection } from './otelcol/syntheticDetections.ts';

const configDir = fileURLToPath(new URL('../otel-collector-config/', import.meta.url));
const CONFIGS = ['agent.yaml', 'gateway.yaml'];

function validate(file: string): { status: number | null; output: string } {
  const result = spawnSync(collectorBinary(), ['validate', '--config', file], { encoding: 'utf8' });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

describe('shipped Collector configs', () => {
  for (const name of CONFIGS) {
    test(`${name} passes the real Collector's validate`, () => {
      const { status, output } = validate(path.join(configDir, name));
      assert.equal(status, 0, output);
    });

    test(`${name}: memory_limiter first, persistent queues with unlimited retry, no IP-based pod association`, () => {
      const config = parse(fs.readFileSync(path.join(configDir, name), 'utf8'));
      for (const [pipelineName, pipeline] of Object.entries<any>(config.service.pipelines)) {
        assert.equal(pipeline.processors[0], 'memory_limiter', `${pipelineName}: memory_limiter first`);
        assert.ok(pipeline.processors.includes('batch'), `${pipelineName}: batch`);
      }
      for (const [exporterName, exporter] of Object.entries<any>(config.exporters)) {
        assert.equal(exporter.sending_queue?.enabled, true, `${exporterName}: sending_queue`);
        assert.ok(String(exporter.sending_queue.storage).startsWith('file_storage'), `${exporterName}: queue on disk`);
        assert.ok(config.service.extensions.includes(exporter.sending_queue.storage), `${exporterName}: storage extension enabled`);
        assert.equal(exporter.retry_on_failure?.enabled, true, `${exporterName}: retry_on_failure`);
      }
      for (const [processorName, processor] of Object.entries<any>(config.processors)) {
        if (!processorName.startsWith('k8sattributes')) continue;
        const sources = (processor.pod_association ?? []).flatMap((a: any) => a.sources ?? []);
        assert.ok(sources.length > 0, `${processorName}: explicit pod_association`);
        for (const source of sources) assert.deepEqual(source, { from: 'resource_attribute', name: 'k8s.pod.uid' });
      }
    });
  }

  test('gateway.yaml sends logs to a Loki native OTLP endpoint (…/otlp) over otlp_http', () => {
    const config = parse(fs.readFileSync(path.join(configDir, 'gateway.yaml'), 'utf8'));
    const logExporters: string[] = config.service.pipelines.logs.exporters;
    assert.ok(logExporters.every((e) => e.startsWith('otlp_http')));
    for (const e of logExporters) assert.match(config.exporters[e].endpoint, /\/otlp\}?$/);
  });

  test('validate rejects a config that references an undefined component (the check is not a no-op)', () => {
    const broken = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'kubesentry-otelcfg-')), 'broken.yaml');
    const text = fs.readFileSync(path.join(configDir, 'agent.yaml'), 'utf8').replace('processors: [memory_limiter, batch]', 'processors: [memory_limiter, batchh]');
    fs.writeFileSync(broken, text);
    const { status, output } = validate(broken);
    assert.notEqual(status, 0);
    assert.match(output, /batchh/);
  });
});

describe('agent.yaml → gateway.yaml → Loki/Tempo stand-ins', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  test('a detection travels through both shipped configs: log to the Loki OTLP path, spans to Tempo', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubesentry-otel-chain-'));
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const pki = makePki(dir);

    // Loki stand-in: a Collector whose OTLP/HTTP logs path is Loki's (/otlp/v1/logs); Tempo stand-in: OTLP/gRPC.
    const loki = await TestCollector.start({ http: { logsPath: '/otlp/v1/logs' } });
    cleanups.push(() => loki.dispose());
    const tempo = await TestCollector.start();
    cleanups.push(() => tempo.dispose());

    const [gatewayPort, gatewayHealth, gatewayMetrics, agentPort, agentHealth, agentMetrics] = await Promise.all(
      Array.from({ length: 6 }, () => freeLoopbackPort()),
    );
    const gateway = await runCollectorWithConfig(path.join(configDir, 'gateway.yaml'), {
      RECEIVER_ENDPOINT: `127.0.0.1:${gatewayPort}`,
      HEALTH_ENDPOINT: `127.0.0.1:${gatewayHealth}`,
      TELEMETRY_METRICS_HOST: '127.0.0.1',
      TELEMETRY_METRICS_PORT: String(gatewayMetrics),
      TLS_CERT_FILE: pki.cert,
      TLS_KEY_FILE: pki.key,
      LOKI_OTLP_ENDPOINT: `${loki.httpEndpoint}/otlp`,
      TEMPO_OTLP_ENDPOINT: `127.0.0.1:${tempo.port}`,
      PROMETHEUS_OTLP_ENDPOINT: loki.httpEndpoint!,
      QUEUE_DIR: path.join(dir, 'gateway-queue'),
    }, gatewayPort);
    cleanups.push(() => gateway.stop());
    const agentCollector = await runCollectorWithConfig(path.join(configDir, 'agent.yaml'), {
      RECEIVER_ENDPOINT: `127.0.0.1:${agentPort}`,
      HEALTH_ENDPOINT: `127.0.0.1:${agentHealth}`,
      TELEMETRY_METRICS_HOST: '127.0.0.1',
      TELEMETRY_METRICS_PORT: String(agentMetrics),
      GATEWAY_OTLP_ENDPOINT: `127.0.0.1:${gatewayPort}`,
      GATEWAY_CA_FILE: pki.ca,
      QUEUE_DIR: path.join(dir, 'agent-queue'),
    }, agentPort);
    cleanups.push(() => agentCollector.stop());

    const telemetry = createTelemetry({
      endpoint: `http://127.0.0.1:${agentPort}`,
      stateDir: path.join(dir, 'agent-state'),
      metrics: { otlp: false },
      env: {},
    });
    cleanups.push(() => telemetry.shutdown(1));
    const d = syntheticDetection();
    telemetry.emit(d);
    await telemetry.forceFlush(20_000);

    const log = await waitFor('the detection at the Loki stand-in', () =>
      loki.readLogs().find((l) => l.attributes['kubesentry.detection.id'] === d.id), 60_000);
    assert.equal(log.eventName, 'kubesentry.detection');
    const spans = await waitFor('the incident spans at the Tempo stand-in', () => {
      const found = tempo.readSpans().filter((s) => s.traceId === log.traceId);
      return found.length === 4 ? found : undefined;
    }, 60_000);
    assert.ok(spans.some((s) => s.spanId === log.spanId));
  });
});
