// TLS to the real Collector with a CA generated here: the right CA delivers, a wrong one fails with a clear error.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createTelemetry } from '../src/otel/index.ts';
import { TestCollector, waitFor } from './otelcol/collector.ts';
import { syntheticDetection } from './otelcol/syntheticDetections.ts';

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A CA and a server certificate for 127.0.0.1 signed by it; plus an unrelated CA. */
function makePki(dir: string): { ca: string; wrongCa: string; cert: string; key: string } {
  const p = (name: string): string => path.join(dir, name);
  for (const name of ['ca', 'wrong-ca']) {
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=kubesentry test ${name}`,
      '-keyout', p(`${name}.key`), '-out', p(`${name}.pem`));
  }
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', p('server.key'), '-out', p('server.csr'));
  fs.writeFileSync(p('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  openssl('x509', '-req', '-in', p('server.csr'), '-CA', p('ca.pem'), '-CAkey', p('ca.key'), '-CAcreateserial',
    '-days', '2', '-extfile', p('server.ext'), '-out', p('server.pem'));
  return { ca: p('ca.pem'), wrongCa: p('wrong-ca.pem'), cert: p('server.pem'), key: p('server.key') };
}

describe('OTLP over TLS', () => {
  let dir: string;
  let pki: ReturnType<typeof makePki>;
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

  test('a missing CA file is a one-line configuration error', () => {
    assert.throws(
      () => createTelemetry({ endpoint: collector.endpoint, caFile: path.join(dir, 'nope.pem'), stateDir: path.join(dir, 's'), env: {} }),
      /^TelemetryConfigError: telemetry: cannot read CA certificate .*nope\.pem: ENOENT/,
    );
  });
});
