// Memory the pod informer's cache adds for a full node (110 pods, the kubelet's default maxPods), each a
// realistic object: several containers, env, probes, volumes, labels, annotations (last-applied-configuration
// included) and managedFields. Reports deltas against baselines in the same process: a warm informer (decode
// paths compiled, heap grown once) against the state before it, the first sync from cold, and the retained size
// of the compact store against keeping the full objects. Goal: ≤ 10 MB RSS. Run: node bench/k8s-memory.ts
//
// The fake API server runs in a child process so its own copy of the pods is not measured.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { DEFAULT_LABEL_ALLOW_LIST, KubernetesMetadata } from '../src/k8s/KubernetesMetadata.ts';
import { PodCache } from '../src/k8s/PodCache.ts';
import { projectPod, type PodLike } from '../src/k8s/projectPod.ts';
import { FakeApiServer, type PodObject } from '../test/helpers/apiserver.ts';
import { reportResult } from './result.ts';

const PODS = 110;
const NODE = 'bench-node';
const GOAL_BYTES = 10 * 1024 * 1024;

if (process.argv[2] === '--serve') await serve();
else if (typeof globalThis.gc !== 'function') await respawnWithGc();
else await measure();

async function respawnWithGc(): Promise<void> {
  const child = spawn(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url)], { stdio: 'inherit' });
  const [code] = await once(child, 'exit');
  process.exitCode = code ?? 1;
}

async function serve(): Promise<void> {
  const server = await FakeApiServer.start();
  for (let i = 0; i < PODS; i++) server.addPod(realisticPod(i));
  process.stdout.write(`${server.kubeconfigPath}\n`);
  // Serve until the parent closes our stdin.
  process.stdin.resume();
  await once(process.stdin, 'end');
  await server.close();
}

