// KS-ESC-003 in real podman containers: sharing only the host network namespace (a hostNetwork pod) is
// configuration, reported once at low; sharing the host pid namespace is still high.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { startAgent, type JsonDetection, type RunningAgent } from '../helpers/agent.ts';
import { startContainer, type Container } from '../helpers/podman.ts';
import { Attr } from '../../src/detectors/attributeKeys.ts';

const RULE = 'KS-ESC-003';
const DETECTION_TIMEOUT_MS = 60_000;
const ALARMING = new Set(['critical', 'high', 'medium']);

let agent: RunningAgent;
const containers: Container[] = [];

before(async () => {
  agent = await startAgent();
});
after(async () => {
  await agent?.stop();
  for (const c of containers) await c.remove().catch(() => {});
});

const of = (c: Container) => (d: JsonDetection) => d.attributes['container.id'] === c.id;

/** A container whose detections are all in: a user namespace made in it after everything else is reported. */
async function drained(c: Container): Promise<void> {
  const r = await c.exec(['sh', '-c', 'unshare -U -r true']);
  assert.equal(r.code, 0, r.stderr);
  await agent.waitForDetection((d) => of(c)(d) && d.rule === 'KS-ESC-001', `the marker detection in ${c.id.slice(0, 12)}`, DETECTION_TIMEOUT_MS);
}

test(`a --network host container gives exactly one low ${RULE} however many processes it runs, and nothing at medium or above`, async () => {
  const c = await startContainer({ podUid: randomUUID(), extraArgs: ['--network', 'host'] });
  containers.push(c);
  for (let i = 0; i < 3; i++) {
    const r = await c.exec(['sh', '-c', 'ip addr >/dev/null; cat /proc/net/dev >/dev/null; id']);
    assert.equal(r.code, 0, r.stderr);
  }
  await drained(c);
  const mine = agent.detections().filter(of(c));
  const esc = mine.filter((d) => d.rule === RULE);
  assert.deepEqual(esc.map((d) => [d.severity, d.attributes[Attr.namespaceShared]]), [['low', ['net']]]);
  const alarming = mine.filter((d) => ALARMING.has(d.severity) && d.rule !== 'KS-ESC-001');
  assert.deepEqual(alarming.map((d) => `${d.severity} ${d.rule}: ${d.summary}`), []);
});

test(`a --pid host container is still a high ${RULE}`, async () => {
  const c = await startContainer({ podUid: randomUUID(), extraArgs: ['--pid', 'host'] });
  containers.push(c);
  const r = await c.exec(['sh', '-c', 'id']);
  assert.equal(r.code, 0, r.stderr);
  const d = await agent.waitForDetection((x) => of(c)(x) && x.rule === RULE, `a ${RULE} detection in ${c.id.slice(0, 12)}`, DETECTION_TIMEOUT_MS);
  assert.equal(d.severity, 'high');
  assert.deepEqual(d.attributes[Attr.namespaceShared], ['pid']);
});
