// The baseline across replicas and image versions, end to end, with windows compressed to seconds: busybox httpd
// pods of one Deployment (pods and ReplicaSet served by the API-server stand-in, so the profile key is the
// workload's, shop-<n>/Deployment/web/httpd), a request loop from a client container and an exec probe into every
// replica. Replica 1 learns until every class is stable. Then:
// - replica 2, started later from the same image, behaves normally: nothing is reported, and a novelty in it is
//   reported against the shared stable profile (it did not start learning afresh), marked interactive (exec'd
//   through the runtime); the pod spec's preStop hook (`sync`), run as the kubelet would at shutdown, is not
//   reported though it never ran while learning; its connects to the node's
//   address and to replica 1 name their peer kinds (node, from the agent's interfaces; pod, from the podman
//   network's range given as the cluster's pod CIDR), and a connect to an address it resolved names the peer by
//   the DNS answer it received;
// - replica 3 runs a rebuilt image (another digest, same root filesystem): nothing is reported, during or after
//   its new-image window, and the profile records the second version;
// - replica 4 runs a third digest and does three new things inside its window: not one deviation each, but one
//   summary when the window ends.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startAgent, type JsonDetection, type RunningAgent } from '../helpers/agent.ts';
import { FakeApiServer, podFixture } from '../helpers/apiserver.ts';
import { startExecProbe, type ExecProbe } from '../helpers/execProbe.ts';
import { startContainer, TEST_IMAGE, variantImage, type Container } from '../helpers/podman.ts';
import { run } from '../helpers/run.ts';
import { waitFor } from '../helpers/wait.ts';
import { SIMULATOR_BUILD_DIR, SIMULATOR_MOUNT } from '../../src/simulate/scenarios.ts';

const RULE = 'KS-BL-001';
const SIMULATOR_DIR = fileURLToPath(new URL(`../../${SIMULATOR_BUILD_DIR}`, import.meta.url));
const NODE = 'baseline-node';
const NAMESPACE = `shop-${randomBytes(3).toString('hex')}`;
const REPLICA_SET = 'web-7c9d5b8f6';
const KEY = `${NAMESPACE}/Deployment/web/httpd`;
const NEW_IMAGE_MS = 20_000;
const WARMUP_MS = 3_000;
const BASELINE_ARGS = [
  '--baseline.min-learning-ms', '15000',
  '--baseline.quiet-ms', '6000',
  '--baseline.warmup-ms', String(WARMUP_MS),
  '--baseline.new-image-ms', String(NEW_IMAGE_MS),
  '--baseline.persist-interval-ms', '300',
];

let api: FakeApiServer;
let agent: RunningAgent;
const containers: Container[] = [];
const replicas: Container[] = [];
let probe: ExecProbe | undefined;
let client: Container | undefined;

before(async () => {
  api = await FakeApiServer.start();
  api.putReplicaSet(NAMESPACE, REPLICA_SET, { kind: 'Deployment', name: 'web' });
  const subnet = (await run('podman', ['network', 'inspect', 'podman', '--format', '{{range .Subnets}}{{.Subnet}}{{end}}'])).stdout.trim();
  assert.match(subnet, /^\d+\.\d+\.\d+\.\d+\/\d+$/, `the podman network's subnet: ${subnet}`);
  agent = await startAgent({
    args: ['--kubernetes.enabled', 'on', '--kubernetes.hold-ms', '1500', '--node-name', NODE, ...BASELINE_ARGS, '--baseline.pod-cidrs', subnet],
    env: { KUBECONFIG: api.kubeconfigPath },
  });
});

after(async () => {
  await probe?.stop();
  await agent?.stop();
  for (const c of containers) await c.remove().catch(() => {});
  await api?.close();
});

const ours = (d: JsonDetection) => d.rule === RULE && d.attributes['kubesentry.baseline.profile'] === KEY;
const baselineDetections = () => agent.detections().filter(ours);

interface PersistedProfile {
  key: string;
  containers: [string, number][];
  classes: Record<string, { state: string; items: string[] }>;
  versions?: { digest: string; rollout: boolean; newItems: number }[];
}
function persistedProfile(): PersistedProfile | undefined {
  const dir = path.join(agent.stateDir, 'baseline');
  if (!existsSync(dir)) return undefined;
  for (const name of readdirSync(dir).filter((n) => n.endsWith('.json'))) {
    const profile = JSON.parse(readFileSync(path.join(dir, name), 'utf8')) as PersistedProfile;
    if (profile.key === KEY) return profile;
  }
  return undefined;
}

