// The pod informer and enricher against the fake API server (test/helpers/apiserver.ts): real HTTPS, real
// list/watch protocol, real @kubernetes/client-node underneath.

import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { KubernetesMetadata, type KubernetesMetadataOptions } from '../src/k8s/KubernetesMetadata.ts';
import { MAX_LIST_RESPONSE_BYTES, MAX_WATCH_EVENT_BYTES } from '../src/k8s/internal/ApiReader.ts';
import type { PodAttributes, ReleaseOutcome } from '../src/k8s/index.ts';
import { FakeApiServer, podFixture, TEST_TOKEN, type PodFixtureOptions } from './helpers/apiserver.ts';
import { waitFor } from './helpers/wait.ts';

const NODE = 'node-a';
const CONTAINER_A = 'a'.repeat(64);
const CONTAINER_B = 'b'.repeat(64);
const CONTAINER_INIT = 'c'.repeat(64);
const DIGEST = `sha256:${'d'.repeat(64)}`;

let server: FakeApiServer;
const started: KubernetesMetadata[] = [];

class RecordingLog {
  readonly lines: string[] = [];
  info(message: string): void {
    this.lines.push(`info ${message}`);
  }
  warn(message: string): void {
    this.lines.push(`warn ${message}`);
  }
}

function startMetadata(options: KubernetesMetadataOptions = {}): KubernetesMetadata {
  const metadata = new KubernetesMetadata({
    kubeconfigPath: server.kubeconfigPath,
    nodeName: NODE,
    holdMs: 10_000,
    deletedPodGraceMs: 0,
    backoffInitialMs: 20,
    backoffMaxMs: 200,
    ...options,
  });
  started.push(metadata);
  return metadata;
}

async function synced(metadata: KubernetesMetadata): Promise<void> {
  await waitFor(() => metadata.state === 'synced', { what: 'the informer to sync' });
}

function webPod(overrides: Partial<PodFixtureOptions> = {}): ReturnType<typeof podFixture> {
  return podFixture({
    name: 'web-7d4b9c8f6-x2x9q',
    namespace: 'shop',
    uid: '11111111-1111-1111-1111-111111111111',
    nodeName: NODE,
    labels: { app: 'web', 'app.kubernetes.io/version': '1.4', 'pod-template-hash': '7d4b9c8f6', secret: 'nope' },
    owner: { kind: 'ReplicaSet', name: 'web-7d4b9c8f6' },
    serviceAccount: 'web-sa',
    containers: [
      { name: 'app', image: 'registry.local:5000/shop/web:1.4', id: `containerd://${CONTAINER_A}`, imageID: `registry.local:5000/shop/web@${DIGEST}` },
      { name: 'sidecar', image: 'envoy:1.30', id: `containerd://${CONTAINER_B}`, imageID: DIGEST },
    ],
    initContainers: [{ name: 'migrate', image: 'busybox', id: `cri-o://${CONTAINER_INIT}` }],
    ...overrides,
  });
}

/** Resolves with the first release of a hold. */
function holdOnce(metadata: KubernetesMetadata, podUid: string | undefined, containerId: string | undefined) {
  const released: { attributes?: PodAttributes; outcome?: ReleaseOutcome; calls: number } = { calls: 0 };
  metadata.enricher.hold(podUid, containerId, (attributes, outcome) => {
    released.calls += 1;
    released.attributes = attributes;
    released.outcome = outcome;
  });
  return released;
}

// A fresh API server per test: no pod, forbidden resource or compaction leaks from one test into the next.
beforeEach(async () => {
  server = await FakeApiServer.start();
});

afterEach(async () => {
  for (const metadata of started.splice(0)) await metadata.stop();
  await server.close();
});

