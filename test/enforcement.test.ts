// Enforcement in user space: which containers the kernel may kill in, for which rules (engine.killChecksFor and
// ContainerEnforcement), and how a kernel decision shows on the detection. The kernel side is
// test/e2e/enforcement.test.ts, on real containers.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { DetectorEngine } from '../src/detectors/engine.ts';
import { Attr } from '../src/detectors/attributeKeys.ts';
import { ContainerEnforcement, cgroupLevel, type EnforcementKernel } from '../src/enforcement/ContainerEnforcement.ts';
import {
  ENFORCEMENT_OUTCOMES,
  ENFORCE_CHECK_HOOKS,
  ENFORCE_LEVELS_SLOTS,
  EnforcementMode,
  EnforceLevelsSlot,
  KERNEL_ENFORCE_CHECK_MAX,
  KernelEnforceCheck,
  kernelEnforcementOf,
  type EnforcementModeName,
} from '../src/receiver/enforcement.ts';
import type { PodAttributes } from '../src/detectors/Detector.ts';
import type { ContainerIdentity } from '../src/receiver/identity.ts';
import { FakeAgent, HOST_NS, OTHER, WEB, ev } from './detectors/fixtures.ts';

/** An exec in the container's mount namespace that the process table does not count as the runtime's. */
const WORKLOAD_EXEC = { runtimeSetup: false, mntNs: HOST_NS.mnt + 1 };

const KILLED = 1 << 1;
const WOULD_KILL = 1 << 2;
const KILL_FAILED = 1 << 3;
const flagsFor = (check: number, killed: boolean) => (killed ? KILLED : WOULD_KILL) | (check << 8);
const bit = (check: number) => 1 << check;

const SHOP: PodAttributes = { namespace: 'shop', podName: 'web-0', image: 'registry.example/web:1', workload: 'Deployment/web' };
const CI: PodAttributes = { namespace: 'ci', podName: 'build-0', image: 'kaniko:1' };

function engineWith(config: unknown): DetectorEngine {
  return new DetectorEngine(config);
}

/** `PREFIX_NAME = N` members of a C enum in bpf/events.h, by NAME. */
function cEnum(name: string, prefix: string): Map<string, number> {
  const header = readFileSync(new URL('../bpf/events.h', import.meta.url), 'utf8');
  const body = header.slice(header.indexOf(`enum ${name} {`), header.indexOf('};', header.indexOf(`enum ${name} {`)));
  return new Map([...body.matchAll(new RegExp(`${prefix}(\\w+) = (\\d+)`, 'g'))].map((m) => [m[1], Number(m[2])]));
}

const pascal = (screaming: string) => screaming.toLowerCase().replace(/(^|_)([a-z])/g, (_, __, c: string) => c.toUpperCase());

