// Opt-in enforcement on real containers: with action kill the kernel sends SIGKILL at the syscall that starts an
// escape, so the next step never runs; in dry-run the step runs and a "would have killed" detection arrives; a
// container excepted by its namespace is not touched. Switching between the two is a rules reload, no restart.
//
// One agent with the API-server stand-in (pod namespaces), one rules file rewritten between phases. Each case runs
// in a container whose workload already runs (the agent arms a container at its first non-runtime exec, and logs
// it at debug level, which is what the tests wait for).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startAgent, type JsonDetection, type RunningAgent } from '../helpers/agent.ts';
import { KILLED_BY_SIGKILL } from '../helpers/enforcing.ts';
import { FakeApiServer, podFixture } from '../helpers/apiserver.ts';
import { runContainerToExit, startContainer, type Container } from '../helpers/podman.ts';
import { SCENARIOS, SIMULATOR_BUILD_DIR, SIMULATOR_MOUNT, containerOptionsOf } from '../../src/simulate/scenarios.ts';
import { freeLoopbackPort, TestCollector } from '../otelcol/collector.ts';
import { waitFor } from '../helpers/wait.ts';

const NODE = 'kubesentry-enforcement-node';
const SIMULATOR_DIR = fileURLToPath(new URL(`../../${SIMULATOR_BUILD_DIR}`, import.meta.url));
/** podman exec's status for a command killed by SIGKILL (128 + 9). */
const EXCEPTED_NAMESPACE = 'ci';
/** Every rule some scenario is killed for, plus KS-ESC-005 (its write-open case below). */
const KILLED_SCENARIOS = SCENARIOS.filter((s) => s.killed && !s.needsKernelModules);
const KILL_RULES = [...new Set([...KILLED_SCENARIOS.map((s) => s.rule), 'KS-ESC-001', 'KS-ESC-002', 'KS-ESC-004', 'KS-ESC-005', 'KS-ESC-017'])];
const ARM_TIMEOUT_MS = 60_000;

let api: FakeApiServer;
let collector: TestCollector;
let metricsPort: number;
let agent: RunningAgent;
let rulesFile: string;
const containers: Container[] = [];

/** KS-ESC-004 only alerts here, so that a container can mount cgroup2 to move itself (the sub-cgroup case). */
const CGROUP_MOUNT_ALLOWED_NAMESPACE = 'nested';

function rulesYaml(mode: 'on' | 'dry-run'): string {
  const rules = KILL_RULES.map((id) => {
    const namespaces = id === 'KS-ESC-004' ? `${EXCEPTED_NAMESPACE}, ${CGROUP_MOUNT_ALLOWED_NAMESPACE}` : EXCEPTED_NAMESPACE;
    return `  ${id}:\n    action: kill\n    killExceptions:\n      - { namespaces: [${namespaces}] }\n`;
  }).join('');
  return `enforcement: ${mode}\nrules:\n${rules}`;
}

/** Rewrites the rules file and reloads it (SIGHUP); each mode is reloaded into once, so its line is unique. */
async function setMode(mode: 'on' | 'dry-run'): Promise<void> {
  writeFileSync(rulesFile, rulesYaml(mode));
  agent.process.child.kill('SIGHUP');
  await agent.process.waitForLine(new RegExp(`rules reloaded \\(SIGHUP\\); enforcement ${mode}`), 30_000);
}

before(async () => {
  assert.ok(existsSync(`${SIMULATOR_DIR}/setns_path`), 'simulator programs are built (make simulator)');
  api = await FakeApiServer.start();
  collector = await TestCollector.start();
  metricsPort = await freeLoopbackPort();
  rulesFile = path.join(mkdtempSync(path.join(tmpdir(), 'ks-enforcement-')), 'rules.yaml');
  writeFileSync(rulesFile, rulesYaml('on'));
  agent = await startAgent({
    args: [
      '--otlp.endpoint', collector.endpoint, '--prometheus.listen', `127.0.0.1:${metricsPort}`,
      '--rules-file', rulesFile, '--log-level', 'debug', '--kubernetes.enabled', 'on', '--kubernetes.hold-ms', '1500', '--node-name', NODE],
    env: { KUBECONFIG: api.kubeconfigPath },
  });
});
after(async () => {
  await agent?.stop();
  for (const c of containers) await c.remove().catch(() => {});
  await api?.close();
  await collector?.dispose();
});

