// What a profile learns: each kernel event a container process causes becomes at most one item of one class, in
// canonical form, with the severity its novelty deserves once the class is stable. Pure: what it knows about
// processes comes from the detection context.

import { AddressFamily, EventType, ExecFlag, PayloadKind, SocketType, type ConnectEvent, type KernelEvent } from '../receiver/events.ts';
import type { Severity } from '../detection.ts';
import type { DetectionContext } from '../detectors/Detector.ts';
import { dnsQuestionName } from '../detectors/internal/dns.ts';
import { basename, isWriteOpen, processOf } from '../detectors/internal/util.ts';
import { bounded, canonicalDnsName, canonicalPath } from './canonical.ts';
import type { PeerKind, PeerKinds } from './PeerKinds.ts';

export const BASELINE_CLASSES = ['exec', 'exec_pair', 'connect', 'dns', 'listen', 'sensitive_open', 'syscall'] as const;
export type BaselineClass = (typeof BASELINE_CLASSES)[number];

/** Most items a class learns; reaching it saturates the class (it stops learning and alerting, and says so). */
export const CLASS_CAPS: Readonly<Record<BaselineClass, number>> = {
  exec: 256,
  exec_pair: 256,
  connect: 512,
  dns: 512,
  listen: 64,
  sensitive_open: 128,
  syscall: 64,
};

export interface Observation {
  cls: BaselineClass;
  item: string;
  /** Severity of this item being new in a stable class. */
  severity: Severity;
  /** exec / exec_pair: the executable, and whether its parent is outside the container (the runtime exec'd it). */
  exec?: { path: string; viaRuntime: boolean };
}

/**
 * An exec the runtime made into the container (its parent is outside) of a command the pod spec declares as an
 * exec probe or lifecycle hook: a bare name matches the executable's name (the runtime resolves it with the
 * container's PATH), a path matches the executable's canonical path.
 */
export function isPodSpecExec(o: Observation, hooks: readonly (readonly string[])[] | undefined): boolean {
  if (o.exec === undefined || !o.exec.viaRuntime || hooks === undefined) return false;
  const path = o.exec.path;
  return hooks.some(([command]) =>
    command !== undefined && (command.includes('/') ? canonicalPath(command) === path : basename(path) === command));
}

const SHELLS = new Set(['sh', 'bash', 'dash', 'ash', 'zsh', 'ksh', 'mksh', 'csh', 'tcsh', 'fish', 'busybox']);
const INTERPRETER = /^(python|perl|ruby|php|lua|node|nodejs|tclsh|pwsh|java)[0-9.]*$/;
const DOWNLOADERS = new Set(['curl', 'wget', 'nc', 'ncat', 'netcat', 'socat', 'tftp', 'ftp', 'scp', 'sftp', 'ssh', 'telnet', 'rsync']);
const WRITABLE_DIRS = ['/tmp/', '/var/tmp/', '/dev/shm/', '/run/'];
/** Outside a container's own processes (the runtime's runc/conmon, a node process): one item, whoever it is. */
const OUTSIDE_PARENT = '<outside-container>';
/**
 * The process table does not know the parent: its records were lost (a kernel drop, reported as KS-GAP-001) or the
 * table is full. Such a pair is neither learned nor judged (BaselineDetector): which parent it stands for changes
 * from run to run, so it is no behaviour of the workload.
 */
export const UNKNOWN_PARENT = '<unknown-parent>';

/** '/proc/self/exe as nc': what a multi-call binary's re-exec of itself names. */
const SELF_EXE_AS = /^\/proc\/(self|<pid>)\/exe as /;

/**
 * The executable as an item. Multi-call binaries (busybox: `timeout`, `nohup`, `env` running an applet) re-exec
 * themselves through /proc/self/exe with the applet in argv[0]; the path alone would make every such applet one
 * item, so argv[0]'s name is added. It is the caller's choice, but the binary is the caller's own.
 */
function execIdentity(rawPath: string, argv: readonly string[]): string {
  const path = canonicalPath(rawPath);
  if (path !== '/proc/self/exe' && path !== '/proc/<pid>/exe') return path;
  return bounded(`${path} as ${basename(argv[0] ?? '')}`);
}

/** A new shell, interpreter or downloader is how most intrusions continue; other new binaries less so. */
export function execSeverity(executable: string): Severity {
  const name = basename(executable);
  return SHELLS.has(name) || INTERPRETER.test(name) || DOWNLOADERS.has(name) ? 'high' : 'medium';
}

/** A new connect to these is medium: leaving the cluster, the cloud's credentials, the node's own services (kubelet). */
const EXPOSED_PEERS: ReadonlySet<PeerKind> = new Set(['external', 'metadata', 'node']);

const PROTOCOL_NAMES: Readonly<Record<number, string>> = {
  1: 'icmp', 6: 'tcp', 17: 'udp', 58: 'icmpv6', 132: 'sctp', 136: 'udplite', 262: 'mptcp',
};

function protocolName(protocol: number): string {
  return PROTOCOL_NAMES[protocol] ?? `ipproto-${protocol}`;
}