describe('the enforcement ABI mirrors bpf/events.h', () => {
  it('has every check of enum ks_enforce_rule with its number, and the same bound', () => {
    const c = cEnum('ks_enforce_rule', 'KS_ENFORCE_');
    assert.equal(c.get('RULE_MAX'), KERNEL_ENFORCE_CHECK_MAX);
    c.delete('RULE_MAX');
    assert.deepEqual(new Map([...c].map(([name, n]) => [pascal(name), n])), new Map(Object.entries(KernelEnforceCheck)));
  });

  it('has the modes of enum ks_enforce_mode', () => {
    const c = cEnum('ks_enforce_mode', 'KS_ENFORCE_');
    assert.deepEqual(new Map([...c].map(([name, n]) => [name.toLowerCase().replace('_', '-'), n])), new Map(Object.entries(EnforcementMode)));
  });

  it('reads the header flags and the check bits where events.h puts them', () => {
    const header = readFileSync(new URL('../bpf/events.h', import.meta.url), 'utf8');
    const define = (name: string) => header.match(new RegExp(`#define ${name} \\(?(?:1u << )?(\\w+)\\)?`))![1];
    const killed = 1 << Number(define('KS_HDR_FLAG_KILLED'));
    const wouldKill = 1 << Number(define('KS_HDR_FLAG_WOULD_KILL'));
    const killFailed = 1 << Number(define('KS_HDR_FLAG_KILL_FAILED'));
    const shift = Number(define('KS_HDR_ENFORCE_RULE_SHIFT'));
    assert.deepEqual(kernelEnforcementOf(killed | (KernelEnforceCheck.TunableWrite << shift)), { check: KernelEnforceCheck.TunableWrite, outcome: 'killed' });
    assert.deepEqual(kernelEnforcementOf(wouldKill | (KernelEnforceCheck.SetnsHost << shift)), { check: KernelEnforceCheck.SetnsHost, outcome: 'dry-run' });
    assert.deepEqual(kernelEnforcementOf(killFailed | (KernelEnforceCheck.SetnsHost << shift)), { check: KernelEnforceCheck.SetnsHost, outcome: 'kill-failed' });
  });

  it('names, for each check, hooks that are programs of the agent (for kubesentry check)', () => {
    const bpfDir = new URL('../bpf/', import.meta.url);
    const sources = readdirSync(bpfDir).filter((f) => f.endsWith('.bpf.c')).map((f) => readFileSync(new URL(f, bpfDir), 'utf8')).join('\n');
    assert.equal(Object.keys(ENFORCE_CHECK_HOOKS).length, KERNEL_ENFORCE_CHECK_MAX);
    for (const hooks of Object.values(ENFORCE_CHECK_HOOKS)) {
      for (const hook of hooks) assert.match(sources, new RegExp(`\\b${hook}__(tp|tp_btf|raw_tp)\\b`), hook);
    }
  });

  it('writes the slots of enum ks_enforce_levels_slot', () => {
    const c = cEnum('ks_enforce_levels_slot', 'KS_ENFORCE_LEVELS_');
    assert.equal(c.get('SLOTS'), ENFORCE_LEVELS_SLOTS);
    c.delete('SLOTS');
    assert.deepEqual(new Map([...c].map(([name, n]) => [pascal(name), n])), new Map(Object.entries(EnforceLevelsSlot)));
  });

  it('counts outcomes in the order of enum ks_enforce_outcome', () => {
    const c = cEnum('ks_enforce_outcome', 'KS_ENFORCE_');
    assert.equal(c.get('OUTCOMES'), ENFORCEMENT_OUTCOMES.length);
    assert.equal(c.get('KILLED'), ENFORCEMENT_OUTCOMES.indexOf('killed'));
    assert.equal(c.get('WOULD_KILL'), ENFORCEMENT_OUTCOMES.indexOf('dry-run'));
    assert.equal(c.get('KILL_FAILED'), ENFORCEMENT_OUTCOMES.indexOf('kill-failed'));
  });
});

describe('kernelEnforcementOf', () => {
  it('reads the check and whether the signal was sent from the header flags, and nothing from other flags', () => {
    assert.deepEqual(kernelEnforcementOf(flagsFor(KernelEnforceCheck.MemfdExec, true) | 1), { check: KernelEnforceCheck.MemfdExec, outcome: 'killed' });
    assert.deepEqual(kernelEnforcementOf(flagsFor(KernelEnforceCheck.SetnsHost, false)), { check: KernelEnforceCheck.SetnsHost, outcome: 'dry-run' });
    assert.deepEqual(kernelEnforcementOf(KILL_FAILED | (KernelEnforceCheck.SetnsHost << 8)), { check: KernelEnforceCheck.SetnsHost, outcome: 'kill-failed' });
    assert.equal(kernelEnforcementOf(1), undefined);
  });
});

