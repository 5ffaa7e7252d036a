// The whole receive path on the real kernel: a user namespace created inside a real container (podman + runc, in
// kubelet's cgroupfs layout) and inside a containerd-style systemd cgroup reaches the agent's JSON-lines output with
// the right container id, pod UID, host PID and an ancestry that ends at the container's init.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { startAgent, type RunningAgent, type JsonDetection } from '../helpers/agent.ts';
import { startContainer } from '../helpers/podman.ts';
import { kubepodsSystemdPath, runInCgroup } from '../helpers/cgroup.ts';
import { parkedChildPid, parkedInit, releaseParked } from '../helpers/parked.ts';

const USER_NAMESPACE_RULE = 'KS-ESC-001';

let agent: RunningAgent;
before(async () => {
  agent = await startAgent();
});
after(async () => {
  await agent?.stop();
});

function assertAncestryEndsAt(d: JsonDetection, initPid: number): void {
  const pids = d.ancestry.map((a) => a.pid);
  assert.equal(pids[0], d.attributes['process.pid'], 'ancestry starts with the process itself');
  assert.equal(pids.at(-1), initPid, `ancestry ${JSON.stringify(pids)} reaches the container's init ${initPid}`);
}

test('a user namespace created in a podman container in a kubepods cgroup is detected with its container, pod and host pid', async () => {
  const podUid = randomUUID();
  // The pid the detection must report is learnt before the event happens (helpers/parked.ts).
  const container = await startContainer({ podUid, cmd: parkedInit('unshare -U -r true') });
  try {
    const parked = await parkedChildPid(container);
    await releaseParked(container);

    const d = await agent.waitForDetection(
      (x) => x.rule === USER_NAMESPACE_RULE && x.attributes['process.pid'] === parked,
      `a ${USER_NAMESPACE_RULE} detection for host pid ${parked}`,
    );
    assert.equal(d.attributes['container.id'], container.id);
    assert.equal(d.attributes['k8s.pod.uid'], podUid);
    assert.equal(d.attributes['process.parent_pid'], container.initPid);
    assert.match(String(d.attributes['process.command_line']), /unshare -U -r true/);
    assert.equal(d.category, 'container_escape');
    assert.match(d.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
    assertAncestryEndsAt(d, container.initPid);
  } finally {
    await container.remove();
  }
});

test('a user namespace created in a containerd systemd-driver cgroup is attributed to that container and pod', async () => {
  const podUid = randomUUID();
  const layout = kubepodsSystemdPath({ podUid });
  // The cgroup's first process plays the container init; its child creates the user namespace.
  const init = await runInCgroup(layout.relPath, '/bin/sh', ['-c', 'unshare -U -r true; exec sleep 3600']);
  try {
    const d = await agent.waitForDetection(
      (x) => x.rule === USER_NAMESPACE_RULE && x.attributes['container.id'] === layout.containerId,
      `a ${USER_NAMESPACE_RULE} detection in ${layout.relPath}`,
    );
    assert.equal(d.attributes['k8s.pod.uid'], podUid);
    assert.equal(d.attributes['container.runtime.name'], 'containerd');
    assert.equal(d.attributes['process.parent_pid'], init.pid);
    assertAncestryEndsAt(d, init.pid);
  } finally {
    await init.stop();
  }
});