/** A pod of the Deployment running httpd from `image`, registered with the API server as the kubelet would. */
async function startReplica(image: string, digest: string): Promise<Container> {
  const podUid = randomUUID();
  const c = await startContainer({
    image,
    podUid,
    cmd: ['httpd', '-f', '-p', '8080', '-h', '/etc'],
    extraArgs: ['-v', `${SIMULATOR_DIR}:${SIMULATOR_MOUNT}:ro`],
  });
  containers.push(c);
  api.addPod(podFixture({
    name: `${REPLICA_SET}-${randomBytes(3).toString('hex')}`,
    namespace: NAMESPACE,
    uid: podUid,
    nodeName: NODE,
    owner: { kind: 'ReplicaSet', name: REPLICA_SET },
    containers: [{ name: 'httpd', image, id: `containerd://${c.id}`, imageID: `${image.split(':')[0]}@${digest}`, preStop: ['sync'] }],
  }));
  replicas.push(c);
  await restartClient();
  return c;
}

async function address(c: Container): Promise<string> {
  const inspected = await run('podman', ['inspect', '--format', '{{.NetworkSettings.IPAddress}}', c.id]);
  const ip = inspected.stdout.trim();
  assert.match(ip, /^\d+\.\d+\.\d+\.\d+$/, `address of ${c.name}: ${inspected.stdout} ${inspected.stderr}`);
  return ip;
}

/** The request loop, over every replica (a Service's traffic): restarted when a replica joins. */
async function restartClient(): Promise<void> {
  const ips = await Promise.all(replicas.map(address));
  await client?.remove();
  const urls = ips.map((ip) => `http://${ip}:8080/group`).join(' ');
  client = await startContainer({
    podUid: randomUUID(),
    cmd: ['sh', '-c', `while true; do for u in ${urls}; do wget -q -O /dev/null $u; done; sleep 1; done`],
  });
  containers.push(client);
}

/** Probe rounds completed from now on, each an exec probe into every replica. */
async function probeRoundsFromNow(n: number, what: string): Promise<void> {
  assert.ok(probe, 'the probes run');
  await probe.roundsFromNow(n, what);
}