describe('pod metadata from the informer', () => {
  test('a pod listed before the lookup enriches a detection with every attribute', async () => {
    const pod = webPod({ uid: 'uid-listed' });
    server.putReplicaSet('shop', 'web-7d4b9c8f6', { kind: 'Deployment', name: 'web' });
    server.addPod(pod);
    const metadata = startMetadata();
    await synced(metadata);
    const attributes = await waitFor(() => {
      const result = metadata.enricher.enrich('uid-listed', CONTAINER_A);
      return typeof result === 'object' ? result : undefined;
    }, { what: 'the pod and its owner to be known' });
    assert.deepEqual(attributes, {
      'k8s.pod.name': 'web-7d4b9c8f6-x2x9q',
      'k8s.namespace.name': 'shop',
      'k8s.pod.uid': 'uid-listed',
      'k8s.node.name': NODE,
      'kubesentry.k8s.service_account': 'web-sa',
      'k8s.pod.label.app': 'web',
      'k8s.pod.label.app.kubernetes.io/version': '1.4',
      'k8s.replicaset.name': 'web-7d4b9c8f6',
      'k8s.deployment.name': 'web',
      'container.id': CONTAINER_A,
      'k8s.container.name': 'app',
      'container.image.name': 'registry.local:5000/shop/web',
      'kubesentry.container.image.reference': 'registry.local:5000/shop/web:1.4',
      'container.image.id': DIGEST,
    });
  });

  test('only allow-listed labels are copied', async () => {
    server.addPod(webPod({ uid: 'uid-labels', owner: undefined, labels: { team: 'payments', app: 'web', secret: 'x' } }));
    const metadata = startMetadata({ labelAllowList: ['team'] });
    await synced(metadata);
    const attributes = metadata.enricher.enrich('uid-labels', CONTAINER_A);
    assert.equal(typeof attributes, 'object');
    const labelKeys = Object.keys(attributes).filter((key) => key.startsWith('k8s.pod.label.'));
    assert.deepEqual(labelKeys, ['k8s.pod.label.team']);
  });

  test('init containers are indexed by their id without the runtime prefix', async () => {
    server.addPod(webPod({ uid: 'uid-init', owner: undefined }));
    const metadata = startMetadata();
    await synced(metadata);
    const attributes = metadata.enricher.enrich(undefined, CONTAINER_INIT);
    assert.equal(typeof attributes, 'object');
    assert.equal((attributes as PodAttributes)['k8s.container.name'], 'migrate');
    assert.equal((attributes as PodAttributes)['k8s.pod.uid'], 'uid-init');
  });

  test('a pod on another node is not cached', async () => {
    server.addPod(webPod({ uid: 'uid-elsewhere', nodeName: 'node-b', owner: undefined }));
    server.addPod(webPod({ uid: 'uid-here', owner: undefined, containers: [] }));
    const metadata = startMetadata();
    await synced(metadata);
    assert.equal(metadata.cache?.byPodUid('uid-elsewhere'), undefined);
    assert.ok(metadata.cache?.byPodUid('uid-here'));
  });

  test('a list larger than the page size is fetched in chunks with continue tokens', async () => {
    const before = server.requests.list;
    for (let i = 0; i < 5; i++) {
      server.addPod(webPod({ uid: `uid-chunk-${i}`, name: `chunk-${i}`, owner: undefined, containers: [] }));
    }
    const metadata = startMetadata({ listPageSize: 2 });
    await synced(metadata);
    for (let i = 0; i < 5; i++) assert.ok(metadata.cache?.byPodUid(`uid-chunk-${i}`), `chunk-${i} cached`);
    assert.ok(server.requests.list - before >= 3, `expected ≥3 list pages, got ${server.requests.list - before}`);
  });

  test('a detection held while the first list is still running is released enriched once it completes', async () => {
    server.addPod(webPod({ uid: 'uid-during-sync', owner: undefined }));
    server.pauseLists();
    const metadata = startMetadata();
    await waitFor(() => server.pausedListCount > 0, { what: 'the first list request' });
    assert.equal(metadata.state, 'syncing');
    const released = holdOnce(metadata, 'uid-during-sync', CONTAINER_A);
    assert.equal(released.calls, 0, 'held while syncing');
    server.resumeLists();
    await waitFor(() => released.calls > 0, { what: 'the held detection to be released' });
    assert.equal(released.outcome, 'enriched');
    assert.equal(released.attributes?.['k8s.pod.uid'], 'uid-during-sync');
  });

  test('a detection held before its pod exists is released enriched when the pod arrives', async () => {
    const metadata = startMetadata();
    await synced(metadata);
    const released = holdOnce(metadata, 'uid-late', CONTAINER_A);
    assert.equal(released.calls, 0, 'held while the pod is unknown');
    server.putReplicaSet('shop', 'web-late', { kind: 'Deployment', name: 'web-late-deploy' });
    server.addPod(webPod({ uid: 'uid-late', owner: { kind: 'ReplicaSet', name: 'web-late' } }));
    await waitFor(() => released.calls > 0, { what: 'the held detection to be released' });
    assert.equal(released.calls, 1);
    assert.equal(released.outcome, 'enriched');
    assert.equal(released.attributes?.['k8s.container.name'], 'app');
    assert.equal(released.attributes?.['k8s.deployment.name'], 'web-late-deploy');
    assert.equal(metadata.enricher.counters.enrichedAfterHold, 1);
    assert.equal(metadata.enricher.counters.misses, 0);
  });

  test('a detection held until the container status appears is released enriched on the update', async () => {
    const pending = webPod({ uid: 'uid-creating', owner: undefined, containers: [{ name: 'app', image: 'web:1' }] });
    server.addPod(pending);
    const metadata = startMetadata();
    await synced(metadata);
    assert.equal(metadata.enricher.enrich('uid-creating', CONTAINER_A), 'pending');
    const released = holdOnce(metadata, 'uid-creating', CONTAINER_A);
    server.updatePod(webPod({ uid: 'uid-creating', owner: undefined,
      containers: [{ name: 'app', image: 'web:1', id: `containerd://${CONTAINER_A}` }] }));
    await waitFor(() => released.calls > 0, { what: 'the held detection to be released' });
    assert.equal(released.outcome, 'enriched');
    assert.equal(released.attributes?.['k8s.container.name'], 'app');
  });

  test('a hold that expires releases the bare ids and counts a miss', async () => {
    const metadata = startMetadata({ holdMs: 50 });
    await synced(metadata);
    const released = holdOnce(metadata, 'uid-never', CONTAINER_B);
    await waitFor(() => released.calls > 0, { what: 'the hold to expire' });
    assert.equal(released.outcome, 'bare');
    assert.deepEqual(released.attributes, { 'k8s.pod.uid': 'uid-never', 'container.id': CONTAINER_B });
    assert.equal(metadata.enricher.counters.holdsExpired, 1);
    assert.equal(metadata.enricher.counters.misses, 1);
  });

  test('a deleted pod stops answering', async () => {
    server.addPod(webPod({ uid: 'uid-deleted', owner: undefined }));
    const metadata = startMetadata();
    await synced(metadata);
    assert.equal(typeof metadata.enricher.enrich('uid-deleted', CONTAINER_A), 'object');
    server.deletePod('uid-deleted');
    await waitFor(() => metadata.cache?.byPodUid('uid-deleted') === undefined, { what: 'the pod to leave the cache' });
    assert.equal(metadata.cache?.byContainer(CONTAINER_A), undefined);
    assert.notEqual(typeof metadata.enricher.enrich('uid-deleted', CONTAINER_A), 'object');
  });

  test('a deleted pod keeps answering during the grace period', async () => {
    server.addPod(webPod({ uid: 'uid-grace', owner: undefined }));
    const metadata = startMetadata({ deletedPodGraceMs: 600_000 });
    await synced(metadata);
    const watchEventsBefore = metadata.informer!.counters.watchEvents;
    server.deletePod('uid-grace');
    await waitFor(() => metadata.informer!.counters.watchEvents > watchEventsBefore, { what: 'the DELETED event' });
    assert.equal(typeof metadata.enricher.enrich('uid-grace', CONTAINER_A), 'object');
  });
});

