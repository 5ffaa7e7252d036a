// KS-BL-001 through its detector interface: profile keys, warm-up, reporting, dedupe, the per-minute cap, the
// once-only status of an unstable or saturated class, and the profile bound. Durations compressed to seconds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BaselineDetector } from '../../src/baseline/BaselineDetector.ts';
import { profileKey, workloadFromAttributes, type WorkloadIdentity } from '../../src/baseline/ProfileKey.ts';
import { ProfileStore, profileFileName } from '../../src/baseline/ProfileStore.ts';
import { compileSettings } from '../../src/detectors/config.ts';
import type { DetectionContext, DetectorEvent, Finding } from '../../src/detectors/Detector.ts';
import { Attr } from '../../src/detectors/attributeKeys.ts';
import { PayloadKind } from '../../src/receiver/events.ts';
import type { ContainerIdentity } from '../../src/receiver/identity.ts';
import { CONTAINER_SEEN_NS, FakeAgent, OTHER, WEB, container, dnsAnswer, dnsQuery, ev } from '../detectors/fixtures.ts';

const S = 1_000_000_000n;
const SETTINGS = { minLearningMs: 10_000, quietMs: 3_000, maxLearningMs: 60_000, warmupMs: 2_000, dedupeMs: 30_000 };
const WEB_WORKLOAD: WorkloadIdentity = { namespace: 'shop', ownerKind: 'Deployment', ownerName: 'web', containerName: 'httpd', image: 'busybox' };

/** Drives a detector with a clock the test moves (seconds after the container was first seen). */
class Harness {
  readonly agent = new FakeAgent();
  readonly detector: BaselineDetector;
  readonly workloads = new Map<string, WorkloadIdentity | 'pending'>([[WEB.id, WEB_WORKLOAD], [OTHER.id, WEB_WORKLOAD]]);
  nowNs = CONTAINER_SEEN_NS;
  readonly ctx: DetectionContext;

  constructor(settings: Partial<BaselineDetector['settings']> = {}, nodeAddresses: string[] = []) {
    this.detector = new BaselineDetector({ ...SETTINGS, ...settings }, nodeAddresses);
    // The runtime, on the host: the parent of every exec the events below make (ppid 1).
    this.agent.addProcess({ tgid: 1, executable: '/usr/bin/runc', container: null, cgroupId: 10n });
    const h = this;
    this.ctx = {
      settings: compileSettings(undefined),
      process: (tgid) => h.agent.process(tgid),
      container: (e) => h.agent.container(e),
      ancestry: (tgid) => h.agent.ancestry(tgid),
      workload: (c: ContainerIdentity) => h.workloads.get(c.id),
      hostNamespaces: h.agent.hostNamespaces,
      get nowNs() {
        return h.nowNs;
      },
      bootToWallNs: (ns) => h.agent.bootToWallNs(ns),
    };
  }
  at(seconds: number): this {
    this.nowNs = CONTAINER_SEEN_NS + BigInt(Math.round(seconds * 1000)) * 1_000_000n;
    return this;
  }
  feed(event: DetectorEvent): readonly Finding[] {
    return this.detector.onEvent(event, this.ctx);
  }
  /** Learns the normal workload during the first `seconds`, one round a second, and returns at the end. */
  learnNormal(seconds: number): this {
    for (let t = 0; t <= seconds; t++) {
      this.at(t);
      for (const e of normal()) assert.deepEqual(this.feed(e), [], `normal traffic at ${t}s while learning`);
    }
    return this;
  }
}

function normal(cgroupId = WEB.cgroupId): DetectorEvent[] {
  return [
    ev.exec({ cgroupId, path: '/bin/httpd', euid: 0 }),
    ev.listen({ cgroupId, port: 80 }),
    ev.exec({ cgroupId, path: '/bin/wget', euid: 0 }), // the exec probe
    ev.connect({ cgroupId, address: '127.0.0.1', port: 80 }),
    ev.payload({ cgroupId, kind: PayloadKind.DnsQuery, port: 53, data: dnsQuery('db.shop.svc.cluster.local') }),
  ];
}

const deviations = (fs: readonly Finding[]) => fs.filter((f) => f.attributes[Attr.baselineItem] !== undefined);

