// KS-MIN-001 against the cheap evasions of a first-write-only payload check and of a threshold that hid DNS, each in
// its own real podman container, with the DEFAULT settings (threshold 0.6): a DNS query for a pool domain alone; a
// stratum mining.subscribe cut into writes (a 1-byte first write, a cut inside the method name, a leading newline
// written on its own, writev and sendmsg with a 1-byte first iovec). The benign counterparts (an HTTP request and a
// non-mining JSON-RPC call cut the same ways, a DNS query for an ordinary name) stay quiet. Nothing leaves the
// container: the listener is on its own loopback, the DNS query goes to 127.0.0.1:53 with no answer awaited.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startAgent, type RunningAgent } from '../helpers/agent.ts';
import { startContainer, type Container } from '../helpers/podman.ts';
import { SIMULATOR_BUILD_DIR, SIMULATOR_MOUNT } from '../../src/simulate/scenarios.ts';
import { Attr } from '../../src/detectors/attributeKeys.ts';

const RULE = 'KS-MIN-001';
const SIMULATOR_DIR = fileURLToPath(new URL(`../../${SIMULATOR_BUILD_DIR}`, import.meta.url));
const DETECTION_TIMEOUT_MS = 60_000;
/** A port no pool list names, so only the bytes can give stratum away. */
const NON_POOL_PORT = '3390';

const sim = (program: string, ...args: string[]) => [`${SIMULATOR_MOUNT}/${program}`, ...args];

let agent: RunningAgent;
before(async () => {
  assert.ok(existsSync(`${SIMULATOR_DIR}/stratum_split`), `simulator programs are built in ${SIMULATOR_DIR} (make simulator)`);
  agent = await startAgent();
});
after(async () => {
  await agent?.stop();
});

async function withContainer(body: (c: Container) => Promise<void>): Promise<void> {
  const container = await startContainer({ podUid: randomUUID(), extraArgs: ['-v', `${SIMULATOR_DIR}:${SIMULATOR_MOUNT}:ro`] });
  try {
    await body(container);
  } finally {
    await container.remove();
  }
}

async function runIn(c: Container, argv: string[]): Promise<void> {
  const ran = await c.exec(argv);
  assert.equal(ran.code, 0, `${argv.join(' ')}: ${ran.stdout}${ran.stderr}`);
}

const STRATUM_CASES: { how: string; mode: string }[] = [
  { how: 'after a 1-byte first write', mode: 'first-byte' },
  { how: 'cut inside the method name across two writes', mode: 'mid-method' },
  { how: 'after a newline written on its own and a leading space', mode: 'newline' },
  { how: 'by writev with a 1-byte first iovec', mode: 'writev' },
  { how: 'by sendmsg with a 1-byte first iovec', mode: 'sendmsg' },
];

for (const c of STRATUM_CASES) {
  test(`stratum sent ${c.how} is a ${RULE} incident naming stratum_protocol`, async () => {
    await withContainer(async (container) => {
      await runIn(container, sim('stratum_split', c.mode, NON_POOL_PORT));
      const d = await agent.waitForDetection(
        (x) => x.rule === RULE && x.attributes['container.id'] === container.id,
        `a ${RULE} detection for stratum (${c.mode}) in container ${container.id.slice(0, 12)}`,
        DETECTION_TIMEOUT_MS,
      );
      assert.deepEqual(d.attributes[Attr.miningSignals], ['stratum_protocol']);
      assert.equal(d.attributes[Attr.serverPort], Number(NON_POOL_PORT));
      assert.equal(d.severity, 'high');
    });
  });
}

test(`a DNS query for a pool domain alone is a ${RULE} incident at the default threshold`, async () => {
  await withContainer(async (container) => {
    await runIn(container, sim('dns_query', 'pool.supportxmr.com'));
    const d = await agent.waitForDetection(
      (x) => x.rule === RULE && x.attributes['container.id'] === container.id,
      `a ${RULE} detection for the pool query in container ${container.id.slice(0, 12)}`,
      DETECTION_TIMEOUT_MS,
    );
    assert.deepEqual(d.attributes[Attr.miningSignals], ['pool_domain_query']);
    assert.equal(d.attributes[Attr.dnsQuestionName], 'pool.supportxmr.com');
    assert.equal(d.severity, 'medium');
  });
});

test(`an HTTP request and a JSON-RPC call cut the same ways, and an ordinary DNS query, raise no ${RULE}`, async () => {
  await withContainer(async (container) => {
    await runIn(container, sim('stratum_split', 'http-first-byte', NON_POOL_PORT));
    await runIn(container, sim('stratum_split', 'jsonrpc-writev', NON_POOL_PORT));
    await runIn(container, sim('dns_query', 'registry.example.org'));
    // A detection made after the above in the same container: the agent has judged everything before it.
    await runIn(container, ['unshare', '-U', '-r', 'true']);
    await agent.waitForDetection(
      (x) => x.rule === 'KS-ESC-001' && x.attributes['container.id'] === container.id,
      `the marker detection in container ${container.id.slice(0, 12)}`,
      DETECTION_TIMEOUT_MS,
    );
    const mining = agent.detections().filter((x) => x.rule === RULE && x.attributes['container.id'] === container.id);
    assert.deepEqual(mining.map((x) => x.summary), []);
  });
});