describe('informer resilience', () => {
  test('an expired watch (410 Gone) relists and loses no update', async () => {
    server.addPod(webPod({ uid: 'uid-gone', owner: undefined, labels: { app: 'v1' } }));
    const metadata = startMetadata();
    await synced(metadata);
    await waitFor(() => server.openWatchCount > 0, { what: 'the watch to open' });
    server.expireWatches();
    // Changed between the expiry and the relist: only the relist can deliver it.
    server.updatePod(webPod({ uid: 'uid-gone', owner: undefined, labels: { app: 'v2' } }));
    server.addPod(webPod({ uid: 'uid-gone-new', name: 'new', owner: undefined, containers: [] }));
    await waitFor(() => metadata.informer!.counters.relistsAfterGone >= 1, { what: 'a relist after 410' });
    await waitFor(() => metadata.cache?.byPodUid('uid-gone')?.attributes['k8s.pod.label.app'] === 'v2',
      { what: 'the update made during the expiry to arrive' });
    await waitFor(() => metadata.cache?.byPodUid('uid-gone-new'), { what: 'the pod added during the expiry' });
    // And the watch resumes afterwards.
    await waitFor(() => server.openWatchCount > 0, { what: 'a new watch' });
    server.updatePod(webPod({ uid: 'uid-gone', owner: undefined, labels: { app: 'v3' } }));
    await waitFor(() => metadata.cache?.byPodUid('uid-gone')?.attributes['k8s.pod.label.app'] === 'v3',
      { what: 'an update over the new watch' });
    assert.ok(server.requests.gone >= 1);
    assert.equal(metadata.state, 'synced');
  });

  test('a watch that ends normally resumes from the last bookmark without relisting', async () => {
    server.addPod(webPod({ uid: 'uid-bookmark', owner: undefined }));
    const metadata = startMetadata();
    await synced(metadata);
    await waitFor(() => server.openWatchCount > 0, { what: 'the watch to open' });
    // Changes elsewhere in the cluster move the resourceVersion on without any event for this node.
    for (let i = 0; i < 3; i++) server.addPod(webPod({ uid: `uid-other-${i}`, nodeName: 'node-b', owner: undefined }));
    const eventsBefore = metadata.informer!.counters.watchEvents;
    server.sendBookmark();
    await waitFor(() => metadata.informer!.counters.watchEvents > eventsBefore, { what: 'the bookmark' });
    server.compactHistory();
    const listsBefore = server.requests.list;
    const watchesBefore = server.requests.watch;
    server.endWatches();
    await waitFor(() => server.requests.watch > watchesBefore && server.openWatchCount > 0, { what: 'the watch to resume' });
    server.updatePod(webPod({ uid: 'uid-bookmark', owner: undefined, labels: { app: 'after-resume' } }));
    await waitFor(() => metadata.cache?.byPodUid('uid-bookmark')?.attributes['k8s.pod.label.app'] === 'after-resume',
      { what: 'an update over the resumed watch' });
    assert.equal(server.requests.gone, 0, 'resumed from the bookmark, not from a compacted version');
    assert.equal(server.requests.list, listsBefore, 'no relist');
    assert.equal(metadata.informer!.counters.relistsAfterGone, 0);
  });

  test('a watch resumed from an old resourceVersion after a server restart gets 410 and relists', async () => {
    server.addPod(webPod({ uid: 'uid-restart-gone', owner: undefined }));
    const metadata = startMetadata();
    await synced(metadata);
    await server.stop();
    await waitFor(() => metadata.state === 'unreachable', { what: 'the informer to notice the outage' });
    server.expireWatches();
    server.deletePod('uid-restart-gone');
    await server.restart();
    await waitFor(() => metadata.cache?.byPodUid('uid-restart-gone') === undefined,
      { what: 'the deletion made during the outage to be reconciled by the relist' });
    assert.ok(metadata.informer!.counters.relistsAfterGone >= 1);
  });

  test('an API server restart is survived with backoff, and changes made meanwhile arrive', async () => {
    const log = new RecordingLog();
    const metadata = startMetadata({ log });
    await synced(metadata);
    await waitFor(() => server.openWatchCount > 0, { what: 'the watch to open' });
    await server.stop();
    await waitFor(() => metadata.state === 'unreachable', { what: 'the informer to notice the outage' });
    const errorsWhileDown = metadata.informer!.counters.errors;
    await waitFor(() => metadata.informer!.counters.errors >= errorsWhileDown + 2, { what: 'retries while down' });
    server.addPod(webPod({ uid: 'uid-after-restart', owner: undefined }));
    await server.restart();
    await waitFor(() => metadata.cache?.byPodUid('uid-after-restart'), { what: 'the pod added during the outage' });
    await waitFor(() => metadata.state === 'synced', { what: 'the informer to recover' });
    assert.equal(log.lines.filter((line) => line.includes('unreachable')).length, 1, 'the outage is logged once');
    assert.ok(log.lines.some((line) => line.includes('reachable again')), log.lines.join('\n'));
  });

  test('with the API server down, a held detection is released bare at once and counted as a miss', async () => {
    const metadata = startMetadata();
    await synced(metadata);
    await server.stop();
    await waitFor(() => metadata.state === 'unreachable', { what: 'the informer to notice the outage' });
    const released = holdOnce(metadata, 'uid-down', CONTAINER_A);
    assert.equal(released.calls, 1, 'released synchronously');
    assert.equal(released.outcome, 'bare');
    assert.deepEqual(released.attributes, { 'k8s.pod.uid': 'uid-down', 'container.id': CONTAINER_A });
    assert.equal(metadata.enricher.counters.misses, 1);
  });

  test('detections already held are released when the API server becomes unreachable', async () => {
    const metadata = startMetadata();
    await synced(metadata);
    const released = holdOnce(metadata, 'uid-held-down', CONTAINER_A);
    assert.equal(released.calls, 0);
    await server.stop();
    await waitFor(() => released.calls > 0, { what: 'the held detection to be released' });
    assert.equal(released.outcome, 'bare');
    assert.equal(metadata.enricher.counters.misses, 1);
  });

  test('an API server that is down at start-up leaves the agent running and is picked up later', async () => {
    await server.stop();
    server.addPod(webPod({ uid: 'uid-cold', owner: undefined }));
    const metadata = startMetadata();
    await waitFor(() => metadata.state === 'unreachable', { what: 'the first list to fail' });
    await server.restart();
    await metadata.informer!.whenSynced();
    assert.ok(metadata.cache?.byPodUid('uid-cold'));
  });
});

