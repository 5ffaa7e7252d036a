// Table-driven tests of the cryptomining incident (KS-MIN-001): signals aggregate into one incident per container.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PayloadKind, Op } from '../../src/receiver/events.ts';
import { Attr } from '../../src/detectors/attributeKeys.ts';
import { CryptominingIncident, minerArguments, stratumMethod } from '../../src/detectors/rules/CryptominingIncident.ts';
import { dnsQuestionName, matchesDomainSuffix } from '../../src/detectors/internal/dns.ts';
import { HOST_CGROUP, OTHER, O_WRONLY, dnsQuery, ev } from './fixtures.ts';
import { detectorTable } from './table.ts';

const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'latin1'));
const SUBSCRIBE = bytes('{"id":1,"jsonrpc":"2.0","method":"mining.subscribe","params":["cpuminer/2.5"]}\n');
const XMR_LOGIN = bytes('{"id":1,"jsonrpc":"2.0","method":"login","params":{"login":"4AB...","pass":"x","agent":"XMRig/6.21.0"}}\n');
const HTTP = bytes('GET / HTTP/1.1\r\nHost: example.com\r\n\r\n');
const minute = 60_000_000_000n;
const onHost = { cgroupId: HOST_CGROUP };

detectorTable(() => new CryptominingIncident(), [
  {
    name: 'a stratum mining.subscribe alone is a high-confidence incident',
    events: [ev.payload({ data: SUBSCRIBE, port: 443 })],
    expect: ['high'],
    check: (f) => {
      assert.equal(f[0].attributes[Attr.miningConfidence], 0.9);
      assert.deepEqual(f[0].attributes[Attr.miningSignals], ['stratum_protocol']);
      assert.equal(f[0].attributes[Attr.serverPort], 443);
    },
  },
  { name: 'an XMRig login with an agent string is stratum', events: [ev.payload({ data: XMR_LOGIN, port: 80 })], expect: ['high'] },
  { name: 'HTTP to a pool port alone stays below the threshold', events: [ev.payload({ data: HTTP, port: 3333 })], expect: [] },
  { name: 'a connection to a pool port alone stays below the threshold', events: [ev.connect({ port: 4444 })], expect: [] },
  {
    name: 'a pool port plus a pool-domain DNS query crosses the threshold as medium',
    events: [
      ev.connect({ port: 4444 }),
      ev.payload({ kind: PayloadKind.DnsQuery, op: Op.Sendto, port: 53, data: dnsQuery('xmr.pool.MineXMR.com') }),
    ],
    expect: ['medium'],
    check: (f) => {
      assert.deepEqual(f[0].attributes[Attr.miningSignals], ['pool_domain_query', 'pool_port_connection']);
      assert.equal(f[0].attributes[Attr.dnsQuestionName], 'xmr.pool.minexmr.com');
    },
  },
  {
    name: 'a DNS query for an unrelated domain is no signal',
    events: [ev.connect({ port: 4444 }), ev.payload({ kind: PayloadKind.DnsQuery, port: 53, data: dnsQuery('example.org') })],
    expect: [],
  },
  {
    name: 'the xmrig executable alone is a high incident',
    events: [ev.exec({ path: '/opt/xmrig-6.21.0/xmrig', argv: ['./xmrig'] })],
    expect: ['high'],
  },
  {
    name: 'a renamed miner is recognised by its arguments',
    events: [ev.exec({ path: '/usr/bin/kworker', argv: ['kworker', '-o', 'stratum+tcp://pool.example.net:3333', '--donate-level=1'] })],
    expect: ['high'],
  },
  {
    name: '-o host:port with -u alone is a weak signal below the threshold',
    events: [ev.exec({ path: '/usr/bin/app', argv: ['app', '-o', 'pool.example.net:3333', '-u', 'wallet'] })],
    expect: [],
  },
  {
    name: 'an ordinary executable is no signal',
    events: [ev.exec({ path: '/usr/bin/curl', argv: ['curl', '-o', 'out.html', 'https://example.com'] })],
    expect: [],
  },
  {
    name: 'stratum after the miner executable raises the incident to critical',
    events: [ev.exec({ path: '/tmp/xmrig', argv: ['xmrig'] }), ev.payload({ data: SUBSCRIBE })],
    expect: ['critical'],
  },
  {
    name: 'a second stratum connection at the same severity is not reported again',
    events: [ev.payload({ data: SUBSCRIBE }), ev.payload({ data: SUBSCRIBE })],
    expect: [],
  },
  {
    name: 'signals of two different containers do not combine',
    events: [
      ev.open({ path: '/dev/cpu/0/msr', openFlags: 2 }),
      ev.connect({ port: 4444 }),
      ev.open({ cgroupId: OTHER.cgroupId, path: '/proc/sys/vm/nr_hugepages', openFlags: O_WRONLY }),
    ],
    expect: [],
  },
  {
    name: 'signals older than the window do not combine',
    events: [
      ev.open({ path: '/dev/cpu/0/msr', openFlags: 2 }),
      (ev.advance(31n * minute), ev.connect({ port: 4444 })),
      ev.open({ path: '/proc/sys/vm/nr_hugepages', openFlags: O_WRONLY }),
    ],
    expect: [],
  },
  {
    name: 'a DNS query for a pool domain alone is reported at the default threshold',
    events: [ev.payload({ kind: PayloadKind.DnsQuery, op: Op.Sendto, port: 53, data: dnsQuery('pool.supportxmr.com') })],
    expect: ['medium'],
    check: (f) => assert.deepEqual(f[0].attributes[Attr.miningSignals], ['pool_domain_query']),
  },
  {
    name: 'stratum after a one-byte first write is put together from the connection\'s writes',
    events: [
      ev.payload({ data: SUBSCRIBE.subarray(0, 1), totalLen: 1, port: 443 }),
      ev.payload({ data: SUBSCRIBE.subarray(1), totalLen: SUBSCRIBE.length - 1, streamOffset: 1, port: 443 }),
    ],
    expect: ['high'],
  },
  {
    name: 'a method name split across two writes is still stratum',
    events: [
      ev.payload({ data: SUBSCRIBE.subarray(0, 40), totalLen: 40, port: 443 }),
      ev.payload({ data: SUBSCRIBE.subarray(40), totalLen: SUBSCRIBE.length - 40, streamOffset: 40, port: 443 }),
    ],
    expect: ['high'],
  },
  {
    name: 'a leading newline written on its own does not hide the stratum after it',
    events: [
      ev.payload({ data: bytes('\r\n'), totalLen: 2, port: 443 }),
      ev.payload({ data: new Uint8Array([0x20, ...SUBSCRIBE]), totalLen: SUBSCRIBE.length + 1, streamOffset: 2, port: 443 }),
    ],
    expect: ['high'],
  },
  {
    name: 'writes of another connection are not joined to this one',
    events: [
      ev.payload({ fd: 5, data: SUBSCRIBE.subarray(0, 40), totalLen: 40, port: 443 }),
      ev.payload({ fd: 6, data: SUBSCRIBE.subarray(40), totalLen: SUBSCRIBE.length - 40, streamOffset: 40, port: 443 }),
    ],
    expect: [],
  },
  {
    name: 'a pool port is judged at a connection\'s first write only',
    events: [
      ev.open({ path: '/dev/cpu/0/msr', openFlags: 2 }),
      ev.payload({ data: HTTP, totalLen: HTTP.length, streamOffset: 0, port: 3333 }),
      ev.open({ path: '/proc/sys/vm/nr_hugepages', openFlags: O_WRONLY }),
      ev.payload({ data: HTTP, totalLen: HTTP.length, streamOffset: HTTP.length, port: 3333 }),
    ],
    expect: [],
  },
  {
    name: 'MSR access plus huge-page tuning plus a pool port crosses the threshold',
    events: [
      ev.open({ path: '/dev/cpu/0/msr', openFlags: 2 }),
      ev.open({ path: '/proc/sys/vm/nr_hugepages', openFlags: O_WRONLY }),
      ev.connect({ port: 3333 }),
      ev.payload({ kind: PayloadKind.DnsQuery, port: 53, data: dnsQuery('gulf.moneroocean.stream') }),
    ],
    expect: ['high'],
  },
  {
    name: 'MSR access on the host is no signal',
    events: [ev.open({ ...onHost, path: '/dev/cpu/0/msr' }), ev.exec({ ...onHost, path: '/usr/bin/turbostat' })],
    expect: [],
  },
  {
    name: 'podman on the host carrying a miner command line for its container is ignored',
    events: [ev.exec({ ...onHost, path: '/usr/bin/podman', argv: ['podman', 'run', 'img', 'sh', '-c', 'x -o stratum+tcp://p:3333 --donate-level=1'] })],
    expect: [],
  },
  {
    name: 'a stratum connection from a host process is reported',
    events: [ev.payload({ ...onHost, data: SUBSCRIBE })],
    expect: ['high'],
  },
  {
    name: 'sustained CPU saturation with a long-lived outbound connection plus MSR access crosses the threshold',
    setup: (a) => a.addProcess({ tgid: 4242 }),
    events: [
      ev.open({ path: '/dev/cpu/0/msr', openFlags: 2 }),
      ev.connect({ port: 443 }),
      ev.cpuSample({ utilization: 0.99 }),
      (ev.advance(6n * minute), ev.cpuSample({ utilization: 0.97 })),
    ],
    expect: ['medium'],
    check: (f) => {
      assert.deepEqual(f[0].attributes[Attr.miningSignals], ['cpu_saturation_with_outbound_connection', 'msr_access']);
      assert.equal(f[0].tgid, 4242);
    },
  },
  {
    name: 'CPU saturation interrupted by an idle sample does not count as sustained',
    setup: (a) => a.addProcess({ tgid: 4242 }),
    events: [
      ev.payload({ kind: PayloadKind.DnsQuery, port: 53, data: dnsQuery('pool.supportxmr.com') }),
      ev.connect({ port: 443 }),
      ev.cpuSample({ utilization: 0.99 }),
      (ev.advance(3n * minute), ev.cpuSample({ utilization: 0.1 })),
      (ev.advance(3n * minute), ev.cpuSample({ utilization: 0.99 })),
    ],
    expect: [],
  },
  {
    name: 'CPU saturation after the connection\'s process exited is no signal',
    events: [
      ev.payload({ kind: PayloadKind.DnsQuery, port: 53, data: dnsQuery('pool.supportxmr.com') }),
      ev.connect({ port: 443 }),
      ev.cpuSample({ utilization: 0.99 }),
      (ev.advance(6n * minute), ev.cpuSample({ utilization: 0.99 })),
    ],
    expect: [],
  },
]);