test('profile keys: owner workload, bare pod by namespace and image, image, then container', () => {
  assert.equal(profileKey(WEB, WEB_WORKLOAD), 'shop/Deployment/web/httpd');
  assert.equal(profileKey(WEB, { namespace: 'shop', image: 'docker.io/library/busybox' }), 'pod/shop/docker.io/library/busybox');
  assert.equal(profileKey(WEB, { image: 'busybox' }), 'image/busybox');
  assert.equal(profileKey(WEB, undefined), `container/${WEB.id}`);
  assert.deepEqual(
    workloadFromAttributes({
      'k8s.namespace.name': 'shop', 'k8s.replicaset.name': 'web-5d8f', 'k8s.deployment.name': 'web',
      'k8s.container.name': 'httpd', 'container.image.name': 'busybox',
    }),
    { ...WEB_WORKLOAD, imageDigest: undefined },
    'a ReplicaSet resolved to its Deployment names the Deployment',
  );
  assert.equal(workloadFromAttributes({ 'k8s.namespace.name': 'batch', 'k8s.job.name': 'nightly-1', 'k8s.cronjob.name': 'nightly' }).ownerKind, 'CronJob');
});

test('nothing is reported while learning, then a new shell in the stable class is one high detection', () => {
  const h = new Harness().learnNormal(14);
  h.at(15);
  assert.deepEqual(h.feed(ev.exec({ path: '/bin/wget', euid: 0 })), [], 'a learned item');
  const found = deviations(h.feed(ev.exec({ path: '/bin/sh', euid: 0 })));
  assert.equal(found.length, 1, 'the exec, with its parent → child pair in the same detection');
  const exec = found[0];
  assert.equal(exec.attributes[Attr.baselineClass], 'exec');
  assert.equal(exec.attributes[Attr.baselineExecPair], '<outside-container> -> /bin/sh');
  assert.equal(exec.severity, 'high');
  assert.equal(exec.attributes[Attr.baselineItem], '/bin/sh [root]');
  assert.equal(exec.attributes[Attr.baselineProfile], 'shop/Deployment/web/httpd');
  assert.equal(exec.attributes[Attr.baselineState], 'stable');
  assert.equal(exec.attributes[Attr.baselineProfileAgeSeconds], 15);
  assert.equal(exec.attributes[Attr.baselineReplicasSeen], 1);
});

test('a known executable started by a new parent is an exec_pair deviation of its own', () => {
  const h = new Harness().learnNormal(14).at(15);
  h.agent.addProcess({ tgid: 77, executable: '/usr/bin/php' });
  const found = deviations(h.feed(ev.exec({ path: '/bin/wget', euid: 0, ppid: 77 })));
  assert.equal(found.length, 1);
  assert.equal(found[0].attributes[Attr.baselineClass], 'exec_pair');
  assert.equal(found[0].attributes[Attr.baselineItem], '/usr/bin/php -> /bin/wget');
  assert.equal(found[0].severity, 'high', 'a downloader under a new parent');
});

test('a pair whose parent the process table does not know (records lost) is neither learned nor reported, and is counted', () => {
  const h = new Harness().learnNormal(14).at(15);
  assert.deepEqual(h.feed(ev.exec({ path: '/bin/wget', euid: 0, ppid: 4444 })), [], 'not taken for a new parent');
  assert.equal(h.detector.counters.suppressed.get('unknown_parent'), 1);
  const found = deviations(h.feed(ev.exec({ path: '/bin/sh', euid: 0, ppid: 4444 })));
  assert.equal(found.length, 1, 'a new executable is still judged on its own');
  assert.equal(found[0].attributes[Attr.baselineItem], '/bin/sh [root]');
  assert.equal(found[0].attributes[Attr.baselineExecPair], undefined);
});

