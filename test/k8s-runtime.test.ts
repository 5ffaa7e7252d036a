// Names and images of non-Kubernetes containers from a real podman API socket, for a real container.

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ContainerRuntimeMetadata, MAX_RUNTIME_ANSWER_BYTES, type RuntimeReleaseOutcome } from '../src/k8s/ContainerRuntimeMetadata.ts';
import type { PodAttributes } from '../src/k8s/attributes.ts';
import { startContainer, TEST_IMAGE, type Container } from './helpers/podman.ts';
import { runOrThrow, spawnBackground, type BackgroundProcess } from './helpers/run.ts';
import { waitFor } from './helpers/wait.ts';

let dir: string;
let socketPath: string;
let service: BackgroundProcess;
let container: Container;

function holdOnce(runtime: ContainerRuntimeMetadata, containerId: string) {
  const released: { attributes?: PodAttributes; outcome?: RuntimeReleaseOutcome; calls: number } = { calls: 0 };
  runtime.hold(containerId, (attributes, outcome) => {
    released.calls += 1;
    released.attributes = attributes;
    released.outcome = outcome;
  });
  return released;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kubesentry-runtime-'));
  socketPath = join(dir, 'podman.sock');
  service = spawnBackground('podman', ['--runtime', 'runc', '--cgroup-manager', 'cgroupfs', 'system', 'service',
    '--time=0', `unix://${socketPath}`]);
  await waitFor(() => existsSync(socketPath), { what: 'the podman API socket', timeoutMs: 30_000 });
  container = await startContainer();
});

after(async () => {
  await container?.remove();
  await service?.kill();
  rmSync(dir, { recursive: true, force: true });
});

describe('container runtime API', () => {
  test('a podman container is named with its image from the API socket', async () => {
    const runtime = new ContainerRuntimeMetadata({ socketPath });
    const released = holdOnce(runtime, container.id);
    await waitFor(() => released.calls > 0, { what: 'the runtime to answer', timeoutMs: 15_000 });
    const imageId = (await runOrThrow('podman', ['image', 'inspect', '--format', '{{.Id}}', TEST_IMAGE])).stdout.trim();
    assert.equal(released.outcome, 'enriched');
    assert.deepEqual(released.attributes, {
      'container.id': container.id,
      'container.name': container.name,
      'container.image.name': 'localhost/kubesentry-busybox',
      'kubesentry.container.image.reference': TEST_IMAGE,
      'container.image.id': `sha256:${imageId}`,
    });
    assert.equal(runtime.lookup(container.id) !== 'pending' && runtime.lookup(container.id) !== 'miss', true,
      'the answer is cached for the detection path');
    assert.equal(runtime.counters.requests, 1);
  });

  test('a container the runtime does not know is released bare and counted', async () => {
    const runtime = new ContainerRuntimeMetadata({ socketPath });
    const unknownId = 'f'.repeat(64);
    const released = holdOnce(runtime, unknownId);
    await waitFor(() => released.calls > 0, { what: 'the runtime to answer', timeoutMs: 15_000 });
    assert.equal(released.outcome, 'bare');
    assert.deepEqual(released.attributes, { 'container.id': unknownId });
    assert.equal(runtime.counters.unknown, 1);
    assert.equal(runtime.counters.misses, 1);
    assert.equal(runtime.lookup(unknownId), 'miss', 'the 404 is cached, not asked again');
  });

  test('a socket that stops answering releases held detections bare', async () => {
    const deadSocket = join(dir, 'dead.sock');
    const { createServer } = await import('node:net');
    // Accepts and then closes every connection without a word, like a runtime that is going away.
    const server = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => server.listen(deadSocket, resolve));
    try {
      const runtime = new ContainerRuntimeMetadata({ socketPath: deadSocket });
      const released = holdOnce(runtime, container.id);
      await waitFor(() => released.calls > 0, { what: 'the failed request to release the hold' });
      assert.equal(released.outcome, 'bare');
      assert.equal(runtime.counters.errors, 1);
      assert.equal(runtime.lookup(container.id), 'pending', 'a failure is not cached');
    } finally {
      server.close();
    }
  });

  test('an answer larger than the limit is refused, counted and released bare; the socket is asked again later', async () => {
    const bigSocket = join(dir, 'big.sock');
    const { createServer } = await import('node:http');
    let served = 0;
    // A runtime that answers with an endless body: an inspect JSON whose Name never ends, sent without a length.
    const server = createServer((_request, response) => {
      served += 1;
      response.writeHead(200, { 'content-type': 'application/json' });
      response.write('{"Id":"x","Name":"');
      const chunk = 'n'.repeat(64 << 10);
      const more = () => {
        while (!response.destroyed && response.write(chunk));
        if (!response.destroyed) response.once('drain', more);
      };
      more();
    });
    await new Promise<void>((resolve) => server.listen(bigSocket, resolve));
    try {
      const log: string[] = [];
      const runtime = new ContainerRuntimeMetadata({ socketPath: bigSocket, log: { info() {}, warn: (m) => log.push(m) } });
      const released = holdOnce(runtime, container.id);
      await waitFor(() => released.calls > 0, { what: 'the refused answer to release the hold' });
      assert.equal(released.outcome, 'bare');
      assert.deepEqual(released.attributes, { 'container.id': container.id });
      assert.equal(runtime.counters.oversized, 1);
      assert.equal(runtime.counters.errors, 1);
      assert.match(log.join('\n'), new RegExp(`response larger than ${MAX_RUNTIME_ANSWER_BYTES} bytes, refused`));
      assert.equal(runtime.lookup(container.id), 'pending', 'a refusal is not cached');
      const again = holdOnce(runtime, container.id);
      await waitFor(() => again.calls > 0, { what: 'the second hold' });
      assert.equal(served, 2);
      assert.equal(runtime.counters.oversized, 2);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  test('an explicit socket path that does not exist is a one-line error', () => {
    assert.throws(() => new ContainerRuntimeMetadata({ socketPath: join(dir, 'absent.sock') }),
      { message: `container runtime socket ${join(dir, 'absent.sock')} does not exist` });
  });
});
