// Where KS-ESC-001 kills, joining another user namespace is killed too (bpf/namespace.bpf.c): the namespace of a
// killed unshare outlives it while its zombie's ns/user is open, and a sibling joining it by setns would get the
// capabilities the kill was to deny. Real containers, the real agent, enforcement on.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startAgent, type JsonDetection, type RunningAgent } from '../helpers/agent.ts';
import { startContainer, type Container } from '../helpers/podman.ts';
import { SIMULATOR_BUILD_DIR, SIMULATOR_MOUNT } from '../../src/simulate/scenarios.ts';

const SIMULATOR_DIR = fileURLToPath(new URL(`../../${SIMULATOR_BUILD_DIR}`, import.meta.url));
const PROGRAM = `${SIMULATOR_MOUNT}/setns_killed_userns`;

let agent: RunningAgent;
const containers: Container[] = [];

before(async () => {
  assert.ok(existsSync(`${SIMULATOR_DIR}/setns_killed_userns`), 'simulator programs are built (make simulator)');
  const rulesFile = path.join(mkdtempSync(path.join(tmpdir(), 'ks-enforcement-userns-')), 'rules.yaml');
  writeFileSync(rulesFile, 'enforcement: on\nrules:\n  KS-ESC-001: { action: kill }\n');
  agent = await startAgent({ args: ['--rules-file', rulesFile, '--log-level', 'debug'] });
});
after(async () => {
  await agent?.stop();
  for (const c of containers) await c.remove().catch(() => {});
});

async function armedContainer(): Promise<Container> {
  const c = await startContainer({ podUid: randomUUID(), extraArgs: ['-v', `${SIMULATOR_DIR}:${SIMULATOR_MOUNT}:ro`] });
  containers.push(c);
  await agent.process.waitForLine(new RegExp(`enforcement: container ${c.id} .*kill checks`), 60_000);
  return c;
}

test('a setns into the user namespace a killed unshare left behind is killed, and the joiner never runs in it', async () => {
  const c = await armedContainer();
  const r = await c.exec([PROGRAM]);
  assert.match(r.stdout, /creator killed \(signal 9\)/, `the unshare was killed first:\n${r.stdout}${r.stderr}`);
  assert.doesNotMatch(r.stdout, /reached/, `a process got a user namespace of its own:\n${r.stdout}${r.stderr}`);
  assert.match(r.stdout, /joiner status 0x9\b/, `the joiner died by SIGKILL:\n${r.stdout}${r.stderr}`);
  const kills: JsonDetection[] = [];
  await agent.waitForDetection((d) => {
    if (d.rule === 'KS-ESC-001' && d.attributes['container.id'] === c.id && d.attributes['kubesentry.enforcement.signal_sent'] === true && !kills.includes(d)) kills.push(d);
    return kills.length >= 2;
  }, 'two KS-ESC-001 kills in the container: the unshare, then the setns');
  const [unshare, setns] = kills;
  assert.equal(unshare.attributes['kubesentry.syscall'], 'unshare');
  assert.notEqual(setns.attributes['process.pid'], unshare.attributes['process.pid'], 'the second kill is the joiner, not the creator');
});
