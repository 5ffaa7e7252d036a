// The behavioural baseline (KS-BL-001) end to end, with windows compressed to seconds: a busybox httpd container
// serving a request loop from a client container, with an exec probe every second or two, learns until every class
// of its profile is stable (read from the profile the agent persists). Then each novelty — a shell exec'd in, a
// binary copied to /tmp and run, `nc -l` (a listening port), a connect to a new port, a UDP connect to a port learned
// over TCP, a DNS query for a new domain — is reported
// exactly once with its class and severity, also when repeated 20 times; the normal traffic and probes never are.
// The agent is then SIGKILLed and restarted on the same state directory: the profile is still stable, nothing is
// relearned, and what was reported is not reported again.
//
// No Kubernetes API and no runtime socket here, so the profile key is the container's (container/<id>); the key
// rules themselves are covered in test/baseline/detector.test.ts.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startAgent, type JsonDetection, type RunningAgent } from '../helpers/agent.ts';
import { startExecProbe, type ExecProbe } from '../helpers/execProbe.ts';
import { startContainer, type Container } from '../helpers/podman.ts';
import { run } from '../helpers/run.ts';
import { waitFor } from '../helpers/wait.ts';
import { freeLoopbackPort } from '../otelcol/collector.ts';
import { SIMULATOR_BUILD_DIR, SIMULATOR_MOUNT } from '../../src/simulate/scenarios.ts';

const RULE = 'KS-BL-001';
const SIMULATOR_DIR = fileURLToPath(new URL(`../../${SIMULATOR_BUILD_DIR}`, import.meta.url));
const NEW_DOMAIN = 'baseline-novelty.example';
// Not a mining pool port, so only the baseline has a reason to report it.
const NEW_PORT = 9876;
const BASELINE_ARGS = [
  '--baseline.min-learning-ms', '15000',
  '--baseline.quiet-ms', '6000',
  '--baseline.warmup-ms', '3000',
  '--baseline.persist-interval-ms', '300',
];

let agent: RunningAgent;
let stateDir: string;
const containers: Container[] = [];
let server: Container;
let probe: ExecProbe | undefined;

before(async () => {
  assert.ok(existsSync(`${SIMULATOR_DIR}/dns_query`), `simulator programs are built in ${SIMULATOR_DIR} (make simulator)`);
  agent = await startAgent({ args: BASELINE_ARGS });
  stateDir = agent.stateDir;
});

after(async () => {
  await probe?.stop();
  await agent?.stop();
  for (const c of containers) await c.remove().catch(() => {});
});

const ours = (d: JsonDetection) => d.rule === RULE && d.attributes['container.id'] === server.id;
const baselineDetections = () => agent.detections().filter(ours);

interface PersistedClass {
  state: string;
}
function persistedProfile(): { key: string; classes: Record<string, PersistedClass> } | undefined {
  const dir = path.join(stateDir, 'baseline');
  if (!existsSync(dir)) return undefined;
  for (const name of readdirSync(dir).filter((n) => n.endsWith('.json'))) {
    const profile = JSON.parse(readFileSync(path.join(dir, name), 'utf8'));
    if (profile.key === `container/${server.id}`) return profile;
  }
  return undefined;
}

async function inServer(script: string): Promise<void> {
  await server.exec(['sh', '-c', script], { timeoutMs: 60_000 });
}

/** Waits for exactly one detection of (class, item), then checks its severity and state. */
async function reportedOnce(cls: string, item: string | RegExp, severity: string): Promise<JsonDetection> {
  const matches = (d: JsonDetection) =>
    d.attributes['kubesentry.baseline.class'] === cls &&
    (typeof item === 'string' ? d.attributes['kubesentry.baseline.item'] === item : item.test(String(d.attributes['kubesentry.baseline.item'])));
  const found = await agent.waitForDetection((d) => ours(d) && matches(d), `${cls} ${item}`, 60_000);
  assert.equal(found.severity, severity, `${cls} ${item}: ${found.summary}`);
  assert.equal(found.category, 'baseline');
  assert.equal(found.attributes['kubesentry.baseline.state'], 'stable');
  assert.equal(found.attributes['kubesentry.baseline.rate_limited_summary'], undefined, `${cls} ${item} reported on its own`);
  assert.equal(baselineDetections().filter(matches).length, 1, `${cls} ${item} once`);
  return found;
}