/** A pod container in `namespace`, armed by the agent (its kill checks written to the kernel). */
async function armedPodContainer(namespace: string, extraArgs: string[] = withSimulator()): Promise<Container> {
  const podUid = randomUUID();
  const container = await startContainer({ podUid, extraArgs });
  containers.push(container);
  api.addPod(
    podFixture({
      name: `enforce-${podUid.slice(0, 8)}`,
      namespace,
      uid: podUid,
      nodeName: NODE,
      containers: [{ name: 'app', image: 'registry.example/enforce:1', id: `containerd://${container.id}` }],
    }),
  );
  await agent.process.waitForLine(new RegExp(`enforcement: container ${container.id} .*kill checks`), ARM_TIMEOUT_MS);
  return container;
}

async function detectionFor(container: Container, rule: string, match: (d: JsonDetection) => boolean, what: string): Promise<JsonDetection> {
  return agent.waitForDetection((d) => d.rule === rule && d.attributes['container.id'] === container.id && match(d), what, 30_000);
}

const withSimulator = (...flags: string[]) => ['-v', `${SIMULATOR_DIR}:${SIMULATOR_MOUNT}:ro`, ...flags];
const killed = (d: JsonDetection) => d.attributes['kubesentry.enforcement.action'] === 'kill';
const wouldHaveKilled = (d: JsonDetection) => d.attributes['kubesentry.enforcement.action'] === 'dry-run';

test('kill: unshare -U never reaches its next command and dies by SIGKILL, with a detection that says so', async () => {
  const c = await armedPodContainer('shop');
  const r = await c.exec(['unshare', '-U', '-r', 'sh', '-c', 'echo reached']);
  assert.doesNotMatch(r.stdout, /reached/);
  assert.equal(r.code, KILLED_BY_SIGKILL, `exit status ${r.code}: ${r.stderr}`);
  const d = await detectionFor(c, 'KS-ESC-001', killed, 'a KS-ESC-001 detection with action kill');
  assert.equal(d.attributes['kubesentry.enforcement.signal_sent'], true);
  assert.match(d.summary, /killed/);

  // The OTLP log record says the same, and the kill is counted per rule (from the kernel's own counter).
  const log = await waitFor(
    () => collector.readLogs().find((l) => l.attributes['container.id'] === c.id && l.attributes['kubesentry.enforcement.action'] === 'kill'),
    { what: 'the enforced detection as an OTLP LogRecord', timeoutMs: 60_000, intervalMs: 200 },
  );
  assert.equal(log.attributes['kubesentry.enforcement.signal_sent'], true);
  assert.ok(log.attributes['security_rule.name']);
  await waitFor(
    async () => {
      const text = await fetch(`http://127.0.0.1:${metricsPort}/metrics`).then((r) => r.text()).catch(() => '');
      return text.split('\n').some((l) => l.startsWith('kubesentry_enforcement_actions_total{') && l.includes('security_rule_name="KS-ESC-001"') && l.includes('kubesentry_enforcement_outcome="killed"'));
    },
    { what: 'kubesentry_enforcement_actions_total for KS-ESC-001 killed on the scrape endpoint', timeoutMs: 30_000, intervalMs: 500 },
  );
});

test('kill does not depend on the name: unshare(CLONE_NEWUSER) under runc\'s init comm is killed all the same', async () => {
  const c = await armedPodContainer('shop');
  const r = await c.exec([`${SIMULATOR_MOUNT}/renamed_userns`, 'runc:[2:INIT]']);
  assert.doesNotMatch(r.stdout + r.stderr, /renamed_userns: unshare/);
  assert.equal(r.code, KILLED_BY_SIGKILL, `exit status ${r.code}: ${r.stdout}${r.stderr}`);
  await detectionFor(c, 'KS-ESC-001', killed, 'a KS-ESC-001 detection with action kill for the renamed process');
});