describe('DetectorEngine enforcement', () => {
  it('is off, with no rule killing, unless configured', () => {
    const engine = engineWith(undefined);
    assert.equal(engine.enforcementMode, 'off');
    assert.equal(engine.killChecksFor(SHOP), 0);
  });

  it('kills per container for rules with action kill, except where a kill exception or a container-only exception matches', () => {
    const engine = engineWith({
      enforcement: 'on',
      rules: {
        'KS-ESC-001': { action: 'kill', killExceptions: [{ namespaces: ['ci'] }] },
        'KS-ESC-017': { action: 'kill', exceptions: [{ images: ['kaniko*'] }] },
        // An exception naming an executable cannot be decided per container: it does not stop the kill.
        'KS-ESC-004': { action: 'kill', exceptions: [{ namespaces: ['shop'], executables: ['/usr/bin/x'] }] },
        'KS-ESC-006': { action: 'alert' },
      },
    });
    const releaseAgent = bit(KernelEnforceCheck.CgroupMount) | bit(KernelEnforceCheck.ReleaseAgentWrite);
    assert.equal(engine.killChecksFor(SHOP), bit(KernelEnforceCheck.UserNamespace) | bit(KernelEnforceCheck.MemfdExec) | releaseAgent);
    assert.equal(engine.killChecksFor(CI), releaseAgent);
    // No pod metadata: namespace and image exceptions cannot match.
    assert.equal(engine.killChecksFor(undefined), engine.killChecksFor(SHOP));
  });

  it('a kill exception by workload (Kind/name, with a trailing *) spares that workload only', () => {
    const engine = engineWith({ enforcement: 'on', rules: { 'KS-ESC-001': { action: 'kill', killExceptions: [{ workloads: ['Deployment/we*'] }] } } });
    assert.equal(engine.killChecksFor(SHOP), 0);
    assert.equal(engine.killChecksFor({ ...SHOP, workload: 'DaemonSet/web' }), bit(KernelEnforceCheck.UserNamespace));
    assert.equal(engine.killChecksFor({ ...SHOP, workload: undefined }), bit(KernelEnforceCheck.UserNamespace));
  });

  it('killIn limits the kill to the containers it names, and killExceptions still apply inside them', () => {
    const engine = engineWith({
      enforcement: 'on',
      rules: {
        'KS-ESC-001': { action: 'kill', killIn: [{ namespaces: ['sho*'] }, { workloads: ['DaemonSet/agent'] }], killExceptions: [{ images: ['registry.example/web:*'] }] },
        'KS-ESC-017': { action: 'kill', killIn: [{ namespaces: ['shop'] }] },
      },
    });
    assert.equal(engine.killChecksFor(SHOP), bit(KernelEnforceCheck.MemfdExec), 'KS-ESC-001 excepts the image');
    assert.equal(engine.killChecksFor(CI), 0, 'neither rule kills in ci');
    assert.equal(engine.killChecksFor({ ...CI, workload: 'DaemonSet/agent' }), bit(KernelEnforceCheck.UserNamespace));
    assert.equal(engine.killChecksFor(undefined), 0, 'without metadata no killIn entry matches');
  });

  it('before pod metadata, kills only for the rules whose kill does not depend on it, unless beforePodMetadata is kill', () => {
    const rules = {
      'KS-ESC-001': { action: 'kill', killExceptions: [{ namespaces: ['ci'] }] },
      'KS-ESC-002': { action: 'kill', killIn: [{ namespaces: ['shop'] }] },
      'KS-ESC-017': { action: 'kill', exceptions: [{ images: ['kaniko*'] }] },
      // An exception naming an executable does not stop the kill, metadata or not.
      'KS-ESC-004': { action: 'kill', exceptions: [{ namespaces: ['shop'], executables: ['/usr/bin/x'] }] },
      'KS-ESC-010': { action: 'kill' },
    };
    const releaseAgent = bit(KernelEnforceCheck.CgroupMount) | bit(KernelEnforceCheck.ReleaseAgentWrite);
    const open = engineWith({ enforcement: 'on', rules });
    assert.equal(open.killChecksBeforePodMetadata(), releaseAgent | bit(KernelEnforceCheck.BpfProgLoad));
    // Failing open never kills where the metadata, once known, would not: a subset for every pod.
    for (const pod of [SHOP, CI, undefined]) assert.equal(open.killChecksBeforePodMetadata() & ~open.killChecksFor(pod), 0);
    const closed = engineWith({ enforcement: 'on', beforePodMetadata: 'kill', rules });
    assert.equal(
      closed.killChecksBeforePodMetadata(),
      releaseAgent | bit(KernelEnforceCheck.BpfProgLoad) | bit(KernelEnforceCheck.UserNamespace) | bit(KernelEnforceCheck.SetnsHost) | bit(KernelEnforceCheck.MemfdExec),
    );
    assert.throws(() => engineWith({ beforePodMetadata: 'deny' }), /beforePodMetadata: must be one of alert, kill/);
  });

  it('with the pod known and its image still to come, decides what the pod decides and fails open on the image', () => {
    const rules = {
      'KS-ESC-001': { action: 'kill', killExceptions: [{ namespaces: ['ci'] }] },
      'KS-ESC-017': { action: 'kill', exceptions: [{ images: ['kaniko*'] }] },
      'KS-ESC-002': { action: 'kill', killIn: [{ namespaces: ['shop'], images: ['registry.example/*'] }] },
    };
    const engine = engineWith({ enforcement: 'on', rules });
    const imageUnknown = new Set(['image'] as const);
    const shopPod = { ...SHOP, image: undefined };
    assert.equal(engine.killChecksFor(shopPod, imageUnknown), bit(KernelEnforceCheck.UserNamespace), 'ci does not match shop; the image exception may');
    assert.equal(engine.killChecksFor({ ...CI, image: undefined }, imageUnknown), 0);
    for (const pod of [SHOP, { ...SHOP, image: 'kaniko:1' }]) assert.equal(engine.killChecksFor(shopPod, imageUnknown) & ~engine.killChecksFor(pod), 0);
    const closed = engineWith({ enforcement: 'on', beforePodMetadata: 'kill', rules });
    assert.equal(
      closed.killChecksFor(shopPod, imageUnknown),
      bit(KernelEnforceCheck.UserNamespace) | bit(KernelEnforceCheck.MemfdExec) | bit(KernelEnforceCheck.SetnsHost),
    );
    assert.equal(closed.killChecksFor({ ...CI, image: undefined }, imageUnknown), bit(KernelEnforceCheck.MemfdExec), 'killIn names shop: ci is out');
  });

  it('a disabled rule kills nowhere', () => {
    const engine = engineWith({ enforcement: 'on', rules: { 'KS-ESC-001': { enabled: false, action: 'kill' } } });
    assert.equal(engine.killChecksFor(SHOP), 0);
  });

  it('a reload changes the mode and the kill rules without a restart', () => {
    const engine = engineWith({ enforcement: 'on', rules: { 'KS-ESC-001': { action: 'kill' } } });
    assert.ok(engine.reload({ enforcement: 'dry-run', rules: { 'KS-ESC-002': { action: 'kill' } } }).ok);
    assert.equal(engine.enforcementMode, 'dry-run');
    assert.equal(engine.killChecksFor(SHOP), bit(KernelEnforceCheck.SetnsHost));
  });

  it('names the filesystem types of the mount checks from the rules that own them', () => {
    const types = engineWith(undefined).enforcedFsTypes();
    assert.equal(types.get('cgroup'), KernelEnforceCheck.CgroupMount);
    assert.equal(types.get('cgroup2'), KernelEnforceCheck.CgroupMount);
    assert.equal(types.get('proc'), KernelEnforceCheck.SensitiveMount);
    assert.equal(types.get('ext4'), KernelEnforceCheck.SensitiveMount);
    assert.equal(types.get('tmpfs'), undefined);
  });

  it("marks the deciding rule's detection with the action and whether the signal was sent", () => {
    const engine = engineWith({ enforcement: 'on', rules: { 'KS-ESC-001': { action: 'kill' } } });
    const agent = new FakeAgent();
    const [d, ...rest] = engine.process(ev.namespace({ flags: flagsFor(KernelEnforceCheck.UserNamespace, true) }), agent);
    assert.equal(rest.length, 0);
    assert.equal(d.rule, 'KS-ESC-001');
    assert.equal(d.attributes[Attr.enforcementAction], 'kill');
    assert.equal(d.attributes[Attr.enforcementSignalSent], true);
    assert.match(d.summary, /\(killed\)$/);

    const [dry] = engine.process(ev.namespace({ flags: flagsFor(KernelEnforceCheck.UserNamespace, false) }), agent);
    assert.equal(dry.attributes[Attr.enforcementAction], 'dry-run');
    assert.equal(dry.attributes[Attr.enforcementSignalSent], false);
    assert.match(dry.summary, /would have killed/);

    const [failed] = engine.process(ev.namespace({ flags: KILL_FAILED | (KernelEnforceCheck.UserNamespace << 8) }), agent);
    assert.equal(failed.attributes[Attr.enforcementAction], 'kill');
    assert.equal(failed.attributes[Attr.enforcementSignalSent], false);
    assert.match(failed.summary, /kill failed/);
  });

  it('a kill is never silent: when the rule itself reports nothing (an executable exception), a detection is made', () => {
    const engine = engineWith({
      enforcement: 'on',
      rules: { 'KS-ESC-001': { action: 'kill', exceptions: [{ executables: ['/usr/bin/unshare'] }] } },
    });
    const agent = new FakeAgent();
    agent.addProcess({ tgid: 4242, startBoottimeNs: 4242000n, ppid: 1, executable: '/usr/bin/unshare', commandLine: 'unshare -U' });
    assert.deepEqual(engine.process(ev.namespace(), agent), []);
    const [d] = engine.process(ev.namespace({ flags: flagsFor(KernelEnforceCheck.UserNamespace, true) }), agent);
    assert.equal(d.rule, 'KS-ESC-001');
    assert.equal(d.attributes[Attr.enforcementAction], 'kill');
    assert.match(d.summary, /was killed by enforcement of KS-ESC-001/);
  });
});

