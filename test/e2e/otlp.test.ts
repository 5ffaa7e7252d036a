// A real detection through the real OpenTelemetry Collector: agent → OTLP gRPC → Collector → file exporter. The
// LogRecord carries the container's real ids and the rule, and the incident trace shows the attack as a process
// tree whose detection span is the one the LogRecord points at.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { startAgent, type RunningAgent } from '../helpers/agent.ts';
import { startContainer } from '../helpers/podman.ts';
import { parkedChildPid, parkedInit, releaseParked } from '../helpers/parked.ts';
import { waitFor } from '../helpers/wait.ts';
import { TestCollector, type CollectedSpan } from '../otelcol/collector.ts';

const RULE = 'KS-ESC-001';

let collector: TestCollector;
let agent: RunningAgent;

before(async () => {
  collector = await TestCollector.start();
  agent = await startAgent({ args: ['--otlp.endpoint', collector.endpoint] });
});
after(async () => {
  await agent?.stop();
  await collector?.dispose();
});

test('a detection in a pod container arrives at the Collector as a LogRecord linked to its process-tree trace', async () => {
  const podUid = randomUUID();
  const container = await startContainer({ podUid, cmd: parkedInit('unshare -U -r true') });
  try {
    const parked = await parkedChildPid(container);
    await releaseParked(container);

    const log = await waitFor(
      () => collector.readLogs().find((l) => l.attributes['container.id'] === container.id && l.attributes['security_rule.uuid'] !== undefined),
      { what: 'the detection LogRecord at the Collector', timeoutMs: 60_000, intervalMs: 100 },
    );
    assert.equal(log.eventName, 'kubesentry.detection');
    assert.equal(log.attributes['k8s.pod.uid'], podUid);
    assert.equal(log.attributes['process.pid'], parked);
    assert.equal(log.attributes['security_rule.category'], 'container_escape');
    assert.ok(String(log.attributes['security_rule.reference']).includes('attack.mitre.org'));
    assert.ok(log.attributes['security_rule.name']);
    assert.ok(log.attributes['kubesentry.detection.id']);
    assert.equal(log.severityText, 'ERROR', 'a high-severity detection');
    assert.equal(log.resource['service.name'], 'kubesentry');
    // The kernel's boot-time stamp converted to wall-clock: within a minute of now, before it was observed.
    const eventMs = Number(BigInt(log.timeUnixNano) / 1_000_000n);
    assert.ok(Math.abs(Date.now() - eventMs) < 60_000, `event time ${eventMs} is close to now`);
    assert.ok(BigInt(log.timeUnixNano) <= BigInt(log.observedTimeUnixNano));
    assert.ok(log.traceId && log.spanId, 'the LogRecord carries trace and span ids');

    const spans = await waitFor(() => {
      const inTrace = collector.readSpans().filter((s) => s.traceId === log.traceId);
      return inTrace.some((s) => s.spanId === log.spanId) ? inTrace : undefined;
    }, { what: 'the incident trace at the Collector', timeoutMs: 60_000, intervalMs: 100 });
    const byId = new Map<string, CollectedSpan>(spans.map((s) => [s.spanId, s]));
    const detectionSpan = byId.get(log.spanId!)!;
    assert.equal(detectionSpan.name, RULE);

    // Walk from the detection up: each parent is the process span of the next ancestor, ending at the init.
    const chain: number[] = [];
    for (let s = byId.get(detectionSpan.parentSpanId ?? ''); s; s = s.parentSpanId ? byId.get(s.parentSpanId) : undefined) {
      chain.push(Number(s.attributes['process.pid']));
      if (!s.parentSpanId) assert.equal(Number(s.attributes['process.pid']), container.initPid, 'the root span is the container init');
    }
    assert.deepEqual(chain, [parked, container.initPid]);
  } finally {
    await container.remove();
  }
});