test('kill: clone(CLONE_NEWUSER) creates no child: the pending SIGKILL makes the fork fail', async () => {
  const c = await armedPodContainer('shop');
  const r = await c.exec([`${SIMULATOR_MOUNT}/clone_userns`]);
  assert.doesNotMatch(r.stdout, /child ran/);
  assert.doesNotMatch(r.stdout, /clone_userns: clone/);
  assert.equal(r.code, KILLED_BY_SIGKILL, `exit status ${r.code}: ${r.stdout}${r.stderr}`);
  const d = await detectionFor(c, 'KS-ESC-001', killed, 'a KS-ESC-001 detection with action kill for clone');
  assert.equal(d.attributes['kubesentry.syscall'], 'clone');
});

test('kill: a process that moves itself into a cgroup below its container\'s is killed all the same', async () => {
  const c = await armedPodContainer(CGROUP_MOUNT_ALLOWED_NAMESPACE, ['--privileged']);
  // Privileged with the host's cgroup namespace: cgroup2 mounts at the host's root, the container's cgroup below.
  const script =
    'mkdir -p /tmp/c2 && mount -t cgroup2 none /tmp/c2 && own=$(sed -n "s/^0:://p" /proc/self/cgroup) && ' +
    'mkdir "/tmp/c2$own/ks-sub" && echo $$ > "/tmp/c2$own/ks-sub/cgroup.procs" && grep "^0::.*/ks-sub$" /proc/self/cgroup && ' +
    "unshare -U -r sh -c 'echo reached'";
  const r = await c.exec(['sh', '-c', script]);
  assert.match(r.stdout, /ks-sub/, `the shell moved into the sub-cgroup: ${r.stdout}${r.stderr}`);
  assert.doesNotMatch(r.stdout, /reached/);
  assert.equal(r.code, KILLED_BY_SIGKILL, `exit status ${r.code}: ${r.stdout}${r.stderr}`);
  await detectionFor(c, 'KS-ESC-001', killed, 'a KS-ESC-001 detection with action kill from the sub-cgroup');
});

test('kill: setns into the host mount namespace from a privileged hostPID container dies before it reports', async () => {
  const c = await armedPodContainer('shop', withSimulator('--privileged', '--pid', 'host'));
  const r = await c.exec([`${SIMULATOR_MOUNT}/setns_path`, '/proc/2/ns/mnt']);
  assert.doesNotMatch(r.stdout + r.stderr, /setns_path: setns/);
  assert.equal(r.code, KILLED_BY_SIGKILL, `exit status ${r.code}: ${r.stdout}${r.stderr}`);
  const d = await detectionFor(c, 'KS-ESC-002', killed, 'a KS-ESC-002 detection with action kill');
  assert.equal(d.attributes['kubesentry.enforcement.signal_sent'], true);
});

test('kill: setns through a pidfd of a host process (no namespace file named) dies the same', async () => {
  const c = await armedPodContainer('shop', withSimulator('--privileged', '--pid', 'host'));
  // kthreadd: pid 2 in the host's pid namespace, in every host namespace.
  const r = await c.exec([`${SIMULATOR_MOUNT}/setns_pidfd`, '2']);
  assert.doesNotMatch(r.stdout + r.stderr, /setns_pidfd: setns/);
  assert.equal(r.code, KILLED_BY_SIGKILL, `exit status ${r.code}: ${r.stdout}${r.stderr}`);
  await detectionFor(c, 'KS-ESC-002', killed, 'a KS-ESC-002 detection with action kill for the pidfd setns');
});

test('kill: a cgroup v1 mount dies at the mount, so release_agent is never written', async () => {
  const c = await armedPodContainer('shop', withSimulator('--privileged'));
  const script =
    'mkdir -p /tmp/cg && mount -t cgroup -o none,name=ks-enforce cgroup /tmp/cg && echo /evil > /tmp/cg/release_agent && echo reached';
  const r = await c.exec(['sh', '-c', script]);
  assert.doesNotMatch(r.stdout, /reached/);
  // The shell's child (mount) was killed; the shell stops at &&.
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /Killed/);
  const agentFile = await c.exec(['sh', '-c', 'cat /tmp/cg/release_agent 2>/dev/null']);
  assert.doesNotMatch(agentFile.stdout, /evil/);
  const d = await detectionFor(c, 'KS-ESC-004', killed, 'a KS-ESC-004 detection with action kill');
  assert.equal(d.attributes['kubesentry.mount.fstype'], 'cgroup');
  assert.equal(d.attributes['kubesentry.enforcement.signal_sent'], true);
});

