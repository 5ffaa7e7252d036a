// Every KS-MIN-001 signal end to end, each in its own real podman container, plus several signals in one container
// adding up to one escalating incident. Nothing mines and nothing leaves the container: the "pool" is a listener the
// simulator program opens on the container's own loopback (or, for the long-lived outbound connection, on the
// container's own non-loopback address); the DNS query goes to 127.0.0.1:53 with no answer awaited.
//
// The agent runs with miningConfidenceThreshold 0.1 so that every signal, even the weakest (pool port, 0.2), is
// reported on its own; the last test shows how signals combine. CPU saturation needs only 1 s of saturation and a
// 1 s old connection here instead of minutes, and 0.8 of the quota because other tests share the 2 CPUs.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startAgent, type RunningAgent, type JsonDetection } from '../helpers/agent.ts';
import { startContainer, type Container } from '../helpers/podman.ts';
import { SIMULATOR_BUILD_DIR, SIMULATOR_MOUNT } from '../../src/simulate/scenarios.ts';
import { MINING_SIGNAL_WEIGHTS, type MiningSignal } from '../../src/detectors/rules/CryptominingIncident.ts';

const RULE = 'KS-MIN-001';
const SIMULATOR_DIR = fileURLToPath(new URL(`../../${SIMULATOR_BUILD_DIR}`, import.meta.url));
const DETECTION_TIMEOUT_MS = 60_000;
/** Two 10 s CPU sampling periods (a baseline, then a saturated window) plus container start on a loaded machine. */
const CPU_SIGNAL_TIMEOUT_MS = 120_000;
/** A port no pool list names, so only the bytes can give stratum away. */
const NON_POOL_PORT = 3390;
const POOL_PORT = 3333;
const POOL_DOMAIN = 'pool.supportxmr.com';

const sim = (program: string, ...args: string[]) => `${SIMULATOR_MOUNT}/${program}${args.map((a) => ` ${a}`).join('')}`;

const SIGNAL_CASES: { signal: MiningSignal; how: string; script: string; attributes?: Record<string, unknown> }[] = [
  {
    signal: 'stratum_protocol',
    how: `a stratum mining.subscribe to a listener on the non-pool port ${NON_POOL_PORT}`,
    script: sim('stratum_connect', String(NON_POOL_PORT)),
    attributes: { 'server.port': NON_POOL_PORT, 'server.address': '127.0.0.1' },
  },
  {
    signal: 'pool_port_connection',
    how: `a connection to pool port ${POOL_PORT} that sends no stratum`,
    script: sim('tcp_hello', String(POOL_PORT), 'hello'),
    attributes: { 'server.port': POOL_PORT },
  },
  {
    signal: 'pool_domain_query',
    how: `a DNS query for ${POOL_DOMAIN} sent to 127.0.0.1:53`,
    script: sim('dns_query', POOL_DOMAIN),
    attributes: { 'dns.question.name': POOL_DOMAIN },
  },
  {
    signal: 'miner_executable',
    how: 'a program named xmrig run without miner arguments',
    script: `cp ${sim('noop')} /tmp/xmrig && /tmp/xmrig`,
  },
  {
    signal: 'miner_arguments',
    how: 'a miner renamed to an innocent name, recognised by its arguments',
    script: `cp ${sim('noop')} /tmp/kworker-helper && /tmp/kworker-helper -o stratum+tcp://127.0.0.1:${POOL_PORT} --donate-level=1`,
  },
  {
    signal: 'msr_access',
    how: 'an open of /dev/cpu/0/msr',
    script: sim('msr_open'),
  },
  {
    signal: 'hugepages_tuning',
    how: 'an open of /proc/sys/vm/nr_hugepages for writing',
    script: sim('hugepages'),
  },
];

let agent: RunningAgent;
before(async () => {
  assert.ok(existsSync(`${SIMULATOR_DIR}/cpu_burn_connected`), `simulator programs are built in ${SIMULATOR_DIR} (make simulator)`);
  const rulesFile = path.join(mkdtempSync(path.join(tmpdir(), 'ks-mining-test-')), 'rules.yaml');
  writeFileSync(
    rulesFile,
    'settings:\n  miningConfidenceThreshold: 0.1\n  cpuSaturationSeconds: 1\n  longLivedConnectionSeconds: 1\n  cpuSaturationUtilization: 0.8\n',
  );
  agent = await startAgent({ args: ['--rules-file', rulesFile] });
});
after(async () => {
  await agent?.stop();
});

function miningDetectionsOf(container: Container): JsonDetection[] {
  return agent.detections().filter((d) => d.rule === RULE && d.attributes['container.id'] === container.id);
}

function signalsOf(d: JsonDetection): string[] {
  return d.attributes['kubesentry.mining.signals'] as string[];
}

async function withContainer(podUid: string, extraArgs: string[], body: (c: Container) => Promise<void>): Promise<void> {
  const container = await startContainer({ podUid, extraArgs: ['-v', `${SIMULATOR_DIR}:${SIMULATOR_MOUNT}:ro`, ...extraArgs] });
  try {
    await body(container);
  } finally {
    await container.remove();
  }
}

