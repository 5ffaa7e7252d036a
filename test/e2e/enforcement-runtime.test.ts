// The runtime's own set-up is never killed, even when the agent does not recognise the runtime's binary (a btrfs
// host where stat and the kernel disagree on its device, or a runtime missing from settings.runtimeExecutables):
// runc re-executes itself in the host's mount namespace, and a container is armed only at an exec in another one.
// Here the agent knows no runtime at all, every rule that can kill does, and containers still start, privileged
// ones included (runc mounts proc, sysfs, cgroups and creates namespaces inside them), and `podman exec` works.
// On this machine runc's set-up also finishes before the agent could arm the container on its self-exec, so this
// passes without the mount-namespace condition too: that condition, which removes the race, is unit-tested in
// test/enforcement.test.ts.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startAgent, type RunningAgent } from '../helpers/agent.ts';
import { KILLABLE_RULES } from '../helpers/enforcing.ts';
import { startContainer, type Container } from '../helpers/podman.ts';


let agent: RunningAgent;
const containers: Container[] = [];

before(async () => {
  const rulesFile = path.join(mkdtempSync(path.join(tmpdir(), 'ks-enforcement-runtime-')), 'rules.yaml');
  writeFileSync(
    rulesFile,
    `enforcement: on\nrules:\n${KILLABLE_RULES.map((id) => `  ${id}: { action: kill }\n`).join('')}settings:\n  runtimeExecutables: []\n`,
  );
  agent = await startAgent({ args: ['--rules-file', rulesFile, '--log-level', 'debug'] });
});
after(async () => {
  await agent?.stop();
  for (const c of containers) await c.remove().catch(() => {});
});

test('with no runtime binary recognised, containers start, are armed, and exec into them works; an escape is still killed', async () => {
  for (const extraArgs of [[], ['--privileged'], ['--privileged', '--pid', 'host']]) {
    const c = await startContainer({ podUid: randomUUID(), extraArgs });
    containers.push(c);
    await agent.process.waitForLine(new RegExp(`enforcement: container ${c.id} .*kill checks`), 60_000);
    const r = await c.exec(['sh', '-c', 'echo ok; id -u']);
    assert.equal(r.code, 0, `podman exec in a ${extraArgs.join(' ') || 'plain'} container: ${r.stderr}`);
    assert.match(r.stdout, /^ok$/m);
  }
  const enforced = agent.detections().filter(
    (d) => containers.some((c) => c.id === d.attributes['container.id']) && d.attributes['kubesentry.enforcement.action'] !== undefined,
  );
  assert.deepEqual(enforced.map((d) => `${d.rule}: ${d.summary}`), [], 'the runtime was not killed, nor would have been');

  const escape = await containers[0].exec(['unshare', '-U', '-r', 'sh', '-c', 'echo reached']);
  assert.doesNotMatch(escape.stdout, /reached/);
  assert.equal(escape.code, 137);
});