test('each class reports with its severity: binary medium, external port medium, domain low, internal connect low, sensitive open high', () => {
  const h = new Harness().learnNormal(14).at(15);
  const sev = (e: DetectorEvent, cls: string) => deviations(h.feed(e)).find((f) => f.attributes[Attr.baselineClass] === cls)?.severity;
  assert.equal(sev(ev.exec({ path: '/tmp/x', euid: 0 }), 'exec'), 'medium');
  assert.equal(sev(ev.connect({ address: '203.0.113.7', port: 4444 }), 'connect'), 'medium');
  assert.equal(sev(ev.connect({ address: '10.96.0.12', port: 5432 }), 'connect'), 'low');
  assert.equal(sev(ev.payload({ kind: PayloadKind.DnsQuery, port: 53, data: dnsQuery('evil.example') }), 'dns'), 'low');
  assert.equal(sev(ev.open({ path: '/etc/shadow' }), 'sensitive_open'), 'high');
  assert.equal(sev(ev.ptrace({}), 'syscall'), 'medium');
  assert.equal(sev(ev.listen({ port: 4444 }), 'listen'), 'medium');
});

test('a listening port is its protocol and port, loopback-only apart; the address otherwise does not matter', () => {
  const h = new Harness().learnNormal(14).at(15);
  const item = (e: DetectorEvent) => deviations(h.feed(e)).map((f) => [f.attributes[Attr.baselineClass], f.attributes[Attr.baselineItem], f.severity]);
  assert.deepEqual(item(ev.listen({ port: 80, address: '10.0.0.5' })), [], 'the learned port on the pod\'s own address');
  assert.deepEqual(item(ev.listen({ port: 80, family: 10, address: '::' })), [], 'the learned port over IPv6');
  assert.deepEqual(item(ev.listen({ port: 4444 })), [['listen', 'tcp:4444', 'medium']]);
  assert.deepEqual(item(ev.listen({ port: 80, address: '127.0.0.1' })), [['listen', 'tcp:80 loopback', 'medium']]);
  assert.deepEqual(item(ev.listen({ port: 9000, protocol: 132 })), [['listen', 'sctp:9000', 'medium']]);
});

test('with the cluster\'s ranges, a connect names its peer kind: node medium (the kubelet), pod and service low', () => {
  const h = new Harness({ podCidrs: ['10.244.0.0/16'], serviceCidrs: ['10.96.0.0/12'] }, ['192.168.10.5']).learnNormal(14).at(15);
  const found = (e: DetectorEvent) => deviations(h.feed(e)).map((f) => [f.attributes[Attr.baselineItem], f.severity]);
  assert.deepEqual(found(ev.connect({ address: '192.168.10.5', port: 10250 })), [['tcp node:10250', 'medium']]);
  assert.deepEqual(found(ev.connect({ address: '10.244.7.9', port: 5432 })), [['tcp pod:5432', 'low']]);
  assert.deepEqual(found(ev.connect({ address: '10.96.0.10', port: 53 })), [['tcp service:53', 'low']]);
});

test('a connect is learned with its protocol: UDP, a raw socket or an unreadable socket to a port learned over TCP is new', () => {
  const h = new Harness().learnNormal(14).at(15);
  const found = (e: DetectorEvent) => deviations(h.feed(e)).map((f) => [f.attributes[Attr.baselineItem], f.severity]);
  assert.deepEqual(found(ev.connect({ address: '127.0.0.1', port: 80 })), [], 'the learned TCP connect');
  assert.deepEqual(found(ev.connect({ address: '127.0.0.1', port: 80, sockType: 2, protocol: 17 })), [['udp loopback:80', 'low']]);
  assert.deepEqual(found(ev.connect({ address: '127.0.0.1', port: 80, sockType: 3, protocol: 6 })), [['raw-tcp loopback:80', 'low']],
    'a raw socket made with IPPROTO_TCP is no TCP client');
  assert.deepEqual(found(ev.connect({ address: '127.0.0.1', port: 80, sockType: 0, protocol: 0 })), [['unknown loopback:80', 'low']],
    'a socket the kernel could not read is not a wildcard');
  assert.deepEqual(found(ev.connect({ address: '203.0.113.7', port: 443, sockType: 2, protocol: 17 })), [['udp external:443', 'medium']]);
});

