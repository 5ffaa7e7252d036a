// The byte layout of every struct in bpf/events.h, as data. The decoder takes every offset from here, and
// src/receiver/btfLayout.ts compares this table with the BTF of the compiled BPF object, so a field that moves in
// the header without this table (and so the decoder) following is caught by test/layout.test.ts and by the agent's
// start-up self-check rather than by silently wrong events.
//
// Keys are the C member names exactly, so the checker can match them against BTF without a translation table.

import { EventType } from './events.ts';

/** Scalar kind of a member, or of one element of an array member. 'char' arrays hold NUL-terminated text. */
export type FieldKind = 'u8' | 'u16' | 'u32' | 'u64' | 's32' | 's64' | 'char' | 'struct';

export interface FieldLayout {
  readonly offset: number;
  readonly kind: FieldKind;
  /** Element count when the member is an array. */
  readonly length?: number;
  /** The nested struct's C name when kind is 'struct'. */
  readonly struct?: string;
}

export interface ArrayFieldLayout extends FieldLayout {
  readonly length: number;
}

export interface StructLayout {
  /** sizeof(struct): the hdr.size of every record of the type, or the largest when minSize is set. */
  readonly size: number;
  /**
   * Set only on a record whose size varies with what it carries: the smallest hdr.size it can have. Its records are
   * minSize to size bytes, in steps of RECORD_ALIGN; members past hdr.size are not in the record.
   */
  readonly minSize?: number;
  /** The record type carried in hdr.type; absent for structs that are not ring-buffer records. */
  readonly eventType?: EventType;
  readonly fields: Readonly<Record<string, FieldLayout>>;
}

/** Byte size of one element of each scalar kind. */
export const KIND_SIZE: Readonly<Record<Exclude<FieldKind, 'struct'>, number>> = {
  u8: 1,
  u16: 2,
  u32: 4,
  u64: 8,
  s32: 4,
  s64: 8,
  char: 1,
};

const u16 = (offset: number): FieldLayout => ({ offset, kind: 'u16' });
const u32 = (offset: number): FieldLayout => ({ offset, kind: 'u32' });
const u64 = (offset: number): FieldLayout => ({ offset, kind: 'u64' });
const s32 = (offset: number): FieldLayout => ({ offset, kind: 's32' });
const s64 = (offset: number): FieldLayout => ({ offset, kind: 's64' });
const chars = (offset: number, length: number): ArrayFieldLayout => ({ offset, kind: 'char', length });
const bytes = (offset: number, length: number): ArrayFieldLayout => ({ offset, kind: 'u8', length });
const header: FieldLayout = { offset: 0, kind: 'struct', struct: 'ks_header' };

