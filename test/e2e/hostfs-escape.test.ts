// The "bad pod" end to end (KS-ESC-018): real podman containers with the host's / as a volume chroot into it, run
// the host's binaries from it and write below the host's /etc through it, each by a path the kernel must resolve
// (a relative chroot, "..", a symlink); and a pod writing its own emptyDir-like volume and reading a read-only host
// mount is not reported. Nothing of the host is changed but a scratch directory this file creates and removes.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmdirSync, rmSync } from 'node:fs';
import { startAgent, type JsonDetection, type RunningAgent } from '../helpers/agent.ts';
import { startContainer, type Container } from '../helpers/podman.ts';

const RULE = 'KS-ESC-018';
const ALARMING = new Set(['critical', 'high', 'medium']);
/** Container start, exec and the agent's pod-cgroup walk on a loaded 2-core machine. */
const DETECTION_TIMEOUT_MS = 60_000;
const KUBELET_DIR = '/var/lib/kubelet';
const PODS_DIR = `${KUBELET_DIR}/pods`;
/** A static binary of the host (busybox-static is a test dependency, scripts/setup.sh), so it runs in any container. */
const HOST_STATIC_BINARY = '/usr/bin/busybox';

let agent: RunningAgent;
const containers: Container[] = [];
const hostScratch: string[] = [];
/** Directories this file created that did not exist before: removed at the end if nothing else is in them. */
const createdParents: string[] = [];

before(async () => {
  assert.ok(existsSync(HOST_STATIC_BINARY), `${HOST_STATIC_BINARY} exists on the host`);
  agent = await startAgent();
});
after(async () => {
  await agent?.stop();
  for (const c of containers) await c.remove().catch(() => {});
  for (const dir of hostScratch) rmSync(dir, { recursive: true, force: true });
  for (const dir of createdParents.reverse()) {
    if (existsSync(dir) && readdirSync(dir).length === 0) rmdirSync(dir);
  }
});

/** mkdir -p that remembers which ancestors it created, so after() leaves the host as it was. */
function makeHostDir(path: string): string {
  const parts = path.split('/').filter(Boolean);
  for (let i = 1; i <= parts.length; i++) {
    const dir = '/' + parts.slice(0, i).join('/');
    if (!existsSync(dir)) {
      mkdirSync(dir);
      if (i < parts.length) createdParents.push(dir);
    }
  }
  hostScratch.push(path);
  return path;
}

async function pod(extraArgs: string[]): Promise<{ container: Container; podUid: string }> {
  const podUid = randomUUID();
  const container = await startContainer({ podUid, extraArgs });
  containers.push(container);
  return { container, podUid };
}

async function inContainer(c: Container, script: string): Promise<void> {
  const r = await c.exec(['sh', '-c', script], { timeoutMs: 60_000 });
  assert.equal(r.code, 0, `${script}\n${r.stdout}\n${r.stderr}`);
}

function ofContainer(c: Container): JsonDetection[] {
  return agent.detections().filter((d) => d.attributes['container.id'] === c.id);
}

function waitForRule(c: Container, what: string, match: (d: JsonDetection) => boolean): Promise<JsonDetection> {
  return agent.waitForDetection(
    (d) => d.rule === RULE && d.attributes['container.id'] === c.id && match(d),
    `${what} (seen for the container: ${JSON.stringify(ofContainer(c).map((d) => `${d.rule}/${d.severity}: ${d.summary}`))})`,
    DETECTION_TIMEOUT_MS,
  );
}

test('chroot into the host root through a volume of / is critical, though the chroot named it "."', async () => {
  const { container, podUid } = await pod(['-v', '/:/host:ro']);
  await inContainer(container, `cd /host && chroot . ${HOST_STATIC_BINARY} true`);
  const d = await waitForRule(container, 'a critical chroot detection', (x) => x.attributes['kubesentry.syscall'] === 'chroot');
  assert.equal(d.severity, 'critical');
  assert.equal(d.attributes['kubesentry.host.path'], '/');
  assert.equal(d.attributes['file.path'], '/host', 'the new root as the container sees it');
  assert.equal(d.attributes['k8s.pod.uid'], podUid);
});