test('a profile written before connects had a protocol (schema 1) loads with each connect item matching TCP and UDP', () => {
  // Written by the previous version's store (commit 0b0c28b): a stable profile that learned a TCP connect to
  // loopback:80, its resolver's UDP connect to internal:53, a unix socket and 15 external ports (collapsed into
  // external:<n>), and reported internal:4444.
  const schema1 = fs.readFileSync(new URL('../fixtures/baseline/profile-schema1.json', import.meta.url), 'utf8');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubesentry-schema1-'));
  fs.writeFileSync(path.join(dir, profileFileName('shop/Deployment/web/httpd')), schema1, { mode: 0o600 });
  const warnings: string[] = [];
  const loaded = new ProfileStore(dir, (m) => warnings.push(m)).load(Date.now(), Number.MAX_SAFE_INTEGER, 10);
  assert.deepEqual(warnings, []);
  assert.equal(loaded.length, 1);
  assert.equal(loaded[0].schema, 2);
  assert.deepEqual(loaded[0].classes.connect.items.toSorted(), ['tcp internal:53', 'tcp loopback:80', 'udp internal:53', 'udp loopback:80', 'unix /run/app/app.sock']);
  assert.deepEqual(loaded[0].classes.connect.patterns.toSorted(), ['tcp external:<n>', 'udp external:<n>']);

  const h = new Harness();
  h.detector.restore(loaded[0]);
  h.at(16);
  const found = (e: DetectorEvent) => deviations(h.feed(e)).map((f) => f.attributes[Attr.baselineItem]);
  for (const known of [
    ev.connect({ address: '127.0.0.1', port: 80 }),
    ev.connect({ address: '10.96.0.10', port: 53, sockType: 2, protocol: 17 }),
    ev.connect({ address: '10.96.0.10', port: 53 }),
    ev.connect({ address: '203.0.113.9', port: 9999 }),
    ev.connect({ address: '203.0.113.9', port: 9999, sockType: 2, protocol: 17 }),
    ev.connect({ family: 1, unixPath: '/run/app/app.sock', port: 0, address: '' }),
  ]) assert.deepEqual(found(known), [], `${known.address || known.unixPath}:${known.port} proto ${known.protocol} was learned`);
  assert.deepEqual(found(ev.connect({ address: '10.0.0.9', port: 4444 })), [], 'reported before the upgrade: still deduplicated');
  assert.deepEqual(found(ev.connect({ address: '127.0.0.1', port: 80, sockType: 3, protocol: 6 })), ['raw-tcp loopback:80'], 'still stable');
});

test('commands the pod spec declares (exec probes, preStop hooks) are known before they run, only when the runtime execs them', () => {
  const h = new Harness();
  h.workloads.set(WEB.id, { ...WEB_WORKLOAD, execHooks: [['curl', '-f', 'http://127.0.0.1/healthz'], ['/usr/local/bin/drain', '--all']] });
  h.learnNormal(14).at(15);
  // ppid 1 is the runtime, outside the container.
  assert.deepEqual(h.feed(ev.exec({ path: '/usr/bin/curl', euid: 0 })), [], 'the probe, by name');
  assert.deepEqual(h.feed(ev.exec({ path: '/usr/local/bin/drain', euid: 0 })), [], 'the preStop hook, by path');
  assert.equal(h.detector.counters.suppressed.get('pod_spec'), 4, 'exec and pair of each, learned once');
  assert.deepEqual(h.at(16).feed(ev.exec({ path: '/usr/local/bin/drain', euid: 0 })), [], 'still known');
  assert.equal(h.detector.counters.suppressed.get('pod_spec'), 4);
  const elsewhere = deviations(h.feed(ev.exec({ path: '/opt/drain', euid: 0 })));
  assert.deepEqual(elsewhere.map((f) => f.attributes[Attr.baselineItem]), ['/opt/drain [root]'], 'a path hook names one file');
  // The same binary started from inside the container is not the kubelet's: its pair is new.
  h.agent.addProcess({ tgid: 77, executable: '/bin/httpd', container: WEB });
  const inside = deviations(h.feed(ev.exec({ path: '/usr/bin/curl', euid: 0, ppid: 77 })));
  assert.deepEqual(inside.map((f) => f.attributes[Attr.baselineItem]), ['/bin/httpd -> /usr/bin/curl']);
});

