// Every container-escape scenario (KS-ESC-001..018) end to end: one real agent, and for each scenario a fresh podman
// container in a fresh kubelet-style pod cgroup whose init parks a child on a fifo. The test learns the child's host
// pid, releases it, and the child execs the scenario's program in place, so the detection must name that pid (or
// the init's, for the rule about the container itself), the container, the pod, and an ancestry that ends at the
// container's init.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startAgent, type RunningAgent, type JsonDetection } from '../helpers/agent.ts';
import { startContainer, type Container } from '../helpers/podman.ts';
import { waitFor } from '../helpers/wait.ts';
import { SCENARIOS, SIMULATOR_BUILD_DIR, containerOptionsOf, programsOf, type Scenario } from '../../src/simulate/scenarios.ts';

const SIMULATOR_DIR = fileURLToPath(new URL(`../../${SIMULATOR_BUILD_DIR}`, import.meta.url));
const HOST_PID_NAMESPACE_RULE = 'KS-ESC-003';
const TRACEFS_SYSCALLS = '/sys/kernel/tracing/events/syscalls';
/** Container start, exec and the agent's pod-cgroup walk on a loaded 2-core machine. */
const DETECTION_TIMEOUT_MS = 60_000;

// The init forks a subshell that blocks on the fifo, then execs the scenario's argv ("$@") in place: same pid. Its
// exit status is kept for the failure message.
const SCENARIO_STATUS = '/tmp/ks-status';
const PARKED_INIT = `mkfifo /tmp/ks-go && chmod 666 /tmp/ks-go; (read go < /tmp/ks-go; exec "$@") & wait $!; echo $? > ${SCENARIO_STATUS}; exec sleep 3600`;
const KILLED_BY_SIGKILL = '137';

const escapeScenarios = SCENARIOS.filter((s) => s.rule.startsWith('KS-ESC-'));

let agent: RunningAgent;
before(async () => {
  for (const s of escapeScenarios) {
    for (const program of programsOf(s)) {
      assert.ok(existsSync(`${SIMULATOR_DIR}/${program}`), `simulator program ${program} is built (make simulator)`);
    }
  }
  agent = await startAgent();
});
after(async () => {
  await agent?.stop();
});

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}


/**
 * How the released program ended. The agent under test does not enforce, so a SIGKILL is another agent's on this
 * host (a concurrent enforcement test kills unshare(CLONE_NEWUSER) and the like in every container): the step after
 * the killed call never ran, which no detection of this agent could report.
 */
async function scenarioOutcome(container: Container): Promise<string> {
  const read = await container.exec(['cat', SCENARIO_STATUS]);
  const status = read.stdout.trim();
  if (read.code !== 0 || status === '') return 'the scenario program has not ended';
  if (status === KILLED_BY_SIGKILL) {
    return 'the scenario program was killed by SIGKILL, which this agent does not send: another agent enforces on this host';
  }
  return `the scenario program exited with status ${status}`;
}

/** Runs the scenario in its own container and returns the detection with the container and the pids it may name. */
async function runScenario(s: Scenario, podUid: string): Promise<{ d: JsonDetection; container: Container; parked: number }> {
  const container = await startContainer({ podUid, extraArgs: containerOptionsOf(s, SIMULATOR_DIR), cmd: ['sh', '-c', PARKED_INIT, 'sh', ...s.command] });
  try {
    const [parked] = await waitFor(() => {
      const kids = childrenOf(container.initPid);
      return kids.length ? kids : undefined;
    }, { what: `the parked subshell in the ${s.name} container` });
    const released = await container.exec(['sh', '-c', 'echo go > /tmp/ks-go']);
    assert.equal(released.code, 0, `releasing the parked subshell: ${released.stderr}`);
    const d = await agent.waitForDetection(
      (x) => x.rule === s.rule && x.attributes['container.id'] === container.id && x.severity === s.severity,
      `a ${s.severity} ${s.rule} detection for scenario ${s.name} in container ${container.id.slice(0, 12)}` +
        ` (seen for it: ${JSON.stringify(agent.detections().filter((x) => x.attributes['container.id'] === container.id).map((x) => `${x.rule}/${x.severity}`))})`,
      DETECTION_TIMEOUT_MS,
    ).catch(async (err: unknown) => {
      throw new Error(`${err instanceof Error ? err.message : String(err)}; ${await scenarioOutcome(container)}`, { cause: err });
    });
    return { d, container, parked };
  } catch (err) {
    await container.remove();
    throw err;
  }
}

/** Runs the scenario in a fresh pod container and checks the detection names that container, pod and process. */
async function expectReportedFromItsContainer(s: Scenario): Promise<void> {
  const podUid = randomUUID();
  const { d, container, parked } = await runScenario(s, podUid);
  try {
    assertAttributedToContainer(d, container, podUid, parked);
  } finally {
    await container.remove();
  }
}

function assertAttributedToContainer(d: JsonDetection, container: Container, podUid: string, parked: number): void {
  assert.equal(d.attributes['container.id'], container.id);
  assert.equal(d.attributes['k8s.pod.uid'], podUid);
  const pid = d.attributes['process.pid'];
  // KS-ESC-003 is about the container (it shares the host pid namespace), so it reports the container's first
  // process; every other rule reports the process that made the call.
  const expected = d.rule === HOST_PID_NAMESPACE_RULE ? container.initPid : parked;
  assert.equal(pid, expected, `process.pid is the host pid of the ${expected === parked ? 'released child' : 'container init'}`);
  const pids = d.ancestry.map((a) => a.pid);
  assert.equal(pids[0], pid, 'the ancestry starts with the process itself');
  assert.equal(pids.at(-1), container.initPid, `ancestry ${JSON.stringify(pids)} ends at the container's init ${container.initPid}`);
}

for (const s of escapeScenarios) {
  if (s.needsKernelModules) continue;
  test(`${s.rule}: ${s.description} (${s.name}) is reported as ${s.severity} with its container, pod, host pid and ancestry`, async () => {
    await expectReportedFromItsContainer(s);
  });
}

for (const s of escapeScenarios.filter((x) => x.needsKernelModules)) {
  const moduleTracepoint = `${TRACEFS_SYSCALLS}/sys_enter_init_module`;
  test(
    `${s.rule}: ${s.description} (${s.name}) is reported as ${s.severity} when the kernel has module tracepoints; ` +
      'on a kernel without module support the test instead proves the kernel really lacks them',
    async () => {
      assert.ok(existsSync(TRACEFS_SYSCALLS), `${TRACEFS_SYSCALLS} exists (tracefs is mounted), so a missing tracepoint means something`);
      if (existsSync(moduleTracepoint)) {
        await expectReportedFromItsContainer(s);
        return;
      }
      // The premise of not running it: no module syscalls to trace and no modules at all. If this kernel gains
      // module support, these fail and the scenario above must run instead.
      assert.equal(existsSync(`${TRACEFS_SYSCALLS}/sys_enter_finit_module`), false, 'no finit_module tracepoint either');
      assert.equal(existsSync('/proc/modules'), false, 'no /proc/modules: the kernel is built without CONFIG_MODULES');
      assert.equal(existsSync('/proc/sys/kernel/modules_disabled'), false, 'no kernel.modules_disabled sysctl');
    },
  );
}
