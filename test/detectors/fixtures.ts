// Synthetic events and a fake agent context for detector tests. Events carry realistic defaults; a case
// overrides only the fields it is about.

import {
  EventType,
  Op,
  OpenPathSource,
  PayloadKind,
  type BpfEvent,
  type ConnectEvent,
  type ListenEvent,
  type CompatSyscallEvent,
  type CredsEvent,
  type EventHeader,
  type ExecEvent,
  type ExitEvent,
  type FdCreateEvent,
  type ForkEvent,
  type KernelEvent,
  type ModuleEvent,
  type MountEvent,
  type NamespaceEvent,
  type NamespaceInodes,
  type OpenEvent,
  type PayloadEvent,
  type IoUringEvent,
  type PtraceEvent,
  type RootChangeEvent,
  type SetnsEvent,
} from '../../src/receiver/events.ts';
import type { ContainerIdentity, ProcessInfo } from '../../src/receiver/identity.ts';
import { compileSettings } from '../../src/detectors/config.ts';
import type {
  AgentContext,
  ContainerCpuSampleEvent,
  DetectionContext,
  Detector,
  DetectorEvent,
  Finding,
  PodAttributes,
} from '../../src/detectors/Detector.ts';
import { SyntheticEventType } from '../../src/detectors/Detector.ts';

export const HOST_NS: NamespaceInodes = {
  mnt: 4026531841, pid: 4026531836, net: 4026531840, user: 4026531837, uts: 4026531838, ipc: 4026531839, cgroup: 4026531835,
};
export const CONTAINER_NS: NamespaceInodes = {
  mnt: 4026532301, pid: 4026532304, net: 4026532306, user: 4026531837, uts: 4026532302, ipc: 4026532303, cgroup: 4026532305,
};

export const HOST_CGROUP = 10n;
export const POD_UID = '3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f';
export const OTHER_POD_UID = '11111111-2222-4333-8444-555555555555';
/** Boot-time ns when the agent saw the container; wall = boot + BOOT_TO_WALL. */
export const CONTAINER_SEEN_NS = 1_000_000_000_000n;
export const BOOT_TO_WALL = 1_764_000_000_000_000_000n;

export function container(id: string, cgroupId: bigint, podUid: string = POD_UID): ContainerIdentity {
  return {
    id: id.padEnd(64, '0'),
    runtime: 'containerd',
    podUid,
    qosClass: 'besteffort',
    cgroupPath: `/kubepods/besteffort/pod${podUid}/${id}`,
    cgroupId,
    firstSeenNs: CONTAINER_SEEN_NS,
  };
}

export const WEB = container('aaaa1111', 100n);
export const OTHER = container('bbbb2222', 200n, OTHER_POD_UID);

/** A fake of what the agent provides: containers by cgroup id, a process table, pod metadata. */
export class FakeAgent implements AgentContext {
  readonly containers = new Map<bigint, ContainerIdentity>([[WEB.cgroupId, WEB], [OTHER.cgroupId, OTHER]]);
  readonly processes = new Map<number, ProcessInfo>();
  readonly pods = new Map<string, PodAttributes>();
  hostNamespaces = HOST_NS;
  nowNs = CONTAINER_SEEN_NS;
  /** When exec or fork records of a cgroup were last lost (LineageRecordLoss); none by default. */
  readonly lineageLostAtNs = new Map<bigint, bigint>();

  lineageRecordsLostSince(cgroupId: bigint, sinceNs: bigint): boolean {
    const at = this.lineageLostAtNs.get(cgroupId);
    return at !== undefined && at >= sinceNs;
  }

  process(tgid: number): ProcessInfo | undefined {
    return this.processes.get(tgid);
  }
  container(event: DetectorEvent): ContainerIdentity | null {
    return this.containers.get(event.cgroupId) ?? null;
  }
  podAttributes(c: ContainerIdentity): PodAttributes | undefined {
    return this.pods.get(c.id);
  }
  ancestry(tgid: number): ProcessInfo[] {
    const chain: ProcessInfo[] = [];
    for (let p = this.processes.get(tgid); p && chain.length < 64; ) {
      chain.push(p);
      const parent = p.ppid === p.tgid ? undefined : this.processes.get(p.ppid);
      // Like the real process table: a reused pid is not the parent, and the walk stays in the container.
      if (!parent || parent.startBoottimeNs !== p.parentStartBoottimeNs || parent.container?.id !== p.container?.id) break;
      p = parent;
    }
    return chain;
  }
  bootToWallNs(bootNs: bigint): bigint {
    return bootNs + BOOT_TO_WALL;
  }
  addProcess(p: Partial<ProcessInfo> & { tgid: number }): ProcessInfo {
    const info: ProcessInfo = {
      startBoottimeNs: BigInt(p.tgid) * 1000n,
      ppid: 1,
      parentStartBoottimeNs: 1000n,
      executable: '/bin/sh',
      argv: ['sh'],
      commandLine: 'sh',
      uid: 0,
      euid: 0,
      gid: 0,
      comm: 'sh',
      execTimeNs: CONTAINER_SEEN_NS,
      exeIno: 1234n,
      exeDev: 0x800001,
      exeMtimeNs: 0n,
      exeFlags: 0,
      ns: CONTAINER_NS,
      capEffective: 0n,
      cgroupId: WEB.cgroupId,
      runtimeSetup: false,
      container: WEB,
      ...p,
    };
    this.processes.set(info.tgid, info);
    return info;
  }
}