test('a deviation of a process the runtime exec\'d into the container after its init is marked interactive; the init\'s descendants are not', () => {
  const h = new Harness();
  // The runtime (tgid 1, on the host) started the init (10) at container start, later an exec'd shell (20).
  h.agent.addProcess({ tgid: 10, executable: '/bin/httpd', startBoottimeNs: 10_000n });
  h.agent.addProcess({ tgid: 20, executable: '/bin/sh', startBoottimeNs: 20_000n });
  h.agent.addProcess({ tgid: 21, executable: '/bin/sh', ppid: 20, parentStartBoottimeNs: 20_000n, startBoottimeNs: 21_000n });
  h.agent.addProcess({ tgid: 30, executable: '/bin/sh', ppid: 10, parentStartBoottimeNs: 10_000n, startBoottimeNs: 30_000n });
  h.at(0).feed(ev.exec({ tgid: 10, path: '/bin/httpd', euid: 0 }));
  h.learnNormal(14).at(15);
  const mark = (e: DetectorEvent) => deviations(h.feed(e)).map((f) => [f.attributes[Attr.baselineItem], f.attributes[Attr.baselineInteractive]]);
  assert.deepEqual(mark(ev.exec({ tgid: 20, path: '/bin/sh', euid: 0 })), [['/bin/sh [root]', true]]);
  assert.deepEqual(mark(ev.connect({ tgid: 21, address: '203.0.113.9', port: 4444 })), [['tcp external:4444', true]], 'its child too');
  assert.deepEqual(mark(ev.connect({ tgid: 30, address: '203.0.113.9', port: 5555 })), [['tcp external:5555', false]], 'a child of the init');
  assert.deepEqual(mark(ev.connect({ tgid: 999, address: '203.0.113.9', port: 6666 })), [['tcp external:6666', undefined]], 'unknown: no mark');
});

test('a new connect names the peer by the DNS answer this container received for its address, as context only', () => {
  const h = new Harness().learnNormal(14).at(15);
  const answer = (name: string, address: string) => ev.payload({ kind: PayloadKind.DnsAnswer, port: 53, data: dnsAnswer(name, [address]) });
  assert.deepEqual(h.feed(answer('c2.evil.example', '203.0.113.50')), [], 'an answer is no deviation of its own');
  const named = deviations(h.feed(ev.connect({ address: '203.0.113.50', port: 8443 })));
  assert.equal(named[0].attributes[Attr.baselineItem], 'tcp external:8443', 'the item has no name: the resolver chose it');
  assert.equal(named[0].attributes[Attr.baselinePeerDnsName], 'c2.evil.example');
  assert.match(named[0].summary, /\(resolved from c2\.evil\.example\)$/);
  const mapped = deviations(h.feed(ev.connect({ family: 10, address: '::ffff:203.0.113.50', port: 9443 })));
  assert.equal(mapped[0].attributes[Attr.baselinePeerDnsName], 'c2.evil.example', 'an IPv4-mapped address');
  const unnamed = deviations(h.feed(ev.connect({ address: '198.51.100.9', port: 7443 })));
  assert.equal(unnamed[0].attributes[Attr.baselinePeerDnsName], undefined, 'no answer for it');
});

test('a multi-call binary re-executing itself as an applet is that applet, with its severity', () => {
  const h = new Harness().learnNormal(14).at(15);
  const found = deviations(h.feed(ev.exec({ path: '/proc/self/exe', argv: ['nc', '-l', '-p', '4444'], euid: 0 })));
  assert.equal(found[0].attributes[Attr.baselineItem], '/proc/self/exe as nc [root]');
  assert.equal(found[0].severity, 'high');
  const other = deviations(h.feed(ev.exec({ path: '/proc/self/exe', argv: ['sleep', '1'], euid: 0 })));
  assert.equal(other[0].attributes[Attr.baselineItem], '/proc/self/exe as sleep [root]', 'another applet is another item');
  assert.equal(other[0].severity, 'medium');
});

test('the same novelty repeated is reported once per dedupe window', () => {
  const h = new Harness().learnNormal(14);
  let reported = 0;
  for (let i = 0; i < 20; i++) reported += deviations(h.at(15 + i).feed(ev.connect({ address: '203.0.113.7', port: 4444 }))).length;
  assert.equal(reported, 1);
  assert.equal(h.detector.counters.suppressed.get('duplicate'), 19);
  assert.equal(deviations(h.at(15 + 30).feed(ev.connect({ address: '203.0.113.7', port: 4444 }))).length, 1, 'again after the window');
});