test('kill: a write-open of core_pattern dies before its write (the value written is the current one, so a miss is harmless)', async () => {
  const c = await armedPodContainer('shop', withSimulator('--privileged'));
  const script = 'cat /proc/sys/kernel/core_pattern > /tmp/cp && cat /tmp/cp > /proc/sys/kernel/core_pattern; echo reached';
  const r = await c.exec(['sh', '-c', script]);
  // The shell itself opened core_pattern for its redirection: it is the process killed.
  assert.doesNotMatch(r.stdout, /reached/);
  assert.equal(r.code, KILLED_BY_SIGKILL, `exit status ${r.code}: ${r.stdout}${r.stderr}`);
  const d = await detectionFor(c, 'KS-ESC-005', killed, 'a KS-ESC-005 detection with action kill');
  assert.equal(d.attributes['kubesentry.open.path_source'], 'resolved');
});

test('kill: a program executed from a memfd never runs its first instruction', async () => {
  const c = await armedPodContainer('shop');
  const r = await c.exec([`${SIMULATOR_MOUNT}/memfd_exec`]);
  assert.doesNotMatch(r.stdout, /running from a memfd/);
  assert.equal(r.code, KILLED_BY_SIGKILL, `exit status ${r.code}: ${r.stdout}${r.stderr}`);
  const d = await detectionFor(c, 'KS-ESC-017', killed, 'a KS-ESC-017 detection with action kill');
  assert.equal(d.attributes['kubesentry.enforcement.signal_sent'], true);
});

test('a container excepted by namespace is not touched: the step runs and the detection carries no action', async () => {
  const c = await armedPodContainer(EXCEPTED_NAMESPACE);
  const r = await c.exec(['unshare', '-U', '-r', 'sh', '-c', 'echo reached']);
  assert.match(r.stdout, /reached/);
  assert.equal(r.code, 0, r.stderr);
  const d = await detectionFor(c, 'KS-ESC-001', () => true, 'a KS-ESC-001 detection in the excepted namespace');
  assert.equal(d.attributes['kubesentry.enforcement.action'], undefined);
  const memfd = await c.exec([`${SIMULATOR_MOUNT}/memfd_exec`]);
  assert.match(memfd.stdout, /running from a memfd/);
});

test('dry-run after a reload: every step runs and "would have killed" detections arrive; back to on kills again', async () => {
  const c = await armedPodContainer('shop', withSimulator('--privileged', '--pid', 'host'));
  await setMode('dry-run');
  try {
    const userns = await c.exec(['unshare', '-U', '-r', 'sh', '-c', 'echo reached']);
    assert.match(userns.stdout, /reached/);
    assert.equal(userns.code, 0, userns.stderr);
    const d = await detectionFor(c, 'KS-ESC-001', wouldHaveKilled, 'a KS-ESC-001 "would have killed" detection');
    assert.equal(d.attributes['kubesentry.enforcement.signal_sent'], false);
    assert.match(d.summary, /would have killed/);

    const setns = await c.exec([`${SIMULATOR_MOUNT}/setns_path`, '/proc/2/ns/mnt']);
    assert.match(setns.stdout + setns.stderr, /setns_path: setns/);
    await detectionFor(c, 'KS-ESC-002', wouldHaveKilled, 'a KS-ESC-002 "would have killed" detection');

    // A named v1 hierarchy: it mounts in any privileged container (no controller needs to be free).
    const mount = await c.exec(['sh', '-c', 'mkdir -p /tmp/cg2 && mount -t cgroup -o none,name=ks-enforce cgroup /tmp/cg2 && cat /tmp/cg2/release_agent && echo reached']);
    assert.match(mount.stdout, /reached/, mount.stderr);
    await detectionFor(c, 'KS-ESC-004', wouldHaveKilled, 'a KS-ESC-004 "would have killed" detection');

    const memfd = await c.exec([`${SIMULATOR_MOUNT}/memfd_exec`]);
    assert.match(memfd.stdout, /running from a memfd/);
    await detectionFor(c, 'KS-ESC-017', wouldHaveKilled, 'a KS-ESC-017 "would have killed" detection');
  } finally {
    await setMode('on');
  }
  const again = await c.exec(['unshare', '-U', '-r', 'sh', '-c', 'echo reached']);
  assert.doesNotMatch(again.stdout, /reached/);
  assert.equal(again.code, KILLED_BY_SIGKILL);
});