/** A DetectionContext for calling a detector directly (the engine builds its own). */
export function detectionContext(agent: FakeAgent = new FakeAgent(), settings = compileSettings(undefined)): DetectionContext {
  return {
    settings,
    process: (tgid) => agent.process(tgid),
    container: (event) => (event.type === SyntheticEventType.ContainerCpuSample ? event.container : agent.container(event)),
    podAttributes: (c) => agent.podAttributes(c),
    ancestry: (tgid) => agent.ancestry(tgid),
    lineageRecordsLostSince: (cgroupId, sinceNs) => agent.lineageRecordsLostSince(cgroupId, sinceNs),
    hostNamespaces: agent.hostNamespaces,
    nowNs: agent.nowNs,
    bootToWallNs: (ns) => agent.bootToWallNs(ns),
  };
}

let clock = CONTAINER_SEEN_NS + 1_000_000_000n;

function header<T extends KernelEvent['type']>(type: T, o: Partial<Omit<EventHeader, 'type'>> = {}): EventHeader & { type: T } {
  clock += 1_000_000n;
  return { flags: 0, ktimeNs: clock, cgroupId: WEB.cgroupId, tgid: 4242, pid: 4242, uid: 1000, gid: 1000, comm: 'sh', startBoottimeNs: 4242000n, ...o, type };
}

export type Overrides<T> = Partial<Omit<T, 'type'>>;

export const ev = {
  exec: (o: Overrides<ExecEvent> = {}): ExecEvent => ({
    ...header(EventType.Exec, o),
    startBoottimeNs: 4242000n, exeIno: 1234n, exeDev: 0x800001, exeMtimeNs: 1_600_000_000_000_000_000n, ppid: 1, euid: 1000, egid: 1000,
    exeFlags: 0, exeNlink: 1, ns: CONTAINER_NS, capEffective: 0n, argc: 1, path: '/bin/sh', exePath: '', argv: ['sh'], ...o,
  }),
  fork: (o: Overrides<ForkEvent> = {}): ForkEvent => ({
    ...header(EventType.Fork, o), childStartBoottimeNs: 5000000n, childTgid: 5000, childPid: 5000, cloneFlags: 0x11n, ...o,
  }),
  exit: (o: Overrides<ExitEvent> = {}): ExitEvent => ({ ...header(EventType.Exit, o), startBoottimeNs: 4242000n, exitCode: 0, ...o }),
  namespace: (o: Overrides<NamespaceEvent> = {}): NamespaceEvent => ({
    ...header(EventType.Namespace, o), op: Op.Unshare, cloneFlags: 0x10000000n, ...o,
  }),
  setns: (o: Overrides<SetnsEvent> = {}): SetnsEvent => ({
    ...header(EventType.Setns, o), fd: 3, nstype: 0, targetNsIno: 4026539999, targetNsType: 0x00020000, ...o,
  }),
  mount: (o: Overrides<MountEvent> = {}): MountEvent => ({
    ...header(EventType.Mount, o), op: Op.Mount, mountFlags: 0n, source: 'proc', target: '/mnt/p', fstype: 'proc', facts: 0, ...o,
  }),
  rootChange: (o: Overrides<RootChangeEvent> = {}): RootChangeEvent => ({
    ...header(EventType.RootChange, o), op: Op.Chroot, newRoot: '/mnt/p', putOld: '', ...o,
  }),
  open: (o: Overrides<OpenEvent> = {}): OpenEvent => ({
    ...header(EventType.Open, o), op: Op.Openat, dirfd: -100, openFlags: 0, mode: 0, patternId: 0, path: '/etc/passwd', result: 3,
    pathSource: OpenPathSource.Caller, callerPath: '', fileFacts: 0, ...o,
  }),
  connect: (o: Overrides<ConnectEvent> = {}): ConnectEvent => ({
    ...header(EventType.Connect, o), fd: 3, family: 2, port: 443, address: '203.0.113.7', unixPath: '', protocol: 6, sockType: 1, ...o,
  }),
  listen: (o: Overrides<ListenEvent> = {}): ListenEvent => ({
    ...header(EventType.Listen, o), op: Op.Listen, fd: 3, family: 2, port: 8080, protocol: 6, sockType: 1,
    address: '0.0.0.0', backlog: 128, ...o,
  }),
  payload: (o: Overrides<PayloadEvent> = {}): PayloadEvent => ({
    ...header(EventType.Payload, o), op: Op.Write, kind: PayloadKind.TcpFirstBytes, fd: 3, family: 2, port: 3333,
    address: '203.0.113.7', totalLen: 0, data: new Uint8Array(), streamOffset: 0, ...o,
  }),
  module: (o: Overrides<ModuleEvent> = {}): ModuleEvent => ({
    ...header(EventType.Module, o), op: Op.InitModule, fd: -1, moduleFlags: 0, name: '', ...o,
  }),
  ptrace: (o: Overrides<PtraceEvent> = {}): PtraceEvent => ({
    ...header(EventType.Ptrace, o), op: Op.Ptrace, targetTgid: 4343, request: 16n, addr: 0n, targetPidArg: 7, ...o,
  }),
  bpf: (o: Overrides<BpfEvent> = {}): BpfEvent => ({
    ...header(EventType.Bpf, o), op: Op.Bpf, cmd: 5, progType: 1, targetPid: 0, config: 0n, ...o,
  }),
  fdCreate: (o: Overrides<FdCreateEvent> = {}): FdCreateEvent => ({
    ...header(EventType.FdCreate, o), op: Op.Userfaultfd, fdFlags: 0, name: '', ...o,
  }),
  creds: (o: Overrides<CredsEvent> = {}): CredsEvent => ({
    ...header(EventType.Creds, o), op: Op.Setuid, args: [0, 0xffffffff, 0xffffffff], capEffectiveBefore: 0n,
    capPermittedBefore: 0n, capEffectiveNew: 0n, capPermittedNew: 0n, euidBefore: 1000, ...o,
  }),
  compat: (o: Overrides<CompatSyscallEvent> = {}): CompatSyscallEvent => ({
    ...header(EventType.CompatSyscall, o), nr: 310, repeats: 0, args: [0x10000000, 0, 0, 0, 0, 0], ...o,
  }),
  ioUring: (o: Overrides<IoUringEvent> = {}): IoUringEvent => ({
    ...header(EventType.IoUring, o), op: Op.IoUringSetup, opcode: 0, ioUringFlags: 0, fd: -1, family: 0, port: 0,
    address: '', path: '', ...o,
  }),
  cpuSample: (o: Partial<Omit<ContainerCpuSampleEvent, 'type'>> = {}): ContainerCpuSampleEvent => ({
    type: SyntheticEventType.ContainerCpuSample, ktimeNs: (clock += 1_000_000n), cgroupId: WEB.cgroupId, container: WEB,
    utilization: 1, windowNs: 10_000_000_000n, ...o,
  }),
  /** Advances the shared clock, e.g. to pass a time window. */
  advance(ns: bigint): void {
    clock += ns;
  },
};

