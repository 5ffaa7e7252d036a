// Pod projection, cache indexes, backoff and the enricher's hold bookkeeping, without an API server.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Backoff } from '../src/k8s/internal/Backoff.ts';
import { silentLogger } from '../src/k8s/Logger.ts';
import { PodCache } from '../src/k8s/PodCache.ts';
import { PodMetadataEnricher, type MetadataState, type ReleaseOutcome } from '../src/k8s/PodMetadataEnricher.ts';
import { imageDigest, imageRepository, projectPod, stripRuntimePrefix } from '../src/k8s/projectPod.ts';
import { podFixture } from './helpers/apiserver.ts';
import { waitFor } from './helpers/wait.ts';

const ID = 'e'.repeat(64);

test('exec probes and lifecycle hooks are kept per container, bounded; other handlers are not', () => {
  const pod = podFixture({
    name: 'web-1', uid: 'u1', nodeName: 'n1',
    containers: [
      { name: 'app', image: 'app:1', id: `containerd://${ID}`, execProbe: ['wget', '-q', 'http://127.0.0.1/'], preStop: ['/bin/drain', '--all'] },
      { name: 'side', image: 'side:1' },
    ],
  });
  (pod.spec!.containers as Record<string, unknown>[])[1].readinessProbe = { httpGet: { path: '/ready', port: 8080 } };
  (pod.spec!.containers as Record<string, unknown>[])[1].startupProbe = { exec: { command: Array.from({ length: 40 }, (_, i) => `w${i}`.repeat(100)) } };
  const record = projectPod(pod, new Set())!;
  assert.deepEqual(record.execHooks.get('app'), [['wget', '-q', 'http://127.0.0.1/'], ['/bin/drain', '--all']]);
  const side = record.execHooks.get('side')!;
  assert.equal(side.length, 1, 'the httpGet probe is no command');
  assert.equal(side[0].length, 16, 'words bounded');
  assert.ok(side[0].every((w) => w.length <= 256), 'word length bounded');
});

describe('container ids and images from container statuses', () => {
  const ids: [string, string | undefined, string | undefined][] = [
    ['containerd ids lose their scheme', `containerd://${ID}`, ID],
    ['cri-o ids lose their scheme', `cri-o://${ID}`, ID],
    ['docker ids lose their scheme', `docker://${ID}`, ID],
    ['a bare id is kept', ID, ID],
    ['an empty id (container still creating) is absent', '', undefined],
  ];
  for (const [name, input, expected] of ids) test(name, () => assert.equal(stripRuntimePrefix(input), expected));

  const images: [string, string, string][] = [
    ['a tag is removed', 'nginx:1.25', 'nginx'],
    ['a registry port is not a tag', 'registry.local:5000/team/app', 'registry.local:5000/team/app'],
    ['a registry port and a tag', 'registry.local:5000/team/app:2.0', 'registry.local:5000/team/app'],
    ['a digest is removed', `docker.io/library/nginx@sha256:${ID}`, 'docker.io/library/nginx'],
    ['tag and digest are removed', `nginx:1.25@sha256:${ID}`, 'nginx'],
  ];
  for (const [name, input, expected] of images) test(name, () => assert.equal(imageRepository(input), expected));

  const digests: [string, string, string | undefined][] = [
    ['a repo digest yields the digest', `docker.io/library/nginx@sha256:${ID}`, `sha256:${ID}`],
    ['docker-pullable ids yield the digest', `docker-pullable://nginx@sha256:${ID}`, `sha256:${ID}`],
    ['a plain image id is kept', `sha256:${ID}`, `sha256:${ID}`],
    ['an empty image id is absent', '', undefined],
  ];
  for (const [name, input, expected] of digests) test(name, () => assert.equal(imageDigest(input), expected));
});

describe('pod projection', () => {
  test('an object without name, namespace or uid is not a pod', () => {
    assert.equal(projectPod({ metadata: { name: 'x', namespace: 'y' } }, new Set()), undefined);
  });

  test('containers without an id yet are not indexed; ephemeral containers are', () => {
    const pod = podFixture({ name: 'p', uid: 'u', nodeName: 'n', containers: [{ name: 'app', image: 'a' }] });
    (pod.status as Record<string, unknown>).ephemeralContainerStatuses = [
      { name: 'debugger', image: 'busybox', containerID: `containerd://${ID}` },
    ];
    const record = projectPod(pod, new Set())!;
    assert.deepEqual([...record.containers.keys()], [ID]);
    assert.equal(record.containers.get(ID)!['k8s.container.name'], 'debugger');
  });

  test('only the controlling owner reference counts', () => {
    const pod = podFixture({ name: 'p', uid: 'u', nodeName: 'n' });
    pod.metadata.ownerReferences = [
      { kind: 'StatefulSet', name: 'not-controller', controller: false },
      { kind: 'DaemonSet', name: 'ds', controller: true },
    ];
    const record = projectPod(pod, new Set())!;
    assert.equal(record.attributes['k8s.daemonset.name'], 'ds');
    assert.equal(record.attributes['k8s.statefulset.name'], undefined);
    assert.equal(record.owner, undefined);
  });
});