async function measure(): Promise<void> {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--serve'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const [kubeconfigPath] = await once(createInterface(child.stdout), 'line') as [string];
  const config = new KubeConfig();
  config.loadFromFile(kubeconfigPath);
  const core = config.makeApiClient(CoreV1Api);

  // Cold: modules loaded, nothing listed yet.
  const cold = settledMemory();
  const first = new KubernetesMetadata({ kubeconfigPath, nodeName: NODE });
  await first.informer!.whenSynced();
  const afterFirstSync = settledMemory();
  await first.stop();

  // Warm baseline: the list/decode code is compiled and the heap has grown once for the transient list;
  // what the next informer adds on top is what keeping the cache costs.
  const baseline = settledMemory();
  const metadata = new KubernetesMetadata({ kubeconfigPath, nodeName: NODE });
  await metadata.informer!.whenSynced();
  const steady = settledMemory();
  if (metadata.cache!.size !== PODS) throw new Error(`expected ${PODS} cached pods, got ${metadata.cache!.size}`);
  await metadata.stop();

  // Retained size of the store alone, measured as what is freed when it is dropped: the compact projection
  // versus the full objects the client returns (what a generic informer store keeps).
  const json = JSON.stringify((await core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${NODE}` })).items);
  const listBytes = Buffer.byteLength(json);
  const labelAllowList = new Set(DEFAULT_LABEL_ALLOW_LIST);
  const compactHeap = retainedHeap(() => {
    const cache = new PodCache(0);
    for (const pod of JSON.parse(json) as PodLike[]) cache.upsert(projectPod(pod, labelAllowList)!);
    if (cache.size !== PODS) throw new Error('compact store is incomplete');
    return cache;
  });
  const fullHeap = retainedHeap(() => JSON.parse(json) as unknown);

  const steadyRss = steady.rss - baseline.rss;
  console.log(`k8s-memory: ${PODS} pods (3 containers, 11 labels, managedFields), ${(listBytes / 1024).toFixed(0)} KiB of pod JSON`);
  console.log(`  informer with cache, warm:  ${mib(steadyRss)} RSS, ${mib(steady.heap - baseline.heap)} heap ` +
    `(${(steadyRss / GOAL_BYTES).toFixed(2)}x the 10 MB goal)`);
  console.log(`  first sync from cold:       ${mib(afterFirstSync.rss - cold.rss)} RSS, ` +
    `${mib(afterFirstSync.heap - cold.heap)} heap (includes compiling the list and projection code)`);
  console.log(`  store alone: compact ${(compactHeap / PODS / 1024).toFixed(2)} KiB/pod, full objects ` +
    `${(fullHeap / PODS / 1024).toFixed(2)} KiB/pod (compact is ${(compactHeap / fullHeap).toFixed(3)}x)`);
  reportResult('informer.warm_rss', steadyRss / (1024 * 1024), 'MiB', { op: '<=', value: GOAL_BYTES / (1024 * 1024) });

  child.stdin.end();
  await once(child, 'exit');
}

/** Heap freed when what build() returns is dropped: its retained size. Synchronous, so no async frame holds it. */
function retainedHeap(build: () => unknown): number {
  let held: unknown = build();
  const withIt = settledMemory().heap;
  held = undefined;
  const without = settledMemory().heap;
  return held === undefined ? withIt - without : Number.NaN;
}

function settledMemory(): { rss: number; heap: number } {
  for (let i = 0; i < 4; i++) globalThis.gc!();
  const usage = process.memoryUsage();
  return { rss: usage.rss, heap: usage.heapUsed };
}

function mib(bytes: number): string {
  return `${bytes < 0 ? '-' : '+'}${(Math.abs(bytes) / 1024 / 1024).toFixed(2)} MiB`;
}

function realisticPod(index: number): PodObject {
  const app = `service-${index % 20}`;
  const hash = (0x5f00a + index).toString(16);
  const name = `${app}-${hash}-${(index * 7919).toString(36).padStart(5, 'x')}`;
  const uid = `${hex(index, 8)}-1111-4222-8333-${hex(index, 12)}`;
  const labels = {
    app, 'app.kubernetes.io/name': app, 'app.kubernetes.io/instance': `${app}-prod`, 'app.kubernetes.io/version': '3.14.1',
    'app.kubernetes.io/component': 'backend', 'app.kubernetes.io/part-of': 'shop', 'app.kubernetes.io/managed-by': 'Helm',
    'helm.sh/chart': `${app}-3.14.1`, 'pod-template-hash': hash, team: 'payments', tier: 'backend',
  };
  const containerSpec = (c: number) => ({
    name: c === 0 ? 'app' : c === 1 ? 'envoy' : 'log-shipper',
    image: c === 0 ? `registry.example.com/shop/${app}:3.14.1` : c === 1 ? 'envoyproxy/envoy:v1.30.2' : 'fluent/fluent-bit:3.0',
    ports: [{ name: 'http', containerPort: 8080 + c, protocol: 'TCP' }],
    env: Array.from({ length: 12 }, (_, e) => ({ name: `SETTING_${e}`, value: `value-${e}-${'x'.repeat(24)}` })),
    resources: { requests: { cpu: '250m', memory: '256Mi' }, limits: { cpu: '1', memory: '512Mi' } },
    volumeMounts: [
      { name: 'config', mountPath: '/etc/app' },
      { name: 'kube-api-access-abcde', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true },
    ],
    livenessProbe: { httpGet: { path: '/healthz', port: 8080 + c, scheme: 'HTTP' }, periodSeconds: 10, timeoutSeconds: 1 },
    readinessProbe: { httpGet: { path: '/ready', port: 8080 + c, scheme: 'HTTP' }, periodSeconds: 5, timeoutSeconds: 1 },
    terminationMessagePath: '/dev/termination-log', terminationMessagePolicy: 'File', imagePullPolicy: 'IfNotPresent',
    securityContext: { runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
  });
  const containers = [0, 1, 2].map(containerSpec);
  const status = (c: number) => ({
    name: containers[c].name, image: containers[c].image, ready: true, restartCount: 0, started: true,
    imageID: `${containers[c].image.split(':')[0]}@sha256:${hex(index * 3 + c, 64)}`,
    containerID: `containerd://${hex(index * 3 + c + 1, 64)}`,
    state: { running: { startedAt: '2026-11-25T05:00:00Z' } }, lastState: {},
  });
  const managedField = (manager: string) => ({
    manager, operation: 'Update', apiVersion: 'v1', time: '2026-11-25T05:00:00Z', fieldsType: 'FieldsV1',
    fieldsV1: {
      'f:metadata': { 'f:labels': Object.fromEntries(Object.keys(labels).map((k) => [`f:${k}`, {}])) },
      'f:spec': { 'f:containers': Object.fromEntries(containers.map((c) => [`k:{"name":"${c.name}"}`, {
        '.': {}, 'f:env': Object.fromEntries(c.env.map((e) => [`k:{"name":"${e.name}"}`, { '.': {}, 'f:name': {}, 'f:value': {} }])),
        'f:image': {}, 'f:imagePullPolicy': {}, 'f:livenessProbe': { '.': {}, 'f:httpGet': { '.': {}, 'f:path': {} } },
      }])) },
    },
  });
  const spec = {
    nodeName: NODE, serviceAccountName: app, containers, restartPolicy: 'Always', dnsPolicy: 'ClusterFirst',
    volumes: [{ name: 'config', configMap: { name: `${app}-config` } }, { name: 'kube-api-access-abcde', projected: {
      sources: [{ serviceAccountToken: { expirationSeconds: 3607, path: 'token' } }, { configMap: { name: 'kube-root-ca.crt' } }] } }],
    tolerations: [{ key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 }],
  };
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name, namespace: `team-${index % 8}`, uid, labels,
      generateName: `${app}-${hash}-`, creationTimestamp: '2026-11-25T05:00:00Z',
      annotations: {
        'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify({ metadata: { labels }, spec }),
        'prometheus.io/scrape': 'true', 'prometheus.io/port': '8080', 'checksum/config': hex(index, 64),
      },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `${app}-${hash}`, uid: `rs-${uid}`, controller: true, blockOwnerDeletion: true }],
      managedFields: [managedField('kube-controller-manager'), managedField('kubelet'), managedField('kubectl-client-side-apply')],
    },
    spec,
    status: {
      phase: 'Running', hostIP: '10.0.0.5', podIP: `10.244.1.${index}`, qosClass: 'Burstable', startTime: '2026-11-25T05:00:00Z',
      conditions: ['Initialized', 'Ready', 'ContainersReady', 'PodScheduled'].map((type) => ({ type, status: 'True', lastTransitionTime: '2026-11-25T05:00:00Z' })),
      containerStatuses: [0, 1, 2].map(status),
    },
  };
}

function hex(n: number, width: number): string {
  return (n.toString(16) + 'abcdef0123456789'.repeat(8)).slice(0, width).padStart(width, '0');
}
