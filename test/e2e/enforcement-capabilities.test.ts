// Enforcement needs no capability beyond what the DaemonSet grants: the agent runs with exactly the Helm chart's
// capability set (read from its template, legacy-kernel SYS_ADMIN excluded; no CAP_KILL, no CAP_SYS_ADMIN) and a
// container's unshare -U is still killed. bpf_send_signal is the kernel's act, not a kill(2) by the agent. The
// container runs before the agent starts: it is armed from the start-up snapshot, not from an exec seen live.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startAgent } from '../helpers/agent.ts';
import { startContainer } from '../helpers/podman.ts';
import { runOrThrow } from '../helpers/run.ts';

const DAEMONSET = new URL('../../deploy/helm/kubesentry/templates/daemonset.yaml', import.meta.url);

/** The capabilities the chart adds by default, as capsh names them (cap_bpf, ...). */
function chartCapabilities(): string[] {
  const template = readFileSync(DAEMONSET, 'utf8');
  const added = template.slice(template.indexOf('add:'), template.indexOf('{{- if .Values.legacyKernel }}', template.indexOf('add:')));
  const caps = [...added.matchAll(/^\s+- ([A-Z_]+)$/gm)].map((m) => `cap_${m[1].toLowerCase()}`);
  assert.ok(caps.includes('cap_bpf') && !caps.includes('cap_sys_admin'), `chart capabilities: ${caps.join(', ')}`);
  return caps;
}

test('with only the chart\'s capabilities, the agent arms a container that ran before it and kills its unshare -U', async () => {
  const keep = new Set(chartCapabilities());
  const printed = await runOrThrow('capsh', ['--print']);
  const bounding = printed.stdout.match(/^Bounding set =(.*)$/m)?.[1].split(',') ?? [];
  const drop = bounding.filter((cap) => !keep.has(cap));
  assert.ok(drop.includes('cap_sys_admin') && drop.includes('cap_kill'), `dropped: ${drop.join(', ')}`);

  const rulesFile = path.join(mkdtempSync(path.join(tmpdir(), 'ks-enforcement-caps-')), 'rules.yaml');
  writeFileSync(rulesFile, 'enforcement: on\nrules:\n  KS-ESC-001: { action: kill }\n');
  const container = await startContainer({ podUid: randomUUID() });
  const agent = await startAgent({
    args: ['--rules-file', rulesFile, '--log-level', 'debug'],
    wrapper: ['capsh', `--drop=${drop.join(',')}`, '--', '-c', 'exec "$0" "$@"'],
  }).catch(async (error: unknown) => {
    await container.remove();
    throw error;
  });
  try {
    const status = readFileSync(`/proc/${agent.process.pid}/status`, 'utf8');
    const effective = BigInt(`0x${status.match(/^CapEff:\s+([0-9a-f]+)$/m)![1]}`);
    const CAP_SYS_ADMIN = 21n;
    const CAP_KILL = 5n;
    assert.equal(effective & ((1n << CAP_SYS_ADMIN) | (1n << CAP_KILL)), 0n, 'the agent runs without CAP_SYS_ADMIN and CAP_KILL');

    await agent.process.waitForLine(new RegExp(`enforcement: container ${container.id} .*kill checks`), 60_000);
    const r = await container.exec(['unshare', '-U', '-r', 'sh', '-c', 'echo reached']);
    assert.doesNotMatch(r.stdout, /reached/);
    assert.equal(r.code, 137, `exit status ${r.code}: ${r.stderr}`);
    await agent.waitForDetection(
      (d) => d.rule === 'KS-ESC-001' && d.attributes['container.id'] === container.id && d.attributes['kubesentry.enforcement.action'] === 'kill',
      'a KS-ESC-001 detection with action kill',
    );
  } finally {
    await container.remove();
    await agent.stop();
  }
});