export const LAYOUT = {
  ks_header: {
    size: 64,
    fields: {
      type: u16(0),
      size: u16(2),
      flags: u32(4),
      ktime_ns: u64(8),
      cgroup_id: u64(16),
      tgid: u32(24),
      pid: u32(28),
      uid: u32(32),
      gid: u32(36),
      comm: chars(40, 16),
      start_boottime_ns: u64(56),
    },
  },
  ks_exec: {
    size: 1176,
    eventType: EventType.Exec,
    fields: {
      hdr: header,
      exe_ino: u64(64),
      exe_mtime_ns: u64(72),
      ppid: u32(80),
      euid: u32(84),
      egid: u32(88),
      exe_flags: u32(92),
      exe_nlink: u32(96),
      mnt_ns: u32(100),
      pid_ns: u32(104),
      net_ns: u32(108),
      user_ns: u32(112),
      uts_ns: u32(116),
      ipc_ns: u32(120),
      cgroup_ns: u32(124),
      cap_effective: u64(128),
      path_len: u16(136),
      args_len: u16(138),
      argc: u32(140),
      path: chars(144, 256),
      args: chars(400, 512),
      exe_dev: u32(912),
      exe_path_len: u16(916),
      _pad0: u16(918),
      exe_path: chars(920, 256),
    },
  },
  ks_fork: {
    size: 88,
    eventType: EventType.Fork,
    fields: {
      hdr: header,
      child_start_boottime_ns: u64(64),
      child_tgid: u32(72),
      child_pid: u32(76),
      clone_flags: u64(80),
    },
  },
  ks_exit: {
    size: 72,
    eventType: EventType.Exit,
    fields: { hdr: header, exit_code: s32(64), _pad0: u32(68) },
  },
  ks_namespace: {
    size: 80,
    eventType: EventType.Namespace,
    fields: { hdr: header, flags: u64(64), op: u32(72), _pad0: u32(76) },
  },
  ks_setns: {
    size: 80,
    eventType: EventType.Setns,
    fields: { hdr: header, fd: s32(64), nstype: s32(68), target_ns_ino: u32(72), target_ns_type: u32(76) },
  },
  ks_mount: {
    size: 624,
    eventType: EventType.Mount,
    fields: {
      hdr: header,
      flags: u64(64),
      op: u32(72),
      facts: u32(76),
      source: chars(80, 256),
      target: chars(336, 256),
      fstype: chars(592, 32),
    },
  },
  ks_root_change: {
    size: 584,
    eventType: EventType.RootChange,
    fields: { hdr: header, op: u32(64), _pad0: u32(68), new_root: chars(72, 256), put_old: chars(328, 256) },
  },
  ks_open: {
    size: 616,
    // KS_OPEN_FIXED_SIZE (the offset of strings) + the empty path's NUL, rounded up to RECORD_ALIGN.
    minSize: 112,
    eventType: EventType.Open,
    fields: {
      hdr: header,
      op: u32(64),
      dirfd: s32(68),
      flags: u32(72),
      mode: u32(76),
      pattern_id: u32(80),
      file_facts: u32(84),
      ret: s32(88),
      path_source: u32(92),
      path_len: u16(96),
      caller_path_len: u16(98),
      _pad0: u32(100),
      strings: chars(104, 512),
    },
  },
  ks_connect: {
    size: 200,
    eventType: EventType.Connect,
    fields: {
      hdr: header,
      fd: s32(64),
      family: u16(68),
      port: u16(70),
      addr: bytes(72, 16),
      unix_path: chars(88, 108),
      protocol: u16(196),
      sock_type: u16(198),
    },
  },
  ks_listen: {
    size: 104,
    eventType: EventType.Listen,
    fields: {
      hdr: header,
      op: u32(64),
      fd: s32(68),
      family: u16(72),
      port: u16(74),
      protocol: u16(76),
      sock_type: u16(78),
      addr: bytes(80, 16),
      backlog: s32(96),
      _pad0: u32(100),
    },
  },
  ks_payload: {
    size: 240,
    eventType: EventType.Payload,
    fields: {
      hdr: header,
      op: u32(64),
      kind: u32(68),
      fd: s32(72),
      family: u16(76),
      port: u16(78),
      addr: bytes(80, 16),
      total_len: u32(96),
      data_len: u32(100),
      data: bytes(104, 128),
      stream_offset: u32(232),
      _pad1: u32(236),
    },
  },
  ks_module: {
    size: 144,
    eventType: EventType.Module,
    fields: { hdr: header, op: u32(64), fd: s32(68), flags: u32(72), _pad0: u32(76), name: chars(80, 64) },
  },
  ks_ptrace: {
    size: 96,
    eventType: EventType.Ptrace,
    fields: {
      hdr: header,
      op: u32(64),
      target_tgid: u32(68),
      request: s64(72),
      addr: u64(80),
      target_pid_arg: u32(88),
      _pad0: u32(92),
    },
  },
  ks_bpf: {
    size: 88,
    eventType: EventType.Bpf,
    fields: { hdr: header, op: u32(64), cmd: u32(68), prog_type: u32(72), target_pid: s32(76), config: u64(80) },
  },
  ks_fd_create: {
    size: 136,
    eventType: EventType.FdCreate,
    fields: { hdr: header, op: u32(64), flags: u32(68), name: chars(72, 64) },
  },
  ks_creds: {
    size: 120,
    eventType: EventType.Creds,
    fields: {
      hdr: header,
      op: u32(64),
      arg0: u32(68),
      arg1: u32(72),
      arg2: u32(76),
      cap_effective_before: u64(80),
      cap_permitted_before: u64(88),
      cap_effective_new: u64(96),
      cap_permitted_new: u64(104),
      euid_before: u32(112),
      _pad0: u32(116),
    },
  },
  ks_cgroup: {
    size: 336,
    eventType: EventType.Cgroup,
    fields: { hdr: header, id: u64(64), op: u32(72), level: u32(76), path: chars(80, 256) },
  },
  ks_io_uring: {
    size: 360,
    eventType: EventType.IoUring,
    fields: {
      hdr: header,
      op: u32(64),
      opcode: u32(68),
      flags: u32(72),
      fd: s32(76),
      family: u16(80),
      port: u16(82),
      addr: bytes(84, 16),
      _pad0: u32(100),
      path: chars(104, 256),
    },
  },
  ks_host_fs: {
    size: 608,
    eventType: EventType.HostFs,
    fields: {
      hdr: header,
      op: u32(64),
      flags: u32(68),
      dev: u32(72),
      open_flags: u32(76),
      ino: u64(80),
      fs_path_len: u16(88),
      path_len: u16(90),
      nlink: u32(92),
      fs_path: chars(96, 256),
      path: chars(352, 256),
    },
  },
  ks_compat_syscall: {
    size: 96,
    eventType: EventType.CompatSyscall,
    fields: {
      hdr: header,
      nr: u32(64),
      repeats: u32(68),
      args: { offset: 72, kind: 'u32', length: 6 },
    },
  },
  // Not a record: the sensitive-path filter entries user space writes into a map before the programs run.
  ks_path_pattern: {
    size: 136,
    fields: { kind: u32(0), prefix_len: u16(4), second_len: u16(6), prefix: chars(8, 64), second: chars(72, 64) },
  },
} as const satisfies Record<string, StructLayout>;

export type StructName = keyof typeof LAYOUT;

function sizesByType(sizeOf: (layout: StructLayout) => number): readonly number[] {
  const sizes: number[] = [];
  for (const layout of Object.values(LAYOUT) as StructLayout[]) {
    if (layout.eventType !== undefined) sizes[layout.eventType] = sizeOf(layout);
  }
  return Array.from(sizes, (size) => size ?? 0);
}

/** Largest record size by event type (index = hdr.type); 0 marks a number that is not an event type. */
export const RECORD_MAX_SIZE_BY_TYPE: readonly number[] = sizesByType((layout) => layout.size);

/** Smallest record size by event type: the same as the largest for every type whose size does not vary. */
export const RECORD_MIN_SIZE_BY_TYPE: readonly number[] = sizesByType((layout) => layout.minSize ?? layout.size);

/** Every record is 8-byte aligned in the batch: sizes are multiples of this. */
export const RECORD_ALIGN = 8;