test('an accepted item is no longer reported, even after the dedupe window', () => {
  const h = new Harness().learnNormal(14);
  const novelty = () => ev.connect({ address: '203.0.113.7', port: 4444 });
  assert.equal(deviations(h.at(15).feed(novelty())).length, 1);
  h.detector.profile('shop/Deployment/web/httpd')!.accept('connect', 'tcp external:4444', 16_000, 15);
  assert.deepEqual(h.at(15 + 60).feed(novelty()), []);
});

test('more than the per-minute budget gives one summary and counts the rest', () => {
  const h = new Harness({ maxDeviationsPerMinute: 3 }).learnNormal(14).at(15);
  const all: Finding[] = [];
  for (let i = 0; i < 8; i++) all.push(...h.feed(ev.payload({ kind: PayloadKind.DnsQuery, port: 53, data: dnsQuery(`n${i}.example`) })));
  assert.equal(all.length, 4);
  assert.equal(all[3].attributes[Attr.baselineSummary], true);
  assert.match(all[3].summary, /more than 3 times a minute/);
  assert.equal(h.detector.counters.suppressed.get('rate_limited'), 5);
  // A suppressed novelty was not marked reported: it is reported when it recurs in a later minute.
  assert.equal(deviations(h.at(80).feed(ev.payload({ kind: PayloadKind.DnsQuery, port: 53, data: dnsQuery('n7.example') }))).length, 1);
});

test('a new container of a stable profile only learns during its warm-up, and counts as a replica', () => {
  const h = new Harness().learnNormal(14);
  const late = container('cccc3333', 300n);
  const lateStartNs = CONTAINER_SEEN_NS + 20n * S;
  h.agent.containers.set(late.cgroupId, { ...late, firstSeenNs: lateStartNs });
  h.workloads.set(late.id, WEB_WORKLOAD);
  h.nowNs = lateStartNs + S;
  for (const e of normal(late.cgroupId)) assert.deepEqual(h.feed(e), [], 'the second replica behaves normally');
  assert.deepEqual(h.feed(ev.exec({ cgroupId: late.cgroupId, path: '/bin/entrypoint-helper' })), [], 'learned in warm-up');
  h.nowNs = lateStartNs + 3n * S;
  assert.deepEqual(h.feed(ev.exec({ cgroupId: late.cgroupId, path: '/bin/entrypoint-helper' })), [], 'now known');
  const found = deviations(h.feed(ev.exec({ cgroupId: late.cgroupId, path: '/bin/id' })));
  assert.equal(found.length, 1);
  assert.equal(found[0].attributes[Attr.baselineReplicasSeen], 2);
});

test('a young container whose workload is still being looked up is not learned under a makeshift key', () => {
  const h = new Harness();
  h.workloads.set(WEB.id, 'pending');
  h.at(1).feed(ev.exec({ path: '/bin/httpd' }));
  assert.equal(h.detector.profileCount, 0);
  assert.equal(h.detector.counters.suppressed.get('unkeyed'), 2);
  h.at(5).feed(ev.exec({ path: '/bin/httpd' }));
  assert.ok(h.detector.profile(`container/${WEB.id}`), 'after warm-up, the container key');
});

test('a workload that execs random binaries while learning ends unstable with one status per class', () => {
  const h = new Harness();
  const statuses: Finding[] = [];
  for (let t = 0; t <= 70; t++) {
    for (const f of h.at(t).feed(ev.exec({ path: `/bin/r${(t * 7919).toString(36)}q` }))) statuses.push(f);
  }
  assert.deepEqual(statuses.map((f) => f.attributes[Attr.baselineClass]).sort(), ['exec', 'exec_pair']);
  assert.equal(statuses[0].severity, 'info');
  assert.match(statuses[0].summary, /unstable/);
  assert.equal(h.detector.profile('shop/Deployment/web/httpd')!.classes.exec.state, 'unstable');
  assert.ok((h.detector.counters.suppressed.get('unstable') ?? 0) > 0, 'later execs are counted as not reported');
});

test('a class reaching its cap ends saturated with one status, and the profile state says so', () => {
  const h = new Harness();
  const found: Finding[] = [];
  for (let i = 0; i < 600; i++) {
    found.push(...h.at(i / 100).feed(ev.payload({ kind: PayloadKind.DnsQuery, port: 53, data: dnsQuery(`${randomLabel(i)}.example`) })));
  }
  assert.equal(found.length, 1);
  assert.match(found[0].summary, /saturated \(it reached its cap of 512 items\)/);
  h.at(20).feed(ev.exec({ path: '/bin/httpd' }));
  assert.equal(h.detector.profileStates().get('saturated'), 1);
});

