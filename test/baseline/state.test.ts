// The per-(profile, class) state machine and canonicalisation, rule by rule, with compressed durations.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClassBaseline } from '../../src/baseline/ClassBaseline.ts';
import { canonicalDnsName, canonicalPath, itemShape } from '../../src/baseline/canonical.ts';
import { execSeverity } from '../../src/baseline/classes.ts';
import { dnsAnswerAddresses } from '../../src/detectors/internal/dns.ts';
import { dnsAnswer, dnsQuery } from '../detectors/fixtures.ts';
import { PeerKinds, PeerRangeError } from '../../src/baseline/PeerKinds.ts';

const defaultPeers = new PeerKinds();
const peerKind = (a: string) => defaultPeers.kind(a);

const T = { minLearningMs: 10_000, quietMs: 3_000, maxLearningMs: 60_000 };
const COLLAPSE = 15;

test('a class stays learning before its minimum age even when quiet', () => {
  const c = new ClassBaseline(10, 0);
  c.learn('/bin/sh', 100, COLLAPSE);
  assert.equal(c.advance(9_999, T), undefined);
  assert.equal(c.state, 'learning');
});

test('a class becomes stable after its minimum age with no new item for the quiet period', () => {
  const c = new ClassBaseline(10, 0);
  c.learn('/bin/sh', 100, COLLAPSE);
  assert.equal(c.advance(10_000, T), 'stable');
  assert.equal(c.stateSinceMs, 10_000);
});

test('a new item restarts the quiet period while learning', () => {
  const c = new ClassBaseline(10, 0);
  c.learn('/bin/sh', 9_000, COLLAPSE);
  assert.equal(c.advance(11_000, T), undefined, 'only 2 s quiet');
  assert.equal(c.advance(12_000, T), 'stable');
});

test('a class that keeps learning new items past its maximum becomes unstable and stops learning', () => {
  const c = new ClassBaseline(1000, 0);
  for (let t = 0; t < 60_000; t += 1_000) c.learn(`/x/${t.toString(36)}z`, t, 1000);
  assert.equal(c.advance(60_000, T), 'unstable');
  c.learn('/bin/new', 60_001, COLLAPSE);
  assert.equal(c.knows('/bin/new'), false);
});

test('a class reaching its cap is saturated, while learning or after', () => {
  const c = new ClassBaseline(3, 0);
  c.learn('a.example', 1, COLLAPSE);
  c.learn('b.example', 2, COLLAPSE);
  assert.equal(c.state, 'learning');
  c.learn('c.example', 3, COLLAPSE);
  assert.equal(c.state, 'saturated');
  c.learn('d.example', 4, COLLAPSE);
  assert.equal(c.knows('d.example'), false);
});

test('learning in a stable class (warm-up, accept) keeps it stable', () => {
  const c = new ClassBaseline(10, 0);
  c.advance(10_000, T);
  c.learn('/bin/ls', 10_500, COLLAPSE);
  assert.equal(c.state, 'stable');
  assert.equal(c.knows('/bin/ls'), true);
});

test('siblings of one shape collapse into the shape only at collapseAt, freeing the cap', () => {
  const c = new ClassBaseline(20, 0);
  for (let i = 1; i < COLLAPSE; i++) c.learn(`/app/worker-${i}`, i, COLLAPSE);
  assert.equal(c.knows('/app/worker-99'), false, '14 siblings are not a pattern');
  c.learn('/app/worker-15', 15, COLLAPSE);
  assert.equal(c.knows('/app/worker-99'), true);
  assert.equal(c.size, 1);
  assert.equal(c.state, 'learning');
});

test('a snapshot restores the same state, items, patterns and timers', () => {
  const c = new ClassBaseline(20, 5);
  for (let i = 1; i <= COLLAPSE; i++) c.learn(`w${i}.example`, 5 + i, COLLAPSE);
  c.learn('/bin/sh', 100, COLLAPSE);
  c.advance(20_000, T);
  const r = ClassBaseline.restore(JSON.parse(JSON.stringify(c.snapshot())), 20);
  assert.deepEqual(r.snapshot(), c.snapshot());
  assert.equal(r.knows('w77.example'), true);
  assert.equal(r.state, 'stable');
});

test('canonical paths fold pids, container ids, token directories, fd numbers and dot segments', () => {
  assert.equal(canonicalPath('/proc/1234/environ'), '/proc/<pid>/environ');
  assert.equal(canonicalPath('/proc/self/environ'), '/proc/self/environ');
  assert.equal(canonicalPath(`/run/containerd/${'ab12'.repeat(16)}/rootfs`), '/run/containerd/<container-id>/rootfs');
  assert.equal(
    canonicalPath('/var/run/secrets/kubernetes.io/serviceaccount/..2026_12_04_21_15_02.1234567/token'),
    '/var/run/secrets/kubernetes.io/serviceaccount/..<timestamp>/token',
  );
  assert.equal(canonicalPath('/dev/fd/7'), '/dev/fd/<n>');
  assert.equal(canonicalPath('/bin/../bin//./sh'), '/bin/sh');
  assert.equal(canonicalPath('/a'.repeat(400)).length, 513, 'bounded, with a cut mark');
});