describe('stratum and miner-argument recognition', () => {
  it('finds mining.authorize after leading whitespace', () => {
    assert.equal(stratumMethod(bytes('  {"params":["w","x"],"id":2,"method":"mining.authorize"}')), 'mining.authorize');
  });
  it('ignores JSON that only mentions login without an agent', () => {
    assert.equal(stratumMethod(bytes('{"method":"login","params":{"user":"a"}}')), undefined);
  });
  it('finds stratum after a junk line before the JSON', () => {
    assert.equal(stratumMethod(bytes('x\n{"id":1,"method":"mining.subscribe","params":[]}')), 'mining.subscribe');
  });
  it('ignores non-JSON payloads', () => {
    assert.equal(stratumMethod(bytes('mining.subscribe')), undefined);
  });
  it('recognises -a rx/0 as a mining algorithm', () => {
    assert.deepEqual(minerArguments(['x', '-a', 'rx/0']).strong, ['mining_algorithm']);
  });
  it('recognises --cpu-max-threads-hint=50 and --randomx-1gb-pages', () => {
    assert.deepEqual(minerArguments(['x', '--cpu-max-threads-hint=50', '--randomx-1gb-pages']).strong.sort(), ['--cpu-max-threads-hint', '--randomx']);
  });
});

describe('DNS question parsing', () => {
  it('parses the question name in lower case', () => {
    assert.equal(dnsQuestionName(dnsQuery('Pool.SupportXMR.com')), 'pool.supportxmr.com');
  });
  it('returns what fit when the capture cut the name', () => {
    assert.equal(dnsQuestionName(dnsQuery('abcdef.example.com').slice(0, 12 + 7 + 3)), 'abcdef.ex');
  });
  it('rejects a response', () => {
    const msg = dnsQuery('minexmr.com');
    msg[2] |= 0x80;
    assert.equal(dnsQuestionName(msg), undefined);
  });
  it('rejects a message too short to hold a question', () => {
    assert.equal(dnsQuestionName(new Uint8Array(5)), undefined);
  });
  it('matches a suffix only at a label boundary', () => {
    assert.equal(matchesDomainSuffix('xminexmr.com', ['minexmr.com']), undefined);
    assert.equal(matchesDomainSuffix('a.minexmr.com', ['minexmr.com']), 'minexmr.com');
    assert.equal(matchesDomainSuffix('minexmr.com', ['minexmr.com']), 'minexmr.com');
  });
});
