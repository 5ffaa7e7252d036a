// Detector-engine throughput on one core for a realistic stream (mostly fork/exec/exit/open/connect from
// containers and the host, no attacks), reported as events per second and as a ratio to the 1M events/s target.
// Run: node bench/detectors.ts
import { DetectorEngine } from '../src/detectors/engine.ts';
import type { DetectorEvent } from '../src/detectors/Detector.ts';
import { PayloadKind } from '../src/receiver/events.ts';
import { FakeAgent, HOST_CGROUP, OTHER, WEB, dnsQuery, ev } from '../test/detectors/fixtures.ts';
import { reportResult } from './result.ts';

const TARGET_EVENTS_PER_SECOND = 1_000_000;

const agent = new FakeAgent();
for (let tgid = 1000; tgid < 2000; tgid++) {
  const c = tgid % 3 === 0 ? null : tgid % 3 === 1 ? WEB : OTHER;
  agent.addProcess({ tgid, container: c, cgroupId: c?.cgroupId ?? HOST_CGROUP, executable: '/usr/bin/python3' });
}

const stream: DetectorEvent[] = [];
for (let i = 0; i < 4096; i++) {
  const tgid = 1000 + (i % 1000);
  const cgroupId = agent.process(tgid)!.cgroupId;
  const o = { tgid, pid: tgid, cgroupId };
  switch (i % 10) {
    case 0:
    case 1:
      stream.push(ev.fork({ ...o, childTgid: tgid + 1 }));
      break;
    case 2:
    case 3:
      stream.push(ev.exec({ ...o, path: '/usr/bin/python3', argv: ['python3', '-m', 'http.server', '--bind', '0.0.0.0'] }));
      break;
    case 4:
    case 5:
      stream.push(ev.exit(o));
      break;
    case 6:
      stream.push(ev.open({ ...o, path: '/proc/self/exe' }));
      break;
    case 7:
      stream.push(ev.open({ ...o, path: '/var/run/secrets/kubernetes.io/serviceaccount/token' }));
      break;
    case 8:
      stream.push(ev.connect({ ...o, port: 443, address: '10.96.0.1' }));
      break;
    case 9:
      stream.push(
        i % 20 === 9
          ? ev.payload({ ...o, kind: PayloadKind.DnsQuery, port: 53, data: dnsQuery('api.example.com') })
          : ev.payload({ ...o, port: 80, data: new Uint8Array(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')) }),
      );
      break;
  }
}

/** Events per second of CPU time this process used (so other load on the machine does not count against it). */
function run(engine: DetectorEngine, rounds: number): number {
  let detections = 0;
  const start = process.cpuUsage();
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < stream.length; i++) detections += engine.process(stream[i], agent).length;
  }
  const used = process.cpuUsage(start);
  const seconds = (used.user + used.system) / 1e6;
  if (detections !== 0) throw new Error(`benign stream produced ${detections} detections`);
  return (rounds * stream.length) / seconds;
}

const engine = new DetectorEngine();
run(engine, 100); // warm-up: let V8 optimise the dispatch and detector paths
const rate = run(engine, 1000);
console.log(
  `detectors: ${Math.round(rate).toLocaleString('en')} events per CPU-second ` +
    `(${(rate / TARGET_EVENTS_PER_SECOND).toFixed(2)}x the 1M/s target)`,
);
reportResult('detectors.events_per_cpu_s', rate, 'events/s', { op: '>=', value: TARGET_EVENTS_PER_SECOND });