describe('shutdown', () => {
  test('stop() returns while a list request is still unanswered, and releases held detections', async () => {
    server.pauseLists();
    const metadata = startMetadata();
    await waitFor(() => server.pausedListCount > 0, { what: 'the first list request' });
    const released = holdOnce(metadata, 'uid-stop', CONTAINER_A);
    let stopped = false;
    void metadata.stop().then(() => { stopped = true; });
    await waitFor(() => stopped, { what: 'stop() to return' });
    assert.equal(metadata.state, 'stopped');
    assert.equal(released.calls, 1);
    assert.equal(released.outcome, 'bare');
  });
});

describe('workload owners', () => {
  test('ReplicaSet → Deployment is resolved with one cached GET per ReplicaSet', async () => {
    server.putReplicaSet('shop', 'api-5f6d7', { kind: 'Deployment', name: 'api' });
    const gets = server.requests.replicaSetGet;
    server.addPod(webPod({ uid: 'uid-api-1', name: 'api-5f6d7-a', owner: { kind: 'ReplicaSet', name: 'api-5f6d7' } }));
    server.addPod(webPod({ uid: 'uid-api-2', name: 'api-5f6d7-b', owner: { kind: 'ReplicaSet', name: 'api-5f6d7' },
      containers: [] }));
    const metadata = startMetadata();
    await synced(metadata);
    const first = await waitFor(() => {
      const result = metadata.enricher.enrich('uid-api-1', undefined);
      return typeof result === 'object' ? result : undefined;
    }, { what: 'the owner of the first pod' });
    const second = metadata.enricher.enrich('uid-api-2', undefined) as PodAttributes;
    assert.equal(first['k8s.deployment.name'], 'api');
    assert.equal(second['k8s.deployment.name'], 'api');
    assert.equal(second['k8s.replicaset.name'], 'api-5f6d7');
    assert.equal(server.requests.replicaSetGet - gets, 1);
  });

  test('a ReplicaSet without a Deployment owner reports only the ReplicaSet', async () => {
    server.putReplicaSet('shop', 'bare-rs');
    server.addPod(webPod({ uid: 'uid-bare-rs', owner: { kind: 'ReplicaSet', name: 'bare-rs' }, containers: [] }));
    const metadata = startMetadata();
    await synced(metadata);
    const attributes = await waitFor(() => {
      const result = metadata.enricher.enrich('uid-bare-rs', undefined);
      return typeof result === 'object' ? result : undefined;
    }, { what: 'the owner lookup' });
    assert.equal(attributes['k8s.replicaset.name'], 'bare-rs');
    assert.equal(attributes['k8s.deployment.name'], undefined);
  });

  test('Job → CronJob is resolved with a GET on the Job', async () => {
    server.putJob('batch', 'report-29012345', { kind: 'CronJob', name: 'report' });
    server.addPod(webPod({ uid: 'uid-job', namespace: 'batch', owner: { kind: 'Job', name: 'report-29012345' }, containers: [] }));
    const metadata = startMetadata();
    await synced(metadata);
    const attributes = await waitFor(() => {
      const result = metadata.enricher.enrich('uid-job', undefined);
      return typeof result === 'object' ? result : undefined;
    }, { what: 'the job owner lookup' });
    assert.equal(attributes['k8s.job.name'], 'report-29012345');
    assert.equal(attributes['k8s.cronjob.name'], 'report');
  });

  test('StatefulSet and DaemonSet owners need no lookup', async () => {
    server.addPod(webPod({ uid: 'uid-sts', owner: { kind: 'StatefulSet', name: 'db' }, containers: [] }));
    server.addPod(webPod({ uid: 'uid-ds', name: 'agent-x', owner: { kind: 'DaemonSet', name: 'agent' }, containers: [] }));
    const metadata = startMetadata();
    await synced(metadata);
    assert.equal((metadata.enricher.enrich('uid-sts', undefined) as PodAttributes)['k8s.statefulset.name'], 'db');
    assert.equal((metadata.enricher.enrich('uid-ds', undefined) as PodAttributes)['k8s.daemonset.name'], 'agent');
  });

  test('when reading ReplicaSets is forbidden, the Deployment is guessed from pod-template-hash and the log says so', async () => {
    server.forbid('replicasets');
    const log = new RecordingLog();
    server.addPod(webPod({ uid: 'uid-forbidden', name: 'shop-6b8f9d-aaaaa', labels: { 'pod-template-hash': '6b8f9d' },
      owner: { kind: 'ReplicaSet', name: 'shop-frontend-6b8f9d' }, containers: [] }));
    const metadata = startMetadata({ log });
    await synced(metadata);
    const attributes = await waitFor(() => {
      const result = metadata.enricher.enrich('uid-forbidden', undefined);
      return typeof result === 'object' ? result : undefined;
    }, { what: 'the fallback owner' });
    assert.equal(attributes['k8s.deployment.name'], 'shop-frontend');
    assert.equal(metadata.owners!.counters.forbidden, 1);
    assert.ok(log.lines.some((line) => line.startsWith('warn') && line.includes('pod-template-hash')), log.lines.join('\n'));
  });
});