class RecordingKernel implements EnforcementKernel {
  mode: EnforcementModeName | undefined;
  readonly checks = new Map<bigint, number>();
  readonly pending = new Map<bigint, number>();
  writes = 0;
  full = false;
  levels = 0n;
  pendingLevels = 0n;
  setArmedCgroupLevels(levels: bigint): void {
    this.levels = levels;
  }
  setPendingCgroupLevels(levels: bigint): void {
    this.pendingLevels = levels;
  }
  setEnforcementMode(mode: EnforcementModeName): void {
    this.mode = mode;
  }
  /** The mode in force when each container's checks were written. */
  readonly modeAtWrite: Array<EnforcementModeName | undefined> = [];
  setContainerKillChecks(cgroupId: bigint, checks: number): void {
    if (this.full) throw new Error('cannot update map enforce_cgroups: E2BIG');
    this.writes++;
    this.modeAtWrite.push(this.mode);
    this.checks.set(cgroupId, checks);
  }
  forgetContainer(cgroupId: bigint): void {
    this.checks.delete(cgroupId);
  }
  setPendingChecks(cgroupId: bigint, checks: number | undefined): void {
    if (checks === undefined) this.pending.delete(cgroupId);
    else this.pending.set(cgroupId, checks);
  }
  /** What the exec hook does at a workload exec in `cgroupId`, below `ancestors` (nearest first). */
  execHook(cgroupId: bigint, ancestors: bigint[]): void {
    if (this.checks.has(cgroupId)) return;
    const pending = [cgroupId, ...ancestors].map((id) => this.pending.get(id)).find((c) => c !== undefined);
    if (pending !== undefined) this.checks.set(cgroupId, pending);
  }
}

