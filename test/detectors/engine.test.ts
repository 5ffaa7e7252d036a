// The engine: dispatch by event type, Detection records, exceptions, overrides, enable/disable, reload.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EventType, OpenFileFact } from '../../src/receiver/events.ts';
import { DetectorEngine, RULE_ERROR_LIMIT, type RuleFailure } from '../../src/detectors/engine.ts';
import { Attr, DETECTION_ATTRIBUTE_KEYS } from '../../src/detectors/attributeKeys.ts';
import { NO_FINDINGS, type Detector, type DetectorEvent, type Finding } from '../../src/detectors/Detector.ts';
import { allDetectors } from '../../src/detectors/registry.ts';
import { BOOT_TO_WALL, FakeAgent, HOST_CGROUP, HOST_NS, O_WRONLY, OTHER, WEB, ev } from './fixtures.ts';

const coreWrite = () => ev.open({ path: '/proc/sys/kernel/core_pattern', openFlags: O_WRONLY });

function agentWithShell(): FakeAgent {
  const agent = new FakeAgent();
  agent.addProcess({ tgid: 1, startBoottimeNs: 1000n, ppid: 0, executable: '/pause', commandLine: '/pause' });
  agent.addProcess({
    tgid: 4000, startBoottimeNs: 4000n, ppid: 1, parentStartBoottimeNs: 1000n, executable: '/usr/bin/bash', commandLine: 'bash',
  });
  agent.addProcess({
    tgid: 4242, startBoottimeNs: 4242000n, ppid: 4000, parentStartBoottimeNs: 4000n, executable: '/usr/bin/tee',
    commandLine: 'tee /proc/sys/kernel/core_pattern', uid: 1000,
  });
  agent.pods.set(WEB.id, { namespace: 'shop', podName: 'web-0', image: 'registry.example/web:1.2' });
  return agent;
}