test('a later replica and a rebuilt image with the same behaviour are not reported; a new image\'s novelties are one summary', async () => {
  const digestA = (await run('podman', ['image', 'inspect', '--format', '{{.Digest}}', TEST_IMAGE])).stdout.trim();
  const imageB = await variantImage('baseline-b');
  const imageC = await variantImage('baseline-c');
  assert.equal(new Set([digestA, imageB.digest, imageC.digest]).size, 3, 'three distinct digests');

  const first = await startReplica(TEST_IMAGE, digestA);
  // The kubelet's exec probe into every replica, every second or two.
  probe = startExecProbe(() => [...replicas], ['wget', '-q', '-O', '/dev/null', 'http://127.0.0.1:8080/group']);
  await waitFor(
    () => {
      const p = persistedProfile();
      return p !== undefined && Object.values(p.classes).every((c) => c.state === 'stable');
    },
    { what: `every class of ${KEY} stable`, timeoutMs: 180_000, intervalMs: 250 },
  );
  await probeRoundsFromNow(3, 'three probe rounds in the stable state');
  assert.deepEqual(baselineDetections().map((d) => d.summary), [], 'replica 1: traffic and probes not reported');

  // Replica 2: same key, same image, started later.
  const second = await startReplica(TEST_IMAGE, digestA);
  await waitFor(() => persistedProfile()?.containers.some(([id]) => id === second.id), { what: 'replica 2 in the profile', timeoutMs: 30_000 });
  const secondStarted = Date.now();
  await waitFor(() => Date.now() - secondStarted > WARMUP_MS, { what: 'replica 2 past its warm-up', timeoutMs: 10_000 });
  await probeRoundsFromNow(4, 'probe rounds on replica 2 past its warm-up');
  assert.deepEqual(baselineDetections().map((d) => d.summary), [], 'replica 2: traffic and probes not reported');
  // ...and it is judged by the shared stable profile, not learning on its own.
  await second.exec(['ls', '/'], { timeoutMs: 30_000 });
  const novelty = await agent.waitForDetection(
    (d) => ours(d) && d.attributes['container.id'] === second.id && d.attributes['kubesentry.baseline.item'] === '/bin/ls [root]',
    'ls in replica 2 reported',
    60_000,
  );
  assert.equal(novelty.severity, 'medium');
  assert.equal(novelty.attributes['kubesentry.baseline.interactive'], true);
  // The preStop hook, as the kubelet runs it when the pod stops: declared, so known though never seen.
  await first.exec(['sync'], { timeoutMs: 30_000 });
  await waitFor(() => persistedProfile()?.classes.exec.items.some((i) => i.startsWith('/bin/sync')), { what: 'sync learned as declared', timeoutMs: 30_000 });
  assert.ok(Number(novelty.attributes['kubesentry.baseline.replicas_seen']) >= 2, `replicas seen: ${novelty.attributes['kubesentry.baseline.replicas_seen']}`);
  assert.equal(novelty.attributes['k8s.deployment.name'], 'web');
  // Peer kinds: the node's own address (a refused connect still connects), and replica 1 as a pod.
  const nodeAddress = Object.values(networkInterfaces()).flat().find((i) => i && i.family === 'IPv4' && !i.internal)?.address;
  assert.ok(nodeAddress, 'the host has an IPv4 address');
  await second.exec(['sh', '-c', `wget -q -O /dev/null http://${nodeAddress}:9875/ 2>/dev/null; true`], { timeoutMs: 30_000 });
  const node = await agent.waitForDetection((d) => ours(d) && d.attributes['kubesentry.baseline.item'] === 'tcp node:9875', 'the node connect', 60_000);
  assert.equal(node.severity, 'medium');
  await second.exec(['wget', '-q', '-O', '/dev/null', `http://${await address(first)}:8080/group`], { timeoutMs: 30_000 });
  const pod = await agent.waitForDetection((d) => ours(d) && d.attributes['kubesentry.baseline.item'] === 'tcp pod:8080', 'the pod connect', 60_000);
  assert.equal(pod.severity, 'low');
  // A name resolved (through a resolver of its own: the answer is the container's word) and connected to.
  await second.exec([`${SIMULATOR_MOUNT}/dns_exchange`, 'c2.baseline.example', '203.0.113.50', '8443'], { timeoutMs: 30_000 });
  const named = await agent.waitForDetection((d) => ours(d) && d.attributes['kubesentry.baseline.item'] === 'tcp external:8443', 'the resolved connect', 60_000);
  assert.equal(named.severity, 'medium');
  assert.equal(named.attributes['kubesentry.baseline.peer.dns_name'], 'c2.baseline.example');
  assert.deepEqual(baselineDetections().filter((d) => /sync/.test(String(d.attributes['kubesentry.baseline.item']))).map((d) => d.summary), []);
  const afterReplica2 = baselineDetections().length;

  // Replica 3: a rebuilt image (digest B) doing what the workload always did, through and past its window.
  const third = await startReplica(imageB.image, imageB.digest);
  await waitFor(() => persistedProfile()?.versions?.some((v) => v.digest === imageB.digest), { what: 'digest B a version of the profile', timeoutMs: 30_000 });
  const thirdStarted = Date.now();
  await waitFor(
    () => Date.now() - thirdStarted > NEW_IMAGE_MS && persistedProfile()?.versions?.find((v) => v.digest === imageB.digest)?.rollout === false,
    { what: 'digest B\'s window over', timeoutMs: NEW_IMAGE_MS + 60_000, intervalMs: 250 },
  );
  await probeRoundsFromNow(2, 'probe rounds after digest B\'s window');
  assert.deepEqual(baselineDetections().slice(afterReplica2).map((d) => d.summary), [], 'digest B: nothing reported, not even a summary');
  assert.equal(persistedProfile()!.versions!.find((v) => v.digest === imageB.digest)!.newItems, 0);
  assert.ok(third.id);

  // Replica 4: digest C does three new things inside its window, each several times.
  const fourth = await startReplica(imageC.image, imageC.digest);
  await waitFor(() => persistedProfile()?.containers.some(([id]) => id === fourth.id), { what: 'replica 4 in the profile', timeoutMs: 30_000 });
  const fourthStarted = Date.now();
  await waitFor(() => Date.now() - fourthStarted > WARMUP_MS, { what: 'replica 4 past its warm-up', timeoutMs: 10_000 });
  for (let i = 0; i < 3; i++) {
    await fourth.exec(['sh', '-c', 'id'], { timeoutMs: 30_000 });
    await fourth.exec(['sh', '-c', 'wget -q -O /dev/null http://127.0.0.1:9877/ 2>/dev/null; true'], { timeoutMs: 30_000 });
  }
  const summary = await agent.waitForDetection(
    (d) => ours(d) && d.attributes['kubesentry.baseline.image.digest'] === imageC.digest,
    'the summary of digest C',
    NEW_IMAGE_MS + 60_000,
  );
  assert.equal(summary.severity, 'high', `the highest of its items (a new shell): ${summary.summary}`);
  const sample = summary.attributes['kubesentry.baseline.image.sample'] as string[];
  assert.ok(sample.includes('exec /bin/sh [root]'), sample.join(', '));
  assert.ok(sample.includes('connect tcp loopback:9877'), sample.join(', '));
  const sinceReplica2 = baselineDetections().slice(afterReplica2);
  assert.deepEqual(sinceReplica2.map((d) => d.summary), [summary.summary], 'one summary, no deviation per item');
});
