// A workload that never settles, end to end: a busybox container that, from its start, copies busybox to a new
// random name in /tmp and runs it every fraction of a second. Names are random letters (no digits or hex runs),
// so they do not collapse into one learned pattern, as an attacker's would not. With windows compressed to seconds
// its exec classes are still learning new items at the maximum learning time: they end unstable, each says so once
// (one info KS-BL-001 status), and the execs after it are counted, never reported one by one.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { startAgent, type JsonDetection, type RunningAgent } from '../helpers/agent.ts';
import { startContainer, type Container } from '../helpers/podman.ts';
import { waitFor } from '../helpers/wait.ts';
import { freeLoopbackPort } from '../otelcol/collector.ts';

const RULE = 'KS-BL-001';
const MAX_LEARNING_MS = 15_000;

let agent: RunningAgent;
let metricsPort: number;
const containers: Container[] = [];

before(async () => {
  metricsPort = await freeLoopbackPort();
  agent = await startAgent({
    args: [
      '--baseline.min-learning-ms', '6000',
      '--baseline.quiet-ms', '4000',
      '--baseline.max-learning-ms', String(MAX_LEARNING_MS),
      '--baseline.warmup-ms', '1000',
      '--baseline.persist-interval-ms', '300',
      '--prometheus.listen', `127.0.0.1:${metricsPort}`,
    ],
  });
});

after(async () => {
  await agent?.stop();
  for (const c of containers) await c.remove().catch(() => {});
});

async function suppressedUnstable(): Promise<number> {
  const text = await fetch(`http://127.0.0.1:${metricsPort}/metrics`).then((r) => r.text()).catch(() => '');
  const line = text.split('\n').find((l) => /^kubesentry_baseline_deviations_suppressed_total\{[^}]*suppress_reason="unstable"/.test(l));
  return line === undefined ? 0 : Number(line.split(' ').at(-1));
}

test('a workload that execs random binaries while learning ends unstable in its exec classes with one status each', async () => {
  const randomName = 'tr 0-9a-f g-v < /proc/sys/kernel/random/uuid | tr -d -';
  const c = await startContainer({
    podUid: randomUUID(),
    cmd: ['sh', '-c', `while true; do n=/tmp/$(${randomName}); cp /bin/busybox $n; $n true 2>/dev/null; rm -f $n; sleep 0.2; done`],
  });
  containers.push(c);
  const ours = (d: JsonDetection) => d.rule === RULE && d.attributes['container.id'] === c.id;
  const persistedClasses = (): Record<string, { state: string; items: string[] }> | undefined => {
    const dir = path.join(agent.stateDir, 'baseline');
    if (!existsSync(dir)) return undefined;
    for (const name of readdirSync(dir).filter((n) => n.endsWith('.json'))) {
      const p = JSON.parse(readFileSync(path.join(dir, name), 'utf8'));
      if (p.key === `container/${c.id}`) return p.classes;
    }
    return undefined;
  };

  const status = await agent.waitForDetection(
    (d) => ours(d) && d.attributes['kubesentry.baseline.class'] === 'exec',
    'the exec class\'s status',
    MAX_LEARNING_MS + 60_000,
  );
  assert.equal(status.severity, 'info');
  assert.equal(status.attributes['kubesentry.baseline.state'], 'unstable');
  assert.match(status.summary, /is unstable \(it still learned new items after/);
  const learned = persistedClasses()?.exec.items.filter((i) => i.startsWith('/tmp/')) ?? [];
  assert.ok(learned.length >= 15, `it learned many distinct binaries before giving up (${learned.length}), none collapsed`);

  // The workload goes on: its execs are counted as not reported, and no further record appears.
  const counted = await suppressedUnstable();
  await waitFor(async () => (await suppressedUnstable()) >= counted + 20, { what: '20 more execs counted as unstable', timeoutMs: 60_000, intervalMs: 250 });
  const mine = agent.detections().filter(ours);
  assert.deepEqual(
    mine.map((d) => `${d.attributes['kubesentry.baseline.class']} ${d.severity} ${d.attributes['kubesentry.baseline.state']}`).sort(),
    ['exec info unstable', 'exec_pair info unstable'],
    mine.map((d) => d.summary).join('\n'),
  );
  assert.ok(mine.every((d) => d.attributes['kubesentry.baseline.item'] === undefined), 'no item reported one by one');
  const classes = persistedClasses()!;
  assert.equal(classes.exec.state, 'unstable');
  assert.equal(classes.connect.state, 'stable', 'the classes it was quiet in became stable');
});
