// Where KS-ESC-001 kills, joining another user namespace is killed too (bpf/namespace.bpf.c): the namespace of a
// killed unshare outlives it while its zombie's ns/user is open, and a sibling joining it by setns would get the
// capabilities the kill was to deny. Real containers, the real agent, enforcement on.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { JsonDetection } from '../helpers/agent.ts';
import { sim, startEnforcingAgent, type EnforcingAgent } from '../helpers/enforcing.ts';

let enforcing: EnforcingAgent;

before(async () => {
  enforcing = await startEnforcingAgent(['setns_killed_userns']);
});
after(async () => {
  await enforcing?.stop();
});

test('a setns into the user namespace a killed unshare left behind is killed, and the joiner never runs in it', async () => {
  const c = await enforcing.armed();
  const r = await c.exec(sim('setns_killed_userns'));
  assert.match(r.stdout, /creator killed \(signal 9\)/, `the unshare was killed first:\n${r.stdout}${r.stderr}`);
  assert.doesNotMatch(r.stdout, /reached/, `a process got a user namespace of its own:\n${r.stdout}${r.stderr}`);
  assert.match(r.stdout, /joiner status 0x9\b/, `the joiner died by SIGKILL:\n${r.stdout}${r.stderr}`);
  const kills: JsonDetection[] = [];
  await enforcing.agent.waitForDetection((d) => {
    if (d.rule === 'KS-ESC-001' && d.attributes['container.id'] === c.id && d.attributes['kubesentry.enforcement.signal_sent'] === true && !kills.includes(d)) kills.push(d);
    return kills.length >= 2;
  }, 'two KS-ESC-001 kills in the container: the unshare, then the setns');
  const [unshare, setns] = kills;
  assert.equal(unshare.attributes['kubesentry.syscall'], 'unshare');
  assert.notEqual(setns.attributes['process.pid'], unshare.attributes['process.pid'], 'the second kill is the joiner, not the creator');
});