test('a learned busybox httpd workload reports each novelty once, never its normal traffic, and stays stable across a SIGKILL', async () => {
  server = await startContainer({
    podUid: randomUUID(),
    cmd: ['httpd', '-f', '-p', '8080', '-h', '/etc'],
    extraArgs: ['-v', `${SIMULATOR_DIR}:${SIMULATOR_MOUNT}:ro`],
  });
  containers.push(server);
  const inspected = await run('podman', ['inspect', '--format', '{{.NetworkSettings.IPAddress}}', server.id]);
  const serverIp = inspected.stdout.trim();
  assert.match(serverIp, /^\d+\.\d+\.\d+\.\d+$/, `server address: ${inspected.stdout} ${inspected.stderr}`);
  const client = await startContainer({
    podUid: randomUUID(),
    cmd: ['sh', '-c', `while true; do wget -q -O /dev/null http://${serverIp}:8080/group; sleep 1; done`],
  });
  containers.push(client);
  // The kubelet's exec probe: the runtime execs a command into the container every few seconds.
  probe = startExecProbe(() => [server], ['wget', '-q', '-O', '/dev/null', 'http://127.0.0.1:8080/group']);

  // Learning: every class of the profile becomes stable.
  await waitFor(
    () => {
      const p = persistedProfile();
      return p !== undefined && Object.values(p.classes).every((c) => c.state === 'stable');
    },
    { what: 'every class of the httpd profile stable', timeoutMs: 180_000, intervalMs: 250 },
  );
  // A few more probe and request cycles in the stable state: none of it is new.
  await probe.roundsFromNow(3, 'three probes in the stable state');
  assert.deepEqual(baselineDetections().map((d) => d.summary), [], 'normal traffic and probes are not reported');

  // A shell exec'd into the container, 20 times.
  for (let i = 0; i < 20; i++) await server.exec(['sh', '-c', 'id'], { timeoutMs: 30_000 });
  const shell = await reportedOnce('exec', '/bin/sh [root]', 'high');
  assert.equal(shell.attributes['kubesentry.baseline.exec_pair'], '<outside-container> -> /bin/sh');
  assert.equal(shell.attributes['kubesentry.baseline.interactive'], true, 'exec\'d through the runtime, not by httpd');

  // A binary copied to /tmp and run, 20 times.
  await inServer('cp /bin/busybox /tmp/true && for i in $(seq 1 20); do /tmp/true; done');
  await reportedOnce('exec', '/tmp/true [root,writable]', 'medium');

  // nc listening on 4444, 20 times: a new listening port (medium), and a new executable (busybox `timeout` runs
  // the nc applet by re-executing itself through /proc/self/exe), each once.
  await inServer('for i in $(seq 1 20); do timeout 1 nc -l -p 4444; done; true');
  await reportedOnce('listen', 'tcp:4444', 'medium');
  await reportedOnce('exec', '/proc/self/exe as nc [root]', 'high');

  // A connect to a new port, 20 times (refused: nothing listens there).
  await inServer(`for i in $(seq 1 20); do wget -q -O /dev/null http://127.0.0.1:${NEW_PORT}/ 2>/dev/null; done; true`);
  await reportedOnce('connect', `tcp loopback:${NEW_PORT}`, 'low');

  // A DNS query for a new domain, 20 times.
  await inServer(`for i in $(seq 1 20); do ${SIMULATOR_MOUNT}/dns_query ${NEW_DOMAIN}; done`);
  await reportedOnce('dns', NEW_DOMAIN, 'low');

  // Nothing the workload normally does was reported: every detection is one of the novelties above (and the
  // helpers they ran: id, cp, seq, timeout, the simulator).
  const normal = /\/usr\/bin\/wget|tcp loopback:8080|\/usr\/sbin\/httpd|tcp:8080/;
  for (const d of baselineDetections()) {
    assert.doesNotMatch(String(d.attributes['kubesentry.baseline.item']), normal, d.summary);
  }
  assert.ok(baselineDetections().every((d) => d.attributes['kubesentry.baseline.profile'] === `container/${server.id}`));

  // SIGKILL and restart on the same state directory.
  const reportedBefore = baselineDetections().length;
  const killed = await agent.process.kill('SIGKILL');
  assert.equal(killed.signal, 'SIGKILL');
  const metricsPort = await freeLoopbackPort();
  agent = await startAgent({ args: [...BASELINE_ARGS, '--prometheus.listen', `127.0.0.1:${metricsPort}`], stateDir });
  // The same novelties again, and the probes carry on: nothing is reported (dedupe survived the restart)...
  for (let i = 0; i < 3; i++) await server.exec(['sh', '-c', 'id'], { timeoutMs: 30_000 });
  // ...while a new one is, from a profile that is still stable (not relearning: that would report nothing).
  await server.exec(['ls', '/'], { timeoutMs: 30_000 });
  const novelAfterRestart = await reportedOnce('exec', '/bin/ls [root]', 'medium');
  assert.equal(novelAfterRestart.attributes['kubesentry.baseline.profile'], `container/${server.id}`);
  // A UDP connect to the port the probes reach over TCP, 20 times: the protocol is part of what was learned. (Here,
  // not with the novelties above: those and the helpers they exec spend the minute's budget of 10.)
  await inServer(`for i in $(seq 1 20); do ${SIMULATOR_MOUNT}/connect_to udp 127.0.0.1 8080; done`);
  await reportedOnce('connect', 'udp loopback:8080', 'low');
  const afterRestart = baselineDetections();
  assert.deepEqual(
    afterRestart.map((d) => d.attributes['kubesentry.baseline.item']).filter((item) => /\/bin\/sh|\/bin\/id/.test(String(item))),
    [],
    'the restarted agent reported the shell again',
  );
  assert.ok(reportedBefore > 0);
  // The metrics say the same: a stable profile, the new executable counted by class and severity.
  const scrape = () => fetch(`http://127.0.0.1:${metricsPort}/metrics`).then((r) => r.text()).catch(() => '');
  const metrics = await waitFor(
    async () => {
      const text = await scrape();
      return /kubesentry_baseline_deviations_total\{[^}]*kubesentry_baseline_class="exec"[^}]*\} [1-9]/.test(text) ? text : undefined;
    },
    { what: 'the exec deviation in the metrics', timeoutMs: 30_000, intervalMs: 250 },
  );
  assert.match(metrics, /kubesentry_baseline_profiles\{[^}]*kubesentry_baseline_state="stable"[^}]*\} [1-9]/);
  assert.match(metrics, /kubesentry_baseline_deviations_suppressed_total\{[^}]*kubesentry_baseline_suppress_reason="duplicate"[^}]*\} [1-9]/);
  assert.deepEqual(
    Object.values(persistedProfile()!.classes).map((c) => c.state),
    Object.values(persistedProfile()!.classes).map(() => 'stable'),
  );
});