/**
 * The transport of a connect, from the socket the kernel read. A raw socket is named apart from its protocol: one
 * made with IPPROTO_TCP writes its own packets and is no learned TCP client. A connect whose fd named no socket
 * when it was read is 'unknown', an item of its own (never a wildcard), so a race that hides the socket is new.
 */
function connectProtocol(event: ConnectEvent): string {
  if (event.sockType === 0) return 'unknown';
  const name = protocolName(event.protocol);
  return event.sockType === SocketType.Raw ? `raw-${name}` : name;
}

/** The prefix of a unix connect item; every other connect item is `<protocol> <peer kind>:<port>`. */
const UNIX_CONNECT = 'unix ';

/**
 * What a connect item (or pattern) learned before connect items had a protocol (profile schema 1,
 * `<peer kind>:<port>`) stands for now: that peer and port over TCP and over UDP, since the old item was learned
 * from either and a resolver's UDP connect to port 53 is as common as a TCP one. Unix items did not change.
 */
export function schema1ConnectItems(item: string): string[] {
  return item.startsWith(UNIX_CONNECT) ? [item] : [`tcp ${item}`, `udp ${item}`];
}

const SYSCALL_CLASS: Partial<Record<EventType, string>> = {
  [EventType.Mount]: 'mount',
  [EventType.Namespace]: 'unshare',
  [EventType.Setns]: 'setns',
  [EventType.Module]: 'module',
  [EventType.Bpf]: 'bpf',
  [EventType.Ptrace]: 'ptrace',
};

/** The event types observe() turns into items. */
export const OBSERVED_EVENTS: readonly EventType[] = [
  EventType.Exec,
  EventType.Connect,
  EventType.Listen,
  EventType.Payload,
  EventType.Open,
  EventType.Mount,
  EventType.Namespace,
  EventType.Setns,
  EventType.Module,
  EventType.Bpf,
  EventType.Ptrace,
];

/** What this event teaches (or, in a stable class, reports); empty for events no class learns. */
export function observe(event: KernelEvent, ctx: DetectionContext, clusterDomain: string, peers: PeerKinds): Observation[] {
  switch (event.type) {
    case EventType.Exec: {
      const path = execIdentity(event.path, event.argv);
      const bits: string[] = [];
      if (event.euid === 0) bits.push('root');
      if ((event.exeFlags & (ExecFlag.Memfd | ExecFlag.Unlinked)) !== 0 || WRITABLE_DIRS.some((d) => path.startsWith(d))) {
        bits.push('writable');
      }
      const severity = execSeverity(path.replace(SELF_EXE_AS, ''));
      const exec: Observation = { cls: 'exec', item: bits.length > 0 ? `${path} [${bits.join(',')}]` : path, severity };
      const parent = ctx.process(event.ppid);
      const self = ctx.container(event);
      const parentPath = parent === undefined
        ? UNKNOWN_PARENT
        : parent.container !== null && parent.container.id === self?.id
          ? canonicalPath(parent.executable)
          : OUTSIDE_PARENT;
      exec.exec = { path, viaRuntime: parentPath === OUTSIDE_PARENT };
      return [exec, { cls: 'exec_pair', item: bounded(`${parentPath} -> ${path}`), severity, exec: exec.exec }];
    }
    case EventType.Connect: {
      if (event.family === AddressFamily.Unix) {
        // The path names the server, and its socket's type with it: a connect of another type fails (EPROTOTYPE).
        return [{ cls: 'connect', item: `${UNIX_CONNECT}${canonicalPath(event.unixPath)}`, severity: 'low' }];
      }
      if (event.family !== AddressFamily.Inet && event.family !== AddressFamily.Inet6) return [];
      const kind = peers.kind(event.address);
      const severity: Severity = EXPOSED_PEERS.has(kind) ? 'medium' : 'low';
      return [{ cls: 'connect', item: `${connectProtocol(event)} ${kind}:${event.port}`, severity }];
    }
    case EventType.Listen: {
      // The address matters only as loopback or not: a port on every address and one on the pod's own address
      // are reachable alike.
      const scope = peers.kind(event.address) === 'loopback' ? ' loopback' : '';
      return [{ cls: 'listen', item: `${protocolName(event.protocol)}:${event.port}${scope}`, severity: 'medium' }];
    }
    case EventType.Payload: {
      if (event.kind !== PayloadKind.DnsQuery) return [];
      const name = dnsQuestionName(event.data);
      if (name === undefined) return [];
      return [{ cls: 'dns', item: canonicalDnsName(name, clusterDomain), severity: 'low' }];
    }
    case EventType.Open: {
      const exe = processOf(event, ctx)?.executable ?? event.comm;
      const mode = isWriteOpen(event.openFlags) ? 'write' : 'read';
      return [{ cls: 'sensitive_open', item: bounded(`${canonicalPath(event.path)} ${mode} by ${canonicalPath(exe)}`), severity: 'high' }];
    }
    default: {
      const syscall = SYSCALL_CLASS[event.type];
      if (syscall === undefined) return [];
      const exe = processOf(event, ctx)?.executable ?? event.comm;
      return [{ cls: 'syscall', item: bounded(`${syscall} by ${canonicalPath(exe)}`), severity: 'medium' }];
    }
  }
}
