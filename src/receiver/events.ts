// Decoded kernel events: the TypeScript side of bpf/events.h. The numbers mirror the C enums and are ABI.
// src/receiver/layout.ts holds byte offsets; this file holds only the shapes that the rest of the agent uses.

export const EventType = {
  Exec: 1,
  Fork: 2,
  Exit: 3,
  Namespace: 4,
  Setns: 5,
  Mount: 6,
  RootChange: 7,
  Open: 8,
  Connect: 9,
  Payload: 10,
  Module: 11,
  Ptrace: 12,
  Bpf: 13,
  FdCreate: 14,
  Creds: 15,
  Cgroup: 16,
  HostFs: 17,
  IoUring: 18,
  Listen: 19,
  CompatSyscall: 20,
} as const;
export type EventType = (typeof EventType)[keyof typeof EventType];
export const EVENT_TYPE_MAX = 21;

export const EventTypeName: Record<EventType, string> = {
  1: 'exec',
  2: 'fork',
  3: 'exit',
  4: 'namespace',
  5: 'setns',
  6: 'mount',
  7: 'root_change',
  8: 'open',
  9: 'connect',
  10: 'payload',
  11: 'module',
  12: 'ptrace',
  13: 'bpf',
  14: 'fd_create',
  15: 'creds',
  16: 'cgroup',
  17: 'host_fs',
  18: 'io_uring',
  19: 'listen',
  20: 'compat_syscall',
};

export const Op = {
  None: 0,
  Unshare: 1,
  Clone: 2,
  Clone3: 3,
  Mount: 10,
  Umount: 11,
  Fsopen: 12,
  Fsmount: 13,
  MoveMount: 14,
  Fsconfig: 15,
  Chroot: 20,
  PivotRoot: 21,
  Open: 30,
  Openat: 31,
  Openat2: 32,
  Creat: 33,
  OpenByHandleAt: 34,
  Connect: 40,
  Write: 41,
  Sendto: 42,
  Sendmsg: 43,
  Writev: 44,
  Listen: 45,
  Recvfrom: 46,
  Recvmsg: 47,
  InitModule: 50,
  FinitModule: 51,
  DeleteModule: 52,
  Ptrace: 60,
  ProcessVmWritev: 61,
  Bpf: 70,
  PerfEventOpen: 71,
  MemfdCreate: 80,
  Userfaultfd: 81,
  Setuid: 90,
  Setgid: 91,
  Setreuid: 92,
  Setregid: 93,
  Setresuid: 94,
  Setresgid: 95,
  Setfsuid: 96,
  Setfsgid: 97,
  Capset: 98,
  CgroupMkdir: 100,
  CgroupRmdir: 101,
  IoUringSetup: 110,
  IoUringSubmit: 111,
  Exec: 112,
} as const;
export type Op = (typeof Op)[keyof typeof Op];

export const HeaderFlag = { Truncated: 1 } as const;
export const ExecFlag = { Snapshot: 1, Memfd: 2, Unlinked: 4 } as const;
/** ks_mount.facts (KS_MOUNT_FACT_*): what the kernel program could not read, or found, in the caller's arguments. */
export const MountFact = { TypeUnreadable: 1, DataUnreadable: 2, ReleaseAgent: 4, KeyUnreadable: 8, KernelType: 16 } as const;
export const HostFsFlag = { WholeFs: 1, ReadOnly: 2, FsPathTruncated: 4 } as const;
export const PayloadKind = { TcpFirstBytes: 1, DnsQuery: 2, DnsAnswer: 3 } as const;
/** KS_STREAM_CAPTURE_*: the kernel reports a fresh TCP connection's writes until either bound is reached. */
export const StreamCapture = { bytes: 256, writes: 8 } as const;
/** ks_connect.sock_type / ks_listen.sock_type values (Linux SOCK_*). */
export const SocketType = { Stream: 1, Dgram: 2, Raw: 3, Seqpacket: 5 } as const;
/** ks_connect.protocol / ks_listen.protocol values (Linux IPPROTO_*). */
export const IpProtocol = { Icmp: 1, Tcp: 6, Udp: 17, Icmpv6: 58, Sctp: 132, Udplite: 136, Mptcp: 262 } as const;
/** ks_connect.family / ks_payload.family values (Linux AF_*). */
export const AddressFamily = { Unix: 1, Inet: 2, Inet6: 10 } as const;

/** Fields every record carries (struct ks_header). */
export interface EventHeader {
  type: EventType;
  flags: number;
  /** CLOCK_BOOTTIME nanoseconds, as the kernel stamped it. */
  ktimeNs: bigint;
  cgroupId: bigint;
  tgid: number;
  pid: number;
  uid: number;
  gid: number;
  comm: string;
  /**
   * CLOCK_BOOTTIME ns at which the process (hdr.tgid) started: with tgid, which process this is across pid reuse.
   * A fork record's is the parent's.
   */
  startBoottimeNs: bigint;
}

export interface NamespaceInodes {
  mnt: number;
  pid: number;
  net: number;
  user: number;
  uts: number;
  ipc: number;
  cgroup: number;
}

