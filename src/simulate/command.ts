// `kubesentry simulate list|all|NAME...`: runs each attack scenario in a real, throw-away podman container (in a
// kubelet-style pod cgroup) while an agent runs in this process, and reports whether the expected detection came.
// Nothing escapes and nothing mines: see src/simulate/scenarios.ts and simulator/progs.

import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { AgentConfig } from '../config.ts';
import { ConfigError } from '../config.ts';
import type { Detection } from '../detection.ts';
import { removeEmptyCgroupParent } from './podCgroups.ts';
import { SCENARIOS, SIMULATOR_BUILD_DIR, containerOptionsOf, scenarioNamed, type Scenario } from './scenarios.ts';

const run = promisify(execFile);
const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const SIMULATION_IMAGE = process.env.KUBESENTRY_SIMULATION_IMAGE ?? 'localhost/kubesentry-busybox:test';
// runc: crun refuses hybrid cgroup hosts; cgroupfs: no systemd as PID 1 on many nodes and test machines.
const PODMAN = ['--runtime', 'runc', '--cgroup-manager', 'cgroupfs'];

export interface ScenarioResult {
  scenario: Scenario;
  /** Why the scenario cannot apply on this machine (it was not run). */
  skipped?: string;
  containerId: string;
  podUid: string;
  detection?: Detection;
  error?: string;
}

function podmanArgs(s: Scenario, podUid: string, programs: string): string[] {
  const args = [...PODMAN, 'run', '-d', '--pull', 'never', '--cgroup-parent', `/kubepods/besteffort/pod${podUid}`];
  return [...args, ...containerOptionsOf(s, programs), SIMULATION_IMAGE, ...s.command];
}

/** Runs scenarios one after another; `detections` is the agent's live stream. */
export async function simulate(
  scenarios: readonly Scenario[],
  waitForDetection: (match: (d: Detection) => boolean, timeoutMs: number) => Promise<Detection | undefined>,
  options: { timeoutMs: number; keep: boolean },
): Promise<ScenarioResult[]> {
  const programs = `${REPO_ROOT}${SIMULATOR_BUILD_DIR}`;
  if (!existsSync(programs)) throw new ConfigError(`simulator programs not built: ${programs} (run make all)`);
  const results: ScenarioResult[] = [];
  for (const scenario of scenarios) {
    const podUid = randomUUID();
    if (scenario.needsKernelModules && !existsSync('/proc/modules')) {
      results.push({ scenario, containerId: '', podUid, skipped: 'this kernel has no module support (no /proc/modules), so there is nothing to load or detect' });
      continue;
    }
    let containerId = '';
    try {
      const started = await run('podman', podmanArgs(scenario, podUid, programs), { timeout: 60_000 });
      containerId = started.stdout.trim();
      const ofScenario = (d: Detection) => d.rule === scenario.rule && d.attributes['container.id'] === containerId;
      // A rule may report first at its base severity and raise it as the attack goes on: wait for the expected one,
      // and show what did arrive when it never comes.
      const detection =
        (await waitForDetection((d) => ofScenario(d) && d.severity === scenario.severity, options.timeoutMs)) ??
        (await waitForDetection(ofScenario, 0));
      results.push({ scenario, containerId, podUid, detection });
    } catch (e) {
      results.push({ scenario, containerId, podUid, error: (e as Error).message.split('\n')[0] });
    } finally {
      if (containerId && !options.keep) {
        await run('podman', [...PODMAN, 'rm', '-f', '-t', '0', containerId]).catch(() => {});
        removeEmptyCgroupParent(`/kubepods/besteffort/pod${podUid}`);
      }
    }
  }
  return results;
}

export async function runSimulate(config: AgentConfig, args: string[]): Promise<number> {
  let timeoutMs = 15_000;
  let keep = false;
  const names: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const [flag, inline] = args[i].split(/=(.*)/s, 2);
    if (flag === '--timeout-ms') timeoutMs = Number(inline ?? args[++i]);
    else if (flag === '--keep') keep = true;
    else names.push(args[i]);
  }
  if (names.length === 0 || names[0] === 'list') {
    for (const s of SCENARIOS) process.stdout.write(`${s.name.padEnd(32)} ${s.rule}  ${s.description}\n`);
    return 0;
  }
  const chosen = names[0] === 'all' ? SCENARIOS : names.map((n) => scenarioNamed(n) ?? n);
  const unknown = chosen.filter((s): s is string => typeof s === 'string');
  if (unknown.length) throw new ConfigError(`unknown scenario(s): ${unknown.join(', ')} (kubesentry simulate list)`);

  const { startAgent } = await import('../agent.ts');
  const seen: Detection[] = [];
  const waiters = new Set<() => void>();
  const agent = await startAgent({ ...config, console: { ...config.console, enabled: false } }, (d) => {
    seen.push(d);
    for (const wake of waiters) wake();
  });
  const waitForDetection = (match: (d: Detection) => boolean, ms: number) =>
    new Promise<Detection | undefined>((resolve) => {
      const check = () => {
        const found = seen.find(match);
        if (!found) return;
        waiters.delete(check);
        clearTimeout(timer);
        resolve(found);
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        resolve(undefined);
      }, ms);
      waiters.add(check);
      check();
    });

  let failed = 0;
  try {
    const results = await simulate(chosen as Scenario[], waitForDetection, { timeoutMs, keep });
    let skipped = 0;
    for (const r of results) {
      if (r.skipped) {
        skipped++;
        process.stdout.write(`SKIPPED  ${r.scenario.name.padEnd(32)} ${r.scenario.rule}  ${r.skipped}\n`);
        continue;
      }
      const severityOk = r.detection?.severity === r.scenario.severity;
      const ok = r.detection !== undefined && severityOk;
      if (!ok) failed++;
      const detail = r.detection
        ? `${r.detection.severity}${severityOk ? '' : ` (expected ${r.scenario.severity})`} ${r.detection.summary}`
        : r.error ?? `no ${r.scenario.rule} detection within ${timeoutMs} ms`;
      process.stdout.write(`${ok ? 'DETECTED' : 'MISSED  '} ${r.scenario.name.padEnd(32)} ${r.scenario.rule}  ${detail}\n`);
    }
    process.stdout.write(`${results.length - failed - skipped} detected, ${failed} missed, ${skipped} not applicable here\n`);
  } finally {
    await agent.stop();
  }
  return failed === 0 ? 0 : 1;
}
