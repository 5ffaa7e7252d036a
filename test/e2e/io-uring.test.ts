// KS-ESC-020 in real podman containers: an io_uring created with the raw syscalls in a seccomp-unconfined container,
// and the OPENAT and CONNECT requests submitted through it (which never enter the openat/connect syscalls), are each
// reported once; under the default seccomp profile io_uring_setup is refused and nothing can be submitted.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startAgent, type JsonDetection, type RunningAgent } from '../helpers/agent.ts';
import { startContainer, type Container } from '../helpers/podman.ts';
import { SIMULATOR_BUILD_DIR, SIMULATOR_MOUNT } from '../../src/simulate/scenarios.ts';
import { waitFor } from '../helpers/wait.ts';
import { Attr } from '../../src/detectors/attributeKeys.ts';

const RULE = 'KS-ESC-020';
const SIMULATOR_DIR = fileURLToPath(new URL(`../../${SIMULATOR_BUILD_DIR}`, import.meta.url));
const DETECTION_TIMEOUT_MS = 60_000;
const PORT = 3391;
const PATH = '/etc/passwd';

let agent: RunningAgent;
before(async () => {
  assert.ok(existsSync(`${SIMULATOR_DIR}/io_uring_ops`), `simulator programs are built in ${SIMULATOR_DIR} (make simulator)`);
  agent = await startAgent();
});
after(async () => {
  await agent?.stop();
});

async function withContainer(extraArgs: string[], body: (c: Container) => Promise<void>): Promise<void> {
  const container = await startContainer({ podUid: randomUUID(), extraArgs: ['-v', `${SIMULATOR_DIR}:${SIMULATOR_MOUNT}:ro`, ...extraArgs] });
  try {
    await body(container);
  } finally {
    await container.remove();
  }
}

const ofRule = (c: Container) => (d: JsonDetection) => d.rule === RULE && d.attributes['container.id'] === c.id;

test(`io_uring_setup and OPENAT and CONNECT requests submitted through the ring in a seccomp-unconfined container are each a ${RULE}`, async () => {
  await withContainer(['--security-opt', 'seccomp=unconfined'], async (c) => {
    const ran = await c.exec([`${SIMULATOR_MOUNT}/io_uring_ops`, PATH, String(PORT)]);
    assert.equal(ran.code, 0, ran.stdout + ran.stderr);
    assert.match(ran.stdout, /io_uring_setup: ok\n.*openat: ok\n.*connect: ok/);
    const found = await waitFor(() => {
      const mine = agent.detections().filter(ofRule(c));
      return mine.length >= 3 ? mine : undefined;
    }, { what: `three ${RULE} detections in container ${c.id.slice(0, 12)}`, timeoutMs: DETECTION_TIMEOUT_MS });
    assert.equal(found.length, 3, 'one per operation');
    const byOperation = new Map(found.map((d) => [d.attributes[Attr.ioUringOperation], d]));
    assert.deepEqual([...byOperation.keys()].sort(), ['connect', 'openat', 'setup']);
    assert.equal(byOperation.get('openat')!.attributes[Attr.filePath], PATH);
    assert.deepEqual(
      [byOperation.get('connect')!.attributes[Attr.serverAddress], byOperation.get('connect')!.attributes[Attr.serverPort]],
      ['127.0.0.1', PORT],
    );
    for (const d of byOperation.values()) assert.equal(d.severity, 'medium');
  });
});

test(`under the default seccomp profile io_uring_setup is refused, and there is nothing to report`, async () => {
  await withContainer([], async (c) => {
    const ran = await c.exec([`${SIMULATOR_MOUNT}/io_uring_ops`, PATH, String(PORT)]);
    assert.equal(ran.code, 0, ran.stdout + ran.stderr);
    // podman's default profile answers ENOSYS, RuntimeDefault in containerd and CRI-O EPERM
    assert.match(ran.stdout, /io_uring_setup: (Function not implemented|Operation not permitted)/);
    const marker = await c.exec(['unshare', '-U', '-r', 'true']);
    assert.equal(marker.code, 0, marker.stderr);
    await agent.waitForDetection(
      (d) => d.rule === 'KS-ESC-001' && d.attributes['container.id'] === c.id,
      `the marker detection in container ${c.id.slice(0, 12)}`,
      DETECTION_TIMEOUT_MS,
    );
    assert.deepEqual(agent.detections().filter(ofRule(c)).map((d) => d.summary), []);
  });
});