describe('DetectorEngine', () => {
  it('turns a finding into a Detection with rule, process, container, pod and rule attributes', () => {
    const engine = new DetectorEngine();
    const agent = agentWithShell();
    const event = coreWrite();
    const [d, ...rest] = engine.process(event, agent);
    assert.equal(rest.length, 0);
    assert.equal(d.rule, 'KS-ESC-005');
    assert.equal(d.severity, 'critical');
    assert.equal(d.category, 'container_escape');
    assert.equal(d.timeUnixNs, event.ktimeNs + BOOT_TO_WALL);
    assert.match(d.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
    assert.match(d.id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(d.attributes[Attr.detectionId], d.id);
    assert.equal(d.attributes[Attr.processPid], 4242);
    assert.equal(d.attributes[Attr.processParentPid], 4000);
    assert.equal(d.attributes[Attr.processExecutableName], 'tee');
    assert.equal(d.attributes[Attr.containerId], WEB.id);
    assert.equal(d.attributes[Attr.k8sPodUid], WEB.podUid);
    assert.equal(d.attributes[Attr.k8sNamespaceName], 'shop');
    assert.equal(d.attributes[Attr.containerImageName], 'registry.example/web:1.2');
    assert.equal(d.attributes[Attr.securityRuleUuid], '34779103-e21f-42a5-b548-8e68b8b917c3');
    assert.equal(d.attributes[Attr.filePath], '/proc/sys/kernel/core_pattern');
    assert.deepEqual(d.ancestry.map((a) => a.executable), ['/usr/bin/tee', '/usr/bin/bash', '/pause']);
  });

  it('uses only attribute keys from the exported list', () => {
    const engine = new DetectorEngine();
    const d = engine.process(coreWrite(), agentWithShell())[0];
    for (const key of Object.keys(d.attributes)) assert.ok(DETECTION_ATTRIBUTE_KEYS.includes(key as never), key);
  });

  it('stops the ancestry at a reused parent pid', () => {
    const agent = agentWithShell();
    agent.addProcess({ tgid: 4000, startBoottimeNs: 9999n, executable: '/usr/bin/other' });
    const d = new DetectorEngine().process(coreWrite(), agent)[0];
    assert.deepEqual(d.ancestry.map((a) => a.pid), [4242]);
  });

  it('gives an event only to the detectors that declared its type', () => {
    const seen: number[] = [];
    const spy: Detector = {
      meta: { ...new DetectorEngine().rules[0], id: 'KS-TEST-001', events: [EventType.Connect] },
      onEvent(e: DetectorEvent): readonly Finding[] {
        seen.push(e.type);
        return NO_FINDINGS;
      },
    };
    const engine = new DetectorEngine(undefined, [spy]);
    engine.process(ev.exec(), new FakeAgent());
    engine.process(ev.connect(), new FakeAgent());
    assert.deepEqual(seen, [EventType.Connect]);
    assert.deepEqual([...engine.eventTypes], [EventType.Connect]);
  });

  it('gives an open record only to the rules its kernel pattern (or an overlapping one) serves', () => {
    const seen: string[] = [];
    const spy = (id: string, openPathPatterns?: string[]): Detector => ({
      meta: { ...new DetectorEngine().rules[0], id, events: [EventType.Open], openPathPatterns },
      onEvent(): readonly Finding[] {
        seen.push(id);
        return NO_FINDINGS;
      },
    });
    const engine = new DetectorEngine(undefined, [
      spy('KS-TEST-MAP', ['/proc/*/uid_map']),
      spy('KS-TEST-MEM', ['/proc/*/mem']),
      spy('KS-TEST-ROOT', ['/proc/*/root/*']),
      spy('KS-TEST-ANY'),
    ]);
    assert.deepEqual(engine.openPathPatterns, ['/proc/*/uid_map', '/proc/*/mem', '/proc/*/root/*']);
    const open = (path: string, patternId: number) => engine.process(ev.open({ path, patternId }), new FakeAgent());
    open('/proc/self/uid_map', 0);
    assert.deepEqual(seen.splice(0), ['KS-TEST-MAP', 'KS-TEST-ANY']);
    open('/proc/1/mem', 1);
    assert.deepEqual(seen.splice(0), ['KS-TEST-MEM', 'KS-TEST-ANY']);
    // Tagged with the first pattern the kernel matched, but another rule's pattern matches the path as well.
    open('/proc/1/root/proc/2/uid_map', 0);
    assert.deepEqual(seen.splice(0), ['KS-TEST-MAP', 'KS-TEST-ROOT', 'KS-TEST-ANY']);
    // A tag that does not fit the path, or none (open_by_handle_at): every Open rule.
    open('/proc/1/mem', 0);
    assert.deepEqual(seen.splice(0), ['KS-TEST-MAP', 'KS-TEST-MEM', 'KS-TEST-ROOT', 'KS-TEST-ANY']);
    open('', 0xffffffff);
    assert.deepEqual(seen.splice(0), ['KS-TEST-MAP', 'KS-TEST-MEM', 'KS-TEST-ROOT', 'KS-TEST-ANY']);
    // A file the kernel identified (core_pattern bind-mounted over a path another pattern matches): every Open rule.
    engine.process(ev.open({ path: '/proc/1/mem', patternId: 1, fileFacts: OpenFileFact.Known | OpenFileFact.KernelTunable }), new FakeAgent());
    assert.deepEqual(seen.splice(0), ['KS-TEST-MAP', 'KS-TEST-MEM', 'KS-TEST-ROOT', 'KS-TEST-ANY']);
  });

  it('does not run a disabled rule', () => {
    const engine = new DetectorEngine({ rules: { 'KS-ESC-005': { enabled: false } } });
    assert.equal(engine.process(coreWrite(), agentWithShell()).length, 0);
    assert.equal(engine.isEnabled('KS-ESC-005'), false);
  });

  it('drops and counts a finding that matches an exception by namespace and image prefix', () => {
    const engine = new DetectorEngine({
      rules: { 'KS-ESC-005': { exceptions: [{ namespaces: ['shop'], images: ['registry.example/web:*'] }] } },
    });
    assert.equal(engine.process(coreWrite(), agentWithShell()).length, 0);
    assert.deepEqual(engine.counters().get('KS-ESC-005'), { detections: 0, suppressed: 1, stateEvictions: 0, errors: 0 });
  });

  it('keeps a finding when only some fields of an exception match', () => {
    const engine = new DetectorEngine({
      rules: { 'KS-ESC-005': { exceptions: [{ namespaces: ['shop'], images: ['registry.example/other:*'] }] } },
    });
    assert.equal(engine.process(coreWrite(), agentWithShell()).length, 1);
  });

  it('matches an exception by parent executable', () => {
    const engine = new DetectorEngine({ rules: { 'KS-ESC-005': { exceptions: [{ parentExecutables: ['/usr/bin/bash'] }] } } });
    assert.equal(engine.process(coreWrite(), agentWithShell()).length, 0);
  });

  it('does not match a namespace exception when pod metadata is unknown', () => {
    const agent = agentWithShell();
    agent.pods.clear();
    const engine = new DetectorEngine({ rules: { 'KS-ESC-005': { exceptions: [{ namespaces: ['shop'] }] } } });
    assert.equal(engine.process(coreWrite(), agent).length, 1);
  });

  it('suppresses a detection on re-check once late pod metadata matches an exception', () => {
    const agent = agentWithShell();
    agent.pods.clear();
    const engine = new DetectorEngine({ rules: { 'KS-ESC-005': { exceptions: [{ namespaces: ['shop'] }] } } });
    const [d] = engine.process(coreWrite(), agent);
    assert.equal(engine.isExcepted(d), false);
    d.attributes[Attr.k8sNamespaceName] = 'shop';
    assert.equal(engine.isExcepted(d), true);
    assert.deepEqual(engine.counters().get('KS-ESC-005'), { detections: 0, suppressed: 1, stateEvictions: 0, errors: 0 });
  });

  it('matches an exception by workload (Kind/name), also on re-check from the enrichment attributes', () => {
    const agent = agentWithShell();
    agent.pods.set(WEB.id, { namespace: 'shop', podName: 'web-0', image: 'registry.example/web:1.2', workload: 'Deployment/web' });
    const engine = new DetectorEngine({ rules: { 'KS-ESC-005': { exceptions: [{ workloads: ['Deployment/web'] }] } } });
    assert.equal(engine.process(coreWrite(), agent).length, 0);
    const other = agentWithShell();
    other.pods.set(WEB.id, { namespace: 'shop', podName: 'api-0', image: 'registry.example/web:1.2', workload: 'Deployment/api' });
    assert.equal(new DetectorEngine({ rules: { 'KS-ESC-005': { exceptions: [{ workloads: ['Deployment/web'] }] } } }).process(coreWrite(), other).length, 1, 'another workload is not excepted');
    const late = agentWithShell();
    late.pods.clear();
    const [d] = new DetectorEngine().process(coreWrite(), late);
    assert.ok(d, 'a detection before the pod is known');
    assert.equal(engine.isExcepted(d), false);
    d.attributes['k8s.deployment.name'] = 'web';
    assert.equal(engine.isExcepted(d), true);
  });

  it('replaces the base severity but keeps a raised one', () => {
    const engine = new DetectorEngine({ rules: { 'KS-ESC-001': { severity: 'low' } } });
    const agent = agentWithShell();
    assert.equal(engine.process(ev.namespace(), agent)[0].severity, 'low');
    assert.equal(engine.process(ev.open({ path: '/proc/self/uid_map', openFlags: O_WRONLY }), agent)[0].severity, 'critical');
  });

  it('reports a host process without container attributes or ancestry beyond the host', () => {
    const d = new DetectorEngine().process(ev.module({ cgroupId: HOST_CGROUP, comm: 'insmod' }), new FakeAgent())[0];
    assert.equal(d.attributes[Attr.containerId], undefined);
    assert.equal(d.attributes[Attr.processExecutableName], 'insmod');
    assert.deepEqual(d.ancestry, []);
  });

  it("takes the container of a record's own process from the record's cgroup when its table entry has none", () => {
    // What a /proc read of a process exiting under it gives: the pid and start time right, no cgroup, no container.
    const agent = agentWithShell();
    agent.addProcess({ tgid: 4242, startBoottimeNs: 4242000n, executable: '', commandLine: '', container: null, cgroupId: 0n });
    const [d] = new DetectorEngine().process(ev.namespace(), agent);
    assert.equal(d.rule, 'KS-ESC-001');
    assert.equal(d.attributes[Attr.containerId], WEB.id);
    assert.equal(d.attributes[Attr.k8sNamespaceName], 'shop');
  });

  it("keeps a table entry's container when the record's cgroup is another container's (a process that moved itself)", () => {
    const meta = { ...new DetectorEngine().rules.find((r) => r.id === 'KS-ESC-001')!, events: [EventType.Namespace] };
    const alwaysFinds: Detector = { meta, onEvent: () => [{ summary: 'found', attributes: {} }] };
    const [d] = new DetectorEngine(undefined, [alwaysFinds]).process(ev.namespace({ cgroupId: OTHER.cgroupId }), agentWithShell());
    assert.equal(d.attributes[Attr.containerId], WEB.id);
  });

  it('rejects an invalid reload, keeps the old rules and says why', () => {
    const engine = new DetectorEngine({ rules: { 'KS-ESC-005': { enabled: false } } });
    const result = engine.reload({ rules: { 'KS-ESC-999': { enabled: false } } });
    assert.equal(result.ok, false);
    assert.match(!result.ok ? result.error : '', /rules\.KS-ESC-999: unknown rule id/);
    assert.equal(engine.isEnabled('KS-ESC-005'), false);
    assert.equal(engine.process(coreWrite(), agentWithShell()).length, 0);
  });

  it('keeps detector state across a valid reload', () => {
    const engine = new DetectorEngine();
    const agent = agentWithShell();
    assert.equal(engine.process(ev.namespace(), agent).length, 1);
    assert.deepEqual(engine.reload({ rules: { 'KS-ESC-005': { enabled: false } } }), { ok: true });
    const escalation = engine.process(ev.open({ path: '/proc/self/uid_map', openFlags: O_WRONLY }), agent);
    assert.equal(escalation[0]?.severity, 'critical');
  });

  it('applies new settings on reload', () => {
    const engine = new DetectorEngine();
    const agent = agentWithShell();
    assert.equal(engine.process(ev.connect({ family: 2, port: 10250 }), agent).length, 1);
    assert.deepEqual(engine.reload({ settings: { kubeletPorts: [10251] } }), { ok: true });
    assert.equal(engine.process(ev.connect({ family: 2, port: 10250 }), agent).length, 0);
  });

  it('dispatches a synthetic CPU sample with the container it carries', () => {
    const engine = new DetectorEngine({ settings: { miningConfidenceThreshold: 0.3, cpuSaturationSeconds: 0, longLivedConnectionSeconds: 0 } });
    const agent = agentWithShell();
    engine.process(ev.connect({ port: 443 }), agent);
    const [d] = engine.process(ev.cpuSample({ utilization: 0.99 }), agent);
    assert.equal(d.rule, 'KS-MIN-001');
    assert.equal(d.attributes[Attr.containerId], WEB.id);
    assert.equal(d.attributes[Attr.processPid], 4242);
    assert.deepEqual(d.attributes[Attr.miningSignals], ['cpu_saturation_with_outbound_connection']);
  });

  it('refuses two detectors with the same rule id', () => {
    const d = new DetectorEngine().rules[0];
    const make = (): Detector => ({ meta: d, onEvent: () => NO_FINDINGS });
    assert.throws(() => new DetectorEngine(undefined, [make(), make()]), /two detectors share rule id/);
  });
});

describe('a rule that throws', () => {
  /** Throws on writes to core_pattern; the real KS-ESC-005 reports those same events. */
  const brokenOnCoreWrites = (): Detector => ({
    meta: { ...new DetectorEngine().rules[0], id: 'KS-TEST-BROKEN', events: [EventType.Open], openPathPatterns: undefined },
    onEvent(e: DetectorEvent): readonly Finding[] {
      if (e.type === EventType.Open && e.path.endsWith('core_pattern')) throw new TypeError('cannot read x of undefined\nforged line');
      return [{ summary: 'other open', attributes: {} }];
    },
  });
  const withBroken = (failures: RuleFailure[]) =>
    new DetectorEngine(undefined, [brokenOnCoreWrites(), ...allDetectors()], { onRuleFailure: (f) => failures.push(f) });

  it('leaves the other rules their detections for the same event, and counts the failure', () => {
    const failures: RuleFailure[] = [];
    const engine = withBroken(failures);
    const found = engine.process(coreWrite(), agentWithShell());
    assert.deepEqual(found.map((d) => d.rule), ['KS-ESC-005']);
    assert.equal(engine.counters().get('KS-TEST-BROKEN')!.errors, 1);
    assert.equal(engine.counters().get('KS-ESC-005')!.errors, 0);
    assert.equal(failures.length, 1);
    assert.equal(failures[0].rule, 'KS-TEST-BROKEN');
    assert.match(String(failures[0].error), /cannot read x of undefined/);
    assert.equal(failures[0].disabled, false);
    assert.equal(engine.isEnabled('KS-TEST-BROKEN'), true);
  });

  it('keeps a rule that fails only now and then, and disables one that fails on every event in a row', () => {
    const failures: RuleFailure[] = [];
    const engine = withBroken(failures);
    const agent = agentWithShell();
    const otherOpen = () => ev.open({ path: '/etc/hostname', patternId: 0xffffffff });
    for (let i = 0; i < 3 * RULE_ERROR_LIMIT; i++) {
      engine.process(i % 2 === 0 ? coreWrite() : otherOpen(), agent);
    }
    assert.equal(engine.isEnabled('KS-TEST-BROKEN'), true);
    assert.equal(engine.disabledRules.size, 0);

    failures.length = 0;
    for (let i = 0; i < RULE_ERROR_LIMIT; i++) {
      assert.deepEqual(engine.process(coreWrite(), agent).map((d) => d.rule), ['KS-ESC-005']);
    }
    assert.deepEqual(failures.map((f) => f.consecutive), Array.from({ length: RULE_ERROR_LIMIT }, (_, i) => i + 1));
    assert.deepEqual(failures.map((f) => f.disabled), [...new Array(RULE_ERROR_LIMIT - 1).fill(false), true]);
    assert.equal(engine.isEnabled('KS-TEST-BROKEN'), false);
    assert.deepEqual([...engine.disabledRules.keys()], ['KS-TEST-BROKEN']);
    // The reason is one line, whatever the error message carried.
    assert.equal(engine.disabledRules.get('KS-TEST-BROKEN'), 'TypeError: cannot read x of undefined');
    const errorsAtDisable = engine.counters().get('KS-TEST-BROKEN')!.errors;

    // Disabled: no longer called, no longer failing, the others unaffected.
    assert.deepEqual(engine.process(coreWrite(), agent).map((d) => d.rule), ['KS-ESC-005']);
    assert.deepEqual(engine.process(otherOpen(), agent).map((d) => d.rule), []);
    assert.equal(engine.counters().get('KS-TEST-BROKEN')!.errors, errorsAtDisable);
    assert.equal(failures.length, RULE_ERROR_LIMIT);

    // A reload gives it another chance.
    assert.deepEqual(engine.reload({}), { ok: true });
    assert.equal(engine.disabledRules.size, 0);
    assert.deepEqual(engine.process(otherOpen(), agent).map((d) => d.rule), ['KS-TEST-BROKEN']);
  });

  it('drops what a rule produced before it threw on that event', () => {
    const half: Detector = {
      meta: { ...new DetectorEngine().rules[0], id: 'KS-TEST-HALF', events: [EventType.Connect] },
      onEvent(): readonly Finding[] {
        // A finding whose process lookup throws after the first was turned into a detection.
        return [{ summary: 'one', attributes: {} }, { summary: 'two', attributes: {}, tgid: 77 }];
      },
    };
    const agent = agentWithShell();
    const lookup = agent.process.bind(agent);
    agent.process = (tgid) => {
      if (tgid === 77) throw new Error('process table broken');
      return lookup(tgid);
    };
    const engine = new DetectorEngine(undefined, [half]);
    assert.deepEqual(engine.process(ev.connect(), agent), []);
    assert.equal(engine.counters().get('KS-TEST-HALF')!.errors, 1);
  });
});

describe('bounded detector state', () => {
  it('counts what it forgets', async () => {
    const { BoundedMap } = await import('../../src/detectors/internal/BoundedMap.ts');
    const map = new BoundedMap<number, string>(2);
    map.set(1, 'a');
    map.set(2, 'b');
    map.get(1); // 1 is now the most recently used
    map.set(3, 'c');
    assert.equal(map.peek(2), undefined);
    assert.equal(map.peek(1), 'a');
    assert.equal(map.evictions, 1);
  });

  it('reports evictions per rule through the engine counters', () => {
    const engine = new DetectorEngine();
    const agent = new FakeAgent();
    for (let i = 0; i < 8200; i++) {
      agent.containers.set(BigInt(1000 + i), { ...WEB, id: `c${i}`.padStart(64, '0'), cgroupId: BigInt(1000 + i) });
      engine.process(ev.exec({ ns: { ...HOST_NS }, cgroupId: BigInt(1000 + i), tgid: i }), agent);
    }
    assert.ok(engine.counters().get('KS-ESC-003')!.stateEvictions > 0);
  });
});