test('exec of a host binary through a volume of / is high, though the exec named it through ".."', async () => {
  const { container } = await pod(['-v', '/:/host:ro']);
  await inContainer(container, `cd /host/usr/lib && ..${HOST_STATIC_BINARY.slice('/usr'.length)} true`);
  const d = await waitForRule(container, 'a high exec detection', (x) => x.attributes['kubesentry.syscall'] === 'execve');
  assert.equal(d.severity, 'high');
  assert.equal(d.attributes['kubesentry.host.path'], HOST_STATIC_BINARY);
  assert.equal(d.attributes['file.path'], `/host${HOST_STATIC_BINARY}`);
});

test('a write below the host /etc through a volume of / is critical, though the open went through a symlink', async () => {
  const scratch = makeHostDir(`/etc/ks-hostfs-test-${randomBytes(4).toString('hex')}`);
  const { container } = await pod(['-v', '/:/host']);
  await inContainer(container, `ln -s /host${scratch} /tmp/innocent && echo x > /tmp/innocent/scratch`);
  const d = await waitForRule(container, 'a critical write detection', (x) => x.attributes['kubesentry.host.path'] === `${scratch}/scratch`);
  assert.equal(d.severity, 'critical');
  assert.equal(d.attributes['file.path'], `/host${scratch}/scratch`);
});

test('a write through a hard link, made in a harmless host place, to a file below the host /etc is still reported', async () => {
  const scratch = makeHostDir(`/etc/ks-hostfs-test-${randomBytes(4).toString('hex')}`);
  const link = `/tmp/ks-hostfs-link-${randomBytes(4).toString('hex')}`;
  hostScratch.push(link);
  const { container } = await pod(['-v', '/:/host']);
  await inContainer(container, `echo job > /host${scratch}/target && ln /host${scratch}/target /host${link} && echo x >> /host${link}`);
  const d = await waitForRule(container, 'a medium write detection through the link', (x) => x.attributes['kubesentry.host.path'] === link);
  assert.equal(d.severity, 'medium');
});

test('a pod writing its own emptyDir-like volume and reading a read-only host / raises nothing at medium or above', async () => {
  const ownPodUid = randomUUID();
  const otherPodUid = randomUUID();
  const ownVolume = makeHostDir(`${PODS_DIR}/${ownPodUid}/volumes/kubernetes.io~empty-dir/cache`);
  const otherVolume = makeHostDir(`${PODS_DIR}/${otherPodUid}/volumes/kubernetes.io~empty-dir/cache`);
  hostScratch.push(`${PODS_DIR}/${ownPodUid}`, `${PODS_DIR}/${otherPodUid}`);

  const reader = (await pod(['-v', '/:/host:ro'])).container;
  await inContainer(reader, 'cat /host/etc/os-release /host/etc/hostname >/dev/null && ls -R /host/usr/lib >/dev/null && ls /host/var >/dev/null');

  const writer = await startContainer({ podUid: ownPodUid, extraArgs: ['-v', `${ownVolume}:/cache`, '-v', `${otherVolume}:/other`] });
  containers.push(writer);
  await inContainer(
    writer,
    'for i in $(seq 1 20); do echo "$i" > /cache/f$i; done; mkdir -p /cache/sub && echo log >> /cache/sub/log && cat /cache/f1 >/dev/null',
  );
  // The control: the same kind of write into another pod's volume must be reported, and it comes last, so once it
  // is seen everything above has been judged.
  await inContainer(writer, 'echo x > /other/intruder');
  const control = await waitForRule(writer, "the control: a write into another pod's volume", () => true);
  assert.equal(control.severity, 'high');
  assert.equal(control.attributes['kubesentry.host.path'], `${otherVolume}/intruder`);

  const isControl = (d: JsonDetection) => d.rule === RULE && d.attributes['kubesentry.host.path'] === `${otherVolume}/intruder`;
  const alarming = [...ofContainer(reader), ...ofContainer(writer)].filter((d) => ALARMING.has(d.severity) && !isControl(d));
  assert.deepEqual(
    alarming.map((d) => `${d.severity} ${d.rule}: ${d.summary}`),
    [],
  );
});