export interface ExecEvent extends EventHeader {
  type: typeof EventType.Exec;
  exeIno: bigint;
  /** st_dev of the executable in the kernel's encoding (major << 20 | minor); with exeIno the file's identity. */
  exeDev: number;
  exeMtimeNs: bigint;
  ppid: number;
  euid: number;
  egid: number;
  exeFlags: number;
  exeNlink: number;
  ns: NamespaceInodes;
  capEffective: bigint;
  argc: number;
  /** The filename exec was given, as the caller wrote it (relative, '..', a symlink). */
  path: string;
  /**
   * The executed file's path from its dentries and mounts, up to the process's root; '' when the kernel had none.
   * For a #! script it is the interpreter's. Use executablePath() to pick.
   */
  exePath: string;
  argv: string[];
}

export interface ForkEvent extends EventHeader {
  type: typeof EventType.Fork;
  childStartBoottimeNs: bigint;
  childTgid: number;
  childPid: number;
  cloneFlags: bigint;
}

export interface ExitEvent extends EventHeader {
  type: typeof EventType.Exit;
  exitCode: number;
}

export interface NamespaceEvent extends EventHeader {
  type: typeof EventType.Namespace;
  op: Op;
  cloneFlags: bigint;
}

export interface SetnsEvent extends EventHeader {
  type: typeof EventType.Setns;
  fd: number;
  nstype: number;
  targetNsIno: number;
  targetNsType: number;
}

export interface MountEvent extends EventHeader {
  type: typeof EventType.Mount;
  op: Op;
  /** mount: mountflags; umount2: flags; fsmount/move_mount: their flags; fsconfig: the command (FSCONFIG_*). */
  mountFlags: bigint;
  /** fsconfig: the key. */
  source: string;
  /** fsconfig: the value of FSCONFIG_SET_STRING. */
  target: string;
  /** fsconfig: the fs_context's filesystem type, read from the kernel. */
  fstype: string;
  /** MountFact bits. */
  facts: number;
}

export interface RootChangeEvent extends EventHeader {
  type: typeof EventType.RootChange;
  op: Op;
  newRoot: string;
  putOld: string;
}

export interface OpenEvent extends EventHeader {
  type: typeof EventType.Open;
  op: Op;
  dirfd: number;
  openFlags: number;
  mode: number;
  patternId: number;
  /** The path patternId matched: the resolved file path or the caller's string, as pathSource says. */
  path: string;
  /** The new fd or -errno; OPEN_RESULT_UNKNOWN when the record was emitted at syscall entry. */
  result: number;
  pathSource: OpenPathSource;
  /** With OpenPathSource.Resolved: the string the caller passed (best effort); '' otherwise. */
  callerPath: string;
  /** OpenFileFact bits: what the opened file is, read from the kernel's struct file. */
  fileFacts: number;
}

/** KS_OPEN_FACT_* in bpf/events.h. Without Known the open had no file (failed, open_by_handle_at). */
export const OpenFileFact = { Known: 1 << 0, Write: 1 << 1, CgroupControl: 1 << 2, KernelTunable: 1 << 3, OwnProcess: 1 << 4 } as const;
/** KS_OPEN_NO_PATTERN: the record was emitted for its file's facts (or is open_by_handle_at), no pattern matched. */
export const OPEN_NO_PATTERN = 0xffffffff;

/** Which string an open record's path is (KS_OPEN_PATH_* in bpf/events.h). */
export const OpenPathSource = { Caller: 1, Resolved: 2 } as const;
export type OpenPathSource = (typeof OpenPathSource)[keyof typeof OpenPathSource];
/** KS_OPEN_RET_UNKNOWN: the record was emitted at syscall entry, before the open's result. */
export const OPEN_RESULT_UNKNOWN = -0x80000000;

/** The executed file's resolved path when the kernel had one, else the filename exec was given. */
export function executablePath(exec: Pick<ExecEvent, 'path' | 'exePath'>): string {
  return exec.exePath !== '' ? exec.exePath : exec.path;
}

export interface ConnectEvent extends EventHeader {
  type: typeof EventType.Connect;
  fd: number;
  family: number;
  port: number;
  /** Dotted IPv4, IPv6 text, or '' for AF_UNIX. */
  address: string;
  /** AF_UNIX path; an abstract socket is shown with a leading '@'. */
  unixPath: string;
  /** The socket's protocol number (IPPROTO_TCP 6, IPPROTO_UDP 17, ...); 0 for AF_UNIX and when sockType is 0. */
  protocol: number;
  /** SocketType: SOCK_STREAM 1, SOCK_DGRAM 2, SOCK_RAW 3, SOCK_SEQPACKET 5; 0 when the fd named no socket. */
  sockType: number;
}

/** A successful listen() on an IPv4/IPv6 socket (struct ks_listen). */
export interface ListenEvent extends EventHeader {
  type: typeof EventType.Listen;
  op: Op;
  fd: number;
  family: number;
  /** The local port listened on (the one the kernel picked when the socket was not bound). */
  port: number;
  /** The socket's protocol number (IPPROTO_TCP 6, IPPROTO_SCTP 132, IPPROTO_MPTCP 262). */
  protocol: number;
  /** SOCK_STREAM 1, SOCK_SEQPACKET 5. */
  sockType: number;
  /** The local address, dotted IPv4 or IPv6 text; 0.0.0.0 / :: for every address. */
  address: string;
  backlog: number;
}

