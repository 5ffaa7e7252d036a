// A flood of fork/exec from one container must not hide an escape behind it (issue 12, item 7). The ring is shrunk
// to eight pages through the existing kernel.ringBytes so that several busybox loops overflow it between two reads;
// while they run, the same container creates user namespaces one after the other. Every one of those must be
// detected (urgent records keep the ring's last quarter, bpf/lib/emit.h ks_admit), and the flood itself must show
// up as a KS-GAP-001 telemetry-gap detection naming the flooding container with its counts, not only as a metric.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { startAgent, type RunningAgent, type JsonDetection } from '../helpers/agent.ts';
import { startContainer, type Container } from '../helpers/podman.ts';
import { run } from '../helpers/run.ts';
import { waitFor } from '../helpers/wait.ts';

const USER_NAMESPACE_RULE = 'KS-ESC-001';
const TELEMETRY_GAP_RULE = 'KS-GAP-001';
const RING_BYTES = 8 * 4096;
const FLOOD_LOOPS = 4;
const UNSHARES = 20;

// Each loop forks and execs /bin/true (a busybox applet link) as fast as it can: exec, fork and exit records. The
// unshares are spaced out in the workload (not a synchronisation of the test) so that each lands in a full ring.
const WORKLOAD = [
  `for l in $(seq ${FLOOD_LOOPS}); do (while :; do /bin/true; done) & done`,
  'sleep 1',
  `for i in $(seq ${UNSHARES}); do unshare -U true && echo unshared $i; sleep 0.2; done`,
  'wait',
].join('\n');

let agent: RunningAgent;
let flood: Container | undefined;

before(async () => {
  agent = await startAgent({ args: ['--kernel.ring-bytes', String(RING_BYTES)] });
});
after(async () => {
  await flood?.remove();
  await agent?.stop();
});

// Counted as detections, not as distinct pids: the flood wraps pid_max (32768 here) within seconds, so two of the
// unshares may well have had the same pid.
function userNamespaceDetections(detections: JsonDetection[], containerId: string): number {
  return detections.filter((d) => d.rule === USER_NAMESPACE_RULE && d.attributes['container.id'] === containerId).length;
}

test('a container flooding fork/exec cannot hide its user namespaces, and the flood is a telemetry-gap detection naming it', async () => {
  flood = await startContainer({ podUid: randomUUID(), cmd: ['sh', '-c', WORKLOAD] });
  const container = flood;
  // The workload's own count of the unshares that ran; the detections must match it one for one. Read from the
  // container's log, not with podman exec: runc exec's own setns and mount records would compete for the reserve.
  await waitFor(
    async () => {
      const logs = await run('podman', ['logs', container.id]);
      return (logs.stdout.match(/^unshared \d+$/gm) ?? []).length === UNSHARES;
    },
    { what: `${UNSHARES} unshares in the flooding container`, timeoutMs: 120_000, intervalMs: 500 },
  );

  await waitFor(() => userNamespaceDetections(agent.detections(), container.id) >= UNSHARES, {
    what: `a ${USER_NAMESPACE_RULE} detection for each of the ${UNSHARES} unshares behind the flood`,
    timeoutMs: 30_000,
    intervalMs: 200,
  }).catch((error: Error) => {
    const seen = userNamespaceDetections(agent.detections(), container.id);
    const elsewhere = agent.detections().filter((d) => d.rule === USER_NAMESPACE_RULE && d.attributes['container.id'] !== container.id);
    const gaps = agent.detections().filter((d) => d.rule === TELEMETRY_GAP_RULE).map((d) => `${String(d.attributes['container.id']).slice(0, 12)}: ${d.summary}`);
    const misattributed = elsewhere.map((d) => `pid ${String(d.attributes['process.pid'])} container ${String(d.attributes['container.id'])}`);
    throw new Error(
      `${error.message}: ${seen} of ${UNSHARES} seen in the container, ${elsewhere.length} elsewhere (${misattributed.join(', ')}); ` +
        `gaps: ${gaps.join(' | ')}`,
    );
  });

  const gap = await agent.waitForDetection(
    (d) => d.rule === TELEMETRY_GAP_RULE && d.attributes['container.id'] === container.id,
    `a ${TELEMETRY_GAP_RULE} detection naming the flooding container`,
    30_000,
  );
  assert.equal(gap.category, 'telemetry');
  const total = gap.attributes['kubesentry.telemetry.dropped_records'];
  assert.ok(typeof total === 'number' && total > 0, `dropped_records ${String(total)} is a positive count`);
  const detail = gap.attributes['kubesentry.telemetry.dropped'] as string[];
  assert.ok(
    detail.some((d) => /^(exec|fork|exit)\/(headroom|rate_limit)=\d+$/.test(d)),
    `the flood's own records were refused by the kernel's admission, not left to overflow the ring: ${detail.join(', ')}`,
  );
  assert.ok(
    detail.every((d) => !/^namespace\//.test(d)),
    `no namespace record of the container was dropped: ${detail.join(', ')}`,
  );
  assert.match(gap.summary, /dropped \d+ records of this container/);
});
