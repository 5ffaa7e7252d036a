// Without Kubernetes, a plain podman container's detections carry the container's name and image, asked of the
// runtime's own API socket (a real `podman system service`).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startAgent, type RunningAgent } from '../helpers/agent.ts';
import { startContainer, TEST_IMAGE, type Container } from '../helpers/podman.ts';
import { spawnBackground, type BackgroundProcess } from '../helpers/run.ts';
import { waitFor } from '../helpers/wait.ts';

let service: BackgroundProcess;
let agent: RunningAgent;
let container: Container;

before(async () => {
  const socketPath = path.join(mkdtempSync(path.join(tmpdir(), 'kubesentry-runtime-e2e-')), 'podman.sock');
  service = spawnBackground('podman', ['--runtime', 'runc', '--cgroup-manager', 'cgroupfs', 'system', 'service', '--time=0', `unix://${socketPath}`]);
  await waitFor(() => existsSync(socketPath), { what: 'the podman API socket', timeoutMs: 30_000 });
  agent = await startAgent({ args: ['--runtime.socket', socketPath, '--kubernetes.enabled', 'off'] });
  container = await startContainer(); // podman's own cgroup parent: no pod
});
after(async () => {
  await agent?.stop();
  await container?.remove();
  await service?.kill();
});

test('a detection from a plain podman container is named with the container and its image', async () => {
  const r = await container.exec(['unshare', '-U', 'true']);
  assert.equal(r.code, 0, r.stderr);
  const d = await agent.waitForDetection((x) => x.attributes['container.id'] === container.id, 'the detection');
  assert.equal(d.attributes['k8s.pod.uid'], undefined);
  assert.equal(d.attributes['container.runtime.name'], 'podman');
  assert.equal(d.attributes['container.name'], container.name);
  assert.equal(d.attributes['container.image.name'], 'localhost/kubesentry-busybox');
  assert.equal(d.attributes['kubesentry.container.image.reference'], TEST_IMAGE);
});