/**
 * A 32-bit (ia32 compat, int 0x80) system call by a container process, which no other hook sees. One record per
 * container, syscall number and second (bpf/lib/maps.h compat_repeat_window_ns), and per process too for a call an
 * enforcement check looks at; every call enforcement acted on.
 */
export interface CompatSyscallEvent extends EventHeader {
  type: typeof EventType.CompatSyscall;
  /** The i386 syscall number (arch/x86/entry/syscalls/syscall_32.tbl). */
  nr: number;
  /** Calls of this number by this cgroup (this process, for a call a check looks at) not recorded since the previous record. */
  repeats: number;
  /** The argument registers as passed: ebx, ecx, edx, esi, edi, ebp. */
  args: readonly number[];
}

export interface PayloadEvent extends EventHeader {
  type: typeof EventType.Payload;
  op: Op;
  kind: number;
  fd: number;
  family: number;
  port: number;
  address: string;
  totalLen: number;
  data: Uint8Array;
  /** TCP: bytes the process passed on this connection before this capture; 0 for the first write and for DNS. */
  streamOffset: number;
}

export interface ModuleEvent extends EventHeader {
  type: typeof EventType.Module;
  op: Op;
  fd: number;
  moduleFlags: number;
  name: string;
}

export interface PtraceEvent extends EventHeader {
  type: typeof EventType.Ptrace;
  op: Op;
  targetTgid: number;
  request: bigint;
  addr: bigint;
  targetPidArg: number;
}

export interface BpfEvent extends EventHeader {
  type: typeof EventType.Bpf;
  op: Op;
  cmd: number;
  progType: number;
  targetPid: number;
  config: bigint;
}

export interface FdCreateEvent extends EventHeader {
  type: typeof EventType.FdCreate;
  op: Op;
  fdFlags: number;
  name: string;
}

export interface CredsEvent extends EventHeader {
  type: typeof EventType.Creds;
  op: Op;
  args: [number, number, number];
  capEffectiveBefore: bigint;
  capPermittedBefore: bigint;
  capEffectiveNew: bigint;
  capPermittedNew: bigint;
  euidBefore: number;
}

export interface CgroupEvent extends EventHeader {
  type: typeof EventType.Cgroup;
  op: Op;
  id: bigint;
  level: number;
  path: string;
}

/** IORING_OP_* of the requests the kernel reports (UAPI numbers). */
export const IoUringOpcode = { Connect: 16, Openat: 18, Openat2: 28 } as const;

export interface IoUringEvent extends EventHeader {
  type: typeof EventType.IoUring;
  op: Op;
  /** Submit: IORING_OP_*; 0 for setup. */
  opcode: number;
  /** Setup: IORING_SETUP_*; submit: the request's IOSQE_* flags. */
  ioUringFlags: number;
  /** OPENAT/OPENAT2: the dirfd; CONNECT: the socket fd (or fixed-file index); -1 for setup. */
  fd: number;
  /** CONNECT: the peer, when it was an inet address. */
  family: number;
  port: number;
  address: string;
  /** OPENAT/OPENAT2: the path as the caller passed it. */
  path: string;
}

/** A container process reached a file on one of the host's filesystems (bpf/hostfs.bpf.c). */
export interface HostFsEvent extends EventHeader {
  type: typeof EventType.HostFs;
  /** Op.Chroot, Op.PivotRoot, Op.Exec, or the open syscall (Op.Open .. Op.Creat) of a write-open. */
  op: Op;
  /** HostFsFlag bits: facts about the mount the process reached the file through. */
  hostFsFlags: number;
  /** The superblock's s_dev, kernel encoding (major << 20 | minor). */
  dev: number;
  openFlags: number;
  ino: bigint;
  /** The inode's link count: above 1 the same file may also have a name below a watched host directory. */
  nlink: number;
  /** From the filesystem's root; not trustworthy as a prefix when the header says truncated. */
  fsPath: string;
  /** As the process's mount namespace shows it. */
  path: string;
  /**
   * Where the host sees fsPath: filled by the receiver from the host's mount table (src/receiver/hostFilesystems.ts);
   * '' when no host mount shows that part of the filesystem.
   */
  hostPath: string;
  /** Where the host shows this filesystem's root, filled like hostPath: '/' for the host's root filesystem. */
  fsRootHostPath: string;
}

export type KernelEvent =
  | ExecEvent
  | ForkEvent
  | ExitEvent
  | NamespaceEvent
  | SetnsEvent
  | MountEvent
  | RootChangeEvent
  | OpenEvent
  | ConnectEvent
  | PayloadEvent
  | ModuleEvent
  | PtraceEvent
  | BpfEvent
  | FdCreateEvent
  | CredsEvent
  | CgroupEvent
  | IoUringEvent
  | ListenEvent
  | CompatSyscallEvent
  | HostFsEvent;
