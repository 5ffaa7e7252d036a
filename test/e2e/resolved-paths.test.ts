// Issue 12, item 1: the open filter and the exec rules match the file the kernel actually opened or executed, not the
// string the caller wrote. Each case is an evasion that passed unseen when the kernel matched the caller's string at
// syscall entry (relative path, dirfd, '//', '..', symlink, a path in a page not yet faulted in; exec through '..' or
// './x'), run in a real podman container in a kubelet-style pod cgroup. A refused open is still reported, with the
// caller's string, and the detection says which of the two strings the rule saw.

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
const DETECTION_TIMEOUT_MS = 60_000;
const RELEASE_AGENT_RULE = 'KS-ESC-004';
const TUNABLE_RULE = 'KS-ESC-005';
const DRIFT_RULE = 'KS-ESC-017';
/**
 * A real release_agent, made without opening it by that name: the root of a named cgroup v1 hierarchy of the test's
 * own, mounted in a privileged container (the rule reports what the file is; a tmpfs file of that name is not one).
 */
const CGROUP_DIR = '/tmp/cg';
const RELEASE_AGENT = `${CGROUP_DIR}/release_agent`;
const MAKE_RELEASE_AGENT = `mkdir -p ${CGROUP_DIR} && mount -t cgroup -o none,name=ks-resolved-paths cgroup ${CGROUP_DIR}`;
/**
 * An exception an attacker would like to hide behind: '/usr/local/bin/../../../tmp/x' starts with it. (The issue
 * wrote '../../tmp/x', which from /usr/local/bin is /usr/tmp/x; it takes three '..' to reach /tmp.)
 */
const EXCEPTED_EXECUTABLES = '/usr/local/bin/*';

let agent: RunningAgent;
before(async () => {
  assert.ok(existsSync(`${SIMULATOR_DIR}/open_at`), `simulator programs are built in ${SIMULATOR_DIR} (make simulator)`);
  const rulesFile = path.join(mkdtempSync(path.join(tmpdir(), 'ks-resolved-paths-')), 'rules.yaml');
  writeFileSync(rulesFile, `rules:\n  ${DRIFT_RULE}:\n    exceptions:\n      - { executables: ['${EXCEPTED_EXECUTABLES}'] }\n`);
  agent = await startAgent({ args: ['--rules-file', rulesFile] });
});
after(async () => {
  await agent?.stop();
});

/** Runs `script` with busybox sh in a fresh pod container and waits for the detection `match` accepts. */
async function detectionFor(
  script: string,
  what: string,
  match: (d: JsonDetection) => boolean,
  opts: { privileged?: boolean } = {},
): Promise<JsonDetection> {
  const extraArgs = ['-v', `${SIMULATOR_DIR}:${SIMULATOR_MOUNT}:ro`, ...(opts.privileged ? ['--privileged'] : [])];
  const container: Container = await startContainer({ podUid: randomUUID(), extraArgs });
  try {
    const ran = await container.exec(['sh', '-c', script]);
    assert.equal(ran.code, 0, `${script}: ${ran.stdout}${ran.stderr}`);
    return await agent.waitForDetection(
      (d) => d.attributes['container.id'] === container.id && match(d),
      `${what} (seen for the container: ${JSON.stringify(
        agent.detections().filter((d) => d.attributes['container.id'] === container.id).map((d) => [d.rule, d.severity, d.attributes['file.path'], d.attributes['kubesentry.open.caller_path']]),
      )})`,
      DETECTION_TIMEOUT_MS,
    );
  } finally {
    await container.remove();
  }
}

function resolvedOpen(rule: string, file: string, callerPath: string): (d: JsonDetection) => boolean {
  return (d) =>
    d.rule === rule &&
    d.attributes['file.path'] === file &&
    d.attributes['kubesentry.open.path_source'] === 'resolved' &&
    d.attributes['kubesentry.open.caller_path'] === callerPath;
}

const releaseAgentEvasions: Array<[string, string, string]> = [
  ['openat(dirfd, "release_agent")', `${SIMULATOR_MOUNT}/open_at dirfd ${CGROUP_DIR} release_agent`, 'release_agent'],
  ["a path starting with '//'", `: >> /${RELEASE_AGENT}`, `/${RELEASE_AGENT}`],
  ["a path through '..'", `: >> /etc/..${RELEASE_AGENT}`, `/etc/..${RELEASE_AGENT}`],
  ['a symlink to the file', `ln -s ${RELEASE_AGENT} /tmp/innocent && : >> /tmp/innocent`, '/tmp/innocent'],
  // The entry probe cannot read the string; the exit reads it again after the kernel faulted the page in.
  ['a path in a page not yet faulted in', `${SIMULATOR_MOUNT}/open_at unfaulted ${RELEASE_AGENT}`, RELEASE_AGENT],
];

for (const [how, command, callerPath] of releaseAgentEvasions) {
  test(`${RELEASE_AGENT_RULE}: a release_agent opened for writing through ${how} is reported critical with its real path`, async () => {
    const d = await detectionFor(
      `${MAKE_RELEASE_AGENT} && ${command}`,
      `a critical ${RELEASE_AGENT_RULE} for ${RELEASE_AGENT} opened through ${how}`,
      resolvedOpen(RELEASE_AGENT_RULE, RELEASE_AGENT, callerPath),
      { privileged: true },
    );
    assert.equal(d.severity, 'critical');
  });
}

test(`${TUNABLE_RULE}: cd /proc/sys/kernel && : >> core_pattern (relative) is reported with the resolved path`, async () => {
  // Privileged, so that /proc/sys is writable and the open succeeds (nothing is written: ':' writes no byte).
  const d = await detectionFor(
    'cd /proc/sys/kernel && : >> core_pattern',
    `a ${TUNABLE_RULE} for the relative core_pattern open`,
    resolvedOpen(TUNABLE_RULE, '/proc/sys/kernel/core_pattern', 'core_pattern'),
    { privileged: true },
  );
  assert.equal(d.severity, 'critical');
});

test(`${RELEASE_AGENT_RULE}: an open the kernel refuses is still reported, with the caller's string`, async () => {
  const missing = '/sys/fs/cgroup/ks-missing/release_agent';
  const d = await detectionFor(
    `${SIMULATOR_MOUNT}/open_path w ${missing}`,
    `a ${RELEASE_AGENT_RULE} for the refused open of ${missing}`,
    (x) => x.rule === RELEASE_AGENT_RULE && x.attributes['file.path'] === missing,
  );
  assert.equal(d.attributes['kubesentry.open.path_source'], 'caller');
  assert.equal(d.attributes['kubesentry.open.caller_path'], undefined);
});

const execEvasions: Array<[string, string]> = [
  [`/usr/local/bin/../../../tmp/x, past an exception for ${EXCEPTED_EXECUTABLES}`, 'mkdir -p /usr/local/bin && /usr/local/bin/../../../tmp/x'],
  ['./x from /tmp', 'cd /tmp && ./x'],
];

for (const [how, command] of execEvasions) {
  test(`${DRIFT_RULE}: a binary dropped in /tmp and run as ${how} is reported high as a scratch-directory exec`, async () => {
    const d = await detectionFor(
      `cp ${SIMULATOR_MOUNT}/noop /tmp/x && ${command}`,
      `a high ${DRIFT_RULE} for /tmp/x run as ${how}`,
      (x) => x.rule === DRIFT_RULE && x.severity === 'high' && x.attributes['process.executable.path'] === '/tmp/x',
    );
    assert.ok((d.attributes['kubesentry.exec.reasons'] as string[]).includes('scratch_directory'));
  });
}