export const O_RDONLY = 0;
export const O_WRONLY = 1;
export const O_RDWR = 2;

/** A DNS query message for name (RFC 1035), as the kernel would capture it. */
export function dnsQuery(name: string): Uint8Array {
  const parts = [0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0];
  for (const label of name.split('.')) {
    parts.push(label.length, ...Buffer.from(label, 'latin1'));
  }
  parts.push(0, 0x00, 0x01, 0x00, 0x01);
  return new Uint8Array(parts);
}

/**
 * A DNS response to dnsQuery(name): the question, then a CNAME to `cname` when given, then an A record per IPv4
 * address and an AAAA record per 16-byte address, each owner name a compression pointer.
 */
export function dnsAnswer(name: string, addresses: (string | Uint8Array)[], cname?: string): Uint8Array {
  const query = [...dnsQuery(name)];
  query[2] = 0x81;
  query[3] = 0x80;
  const records: number[] = [];
  let count = 0;
  if (cname !== undefined) {
    const target: number[] = [];
    for (const label of cname.split('.')) target.push(label.length, ...Buffer.from(label, 'latin1'));
    target.push(0);
    records.push(0xc0, 0x0c, 0, 5, 0, 1, 0, 0, 0, 60, target.length >> 8, target.length & 0xff, ...target);
    count++;
  }
  for (const address of addresses) {
    const bytes = typeof address === 'string' ? address.split('.').map(Number) : [...address];
    records.push(0xc0, 0x0c, 0, bytes.length === 4 ? 1 : 28, 0, 1, 0, 0, 0, 60, 0, bytes.length, ...bytes);
    count++;
  }
  query[7] = count;
  return new Uint8Array([...query, ...records]);
}

export interface Case {
  name: string;
  events: DetectorEvent[];
  /** Severity of each finding expected from the last event, in order ([] = none). */
  expect: (string | undefined)[];
  /** Extra check on the last event's findings. */
  check?: (findings: readonly Finding[]) => void;
  setup?: (agent: FakeAgent) => void;
}

/** Feeds a case's events into a fresh detector and returns the last event's findings with effective severity. */
export function runCase(make: () => Detector, c: Case): { findings: readonly Finding[]; severities: string[] } {
  const detector = make();
  const agent = new FakeAgent();
  c.setup?.(agent);
  const ctx = detectionContext(agent);
  let findings: readonly Finding[] = [];
  for (const e of c.events) findings = detector.onEvent(e, ctx);
  return { findings, severities: findings.map((f) => f.severity ?? detector.meta.severity) };
}
