// The agent's own TLS settings: a Collector behind a certificate from a CA the test makes is reached with
// --otlp.ca-file; with the wrong CA nothing is delivered and the agent's log says it is the certificate.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startAgent } from '../helpers/agent.ts';
import { startContainer, type Container } from '../helpers/podman.ts';
import { waitFor } from '../helpers/wait.ts';
import { TestCollector } from '../otelcol/collector.ts';
import { makePki, type TestPki } from '../otelcol/pki.ts';

let pki: TestPki;
let collector: TestCollector;
let container: Container;

before(async () => {
  pki = makePki(mkdtempSync(path.join(tmpdir(), 'kubesentry-agent-tls-')));
  collector = await TestCollector.start({ tls: { certFile: pki.cert, keyFile: pki.key } });
  container = await startContainer({ podUid: randomUUID() });
});
after(async () => {
  await container?.remove();
  await collector?.dispose();
});

async function detect(): Promise<void> {
  const r = await container.exec(['unshare', '-U', 'true']);
  assert.equal(r.code, 0, r.stderr);
}

test('with the CA that signed the Collector the detection is delivered over TLS', async () => {
  assert.match(collector.endpoint, /^https:/);
  const agent = await startAgent({ args: ['--otlp.endpoint', collector.endpoint, '--otlp.ca-file', pki.ca] });
  try {
    await detect();
    const d = await agent.waitForDetection((x) => x.attributes['container.id'] === container.id, 'the detection');
    await waitFor(
      () => collector.readLogs().some((l) => l.attributes['kubesentry.detection.id'] === d.attributes['kubesentry.detection.id']),
      { what: 'the detection at the TLS Collector', timeoutMs: 60_000, intervalMs: 100 },
    );
  } finally {
    await agent.stop();
  }
});

test('with a wrong CA nothing is delivered and the agent logs a certificate error', async () => {
  const agent = await startAgent({ args: ['--otlp.endpoint', collector.endpoint, '--otlp.ca-file', pki.wrongCa] });
  try {
    const before = new Set(collector.readLogs().map((l) => String(l.attributes['kubesentry.detection.id'])));
    await detect();
    const d = await agent.waitForDetection(
      (x) => x.attributes['container.id'] === container.id && !before.has(String(x.attributes['kubesentry.detection.id'])),
      'the detection',
    );
    const line = await agent.process.waitForLine(/OTLP export of logs .* failed: UNAVAILABLE: .*certificate/i, 60_000);
    assert.ok(line);
    assert.ok(!collector.readLogs().some((l) => l.attributes['kubesentry.detection.id'] === d.attributes['kubesentry.detection.id']));
  } finally {
    await agent.stop();
  }
});
