// The container runtime is recognised by kernel facts, not by name: inside real podman containers (kubelet cgroupfs
// layout) a binary called /tmp/runc, run as `runc init`, and a process that renames itself runc:[2:INIT] with
// prctl are still detected, while the genuine runc set-up of a container start and of a podman exec is not.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { startAgent, type JsonDetection, type RunningAgent } from '../helpers/agent.ts';
import { startContainer, type Container } from '../helpers/podman.ts';
import { SIMULATOR_BUILD_DIR, SIMULATOR_MOUNT } from '../../src/simulate/scenarios.ts';

const SIMULATOR_DIR = fileURLToPath(new URL(`../../${SIMULATOR_BUILD_DIR}`, import.meta.url));
/** Container start plus delivery on a loaded 2-core machine. */
const DETECTION_TIMEOUT_MS = 60_000;
/** The rules that leave the runtime's own set-up alone. */
const RUNTIME_AWARE_RULES = ['KS-ESC-001', 'KS-ESC-002', 'KS-ESC-003', 'KS-ESC-004', 'KS-ESC-006', 'KS-ESC-016', 'KS-ESC-017'];

let agent: RunningAgent;
const containers: Container[] = [];
before(async () => {
  agent = await startAgent();
});
after(async () => {
  await agent?.stop();
  for (const c of containers) await c.remove().catch(() => {});
});

async function container(extraArgs: string[] = []): Promise<Container> {
  const c = await startContainer({ podUid: randomUUID(), extraArgs: ['-v', `${SIMULATOR_DIR}:${SIMULATOR_MOUNT}:ro`, ...extraArgs] });
  containers.push(c);
  return c;
}

async function sh(c: Container, script: string): Promise<void> {
  const r = await c.exec(['sh', '-c', script]);
  assert.equal(r.code, 0, `${script}\n${r.stdout}\n${r.stderr}`);
}

function detectionIn(c: Container, rule: string, match: (d: JsonDetection) => boolean, what: string): Promise<JsonDetection> {
  return agent.waitForDetection((d) => d.rule === rule && d.attributes['container.id'] === c.id && match(d), what, DETECTION_TIMEOUT_MS);
}

test('a copy of a program named /tmp/runc and run as `runc init` is reported: its exec and the user namespace it makes', async () => {
  const c = await container();
  // The file keeps its name; argv[0] is runc and argv[1] init, as runc's own re-exec has them.
  await sh(c, `cp ${SIMULATOR_MOUNT}/userns_uidmap /tmp/runc && (exec -a runc /tmp/runc init)`);
  const byTmpRunc = (d: JsonDetection) => d.attributes['process.executable.path'] === '/tmp/runc';
  await detectionIn(c, 'KS-ESC-001', byTmpRunc, 'a KS-ESC-001 detection of /tmp/runc');
  // Its uid_map write after the unshare is escalated like anyone's.
  await detectionIn(c, 'KS-ESC-001', (d) => byTmpRunc(d) && d.severity === 'critical', 'a critical KS-ESC-001 detection of /tmp/runc');
  await detectionIn(c, 'KS-ESC-017', byTmpRunc, 'a KS-ESC-017 detection of the exec of /tmp/runc');
});

test('a process that renames itself runc:[2:INIT] and creates a user namespace is reported', async () => {
  const c = await container();
  await sh(c, `${SIMULATOR_MOUNT}/renamed_userns 'runc:[2:INIT]'`);
  const d = await detectionIn(c, 'KS-ESC-001', (x) => String(x.attributes['process.command_line']).includes('renamed_userns'), 'a KS-ESC-001 detection of renamed_userns');
  assert.match(d.summary, /^runc:\[2:INIT\] created a user namespace/);
});

test('a privileged container\'s /tmp/runc mounting proc is reported', async () => {
  const c = await container(['--privileged']);
  await sh(c, `cp ${SIMULATOR_MOUNT}/mount_fs /tmp/runc && /tmp/runc proc /tmp/ks-proc`);
  await detectionIn(c, 'KS-ESC-006', (d) => d.attributes['process.executable.path'] === '/tmp/runc', 'a KS-ESC-006 detection of /tmp/runc mounting proc');
});

test('the genuine runc set-up of a container start and of podman exec is not reported', async () => {
  const c = await container();
  await sh(c, 'true');
  // A detection from after the set-up, so everything before it has been judged.
  const marker = `ks-after-setup-${randomBytes(4).toString('hex')}`;
  await sh(c, `unshare -U true ${marker}`);
  await detectionIn(c, 'KS-ESC-001', (d) => String(d.attributes['process.command_line']).includes(marker), 'the marker detection');
  const setUp = agent
    .detections()
    .filter((d) => d.attributes['container.id'] === c.id && RUNTIME_AWARE_RULES.includes(d.rule))
    .filter((d) => !String(d.attributes['process.command_line']).includes(marker));
  assert.deepEqual(setUp.map((d) => `${d.rule}: ${d.summary}`), []);
});
