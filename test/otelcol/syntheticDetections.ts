// Synthetic detections shaped like the agent's (src/detection.ts), for driving the telemetry library in tests and
// benchmarks before real kernel detections exist.
import { randomUUID } from 'node:crypto';
import type { AncestryEntry, Detection, Severity } from '../../src/detection.ts';

export const CONTAINER_ID = '4f1c2a9be0d5c3a1f7e8d9c0b1a2f3e4d5c6b7a8f9e0d1c2b3a4f5e6d7c8b9a0';
export const POD_UID = '7c0a3d9e-5b1f-4e2a-9c8d-1f2e3a4b5c6d';

function rfc3339Ns(ns: bigint): string {
  const ms = Number(ns / 1_000_000n);
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, `.${String(ns % 1_000_000_000n).padStart(9, '0')}Z`);
}

/** Process chain: the offending process first, the container's init (pid 1 in the container) last. */
export function ancestry(baseNs: bigint): AncestryEntry[] {
  const chain = [
    { pid: 4242, executable: '/usr/bin/xmrig', command_line: 'xmrig -o pool.example:3333', offsetNs: 3_000_000_000n },
    { pid: 4200, executable: '/bin/sh', command_line: 'sh -c ./start.sh', offsetNs: 2_000_000_000n },
    { pid: 4100, executable: '/usr/local/bin/entrypoint', command_line: '/usr/local/bin/entrypoint', offsetNs: 0n },
  ];
  return chain.map(({ offsetNs, ...p }) => ({
    ...p,
    start_time: rfc3339Ns(baseNs + offsetNs),
    start_boottime_ns: String(1_000_000_000_000n + offsetNs + BigInt(p.pid)),
  }));
}

export function syntheticDetection(options: { id?: string; sequence?: number; severity?: Severity; containerId?: string; timeUnixNs?: bigint } = {}): Detection {
  const id = options.id ?? randomUUID();
  // A millisecond in the past, like a kernel event the agent reads later: the agent's observed time (ms resolution)
  // is then never before it.
  const timeUnixNs = options.timeUnixNs ?? BigInt(Date.now() - 1) * 1_000_000n + 123_456n;
  const containerId = options.containerId ?? CONTAINER_ID;
  const chain = ancestry(timeUnixNs - 10_000_000_000n);
  return {
    id,
    time: rfc3339Ns(timeUnixNs),
    timeUnixNs,
    rule: 'cryptominer_stratum_connect',
    category: 'cryptomining',
    severity: options.severity ?? 'critical',
    summary: `process xmrig (pid 4242) in container ${containerId.slice(0, 12)} connected to a mining pool`,
    attributes: {
      'kubesentry.detection.id': id,
      'kubesentry.test.sequence': options.sequence ?? 0,
      'security_rule.name': 'cryptominer_stratum_connect',
      'security_rule.uuid': '0b6c3a57-3c2d-4c8e-9a51-2f0e1d7c9b11',
      'security_rule.category': 'cryptomining',
      'security_rule.description': 'A container process spoke the Stratum mining protocol',
      'security_rule.version': '1',
      'security_rule.reference': 'https://attack.mitre.org/techniques/T1496/',
      'container.id': containerId,
      'k8s.pod.uid': POD_UID,
      'k8s.pod.name': 'web-7d9f8',
      'k8s.namespace.name': 'default',
      'process.pid': 4242,
      'process.executable.path': '/usr/bin/xmrig',
      'process.command_line': 'xmrig -o pool.example:3333',
    },
    ancestry: chain,
  };
}

/** A UUID-shaped id that encodes the sequence number, so a checker knows exactly which ids must arrive. */
export function detectionIdFor(sequence: number): string {
  return `00000000-0000-7000-8000-${String(sequence).padStart(12, '0')}`;
}
