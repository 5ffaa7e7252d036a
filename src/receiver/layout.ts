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
  readonly size: number;
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
    size: 56,
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
    },
  },
  ks_exec: {
    size: 1176,
    eventType: EventType.Exec,
    fields: {
      hdr: header,
      start_boottime_ns: u64(56),
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
    size: 80,
    eventType: EventType.Fork,
    fields: {
      hdr: header,
      child_start_boottime_ns: u64(56),
      child_tgid: u32(64),
      child_pid: u32(68),
      clone_flags: u64(72),
    },
  },
  ks_exit: {
    size: 72,
    eventType: EventType.Exit,
    fields: { hdr: header, start_boottime_ns: u64(56), exit_code: s32(64), _pad0: u32(68) },
  },
  ks_namespace: {
    size: 72,
    eventType: EventType.Namespace,
    fields: { hdr: header, flags: u64(56), op: u32(64), _pad0: u32(68) },
  },
  ks_setns: {
    size: 72,
    eventType: EventType.Setns,
    fields: { hdr: header, fd: s32(56), nstype: s32(60), target_ns_ino: u32(64), target_ns_type: u32(68) },
  },
  ks_mount: {
    size: 616,
    eventType: EventType.Mount,
    fields: {
      hdr: header,
      flags: u64(56),
      op: u32(64),
      _pad0: u32(68),
      source: chars(72, 256),
      target: chars(328, 256),
      fstype: chars(584, 32),
    },
  },
  ks_root_change: {
    size: 576,
    eventType: EventType.RootChange,
    fields: { hdr: header, op: u32(56), _pad0: u32(60), new_root: chars(64, 256), put_old: chars(320, 256) },
  },
  ks_open: {
    size: 600,
    eventType: EventType.Open,
    fields: {
      hdr: header,
      op: u32(56),
      dirfd: s32(60),
      flags: u32(64),
      mode: u32(68),
      pattern_id: u32(72),
      _pad0: u32(76),
      path: chars(80, 256),
      ret: s32(336),
      path_source: u32(340),
      caller_path: chars(344, 256),
    },
  },
  ks_connect: {
    size: 192,
    eventType: EventType.Connect,
    fields: {
      hdr: header,
      fd: s32(56),
      family: u16(60),
      port: u16(62),
      addr: bytes(64, 16),
      unix_path: chars(80, 108),
      _pad0: u32(188),
    },
  },
  ks_listen: {
    size: 96,
    eventType: EventType.Listen,
    fields: {
      hdr: header,
      op: u32(56),
      fd: s32(60),
      family: u16(64),
      port: u16(66),
      protocol: u16(68),
      sock_type: u16(70),
      addr: bytes(72, 16),
      backlog: s32(88),
      _pad0: u32(92),
    },
  },
  ks_payload: {
    size: 232,
    eventType: EventType.Payload,
    fields: {
      hdr: header,
      op: u32(56),
      kind: u32(60),
      fd: s32(64),
      family: u16(68),
      port: u16(70),
      addr: bytes(72, 16),
      total_len: u32(88),
      data_len: u32(92),
      data: bytes(96, 128),
      stream_offset: u32(224),
      _pad1: u32(228),
    },
  },
  ks_module: {
    size: 136,
    eventType: EventType.Module,
    fields: { hdr: header, op: u32(56), fd: s32(60), flags: u32(64), _pad0: u32(68), name: chars(72, 64) },
  },
  ks_ptrace: {
    size: 88,
    eventType: EventType.Ptrace,
    fields: {
      hdr: header,
      op: u32(56),
      target_tgid: u32(60),
      request: s64(64),
      addr: u64(72),
      target_pid_arg: u32(80),
      _pad0: u32(84),
    },
  },
  ks_bpf: {
    size: 80,
    eventType: EventType.Bpf,
    fields: { hdr: header, op: u32(56), cmd: u32(60), prog_type: u32(64), target_pid: s32(68), config: u64(72) },
  },
  ks_fd_create: {
    size: 128,
    eventType: EventType.FdCreate,
    fields: { hdr: header, op: u32(56), flags: u32(60), name: chars(64, 64) },
  },
  ks_creds: {
    size: 112,
    eventType: EventType.Creds,
    fields: {
      hdr: header,
      op: u32(56),
      arg0: u32(60),
      arg1: u32(64),
      arg2: u32(68),
      cap_effective_before: u64(72),
      cap_permitted_before: u64(80),
      cap_effective_new: u64(88),
      cap_permitted_new: u64(96),
      euid_before: u32(104),
      _pad0: u32(108),
    },
  },
  ks_cgroup: {
    size: 328,
    eventType: EventType.Cgroup,
    fields: { hdr: header, id: u64(56), op: u32(64), level: u32(68), path: chars(72, 256) },
  },
  ks_io_uring: {
    size: 352,
    eventType: EventType.IoUring,
    fields: {
      hdr: header,
      op: u32(56),
      opcode: u32(60),
      flags: u32(64),
      fd: s32(68),
      family: u16(72),
      port: u16(74),
      addr: bytes(76, 16),
      _pad0: u32(92),
      path: chars(96, 256),
    },
  },
  ks_host_fs: {
    size: 600,
    eventType: EventType.HostFs,
    fields: {
      hdr: header,
      op: u32(56),
      flags: u32(60),
      dev: u32(64),
      open_flags: u32(68),
      ino: u64(72),
      fs_path_len: u16(80),
      path_len: u16(82),
      nlink: u32(84),
      fs_path: chars(88, 256),
      path: chars(344, 256),
    },
  },
  // Not a record: the sensitive-path filter entries user space writes into a map before the programs run.
  ks_path_pattern: {
    size: 136,
    fields: { kind: u32(0), prefix_len: u16(4), second_len: u16(6), prefix: chars(8, 64), second: chars(72, 64) },
  },
} as const satisfies Record<string, StructLayout>;

export type StructName = keyof typeof LAYOUT;

/** Record size by event type (index = hdr.type); 0 marks a number that is not an event type. */
export const RECORD_SIZE_BY_TYPE: readonly number[] = (() => {
  const sizes: number[] = [];
  for (const layout of Object.values(LAYOUT) as StructLayout[]) {
    if (layout.eventType !== undefined) sizes[layout.eventType] = layout.size;
  }
  return Array.from(sizes, (size) => size ?? 0);
})();

/** Every record is 8-byte aligned in the batch: sizes are multiples of this. */
export const RECORD_ALIGN = 8;