test('DNS names lose case, the trailing dot and the cluster search suffixes', () => {
  assert.equal(canonicalDnsName('Example.COM.', 'cluster.local'), 'example.com');
  assert.equal(canonicalDnsName('example.com.default.svc.cluster.local', 'cluster.local'), 'example.com');
  assert.equal(canonicalDnsName('api.shop.svc.cluster.local', 'cluster.local'), 'api');
  assert.equal(canonicalDnsName('example.com.cluster.local', 'cluster.local'), 'example.com');
  assert.equal(canonicalDnsName('cluster.local.evil.example', 'cluster.local'), 'cluster.local.evil.example');
});

test('shapes replace digit and long hex runs only', () => {
  assert.equal(itemShape('/app/worker-12'), '/app/worker-<n>');
  assert.equal(itemShape('deadbeefcafe.example'), '<hex>.example');
  assert.equal(itemShape('/bin/sh'), '/bin/sh');
});

test('peer kinds by address', () => {
  assert.equal(peerKind('127.0.0.1'), 'loopback');
  assert.equal(peerKind('::1'), 'loopback');
  assert.equal(peerKind('169.254.169.254'), 'metadata');
  assert.equal(peerKind('10.96.0.10'), 'internal');
  assert.equal(peerKind('172.20.1.1'), 'internal');
  assert.equal(peerKind('172.32.1.1'), 'external');
  assert.equal(peerKind('::ffff:192.168.1.1'), 'internal');
  assert.equal(peerKind('203.0.113.7'), 'external');
  assert.equal(peerKind('2001:db8::1'), 'external');
});

test('peer kinds from the cluster\'s ranges: node addresses, services, pods, nodes; metadata and loopback whatever they say', () => {
  const peers = new PeerKinds({
    podCidrs: ['10.244.0.0/16', 'fd00:10:244::/56'],
    serviceCidrs: ['10.96.0.0/12'],
    nodeCidrs: ['192.168.10.0/24'],
    nodeAddresses: ['10.244.0.1', '192.168.10.5'],
  });
  assert.equal(peers.kind('10.96.0.10'), 'service');
  assert.equal(peers.kind('10.244.3.7'), 'pod');
  assert.equal(peers.kind('fd00:10:244::12'), 'pod');
  assert.equal(peers.kind('::ffff:10.244.3.7'), 'pod', 'an IPv4-mapped address');
  assert.equal(peers.kind('10.244.0.1'), 'node', 'the node\'s own bridge address inside the pod range');
  assert.equal(peers.kind('192.168.10.9'), 'node');
  assert.equal(peers.kind('10.1.2.3'), 'internal', 'private, in no configured range');
  assert.equal(peers.kind('169.254.169.254'), 'metadata');
  assert.equal(peers.kind('127.0.0.1'), 'loopback');
  assert.equal(peers.kind('198.51.100.1'), 'external');
  assert.throws(() => new PeerKinds({ podCidrs: ['10.244.0.0'], serviceCidrs: [], nodeCidrs: [] }), PeerRangeError);
  assert.throws(() => new PeerKinds({ podCidrs: [], serviceCidrs: ['10.96.0.0/40'], nodeCidrs: [] }), /baseline.serviceCidrs: '10.96.0.0\/40' is not a CIDR/);
  assert.throws(() => new PeerKinds({ podCidrs: [], serviceCidrs: [], nodeCidrs: ['node-1/24'] }), /baseline.nodeCidrs/);
});

test('shells, interpreters and downloaders are high, other binaries medium', () => {
  for (const exe of ['/bin/sh', '/usr/bin/python3.12', '/usr/bin/curl', '/bin/nc', '/usr/local/bin/node']) {
    assert.equal(execSeverity(exe), 'high', exe);
  }
  for (const exe of ['/bin/id', '/tmp/x', '/usr/sbin/nginx']) assert.equal(execSeverity(exe), 'medium', exe);
});

test('a DNS response gives its question and its A/AAAA addresses, through a CNAME, and what is complete when cut', () => {
  const v6 = new Uint8Array(16);
  v6[0] = 0x20;
  v6[1] = 0x01;
  v6[2] = 0x0d;
  v6[3] = 0xb8;
  v6[15] = 7;
  assert.deepEqual(dnsAnswerAddresses(dnsAnswer('API.Example.com', ['203.0.113.5', v6], 'edge.cdn.example')), {
    name: 'api.example.com',
    addresses: ['203.0.113.5', '2001:db8::7'],
  });
  const full = dnsAnswer('example.com', ['203.0.113.5', '203.0.113.6']);
  assert.deepEqual(dnsAnswerAddresses(full.subarray(0, full.length - 2))?.addresses, ['203.0.113.5'], 'the cut record is dropped');
  assert.equal(dnsAnswerAddresses(dnsQuery('example.com')), undefined, 'a query is no answer');
  assert.equal(dnsAnswerAddresses(new Uint8Array([0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1])), undefined, 'too short');
});