test('profiles are bounded: the least recently seen is forgotten and counted', () => {
  const h = new Harness({ maxProfiles: 2 });
  const ids = ['d1', 'd2', 'd3'].map((id, i) => container(id, 400n + BigInt(i)));
  for (const c of ids) {
    h.agent.containers.set(c.cgroupId, c);
    h.workloads.set(c.id, { image: `img-${c.id.slice(0, 2)}` });
    h.at(1).feed(ev.exec({ cgroupId: c.cgroupId, path: '/bin/x' }));
  }
  assert.equal(h.detector.profileCount, 2);
  assert.equal(h.detector.profile('image/img-d1'), undefined);
  assert.equal(h.detector.stateEvictions(), 1);
});

test('host processes are not profiled', () => {
  const h = new Harness();
  h.at(1).feed(ev.exec({ cgroupId: 10n, path: '/usr/bin/kubelet' }));
  assert.equal(h.detector.profileCount, 0);
});

test('a profile restored from its snapshot is still stable and knows what it learned', () => {
  const h = new Harness().learnNormal(14);
  h.at(15).feed(ev.exec({ path: '/bin/wget', euid: 0 }));
  const snapshots = h.detector.snapshots();
  assert.equal(snapshots.length, 1);
  const restarted = new Harness();
  restarted.detector.restore(JSON.parse(JSON.stringify(snapshots[0])));
  restarted.at(16);
  for (const e of normal()) assert.deepEqual(restarted.feed(e), [], 'nothing relearned, nothing reported');
  assert.equal(deviations(restarted.feed(ev.exec({ path: '/bin/sh', euid: 0 }))).length, 1, 'still stable');
});

function randomLabel(i: number): string {
  let x = (i + 1) * 2654435761;
  let s = '';
  for (let k = 0; k < 10; k++) {
    s += String.fromCharCode(97 + (x % 26));
    x = Math.floor(x / 26) + 7 * k + i;
  }
  return s;
}

// --- image versions ---------------------------------------------------------------------------------------------

const DIGEST_A = `sha256:${'a'.repeat(64)}`;
const DIGEST_B = `sha256:${'b'.repeat(64)}`;

/** A stable profile learned on DIGEST_A, and a second replica started at `startS` running `digest`. */
function rollout(digest: string, startS = 20, settings: Partial<BaselineDetector['settings']> = {}) {
  const h = new Harness({ newImageMs: 10_000, ...settings });
  h.workloads.set(WEB.id, { ...WEB_WORKLOAD, imageDigest: DIGEST_A });
  h.learnNormal(14);
  const next = container('eeee5555', 500n);
  const startNs = CONTAINER_SEEN_NS + BigInt(startS) * S;
  h.agent.containers.set(next.cgroupId, { ...next, firstSeenNs: startNs });
  h.workloads.set(next.id, { ...WEB_WORKLOAD, imageDigest: digest });
  return { h, next, at: (s: number) => h.at(startS + s) };
}

test('a new image digest that behaves the same reports nothing, during and after its window', () => {
  const { h, next, at } = rollout(DIGEST_B);
  const all: Finding[] = [];
  for (let s = 0; s <= 30; s++) for (const e of normal(next.cgroupId)) all.push(...at(s).feed(e));
  for (const e of normal()) all.push(...h.feed(e));
  assert.deepEqual(all, []);
  assert.deepEqual(h.detector.profile('shop/Deployment/web/httpd')!.versions.map((v) => v.digest), [DIGEST_A, DIGEST_B]);
});

