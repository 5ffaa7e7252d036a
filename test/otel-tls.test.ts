// TLS to the real Collector with a CA generated here: the right CA delivers, a wrong one fails with a clear error.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createTelemetry } from '../src/otel/index.ts';
import { TestCollector, waitFor } from './otelcol/collector.ts';
import { makePki, type TestPki } from './otelcol/pki.ts';
import { syntheticDetection } from './otelcol/syntheticDetections.ts';

describe('OTLP over TLS', () => {
  let dir: string;
  let pki: TestPki;
  let collector: TestCollector;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubesentry-otel-tls-'));
    pki = makePki(dir);
    collector = await TestCollector.start({ tls: { certFile: pki.cert, keyFile: pki.key } });
  });

  after(async () => {
    await collector?.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('with the CA that signed the Collector certificate, detections arrive', async () => {
    assert.match(collector.endpoint, /^https:/);
    const telemetry = createTelemetry({
      endpoint: collector.endpoint,
      caFile: pki.ca,
      stateDir: path.join(dir, 'state-good'),
      metrics: { otlp: false },
      env: {},
    });
    try {
      const d = syntheticDetection();
      telemetry.emit(d);
      await telemetry.forceFlush(20_000);
      await waitFor('the detection over TLS', () =>
        collector.readLogs().find((l) => l.attributes['kubesentry.detection.id'] === d.id),
      );
    } finally {
      await telemetry.shutdown();
    }
  });

  test('the CA can come from OTEL_EXPORTER_OTLP_CERTIFICATE', async () => {
    const telemetry = createTelemetry({
      stateDir: path.join(dir, 'state-env'),
      metrics: { otlp: false },
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint, OTEL_EXPORTER_OTLP_CERTIFICATE: pki.ca },
    });
    try {
      const d = syntheticDetection();
      telemetry.emit(d);
      await telemetry.forceFlush(20_000);
    } finally {
      await telemetry.shutdown();
    }
  });

  test('with a wrong CA nothing is delivered and the error says why', async () => {
    const diagnostics: string[] = [];
    const telemetry = createTelemetry({
      endpoint: collector.endpoint,
      caFile: pki.wrongCa,
      stateDir: path.join(dir, 'state-bad'),
      metrics: { otlp: false },
      export: { initialBackoffMs: 100, maxBackoffMs: 500 },
      onDiagnostic: (m) => diagnostics.push(m),
      env: {},
    });
    try {
      const d = syntheticDetection();
      telemetry.emit(d);
      await assert.rejects(telemetry.forceFlush(3_000), /1 log records and 1 span batches still undelivered after 3000 ms; last export error: UNAVAILABLE: .*certificate/);
      assert.match(telemetry.status().lastError ?? '', /certificate/);
      assert.ok(diagnostics.some((m) => m.includes(`failed: UNAVAILABLE`) && m.includes('certificate')), diagnostics.join('\n'));
      assert.equal(telemetry.status().pending.logs, 1, 'the detection stays spooled for a later, corrected start');
      assert.ok(!collector.readLogs().some((l) => l.attributes['kubesentry.detection.id'] === d.id));
    } finally {
      await telemetry.shutdown(1);
    }
  });

  test('mTLS: a client certificate from OTEL_EXPORTER_OTLP_CLIENT_* is accepted where one is required; none is refused', async () => {
    const mtls = await TestCollector.start({ tls: { certFile: pki.cert, keyFile: pki.key, clientCaFile: pki.ca } });
    const withCert = createTelemetry({
      stateDir: path.join(dir, 'state-mtls'),
      metrics: { otlp: false },
      env: {
        OTEL_EXPORTER_OTLP_ENDPOINT: mtls.endpoint,
        OTEL_EXPORTER_OTLP_CERTIFICATE: pki.ca,
        OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE: pki.clientCert,
        OTEL_EXPORTER_OTLP_CLIENT_KEY: pki.clientKey,
      },
    });
    const withoutCert = createTelemetry({
      endpoint: mtls.endpoint,
      caFile: pki.ca,
      stateDir: path.join(dir, 'state-no-client-cert'),
      metrics: { otlp: false },
      export: { initialBackoffMs: 100, maxBackoffMs: 500 },
      env: {},
    });
    try {
      const d = syntheticDetection();
      withCert.emit(d);
      await withCert.forceFlush(20_000);
      await waitFor('the mTLS detection', () => mtls.readLogs().find((l) => l.attributes['kubesentry.detection.id'] === d.id));
      withoutCert.emit(syntheticDetection());
      await assert.rejects(withoutCert.forceFlush(3_000), /still undelivered/);
      assert.equal(withoutCert.status().delivered.logs, 0);
    } finally {
      await withCert.shutdown();
      await withoutCert.shutdown(1);
      await mtls.dispose();
    }
  });

  test('a client key without a client certificate is a configuration error', () => {
    assert.throws(
      () => createTelemetry({ endpoint: collector.endpoint, clientKeyFile: pki.clientKey, stateDir: path.join(dir, 's2'), env: {} }),
      /client key and client certificate must be given together/,
    );
  });

  test('a missing CA file is a one-line configuration error', () => {
    assert.throws(
      () => createTelemetry({ endpoint: collector.endpoint, caFile: path.join(dir, 'nope.pem'), stateDir: path.join(dir, 's'), env: {} }),
      /^TelemetryConfigError: telemetry: cannot read CA certificate .*nope\.pem: ENOENT/,
    );
  });
});