describe('pod cache indexes', () => {
  const record = (uid: string, resourceVersion: string, containerId: string) => ({
    ...projectPod(podFixture({ name: uid, uid, nodeName: 'n',
      containers: [{ name: 'app', image: 'a', id: `containerd://${containerId}` }] }), new Set())!,
    resourceVersion,
  });

  test('an update that replaces a container drops the old container id from the index', () => {
    const cache = new PodCache(0);
    cache.upsert(record('u', '1', 'old'));
    cache.upsert(record('u', '2', 'new'));
    assert.equal(cache.byContainer('old'), undefined);
    assert.equal(cache.byContainer('new')?.uid, 'u');
  });

  test('a deleted pod is forgotten after the grace period, not before', () => {
    const cache = new PodCache(1000);
    cache.upsert(record('u', '1', 'c'));
    cache.markDeleted('u', 5000);
    cache.sweep(5999);
    assert.ok(cache.byPodUid('u'));
    cache.sweep(6000);
    assert.equal(cache.byPodUid('u'), undefined);
    assert.equal(cache.byContainer('c'), undefined);
  });

  test('a pod re-added during its grace period stays', () => {
    const cache = new PodCache(1000);
    cache.upsert(record('u', '1', 'c'));
    cache.markDeleted('u', 0);
    cache.upsert(record('u', '2', 'c'));
    cache.sweep(10_000);
    assert.ok(cache.byPodUid('u'));
  });
});

describe('backoff', () => {
  test('doubles per failure up to the ceiling, jittered into the upper half of the window', () => {
    const low = new Backoff(100, 1000, () => 0);
    assert.deepEqual([1, 2, 3, 4, 5].map(() => low.nextDelayMs()), [50, 100, 200, 400, 500]);
    const high = new Backoff(100, 1000, () => 1);
    assert.deepEqual([1, 2, 3, 4, 5].map(() => high.nextDelayMs()), [100, 200, 400, 800, 1000]);
    high.reset();
    assert.equal(high.nextDelayMs(), 100);
  });
});

describe('enricher holds', () => {
  function enricherWith(state: { value: MetadataState }, options: { maxHeld?: number; holdMs?: number } = {}) {
    const cache = new PodCache(0);
    const enricher = new PodMetadataEnricher({
      cache, owners: null, state: () => state.value, log: silentLogger, ...options,
    });
    return { cache, enricher };
  }

  test('holds beyond maxHeld are released at once and counted', () => {
    const { enricher } = enricherWith({ value: 'synced' }, { maxHeld: 1 });
    const outcomes: ReleaseOutcome[] = [];
    enricher.hold('a', ID, (_, outcome) => outcomes.push(outcome));
    enricher.hold('b', ID, (_, outcome) => outcomes.push(outcome));
    assert.deepEqual(outcomes, ['bare']);
    assert.equal(enricher.counters.holdOverflows, 1);
    assert.equal(enricher.counters.misses, 1);
    assert.equal(enricher.heldCount, 1);
    enricher.close();
    assert.deepEqual(outcomes, ['bare', 'bare']);
    assert.equal(enricher.counters.misses, 2);
  });

  test('a pod known without its container yet is released partial when the hold expires', async () => {
    const { cache, enricher } = enricherWith({ value: 'synced' }, { holdMs: 20 });
    cache.upsert(projectPod(podFixture({ name: 'p', uid: 'u', nodeName: 'n', containers: [] }), new Set())!);
    let released: { attributes: Record<string, string>; outcome: ReleaseOutcome } | undefined;
    enricher.hold('u', ID, (attributes, outcome) => { released = { attributes, outcome }; });
    await waitFor(() => released, { what: 'the hold to expire' });
    assert.equal(released!.outcome, 'partial');
    assert.equal(released!.attributes['k8s.pod.name'], 'p');
    assert.equal(released!.attributes['container.id'], ID);
    assert.equal(enricher.counters.partial, 1);
    assert.equal(enricher.counters.misses, 0);
  });

  test('a release callback that throws is counted and does not stop other releases', () => {
    const { enricher } = enricherWith({ value: 'synced' });
    let second = false;
    enricher.hold('a', ID, () => { throw new Error('boom'); });
    enricher.hold('b', ID, () => { second = true; });
    enricher.close();
    assert.equal(second, true);
    assert.equal(enricher.counters.releaseErrors, 1);
  });

  test('a container outside any pod is a miss once synced, but waits while syncing', () => {
    const state = { value: 'syncing' as MetadataState };
    const { enricher } = enricherWith(state);
    assert.equal(enricher.enrich(undefined, ID), 'pending');
    state.value = 'synced';
    assert.equal(enricher.enrich(undefined, ID), 'miss');
    let outcome: ReleaseOutcome | undefined;
    enricher.hold(undefined, ID, (_, released) => { outcome = released; });
    assert.equal(outcome, 'bare');
    assert.equal(enricher.counters.notInPod, 1);
    assert.equal(enricher.counters.misses, 0, 'a container outside any pod is not a missed pod');
  });
});