test('a new image digest that does new things past its warm-up is one summary at the end of its window, not a deviation each', () => {
  const { h, next, at } = rollout(DIGEST_B);
  const during: Finding[] = [];
  at(3); // past the replica's 2 s warm-up, inside the image's 10 s window
  during.push(...h.feed(ev.exec({ cgroupId: next.cgroupId, path: '/bin/sh', euid: 0 })));
  during.push(...h.feed(ev.connect({ cgroupId: next.cgroupId, address: '203.0.113.9', port: 8443 })));
  for (let i = 0; i < 5; i++) during.push(...h.feed(ev.payload({ cgroupId: next.cgroupId, kind: PayloadKind.DnsQuery, port: 53, data: dnsQuery(`api${i}.example`) })));
  assert.deepEqual(during, [], 'collected, not reported');
  assert.equal(h.detector.counters.suppressed.get('new_image'), 8, 'exec, its pair, the connect, five names');
  // The old replica doing the same is not a deviation either: it is learned now.
  assert.deepEqual(h.feed(ev.payload({ kind: PayloadKind.DnsQuery, port: 53, data: dnsQuery('api0.example') })), []);
  // The window runs from the image's first event (3 s) for 10 s.
  assert.deepEqual(at(12).feed(ev.exec({ cgroupId: next.cgroupId, path: '/bin/httpd', euid: 0 })), [], 'still in the window');
  const summary = at(13).feed(ev.exec({ cgroupId: next.cgroupId, path: '/bin/httpd', euid: 0 }));
  assert.equal(summary.length, 1);
  assert.equal(summary[0].severity, 'high', 'the highest of its items: a new shell');
  assert.equal(summary[0].attributes[Attr.baselineImageDigest], DIGEST_B);
  assert.equal(summary[0].attributes[Attr.baselineImageNewItems], 8);
  assert.equal((summary[0].attributes[Attr.baselineImageSample] as string[]).length, 8);
  assert.match(summary[0].summary, /image sha256:b+ of shop\/Deployment\/web\/httpd did 8 thing/);
  assert.deepEqual(at(14).feed(ev.exec({ cgroupId: next.cgroupId, path: '/bin/httpd', euid: 0 })), [], 'told once');
  // After the window, the image is one more version: a novelty is a deviation again.
  assert.equal(deviations(at(15).feed(ev.exec({ cgroupId: next.cgroupId, path: '/bin/id', euid: 0 }))).length, 1);
});

test('a rollback to one of the last five digests is not new; a sixth evicts the least recently run', () => {
  const digests = ['1', '2', '3', '4', '5', '6'].map((d) => `sha256:${d.repeat(64)}`);
  const h = new Harness({ newImageMs: 10_000 });
  h.workloads.set(WEB.id, { ...WEB_WORKLOAD, imageDigest: digests[0] });
  h.learnNormal(14);
  const profile = h.detector.profile('shop/Deployment/web/httpd')!;
  for (let i = 1; i < 6; i++) {
    h.workloads.set(WEB.id, { ...WEB_WORKLOAD, imageDigest: digests[i] });
    h.at(15 + i * 120).feed(ev.exec({ path: '/bin/httpd', euid: 0 }));
  }
  assert.deepEqual(profile.versions.map((v) => v.digest), digests.slice(1), 'the oldest went');
  h.workloads.set(WEB.id, { ...WEB_WORKLOAD, imageDigest: digests[2] });
  assert.equal(deviations(h.at(1000).feed(ev.exec({ path: '/bin/id', euid: 0 }))).length, 1, 'a novelty under a known digest is reported');
  h.workloads.set(WEB.id, { ...WEB_WORKLOAD, imageDigest: digests[0] });
  assert.deepEqual(h.at(1100).feed(ev.exec({ path: '/bin/ls', euid: 0 })), [], 'the evicted digest is new again: collected');
});

test('image versions survive a snapshot round trip, an open window included', () => {
  const { h, next, at } = rollout(DIGEST_B);
  at(3).feed(ev.exec({ cgroupId: next.cgroupId, path: '/bin/sh', euid: 0 }));
  const snapshot = JSON.parse(JSON.stringify(h.detector.snapshots(true)[0]));
  const restarted = new Harness({ newImageMs: 10_000 });
  restarted.workloads.set(next.id, { ...WEB_WORKLOAD, imageDigest: DIGEST_B });
  restarted.agent.containers.set(next.cgroupId, { ...next, firstSeenNs: CONTAINER_SEEN_NS + 20n * S });
  restarted.detector.restore(snapshot);
  const summary = restarted.at(33).feed(ev.exec({ cgroupId: next.cgroupId, path: '/bin/httpd', euid: 0 }));
  assert.equal(summary.length, 1);
  assert.equal(summary[0].attributes[Attr.baselineImageNewItems], 2);
});
