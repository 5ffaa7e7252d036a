// Ordinary work must not page anyone: a benign workload inside containers and on the host produces no detection
// at medium severity or above. A false positive here is a bug in a rule (or a missing exception), not noise.
// The agent runs with enforcement on and action kill for every rule the kernel can enforce: ordinary work, the
// runtime's own container set-up (mounts, namespaces, its memfd self-exec) and `podman exec` are never killed.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startAgent, type JsonDetection, type RunningAgent } from '../helpers/agent.ts';
import { KILLABLE_RULES } from '../helpers/enforcing.ts';
import { startContainer, type Container } from '../helpers/podman.ts';
import { run } from '../helpers/run.ts';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const ALARMING = new Set(['critical', 'high', 'medium']);

let agent: RunningAgent;
const containers: Container[] = [];


before(async () => {
  const rulesFile = path.join(mkdtempSync(path.join(tmpdir(), 'ks-benign-')), 'rules.yaml');
  writeFileSync(rulesFile, `enforcement: on\nrules:\n${KILLABLE_RULES.map((id) => `  ${id}: { action: kill }\n`).join('')}`);
  agent = await startAgent({ args: ['--rules-file', rulesFile] });
});
after(async () => {
  await agent?.stop();
  for (const c of containers) await c.remove().catch(() => {});
});

async function inContainer(c: Container, script: string): Promise<void> {
  const r = await c.exec(['sh', '-c', script], { timeoutMs: 120_000 });
  assert.equal(r.code, 0, `${script}\n${r.stdout}\n${r.stderr}`);
}

test('a benign workload in containers and on the host raises nothing at medium or above', async () => {
  const busybox = await startContainer({ podUid: randomUUID() });
  containers.push(busybox);

  // Shell scripts, pipelines, file churn under /tmp and /var.
  await inContainer(
    busybox,
    'for i in $(seq 1 50); do echo "line $i" > /tmp/f$i; cat /tmp/f$i | grep -c line >/dev/null; done; ' +
      'mkdir -p /var/cache/app && for i in $(seq 1 50); do dd if=/dev/zero of=/var/cache/app/b$i bs=1k count=4 2>/dev/null; done; ' +
      'rm -rf /tmp/f* /var/cache/app; find / -xdev -name "*.conf" >/dev/null 2>&1; ps >/dev/null; id; uname -a',
  );

  // A small HTTP server and a client hammering it.
  await inContainer(busybox, 'mkdir -p /www && echo hello > /www/index.html && httpd -p 127.0.0.1:8080 -h /www');
  await inContainer(busybox, 'for i in $(seq 1 200); do wget -q -O - http://127.0.0.1:8080/index.html >/dev/null || exit 1; done');

  // A hostNetwork pod (a CNI agent, kube-proxy): network configuration, not an escape.
  const hostNetwork = await startContainer({ podUid: randomUUID(), extraArgs: ['--network', 'host'] });
  containers.push(hostNetwork);
  await inContainer(hostNetwork, 'ip addr >/dev/null; ip route >/dev/null; netstat -tln >/dev/null; cat /proc/net/dev >/dev/null');

  // A C compile. The busybox image has no toolchain and no registry is reachable, so the host's /usr is mounted
  // read-only into the container to play a toolchain image.
  const toolchain = await startContainer({
    podUid: randomUUID(),
    extraArgs: ['-v', '/usr:/usr:ro', '-v', '/lib:/lib:ro', '-v', '/lib64:/lib64:ro'],
  });
  containers.push(toolchain);
  await inContainer(
    toolchain,
    'printf "#include <stdio.h>\\nint main(void){puts(\\"hi\\");return 0;}\\n" > /tmp/hi.c && gcc -O2 -c -o /tmp/hi.o /tmp/hi.c && gcc -o /tmp/hi /tmp/hi.o',
  );

  // On the host: podman starting and stopping containers, and a package install.
  for (let i = 0; i < 3; i++) {
    const c = await startContainer({ podUid: randomUUID() });
    containers.push(c);
    await c.stop();
    await c.remove();
  }
  const apt = await run('apt-get', ['install', '-y', '-q', '--reinstall', 'hostname'], {
    timeoutMs: 300_000,
    env: { DEBIAN_FRONTEND: 'noninteractive' },
  });
  assert.equal(apt.code, 0, apt.stderr);

  // Everything above has run; a marker event proves the agent has drained the ring up to here before we judge.
  const marker = await startContainer({ podUid: randomUUID() });
  containers.push(marker);
  // Killed or not (it depends on whether the agent armed the container yet), the detection arrives.
  await marker.exec(['unshare', '-U', '-r', 'true']);
  await agent.waitForDetection((d) => d.attributes['container.id'] === marker.id, 'the marker detection');

  // Only what this test caused is judged: its containers, and host processes it started (the test runner is in
  // their ancestry). Other work on a shared machine is not this test's business.
  const ours = (d: JsonDetection) =>
    d.attributes['container.id'] !== undefined
      ? containers.some((c) => c.id === d.attributes['container.id']) && d.attributes['container.id'] !== marker.id
      : d.ancestry.some((a) => a.pid === process.pid);
  const alarming = agent.detections().filter((d) => ALARMING.has(d.severity) && ours(d));
  const enforced = agent.detections().filter((d) => ours(d) && d.attributes['kubesentry.enforcement.action'] !== undefined);
  assert.deepEqual(enforced.map((d) => `${d.rule} ${d.attributes['kubesentry.enforcement.action']}: ${d.summary}`), []);
  assert.ok(KILLABLE_RULES.length >= 9, `rules with action kill: ${KILLABLE_RULES.join(', ')}`);
  assert.deepEqual(
    alarming.map((d) => `${d.severity} ${d.rule} ${d.attributes['process.command_line'] ?? ''}: ${d.summary}`),
    [],
  );
});
