// Pod metadata on real detections: a real podman container in a kubepods cgroup, its Pod served by the API-server
// stand-in (owned by a ReplicaSet owned by a Deployment). With the API server gone, detections still flow with
// container.id and k8s.pod.uid; once it is back, they are enriched again.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { startAgent, type RunningAgent, type JsonDetection } from '../helpers/agent.ts';
import { FakeApiServer, podFixture } from '../helpers/apiserver.ts';
import { startContainer, type Container } from '../helpers/podman.ts';

const NODE = 'kubesentry-e2e-node';
const RULE = 'KS-ESC-001';

let api: FakeApiServer;
let agent: RunningAgent;
const containers: Container[] = [];

before(async () => {
  api = await FakeApiServer.start();
  api.putReplicaSet('shop', 'web-5d8f7c9b4', { kind: 'Deployment', name: 'web' });
  agent = await startAgent({
    args: ['--kubernetes.enabled', 'on', '--kubernetes.hold-ms', '1500', '--node-name', NODE],
    env: { KUBECONFIG: api.kubeconfigPath },
  });
});
after(async () => {
  await agent?.stop();
  for (const c of containers) await c.remove();
  await api?.close();
});

async function podContainer(name: string): Promise<{ container: Container; podUid: string }> {
  const podUid = randomUUID();
  const container = await startContainer({ podUid });
  containers.push(container);
  api.addPod(
    podFixture({
      name,
      namespace: 'shop',
      uid: podUid,
      nodeName: NODE,
      owner: { kind: 'ReplicaSet', name: 'web-5d8f7c9b4' },
      serviceAccount: 'web-sa',
      labels: { app: 'web' },
      containers: [{ name: 'app', image: 'registry.example/shop/web:1.2.3', id: `containerd://${container.id}` }],
    }),
  );
  return { container, podUid };
}

async function userNamespaceDetection(container: Container, after: number, what: string): Promise<JsonDetection> {
  const r = await container.exec(['unshare', '-U', '-r', 'true']);
  assert.equal(r.code, 0, r.stderr);
  return agent.waitForDetection(
    (d) => d.rule === RULE && d.attributes['container.id'] === container.id && Date.parse(d.time) >= after,
    what,
  );
}

test('a detection from a pod container carries pod, namespace, container, deployment and service account', async () => {
  const { container, podUid } = await podContainer('web-5d8f7c9b4-abcde');
  const d = await userNamespaceDetection(container, 0, 'an enriched detection');
  assert.equal(d.attributes['k8s.pod.uid'], podUid);
  assert.equal(d.attributes['k8s.pod.name'], 'web-5d8f7c9b4-abcde');
  assert.equal(d.attributes['k8s.namespace.name'], 'shop');
  assert.equal(d.attributes['k8s.container.name'], 'app');
  assert.equal(d.attributes['k8s.deployment.name'], 'web');
  assert.equal(d.attributes['k8s.replicaset.name'], 'web-5d8f7c9b4');
  assert.equal(d.attributes['kubesentry.k8s.service_account'], 'web-sa');
  assert.equal(d.attributes['k8s.pod.label.app'], 'web');
  assert.equal(d.attributes['k8s.node.name'], NODE);
});

test('with the API server down detections keep flowing bare, and are enriched again once it returns', async () => {
  await api.stop();
  const { container, podUid } = await podContainer('web-5d8f7c9b4-fghij');
  const start = Date.now();
  const bare = await userNamespaceDetection(container, start, 'a bare detection while the API server is down');
  assert.equal(bare.attributes['k8s.pod.uid'], podUid);
  assert.equal(bare.attributes['container.id'], container.id);
  assert.equal(bare.attributes['k8s.pod.name'], undefined);

  await api.restart();
  // Each attempt is a new detection; the informer relists after its backoff, so try until one is enriched.
  const deadline = Date.now() + 60_000;
  let enriched: JsonDetection | undefined;
  while (!enriched && Date.now() < deadline) {
    const d = await userNamespaceDetection(container, Date.now(), 'a detection after the API server returned');
    if (d.attributes['k8s.pod.name']) enriched = d;
  }
  assert.ok(enriched, 'a detection was enriched within 60 s of the API server returning');
  assert.equal(enriched.attributes['k8s.pod.name'], 'web-5d8f7c9b4-fghij');
  assert.equal(enriched.attributes['k8s.deployment.name'], 'web');
});