describe('credentials', () => {
  test('the in-cluster service account (token + CA) is used when the pod environment says so', async () => {
    const { root, env } = server.writeServiceAccount();
    server.addPod(webPod({ uid: 'uid-in-cluster', owner: undefined }));
    const log = new RecordingLog();
    const metadata = startMetadata({ kubeconfigPath: undefined, serviceAccountRoot: root, env, log });
    await synced(metadata);
    assert.ok(metadata.cache?.byPodUid('uid-in-cluster'));
    assert.equal(server.requests.unauthorized, 0, `the fake API server only accepts the bearer token ${TEST_TOKEN}`);
    assert.match(log.lines[0], /from in-cluster service account \(127\.0\.0\.1:\d+\)$/);
  });

  test('without in-cluster config or kubeconfig the informer is off, says so once, and counts no misses', () => {
    const log = new RecordingLog();
    const metadata = startMetadata({ kubeconfigPath: undefined, env: {}, log });
    assert.equal(metadata.state, 'off');
    assert.equal(metadata.informer, null);
    assert.deepEqual(log.lines, ['info k8s: pod metadata off: no in-cluster service account and no kubeconfig']);
    const released = holdOnce(metadata, 'uid-x', CONTAINER_A);
    assert.equal(released.outcome, 'bare');
    assert.equal(metadata.enricher.counters.misses, 0);
  });

  test('a kubeconfig path that does not exist is a one-line error', () => {
    assert.throws(() => startMetadata({ kubeconfigPath: '/nonexistent/kubeconfig' }),
      { message: 'kubeconfig /nonexistent/kubeconfig does not exist' });
  });
});

