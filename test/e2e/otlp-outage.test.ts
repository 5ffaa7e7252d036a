// No detection is lost to a Collector outage, even across an agent crash: with the Collector down, the real agent
// produces 1,000 detections from a real container, is SIGKILLed, restarts on the same state directory, and once
// the Collector is back every one of the 1,000 arrives (deduplicated by detection id).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startAgent } from '../helpers/agent.ts';
import { startContainer } from '../helpers/podman.ts';
import { waitFor } from '../helpers/wait.ts';
import { freeLoopbackPort, TestCollector } from '../otelcol/collector.ts';

const DETECTIONS = 1000;
const OUTAGE_MS = 60_000;

test('1,000 detections made during a 60 s Collector outage all arrive, across a SIGKILL and restart of the agent', async () => {
  const collector = await TestCollector.start();
  await collector.stop();
  const outageStarted = Date.now();
  const stateDir = mkdtempSync(path.join(tmpdir(), 'kubesentry-outage-'));
  const metricsPort = await freeLoopbackPort();
  const args = ['--otlp.endpoint', collector.endpoint, '--spool.fsync', 'always', '--prometheus.listen', `127.0.0.1:${metricsPort}`];
  const container = await startContainer({ podUid: randomUUID() });
  let agent = await startAgent({ stateDir, args });
  try {
    // Each `unshare -U` in a container is one high-severity KS-ESC-001 detection.
    const made = await container.exec(['sh', '-c', `i=0; while [ $i -lt ${DETECTIONS} ]; do unshare -U true || exit 1; i=$((i+1)); done`], {
      timeoutMs: 300_000,
    });
    assert.equal(made.code, 0, made.stderr);
    const ids = await waitFor(() => {
      const mine = agent.detections().filter((d) => d.attributes['container.id'] === container.id);
      return mine.length >= DETECTIONS ? mine.map((d) => String(d.attributes['kubesentry.detection.id'])) : undefined;
    }, { what: `${DETECTIONS} detections in the agent's output`, timeoutMs: 120_000, intervalMs: 200 });
    assert.equal(new Set(ids).size, DETECTIONS);

    // Emitting never waits for the disk; the spool's own gauge says when every record is on it (fsync: always).
    await waitFor(async () => {
      const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      const depth = /^kubesentry_export_queue_depth\{[^}]*"logs"[^}]*\} (\d+)/m.exec(text);
      return depth && Number(depth[1]) >= DETECTIONS ? true : undefined;
    }, { what: `${DETECTIONS} log records in the agent's spool`, timeoutMs: 60_000, intervalMs: 250 });
    const killed = await agent.process.kill('SIGKILL');
    assert.equal(killed.signal, 'SIGKILL');
    agent = await startAgent({ stateDir, args });

    const remaining = OUTAGE_MS - (Date.now() - outageStarted);
    if (remaining > 0) await waitFor(() => Date.now() - outageStarted >= OUTAGE_MS || undefined, { what: 'the end of the outage window', timeoutMs: remaining + 5_000, intervalMs: 500 });
    await collector.start();

    const wanted = new Set(ids);
    await waitFor(() => {
      const arrived = new Set(collector.readLogs().map((l) => String(l.attributes['kubesentry.detection.id'])));
      return [...wanted].every((id) => arrived.has(id)) || undefined;
    }, { what: `all ${DETECTIONS} detection ids at the Collector`, timeoutMs: 180_000, intervalMs: 500 });
  } finally {
    await agent.stop();
    await container.remove();
    await collector.dispose();
  }
});
