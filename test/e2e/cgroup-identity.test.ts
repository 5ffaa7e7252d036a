// Container identity cannot be changed from inside by naming a cgroup: a privileged container (kubelet cgroupfs
// layout) mounts cgroup2, makes a runtime-looking sub-cgroup below its own cgroup (a CRI-O conmon scope, which is
// not a container, or a Docker scope, which names another container), moves its shell in and creates a user
// namespace there. The detection must still name the container it runs in.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { rmdirSync } from 'node:fs';
import { startAgent, type RunningAgent } from '../helpers/agent.ts';
import { cgroup2Root } from '../helpers/cgroup.ts';
import { startContainer } from '../helpers/podman.ts';

const USER_NAMESPACE_RULE = 'KS-ESC-001';
/** Container start plus the agent's resolution of a new cgroup on a loaded 2-core machine. */
const DETECTION_TIMEOUT_MS = 60_000;

let agent: RunningAgent;
before(async () => {
  agent = await startAgent();
});
after(async () => {
  await agent?.stop();
});

const spoofs = [
  { what: 'a crio-conmon scope', leaf: `crio-conmon-${randomBytes(32).toString('hex')}` },
  { what: 'a docker scope', leaf: `docker-${randomBytes(32).toString('hex')}.scope` },
];

for (const { what, leaf } of spoofs) {
  test(`a privileged container that moves itself into ${what} below its own cgroup is still that container`, async () => {
    const podUid = randomUUID();
    const container = await startContainer({ podUid, extraArgs: ['--privileged'] });
    const marker = `ks-cgroup-spoof-${randomBytes(4).toString('hex')}`;
    try {
      // The container has no cgroup namespace, so the cgroup2 root it mounts is the host's and its own cgroup is
      // the host path in /proc/self/cgroup.
      const script =
        'set -e; mkdir -p /tmp/cg2; mount -t cgroup2 none /tmp/cg2; ' +
        'own=$(sed -n "s/^0:://p" /proc/self/cgroup); ' +
        `mkdir "/tmp/cg2$own/${leaf}"; echo $$ > "/tmp/cg2$own/${leaf}/cgroup.procs"; ` +
        `grep -q "^0::$own/${leaf}$" /proc/self/cgroup; unshare -U true ${marker}`;
      const r = await container.exec(['sh', '-c', script]);
      assert.equal(r.code, 0, `${script}\n${r.stdout}\n${r.stderr}`);

      const d = await agent.waitForDetection(
        (x) => x.rule === USER_NAMESPACE_RULE && String(x.attributes['process.command_line']).includes(marker),
        `a ${USER_NAMESPACE_RULE} detection of the unshare in ${what}`,
        DETECTION_TIMEOUT_MS,
      );
      assert.equal(d.attributes['container.id'], container.id);
      assert.equal(d.attributes['k8s.pod.uid'], podUid);
    } finally {
      // The shell that moved in has exited; runc cannot remove the container's cgroup while a child remains.
      try {
        rmdirSync(`${cgroup2Root()}${container.cgroupPath}/${leaf}`);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
      await container.remove();
    }
  });
}