describe('bodies from the API server are bounded', () => {
  /** A pod whose JSON is about `bytes` long (an annotation carries the bulk). */
  const bulkyPod = (uid: string, name: string, bytes: number) => {
    const pod = webPod({ uid, name, owner: undefined });
    (pod.metadata.annotations as Record<string, string>)['example.com/bulk'] = 'x'.repeat(bytes);
    return pod;
  };

  test('a list page over the limit is asked again with half the pods per page, and the node still syncs', async () => {
    // Two pods per page is over the limit, one is not.
    const size = Math.ceil(MAX_LIST_RESPONSE_BYTES * 0.6);
    server.addPod(bulkyPod('uid-bulky-1', 'bulky-1', size));
    server.addPod(bulkyPod('uid-bulky-2', 'bulky-2', size));
    server.addPod(bulkyPod('uid-bulky-3', 'bulky-3', size));
    const log = new RecordingLog();
    const metadata = startMetadata({ listPageSize: 2, log });
    await synced(metadata);
    for (const uid of ['uid-bulky-1', 'uid-bulky-2', 'uid-bulky-3']) {
      assert.equal(typeof metadata.enricher.enrich(uid, CONTAINER_A), 'object', uid);
    }
    assert.equal(metadata.counters().informer!.oversized, 1);
    assert.ok(log.lines.some((l) => /^warn k8s: GET \/api\/v1\/pods: response larger than \d+ bytes, refused; listing 1 pods per page/.test(l)), log.lines.join('\n'));
  });

  test('a watch event line that never ends is cut at the limit, counted, and the informer relists', async () => {
    const metadata = startMetadata({ log: new RecordingLog() });
    await synced(metadata);
    await waitFor(() => server.openWatchCount === 1, { what: 'the watch to open' });
    const listsBefore = server.requests.list;
    // A line just short of the limit that never ends; the next event (a new pod) runs it over, so that event is lost
    // with it and only a relist can show the pod.
    const chunk = Buffer.alloc(64 << 10, 'x');
    let sent = 0;
    for (; sent + chunk.length < MAX_WATCH_EVENT_BYTES - 1024; sent += chunk.length) server.writeToWatches(chunk);
    server.writeToWatches(Buffer.alloc(MAX_WATCH_EVENT_BYTES - 1024 - sent, 'x'));
    server.addPod(webPod({ uid: 'uid-after-refusal', owner: undefined }));
    await waitFor(() => metadata.counters().informer!.oversized === 1, { what: 'the line to be refused' });
    await waitFor(() => server.requests.list > listsBefore, { what: 'a relist' });
    await waitFor(() => typeof metadata.enricher.enrich('uid-after-refusal', CONTAINER_A) === 'object', { what: 'the pod from the relist' });
    await waitFor(() => server.openWatchCount === 1, { what: 'a new watch' });
    assert.equal(metadata.state, 'synced');
  });
});