/** Rewrites the rules file, reloads it (SIGHUP) and waits for the agent's line about this reload. */
async function reloadRules(yaml: string): Promise<void> {
  const reloaded = /rules reloaded \(SIGHUP\)/;
  const before = agent.process.lines.filter((l) => reloaded.test(l)).length;
  writeFileSync(rulesFile, yaml);
  agent.process.child.kill('SIGHUP');
  await waitFor(() => agent.process.lines.filter((l) => reloaded.test(l)).length > before, {
    what: 'the agent to reload its rules', timeoutMs: 30_000, intervalMs: 100,
  });
}

/** KS-ESC-001 and KS-ESC-017 kill in every container: no exception waits for pod metadata. */
const killEverywhere = (mode: 'on' | 'dry-run') => `enforcement: ${mode}\nrules:\n  KS-ESC-001: { action: kill }\n  KS-ESC-017: { action: kill }\n`;

/** A pod's container whose command is `cmd`, run to its end; the pod is known to the API server stand-in. */
async function entrypointContainer(namespace: string, cmd: string[]) {
  const podUid = randomUUID();
  api.addPod(podFixture({ name: `entry-${podUid.slice(0, 8)}`, namespace, uid: podUid, nodeName: NODE, containers: [] }));
  return runContainerToExit({ podUid, cmd, extraArgs: withSimulator() });
}

// The cheapest evasion of enforcement: the escape is the container's own command, so no later exec exists at
// which user space could arm the container. The kernel arms it at its entrypoint's exec.
test('kill: a container whose entrypoint is `unshare -U -r` dies by SIGKILL before its next command runs', async () => {
  await reloadRules(killEverywhere('on'));
  try {
    const r = await entrypointContainer('shop', ['unshare', '-U', '-r', 'sh', '-c', 'echo reached']);
    assert.doesNotMatch(r.stdout, /reached/);
    assert.equal(r.code, KILLED_BY_SIGKILL, `exit status ${r.code}: ${r.stdout}${r.stderr}`);
    const d = await agent.waitForDetection(
      (d) => d.rule === 'KS-ESC-001' && d.attributes['container.id'] === r.id && killed(d), 'a KS-ESC-001 kill of the entrypoint', 30_000);
    assert.equal(d.attributes['kubesentry.enforcement.signal_sent'], true);

    const memfd = await entrypointContainer('shop', [`${SIMULATOR_MOUNT}/memfd_exec`]);
    assert.doesNotMatch(memfd.stdout, /running from a memfd/);
    assert.equal(memfd.code, KILLED_BY_SIGKILL, `exit status ${memfd.code}: ${memfd.stdout}${memfd.stderr}`);
    await agent.waitForDetection(
      (d) => d.rule === 'KS-ESC-017' && d.attributes['container.id'] === memfd.id && killed(d), 'a KS-ESC-017 kill of PID 1\'s memfd exec', 30_000);
  } finally {
    await reloadRules(rulesYaml('on'));
  }
});

test('dry-run: the same entrypoint runs to its end and is reported as "would have killed"', async () => {
  await reloadRules(killEverywhere('dry-run'));
  try {
    const r = await entrypointContainer('shop', ['unshare', '-U', '-r', 'sh', '-c', 'echo reached']);
    assert.match(r.stdout, /reached/);
    assert.equal(r.code, 0, r.stderr);
    const d = await agent.waitForDetection(
      (d) => d.rule === 'KS-ESC-001' && d.attributes['container.id'] === r.id && wouldHaveKilled(d), 'a KS-ESC-001 "would have killed" for the entrypoint', 30_000);
    assert.equal(d.attributes['kubesentry.enforcement.signal_sent'], false);
  } finally {
    await reloadRules(rulesYaml('on'));
  }
});