for (const c of SIGNAL_CASES) {
  test(`${c.how} alone is a ${RULE} incident naming the ${c.signal} signal`, async () => {
    const podUid = randomUUID();
    await withContainer(podUid, [], async (container) => {
      const ran = await container.exec(['sh', '-c', c.script]);
      assert.equal(ran.code, 0, `the simulator ran: ${ran.stdout}${ran.stderr}`);
      const d = await agent.waitForDetection(
        (x) => x.rule === RULE && x.attributes['container.id'] === container.id,
        `a ${RULE} detection for ${c.signal} in container ${container.id.slice(0, 12)}`,
        DETECTION_TIMEOUT_MS,
      );
      assert.deepEqual(signalsOf(d), [c.signal]);
      assert.equal(d.attributes['kubesentry.mining.confidence'], MINING_SIGNAL_WEIGHTS[c.signal]);
      assert.equal(d.attributes['k8s.pod.uid'], podUid);
      assert.equal(d.category, 'cryptomining');
      for (const [key, value] of Object.entries(c.attributes ?? {})) assert.equal(d.attributes[key], value, key);
      assert.equal(d.ancestry[0]?.pid, d.attributes['process.pid'], 'the ancestry starts with the reported process');
    });
  });
}

test(`CPU saturation of the container's quota while it holds a long-lived outbound connection is a ${RULE} incident naming cpu_saturation_with_outbound_connection`, async () => {
  const podUid = randomUUID();
  // A tenth of a CPU: small enough that the loop fills its quota even when other work keeps both CPUs busy (a
  // larger quota measured only the machine's contention), and it takes little from the other tests.
  await withContainer(podUid, ['--cpus', '0.1'], async (container) => {
    const burner = container.execDetached([`${SIMULATOR_MOUNT}/cpu_burn_connected`, String(CPU_SIGNAL_TIMEOUT_MS / 1000)]);
    try {
      await burner.waitForLine(/cpu_burn_connected: \d+\.\d+\.\d+\.\d+: ok/, 30_000);
      const d = await agent.waitForDetection(
        (x) =>
          x.rule === RULE &&
          x.attributes['container.id'] === container.id &&
          signalsOf(x).includes('cpu_saturation_with_outbound_connection'),
        `a ${RULE} detection with the CPU saturation signal in container ${container.id.slice(0, 12)}`,
        CPU_SIGNAL_TIMEOUT_MS,
      );
      assert.equal(d.attributes['k8s.pod.uid'], podUid);
      const utilization = d.attributes['kubesentry.container.cpu.utilization'] as number;
      assert.ok(utilization >= 0.8 && utilization <= 1, `utilization of the quota ${utilization}`);
      assert.equal(d.ancestry.length > 0 && container.pids().includes(d.attributes['process.pid'] as number), true, 'the connection holder is the named process');
    } finally {
      await burner.kill();
    }
  });
});

test(`several signals in one container make one ${RULE} incident that escalates with a combined confidence instead of one alert per signal`, async () => {
  const podUid = randomUUID();
  const signals: MiningSignal[] = ['msr_access', 'hugepages_tuning', 'pool_domain_query', 'stratum_protocol'];
  await withContainer(podUid, [], async (container) => {
    // Weakest first: each step raises the confidence, but only a higher severity is reported again.
    const script = [sim('msr_open'), sim('hugepages'), sim('dns_query', POOL_DOMAIN), sim('stratum_connect', String(NON_POOL_PORT))].join(' && ');
    const ran = await container.exec(['sh', '-c', script]);
    assert.equal(ran.code, 0, `the simulator ran: ${ran.stdout}${ran.stderr}`);
    const last = await agent.waitForDetection(
      (x) => x.rule === RULE && x.attributes['container.id'] === container.id && signalsOf(x).length === signals.length,
      `a ${RULE} detection combining ${signals.join(', ')}`,
      DETECTION_TIMEOUT_MS,
    );
    const combined = 1 - signals.reduce((miss, s) => miss * (1 - MINING_SIGNAL_WEIGHTS[s]), 1);
    assert.deepEqual(signalsOf(last), [...signals].sort());
    assert.equal(last.attributes['kubesentry.mining.confidence'], Math.round(combined * 100) / 100);
    assert.ok(combined > Math.max(...signals.map((s) => MINING_SIGNAL_WEIGHTS[s])), 'together stronger than any one signal');
    assert.equal(last.severity, 'critical');

    const all = miningDetectionsOf(container);
    assert.ok(all.length < signals.length, `${all.length} reports for ${signals.length} signals`);
    const rank = ['medium', 'high', 'critical'];
    for (let i = 1; i < all.length; i++) {
      assert.ok(rank.indexOf(all[i].severity) > rank.indexOf(all[i - 1].severity), 'each further report of the incident raised its severity');
      assert.ok(signalsOf(all[i - 1]).every((s) => signalsOf(all[i]).includes(s)), 'each further report carries the earlier signals');
    }
  });
});