function controller(options: {
  kernel: RecordingKernel;
  engine: DetectorEngine;
  pods: Map<string, PodAttributes | 'pending'>;
  /** What is known of a pending container's pod (its image still to come). */
  podLevel?: Map<string, PodAttributes>;
  warnings?: string[];
}): ContainerEnforcement {
  return new ContainerEnforcement({
    kernel: options.kernel,
    mode: () => options.engine.enforcementMode,
    killChecksFor: (pod, unknown) => options.engine.killChecksFor(pod, unknown),
    podLevelOf: (c) => {
      const pod = options.podLevel?.get(c.id);
      return pod === undefined ? undefined : { pod, unknown: new Set(['image'] as const) };
    },
    killChecksBeforePodMetadata: () => options.engine.killChecksBeforePodMetadata(),
    killsAnywhere: () => options.engine.killsAnywhere(),
    podOf: (c: ContainerIdentity) => options.pods.get(c.id),
    hostMntNs: HOST_NS.mnt,
    warn: (m) => options.warnings?.push(m),
  });
}

describe('ContainerEnforcement', () => {
  const config = { enforcement: 'on', rules: { 'KS-ESC-001': { action: 'kill', killExceptions: [{ namespaces: ['ci'] }] } } };

  it('writes the mode at once and arms a container at its workload exec, once', () => {
    const kernel = new RecordingKernel();
    const c = controller({ kernel, engine: engineWith(config), pods: new Map([[WEB.id, SHOP]]) });
    assert.equal(kernel.mode, 'on');
    assert.equal(kernel.checks.size, 0, 'nothing is armed before the workload runs');
    c.onExec(WEB, WORKLOAD_EXEC);
    c.onExec(WEB, WORKLOAD_EXEC);
    assert.equal(kernel.checks.get(WEB.cgroupId), bit(KernelEnforceCheck.UserNamespace));
    assert.equal(kernel.writes, 1);
    // /kubepods/besteffort/pod<uid>/<id>: level 4, where the kernel looks the container up among a task's ancestors.
    assert.equal(cgroupLevel(WEB.cgroupPath), 4);
    assert.equal(kernel.levels, 1n << 4n);
  });

  it('does not arm a container at a level the kernel does not look at, and says so', () => {
    const kernel = new RecordingKernel();
    const warnings: string[] = [];
    const c = controller({ kernel, engine: engineWith(config), pods: new Map([[WEB.id, SHOP]]), warnings });
    c.onExec({ ...WEB, cgroupPath: '/a'.repeat(32) }, WORKLOAD_EXEC);
    assert.equal(kernel.checks.size, 0);
    assert.match(warnings[0], /at level 32, outside 1\.\.31/);
  });

  it("does not arm a container at the runtime's set-up: a recognised runtime exec, or any exec in the host's mount namespace", () => {
    const kernel = new RecordingKernel();
    const c = controller({ kernel, engine: engineWith(config), pods: new Map([[WEB.id, SHOP]]) });
    c.onExec(WEB, { runtimeSetup: true, mntNs: HOST_NS.mnt + 1 });
    // runc re-executing itself (from a memfd) before it enters the container, its binary not recognised
    c.onExec(WEB, { runtimeSetup: false, mntNs: HOST_NS.mnt });
    c.onExec(WEB, { runtimeSetup: false, mntNs: 0 });
    assert.equal(kernel.checks.size, 0);
    c.onExec(WEB, WORKLOAD_EXEC);
    assert.equal(kernel.checks.get(WEB.cgroupId), bit(KernelEnforceCheck.UserNamespace));
  });

  it('does not arm a container whose pod metadata is pending until it arrives, then honours its namespace', () => {
    const kernel = new RecordingKernel();
    const pods = new Map<string, PodAttributes | 'pending'>([[WEB.id, 'pending'], [OTHER.id, 'pending']]);
    const c = controller({ kernel, engine: engineWith(config), pods });
    c.onExec(WEB, WORKLOAD_EXEC);
    c.onExec(OTHER, WORKLOAD_EXEC);
    assert.equal(kernel.checks.size, 0);
    assert.equal(c.counters.pending, 2);
    pods.set(WEB.id, SHOP);
    pods.set(OTHER.id, CI);
    c.retryPending();
    assert.equal(kernel.checks.get(WEB.cgroupId), bit(KernelEnforceCheck.UserNamespace));
    assert.equal(kernel.checks.has(OTHER.cgroupId), false, 'the excepted namespace is not armed: no root, so no entry is needed');
    assert.deepEqual(c.counters, { armed: 1, pending: 0, armFailures: 0 });
  });

  it('a reload rewrites the mode and every known container, including one that had nothing to kill', () => {
    const kernel = new RecordingKernel();
    const engine = engineWith(config);
    const c = controller({ kernel, engine, pods: new Map([[WEB.id, SHOP], [OTHER.id, CI]]) });
    c.onExec(WEB, WORKLOAD_EXEC);
    c.onExec(OTHER, WORKLOAD_EXEC);
    assert.ok(engine.reload({ enforcement: 'dry-run', rules: { 'KS-ESC-017': { action: 'kill' } } }).ok);
    c.reconfigure();
    assert.equal(kernel.mode, 'dry-run');
    assert.equal(kernel.checks.get(WEB.cgroupId), bit(KernelEnforceCheck.MemfdExec));
    assert.equal(kernel.checks.get(OTHER.cgroupId), bit(KernelEnforceCheck.MemfdExec));
  });

  it('a reload never lets the kernel decide under a stronger mode with the previous checks: weaker mode first, stronger last', () => {
    const kernel = new RecordingKernel();
    const engine = engineWith({ enforcement: 'dry-run', rules: { 'KS-ESC-001': { action: 'kill' }, 'KS-ESC-017': { action: 'kill' } } });
    const c = controller({ kernel, engine, pods: new Map([[WEB.id, SHOP]]) });
    c.onExec(WEB, WORKLOAD_EXEC);
    kernel.modeAtWrite.length = 0;
    assert.ok(engine.reload({ enforcement: 'on', rules: { 'KS-ESC-017': { action: 'kill' } } }).ok);
    c.reconfigure();
    assert.equal(kernel.mode, 'on');
    assert.deepEqual(kernel.modeAtWrite, ['dry-run'], 'the narrower checks were written while dry-run still held');
    assert.equal(kernel.checks.get(WEB.cgroupId), bit(KernelEnforceCheck.MemfdExec));
    kernel.modeAtWrite.length = 0;
    assert.ok(engine.reload({ enforcement: 'off', rules: { 'KS-ESC-001': { action: 'kill' }, 'KS-ESC-017': { action: 'kill' } } }).ok);
    c.reconfigure();
    assert.deepEqual(kernel.modeAtWrite, ['off'], 'enforcement was off before the wider checks were written');
  });

  it('forgets a container when its cgroup goes', () => {
    const kernel = new RecordingKernel();
    const c = controller({ kernel, engine: engineWith(config), pods: new Map([[WEB.id, SHOP]]) });
    c.onExec(WEB, WORKLOAD_EXEC);
    c.onCgroupRemoved(WEB.cgroupId, WEB.cgroupPath);
    assert.equal(kernel.checks.size, 0);
    assert.equal(c.checksOf(WEB.cgroupId), undefined);
  });

  it('a full kernel map is counted and told, and the container is tried again at its next exec', () => {
    const kernel = new RecordingKernel();
    kernel.full = true;
    const warnings: string[] = [];
    const c = controller({ kernel, engine: engineWith(config), pods: new Map([[WEB.id, SHOP]]), warnings });
    c.onExec(WEB, WORKLOAD_EXEC);
    assert.equal(c.counters.armFailures, 1);
    assert.match(warnings[0], /cannot arm cgroup 100, its processes are not enforced/);
    kernel.full = false;
    c.onExec(WEB, WORKLOAD_EXEC);
    assert.equal(kernel.checks.get(WEB.cgroupId), bit(KernelEnforceCheck.UserNamespace));
  });

  const KUBEPODS = 10n;
  const POD_CGROUP = 11n;

  it('registers a kubepods root with the checks that need no metadata, so the kernel arms a new container at its first exec', () => {
    const kernel = new RecordingKernel();
    const pods = new Map<string, PodAttributes | 'pending'>([[WEB.id, 'pending'], [OTHER.id, 'pending']]);
    const engine = engineWith({ enforcement: 'on', rules: { ...config.rules, 'KS-ESC-017': { action: 'kill' } } });
    const c = controller({ kernel, engine, pods });
    c.addKubepodsRoot(KUBEPODS, '/kubepods');
    assert.equal(kernel.pending.get(KUBEPODS), bit(KernelEnforceCheck.MemfdExec), 'KS-ESC-001 waits for the namespace: it fails open');
    assert.equal(kernel.pendingLevels, 1n << 1n);
    // The kernel arms the container at its entrypoint's exec, before the agent has read it.
    kernel.execHook(WEB.cgroupId, [POD_CGROUP, KUBEPODS]);
    assert.equal(kernel.checks.get(WEB.cgroupId), bit(KernelEnforceCheck.MemfdExec));
    // The agent reads the exec with the metadata still pending: the kernel's entry stays.
    c.onExec(WEB, WORKLOAD_EXEC);
    assert.equal(kernel.checks.get(WEB.cgroupId), bit(KernelEnforceCheck.MemfdExec));
    pods.set(WEB.id, SHOP);
    c.retryPending();
    assert.equal(kernel.checks.get(WEB.cgroupId), bit(KernelEnforceCheck.MemfdExec) | bit(KernelEnforceCheck.UserNamespace));
    // A reload rewrites the root too.
    assert.ok(engine.reload({ enforcement: 'on', rules: { 'KS-ESC-002': { action: 'kill' } } }).ok);
    c.reconfigure();
    assert.equal(kernel.pending.get(KUBEPODS), bit(KernelEnforceCheck.SetnsHost));
  });

  it('gives a container created with its metadata known its own checks, nearer than its root, until it runs', () => {
    const kernel = new RecordingKernel();
    const pods = new Map<string, PodAttributes | 'pending'>([[WEB.id, CI], [OTHER.id, 'pending']]);
    const c = controller({ kernel, engine: engineWith(config), pods });
    c.addKubepodsRoot(KUBEPODS, '/kubepods');
    c.onContainerCreated(WEB);
    c.onContainerCreated(OTHER);
    assert.equal(kernel.pending.get(WEB.cgroupId), 0, 'ci is excepted');
    assert.equal(kernel.pending.has(OTHER.cgroupId), false, 'no metadata yet: the root decides');
    assert.equal(kernel.pendingLevels, (1n << 1n) | (1n << 4n));
    pods.set(OTHER.id, SHOP);
    c.retryPending();
    assert.equal(kernel.pending.get(OTHER.cgroupId), bit(KernelEnforceCheck.UserNamespace));
    c.onExec(OTHER, WORKLOAD_EXEC);
    assert.equal(kernel.pending.has(OTHER.cgroupId), false, 'armed: its pending entry is gone');
  });

  it("a container armed with nothing to kill keeps an entry, so that the kernel does not arm it from its root", () => {
    const kernel = new RecordingKernel();
    const c = controller({ kernel, engine: engineWith({ ...config, beforePodMetadata: 'kill' }), pods: new Map([[OTHER.id, CI]]) });
    c.addKubepodsRoot(KUBEPODS, '/kubepods');
    c.onExec(OTHER, WORKLOAD_EXEC);
    kernel.execHook(OTHER.cgroupId, [POD_CGROUP, KUBEPODS]);
    assert.equal(kernel.checks.get(OTHER.cgroupId), 0);
  });

  it('removes what the kernel armed below a root when the cgroup goes, even a container the agent never saw run', () => {
    const kernel = new RecordingKernel();
    const c = controller({ kernel, engine: engineWith({ enforcement: 'on', rules: { 'KS-ESC-017': { action: 'kill' } } }), pods: new Map() });
    c.addKubepodsRoot(KUBEPODS, '/kubepods');
    kernel.execHook(WEB.cgroupId, [POD_CGROUP, KUBEPODS]);
    c.onCgroupRemoved(WEB.cgroupId, WEB.cgroupPath);
    assert.equal(kernel.checks.has(WEB.cgroupId), false);
    c.onCgroupRemoved(KUBEPODS, '/kubepods');
    assert.equal(kernel.pending.size, 0);
  });

  it('before the container status, arms from the pod: its namespace decides, its image does not yet', () => {
    const kernel = new RecordingKernel();
    const pods = new Map<string, PodAttributes | 'pending'>([[WEB.id, 'pending'], [OTHER.id, 'pending']]);
    const podLevel = new Map([[WEB.id, { ...SHOP, image: undefined }], [OTHER.id, { ...CI, image: undefined }]]);
    const c = controller({ kernel, engine: engineWith(config), pods, podLevel });
    c.addKubepodsRoot(KUBEPODS, '/kubepods');
    // Created, not running: their own enforce_pending entries, from the pod.
    c.onContainerCreated(WEB);
    c.onContainerCreated(OTHER);
    assert.equal(kernel.pending.get(WEB.cgroupId), bit(KernelEnforceCheck.UserNamespace));
    assert.equal(kernel.pending.get(OTHER.cgroupId), 0);
    kernel.execHook(WEB.cgroupId, [POD_CGROUP, KUBEPODS]);
    assert.equal(kernel.checks.get(WEB.cgroupId), bit(KernelEnforceCheck.UserNamespace), 'nearer than the root (which has 0)');
    // Running, metadata still pending: armed from the pod meanwhile.
    c.onExec(OTHER, WORKLOAD_EXEC);
    assert.equal(kernel.checks.get(OTHER.cgroupId), 0);
    assert.equal(c.counters.pending, 1);
    pods.set(OTHER.id, CI);
    c.retryPending();
    assert.equal(c.counters.pending, 0);
    assert.equal(kernel.pending.has(OTHER.cgroupId), false);
  });

  it('registers nothing for arming while no rule kills, and registers the roots again once one does', () => {
    const kernel = new RecordingKernel();
    const engine = engineWith({ enforcement: 'on', rules: {} });
    const c = controller({ kernel, engine, pods: new Map([[WEB.id, SHOP]]) });
    c.addKubepodsRoot(KUBEPODS, '/kubepods');
    c.onContainerCreated(WEB);
    assert.equal(kernel.pending.size, 0);
    assert.equal(kernel.pendingLevels, 0n);
    c.onExec(OTHER, WORKLOAD_EXEC);
    assert.equal(kernel.checks.size, 0, 'no entry for a container with nothing to kill where the kernel does not arm');
    assert.ok(engine.reload({ enforcement: 'on', rules: { 'KS-ESC-017': { action: 'kill' } } }).ok);
    c.reconfigure();
    assert.equal(kernel.pending.get(KUBEPODS), bit(KernelEnforceCheck.MemfdExec));
    assert.equal(kernel.pending.get(WEB.cgroupId), bit(KernelEnforceCheck.MemfdExec));
    assert.ok(engine.reload({ enforcement: 'on', rules: {} }).ok);
    c.reconfigure();
    assert.equal(kernel.pending.size, 0);
    assert.equal(kernel.pendingLevels, 0n);
  });
});