test('an entrypoint in a container that a kill exception names is not killed, whether or not its metadata is known yet', async () => {
  // rulesYaml('on'): KS-ESC-001 kills except in namespace ci. Before the pod's metadata is known the rule does not
  // kill (beforePodMetadata: alert fails open); once it is, the exception applies.
  const r = await entrypointContainer(EXCEPTED_NAMESPACE, ['unshare', '-U', '-r', 'sh', '-c', 'echo reached']);
  assert.match(r.stdout, /reached/);
  assert.equal(r.code, 0, r.stderr);
  const d = await agent.waitForDetection(
    (d) => d.rule === 'KS-ESC-001' && d.attributes['container.id'] === r.id, 'a KS-ESC-001 detection for the excepted entrypoint', 30_000);
  assert.equal(d.attributes['kubesentry.enforcement.action'], undefined);
});

test('a kill exception that cannot match the pod does not wait for the container status: armed from the pod', async () => {
  // The stand-in's pod lists no container status, so the container's metadata stays pending: its namespace, shop,
  // already rules out the ci exception of KS-ESC-001.
  const podUid = randomUUID();
  api.addPod(podFixture({ name: `nostatus-${podUid.slice(0, 8)}`, namespace: 'shop', uid: podUid, nodeName: NODE, containers: [] }));
  const c = await startContainer({ podUid });
  containers.push(c);
  await agent.process.waitForLine(new RegExp(`enforcement: container ${c.id} .*kill checks 0x[0-9a-f]*[13579bdf] from its pod`), ARM_TIMEOUT_MS);
  const r = await c.exec(['unshare', '-U', '-r', 'sh', '-c', 'echo reached']);
  assert.doesNotMatch(r.stdout, /reached/);
  assert.equal(r.code, KILLED_BY_SIGKILL, `exit status ${r.code}: ${r.stdout}${r.stderr}`);
});

test('while the API server is unreachable, a new pod\'s container is not killed for a rule with a kill exception (fails open)', async () => {
  // An agent of its own, whose API server is down from the start: every pod's metadata is a miss.
  const down = await FakeApiServer.start();
  await down.stop();
  const ownRules = path.join(path.dirname(rulesFile), 'unreachable-rules.yaml');
  writeFileSync(ownRules, `enforcement: on\nrules:\n  KS-ESC-001:\n    action: kill\n    killExceptions:\n      - { namespaces: [${EXCEPTED_NAMESPACE}] }\n`);
  const unreachable = await startAgent({
    args: ['--rules-file', ownRules, '--log-level', 'debug', '--kubernetes.enabled', 'on', '--node-name', NODE],
    env: { KUBECONFIG: down.kubeconfigPath },
  });
  try {
    await unreachable.process.waitForLine(/API server treated as unreachable/, 60_000);
    const c = await startContainer({ podUid: randomUUID() });
    containers.push(c);
    const first = await c.exec(['unshare', '-U', '-r', 'sh', '-c', 'echo reached']);
    assert.match(first.stdout, /reached/);
    // The detection says that agent has read this container's events, its first exec included: its decision is made.
    await unreachable.waitForDetection((d) => d.rule === 'KS-ESC-001' && d.attributes['container.id'] === c.id, 'a KS-ESC-001 detection', 30_000);
    const again = await c.exec(['unshare', '-U', '-r', 'sh', '-c', 'echo reached']);
    assert.match(again.stdout, /reached/, `the namespace may be ${EXCEPTED_NAMESPACE}: no kill (${again.code} ${again.stderr})`);
  } finally {
    await unreachable.stop();
    await down.close();
  }
});

// Every escape scenario the kernel can decide, as test/e2e/attacks.test.ts runs it (same program, same container
// options): with its rule's action kill, the program dies by SIGKILL and its detection says so.
for (const s of KILLED_SCENARIOS) {
  test(`kill: scenario ${s.name} (${s.rule}) dies by SIGKILL with a detection that says so`, async () => {
    const c = await armedPodContainer('shop', containerOptionsOf(s, SIMULATOR_DIR));
    const r = await c.exec(s.command);
    assert.equal(r.code, KILLED_BY_SIGKILL, `exit status ${r.code}: ${r.stdout}${r.stderr}`);
    const d = await detectionFor(c, s.rule, killed, `a ${s.rule} detection with action kill for ${s.name}`);
    assert.equal(d.attributes['kubesentry.enforcement.signal_sent'], true);
  });
}
