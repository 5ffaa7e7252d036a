// An agent that kills for every rule the kernel can enforce, with no exception, and containers it has armed: the
// set-up of the e2e tests that try to get past enforcement.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { allDetectors } from '../../src/detectors/index.ts';
import { SIMULATOR_BUILD_DIR, SIMULATOR_MOUNT } from '../../src/simulate/scenarios.ts';
import { startAgent, type RunningAgent } from './agent.ts';
import { startContainer, type Container } from './podman.ts';

export const KILLED_BY_SIGKILL = 137;
const SIMULATOR_DIR = fileURLToPath(new URL(`../../${SIMULATOR_BUILD_DIR}`, import.meta.url));
export const KILLABLE_RULES = allDetectors().filter((d) => d.meta.enforcement !== undefined).map((d) => d.meta.id);

/** argv running a simulator program inside a container started by armed(). */
export const sim = (program: string, ...args: string[]): string[] => [`${SIMULATOR_MOUNT}/${program}`, ...args];

export interface EnforcingAgent {
  readonly agent: RunningAgent;
  /** A container (pod layout, the simulator mounted) once the agent has armed it. */
  armed(...podmanFlags: string[]): Promise<Container>;
  stop(): Promise<void>;
}

export async function startEnforcingAgent(simulatorPrograms: readonly string[]): Promise<EnforcingAgent> {
  for (const program of simulatorPrograms) assert.ok(existsSync(`${SIMULATOR_DIR}/${program}`), `simulator program ${program} is built (make simulator)`);
  const rulesFile = path.join(mkdtempSync(path.join(tmpdir(), 'ks-enforcing-')), 'rules.yaml');
  writeFileSync(rulesFile, `enforcement: on\nrules:\n${KILLABLE_RULES.map((id) => `  ${id}: { action: kill }\n`).join('')}`);
  const agent = await startAgent({ args: ['--rules-file', rulesFile, '--log-level', 'debug'] });
  const containers: Container[] = [];
  return {
    agent,
    async armed(...podmanFlags) {
      const c = await startContainer({ podUid: randomUUID(), extraArgs: ['-v', `${SIMULATOR_DIR}:${SIMULATOR_MOUNT}:ro`, ...podmanFlags] });
      containers.push(c);
      await agent.process.waitForLine(new RegExp(`enforcement: container ${c.id} .*kill checks`), 60_000);
      return c;
    },
    async stop() {
      await agent.stop();
      for (const c of containers) await c.remove().catch(() => {});
    },
  };
}

/** The escape's next step (a line with "reached") never ran, and the command died by SIGKILL. */
export async function assertKilled(c: Container, args: string[]): Promise<void> {
  const r = await c.exec(args);
  assert.doesNotMatch(r.stdout, /reached/, `the escape's next step ran:\n${r.stdout}${r.stderr}`);
  assert.equal(r.code, KILLED_BY_SIGKILL, `exit status ${r.code}: ${r.stdout}${r.stderr}`);
}
