// Turns a batch of raw ring-buffer bytes (records back to back, each starting with struct ks_header) into
// KernelEvent objects. Every offset comes from layout.ts. Bad records are counted per reason in DecoderStats and
// never throw: the walk skips a record whose size is sane and stops the batch when the size cannot be trusted.
//
// Speed: one set of typed-array views per batch, then plain indexed loads per field; the only allocations per
// record are the event object, its strings and the bigints the types ask for.

import { endianness } from 'node:os';
import {
  AddressFamily,
  EVENT_TYPE_MAX,
  EventType,
  EventTypeName,
  type CgroupEvent,
  type IoUringEvent,
  type ListenEvent,
  type CompatSyscallEvent,
  type ConnectEvent,
  type CredsEvent,
  type ExecEvent,
  type ExitEvent,
  type FdCreateEvent,
  type HostFsEvent,
  type ForkEvent,
  type KernelEvent,
  type ModuleEvent,
  type MountEvent,
  type NamespaceEvent,
  type OpenEvent,
  type OpenPathSource,
  type PayloadEvent,
  type PtraceEvent,
  type RootChangeEvent,
  type SetnsEvent,
  type BpfEvent,
  type Op,
} from './events.ts';
import { LAYOUT, RECORD_ALIGN, RECORD_MAX_SIZE_BY_TYPE, RECORD_MIN_SIZE_BY_TYPE } from './layout.ts';
import { RateLimitedLog } from './RateLimiter.ts';

// The kernel writes records in host byte order and the typed-array views below read host byte order, so they agree
// on any host; the DataView-free fast path and the IPv6/port conventions here are only tested on little-endian.
if (endianness() !== 'LE') throw new Error('kubesentry: the event decoder supports little-endian hosts only');

declare global {
  interface Buffer {
    // Node's internal fast paths behind toString(): no encoding lookup, no argument normalisation.
    utf8Slice(start: number, end: number): string;
    latin1Slice(start: number, end: number): string;
  }
}

export type DropReason = 'unknown_type' | 'size_mismatch' | 'truncated' | 'bad_size';

export interface DecoderStats {
  batches: number;
  /** Records decoded and handed on. */
  records: number;
  /** Decoded records by hdr.type (index = type number). */
  recordsByType: number[];
  /** Records (or batch tails) dropped, by reason. */
  dropped: Record<DropReason, number>;
  /** Bytes dropped, whatever the reason. */
  droppedBytes: number;
  /** Decoded records whose producer flagged a string or argv as cut at its bound (not a drop). */
  truncatedFields: number;
  /** Batches that arrived misaligned and were copied once before decoding. */
  alignmentCopies: number;
}

export function createDecoderStats(): DecoderStats {
  return {
    batches: 0,
    records: 0,
    recordsByType: new Array<number>(EVENT_TYPE_MAX).fill(0),
    dropped: { unknown_type: 0, size_mismatch: 0, truncated: 0, bad_size: 0 },
    droppedBytes: 0,
    truncatedFields: 0,
    alignmentCopies: 0,
  };
}

const defaultLog = new RateLimitedLog();

const HEADER_SIZE = LAYOUT.ks_header.size;
const H = LAYOUT.ks_header.fields;
const HEADER_FLAG_TRUNCATED = 1;

/** Views over one batch; every field is naturally aligned inside an 8-aligned record, so indexed loads are exact. */
interface Views {
  buf: Buffer;
  u16: Uint16Array;
  u32: Uint32Array;
  i32: Int32Array;
  u64: BigUint64Array;
  i64: BigInt64Array;
}

function viewsOf(buf: Buffer): Views {
  const { buffer, byteOffset, length } = buf;
  return {
    buf,
    u16: new Uint16Array(buffer, byteOffset, length >>> 1),
    u32: new Uint32Array(buffer, byteOffset, length >>> 2),
    i32: new Int32Array(buffer, byteOffset, length >>> 2),
    u64: new BigUint64Array(buffer, byteOffset, length >>> 3),
    i64: new BigInt64Array(buffer, byteOffset, length >>> 3),
  };
}

// Interned ASCII strings. The same comm, executable paths and arguments recur in record after record, and
// materialising each through Buffer's native slice call dominated decode time; a direct-mapped cache checked byte
// by byte returns the same string without the native call or a new allocation. Non-ASCII text is not cached.
const TEXT_CACHE_SLOTS = 4096; // power of two
const TEXT_CACHE_MAX_LENGTH = 256;
const textCache: string[] = new Array<string>(TEXT_CACHE_SLOTS).fill('');
const textCacheHash = new Int32Array(TEXT_CACHE_SLOTS);

/** Text of buf[start, end); `hash` and `nonAscii` were computed over those bytes by the caller's scan. */
function text(buf: Buffer, start: number, end: number, hash: number, nonAscii: number): string {
  const length = end - start;
  if (length === 0) return '';
  if (nonAscii !== 0 || length > TEXT_CACHE_MAX_LENGTH) return buf.utf8Slice(start, end);
  const slot = hash & (TEXT_CACHE_SLOTS - 1);
  const cached = textCache[slot];
  if (textCacheHash[slot] === hash && cached.length === length) {
    let i = 0;
    while (i < length && cached.charCodeAt(i) === buf[start + i]) i++;
    if (i === length) return cached;
  }
  const fresh = buf.latin1Slice(start, end);
  textCache[slot] = fresh;
  textCacheHash[slot] = hash;
  return fresh;
}

/** Text up to the first NUL within [start, start + max). */
function cString(buf: Buffer, start: number, max: number): string {
  const limit = start + max;
  let end = start;
  let hash = 0x811c9dc5;
  let nonAscii = 0;
  while (end < limit) {
    const b = buf[end];
    if (b === 0) break;
    hash = Math.imul(hash ^ b, 0x01000193);
    nonAscii |= b & 0x80;
    end++;
  }
  return text(buf, start, end, hash, nonAscii);
}

/** argv from NUL-separated bytes; a final NUL ends the last argument rather than starting an empty one. */
function splitArgs(buf: Buffer, start: number, length: number): string[] {
  const argv: string[] = [];
  const end = start + length;
  let from = start;
  let hash = 0x811c9dc5;
  let nonAscii = 0;
  for (let i = start; i < end; i++) {
    const b = buf[i];
    if (b === 0) {
      argv.push(text(buf, from, i, hash, nonAscii));
      from = i + 1;
      hash = 0x811c9dc5;
      nonAscii = 0;
    } else {
      hash = Math.imul(hash ^ b, 0x01000193);
      nonAscii |= b & 0x80;
    }
  }
  if (from < end) argv.push(text(buf, from, end, hash, nonAscii));
  return argv;
}

function hex16(buf: Uint8Array, at: number): string {
  return ((buf[at] << 8) | buf[at + 1]).toString(16);
}

/** RFC 5952 text: lower-case, leading zeros dropped, the longest run (>= 2) of zero groups as '::'. */
export function formatIPv6(b: Uint8Array, at: number): string {
  let isMapped = true; // ::ffff:a.b.c.d
  for (let i = 0; i < 10; i++) if (b[at + i] !== 0) isMapped = false;
  if (isMapped && b[at + 10] === 0xff && b[at + 11] === 0xff) return `::ffff:${formatIPv4(b, at + 12)}`;
  let bestStart = -1;
  let bestLen = 0;
  for (let g = 0; g < 8; ) {
    if (b[at + 2 * g] === 0 && b[at + 2 * g + 1] === 0) {
      let run = g;
      while (run < 8 && b[at + 2 * run] === 0 && b[at + 2 * run + 1] === 0) run++;
      if (run - g > bestLen) {
        bestStart = g;
        bestLen = run - g;
      }
      g = run;
    } else g++;
  }
  if (bestLen < 2) bestStart = -1;
  let text = '';
  for (let g = 0; g < 8; g++) {
    if (g === bestStart) {
      text += '::';
      g += bestLen - 1;
      continue;
    }
    if (text !== '' && !text.endsWith(':')) text += ':';
    text += hex16(b, at + 2 * g);
  }
  return text;
}

export function formatIPv4(buf: Uint8Array, at: number): string {
  return `${buf[at]}.${buf[at + 1]}.${buf[at + 2]}.${buf[at + 3]}`;
}

function formatAddress(buf: Buffer, family: number, at: number): string {
  if (family === AddressFamily.Inet) return formatIPv4(buf, at);
  if (family === AddressFamily.Inet6) return formatIPv6(buf, at);
  return '';
}

/**
 * The header fields every event shares, in one object literal so all events start from one hidden class. The
 * per-type decoders below add their own fields, which is why the result is typed as the full event.
 */
function header<T extends KernelEvent>(v: Views, o: number, type: T['type']): T {
  return {
    type,
    flags: v.u32[(o + H.flags.offset) >>> 2],
    ktimeNs: v.u64[(o + H.ktime_ns.offset) >>> 3],
    cgroupId: v.u64[(o + H.cgroup_id.offset) >>> 3],
    tgid: v.u32[(o + H.tgid.offset) >>> 2],
    pid: v.u32[(o + H.pid.offset) >>> 2],
    uid: v.u32[(o + H.uid.offset) >>> 2],
    gid: v.u32[(o + H.gid.offset) >>> 2],
    comm: cString(v.buf, o + H.comm.offset, H.comm.length),
    startBoottimeNs: v.u64[(o + H.start_boottime_ns.offset) >>> 3],
  } as T;
}

const EXEC = LAYOUT.ks_exec.fields;
function decodeExec(v: Views, o: number): ExecEvent {
  const e = header<ExecEvent>(v, o, EventType.Exec);
  e.exeIno = v.u64[(o + EXEC.exe_ino.offset) >>> 3];
  e.exeDev = v.u32[(o + EXEC.exe_dev.offset) >>> 2];
  e.exeMtimeNs = v.u64[(o + EXEC.exe_mtime_ns.offset) >>> 3];
  e.ppid = v.u32[(o + EXEC.ppid.offset) >>> 2];
  e.euid = v.u32[(o + EXEC.euid.offset) >>> 2];
  e.egid = v.u32[(o + EXEC.egid.offset) >>> 2];
  e.exeFlags = v.u32[(o + EXEC.exe_flags.offset) >>> 2];
  e.exeNlink = v.u32[(o + EXEC.exe_nlink.offset) >>> 2];
  e.ns = {
    mnt: v.u32[(o + EXEC.mnt_ns.offset) >>> 2],
    pid: v.u32[(o + EXEC.pid_ns.offset) >>> 2],
    net: v.u32[(o + EXEC.net_ns.offset) >>> 2],
    user: v.u32[(o + EXEC.user_ns.offset) >>> 2],
    uts: v.u32[(o + EXEC.uts_ns.offset) >>> 2],
    ipc: v.u32[(o + EXEC.ipc_ns.offset) >>> 2],
    cgroup: v.u32[(o + EXEC.cgroup_ns.offset) >>> 2],
  };
  e.capEffective = v.u64[(o + EXEC.cap_effective.offset) >>> 3];
  e.argc = v.u32[(o + EXEC.argc.offset) >>> 2];
  const pathLen = Math.min(v.u16[(o + EXEC.path_len.offset) >>> 1], EXEC.path.length);
  e.path = cString(v.buf, o + EXEC.path.offset, pathLen);
  const argsLen = Math.min(v.u16[(o + EXEC.args_len.offset) >>> 1], EXEC.args.length);
  e.argv = splitArgs(v.buf, o + EXEC.args.offset, argsLen);
  const exePathLen = Math.min(v.u16[(o + EXEC.exe_path_len.offset) >>> 1], EXEC.exe_path.length);
  e.exePath = cString(v.buf, o + EXEC.exe_path.offset, exePathLen);
  return e;
}

const FORK = LAYOUT.ks_fork.fields;
function decodeFork(v: Views, o: number): ForkEvent {
  const e = header<ForkEvent>(v, o, EventType.Fork);
  e.childStartBoottimeNs = v.u64[(o + FORK.child_start_boottime_ns.offset) >>> 3];
  e.childTgid = v.u32[(o + FORK.child_tgid.offset) >>> 2];
  e.childPid = v.u32[(o + FORK.child_pid.offset) >>> 2];
  e.cloneFlags = v.u64[(o + FORK.clone_flags.offset) >>> 3];
  return e;
}

const EXIT = LAYOUT.ks_exit.fields;
function decodeExit(v: Views, o: number): ExitEvent {
  const e = header<ExitEvent>(v, o, EventType.Exit);
  e.exitCode = v.i32[(o + EXIT.exit_code.offset) >>> 2];
  return e;
}

const NAMESPACE = LAYOUT.ks_namespace.fields;
function decodeNamespace(v: Views, o: number): NamespaceEvent {
  const e = header<NamespaceEvent>(v, o, EventType.Namespace);
  e.op = v.u32[(o + NAMESPACE.op.offset) >>> 2] as Op;
  e.cloneFlags = v.u64[(o + NAMESPACE.flags.offset) >>> 3];
  return e;
}

const SETNS = LAYOUT.ks_setns.fields;
function decodeSetns(v: Views, o: number): SetnsEvent {
  const e = header<SetnsEvent>(v, o, EventType.Setns);
  e.fd = v.i32[(o + SETNS.fd.offset) >>> 2];
  e.nstype = v.i32[(o + SETNS.nstype.offset) >>> 2];
  e.targetNsIno = v.u32[(o + SETNS.target_ns_ino.offset) >>> 2];
  e.targetNsType = v.u32[(o + SETNS.target_ns_type.offset) >>> 2];
  return e;
}

const MOUNT = LAYOUT.ks_mount.fields;
function decodeMount(v: Views, o: number): MountEvent {
  const e = header<MountEvent>(v, o, EventType.Mount);
  e.op = v.u32[(o + MOUNT.op.offset) >>> 2] as Op;
  e.mountFlags = v.u64[(o + MOUNT.flags.offset) >>> 3];
  e.source = cString(v.buf, o + MOUNT.source.offset, MOUNT.source.length);
  e.target = cString(v.buf, o + MOUNT.target.offset, MOUNT.target.length);
  e.fstype = cString(v.buf, o + MOUNT.fstype.offset, MOUNT.fstype.length);
  e.facts = v.u32[(o + MOUNT.facts.offset) >>> 2];
  return e;
}

const ROOT = LAYOUT.ks_root_change.fields;
function decodeRootChange(v: Views, o: number): RootChangeEvent {
  const e = header<RootChangeEvent>(v, o, EventType.RootChange);
  e.op = v.u32[(o + ROOT.op.offset) >>> 2] as Op;
  e.newRoot = cString(v.buf, o + ROOT.new_root.offset, ROOT.new_root.length);
  e.putOld = cString(v.buf, o + ROOT.put_old.offset, ROOT.put_old.length);
  return e;
}

const OPEN = LAYOUT.ks_open.fields;
// KS_PATH_LEN - 1: strings[] holds two strings of at most this many bytes, each with its NUL.
const OPEN_STRING_MAX = OPEN.strings.length / 2 - 1;
function decodeOpen(v: Views, o: number, size: number): OpenEvent {
  const e = header<OpenEvent>(v, o, EventType.Open);
  e.op = v.u32[(o + OPEN.op.offset) >>> 2] as Op;
  e.dirfd = v.i32[(o + OPEN.dirfd.offset) >>> 2];
  e.openFlags = v.u32[(o + OPEN.flags.offset) >>> 2];
  e.mode = v.u32[(o + OPEN.mode.offset) >>> 2];
  e.patternId = v.u32[(o + OPEN.pattern_id.offset) >>> 2];
  e.fileFacts = v.u32[(o + OPEN.file_facts.offset) >>> 2];
  e.result = v.i32[(o + OPEN.ret.offset) >>> 2];
  e.pathSource = v.u32[(o + OPEN.path_source.offset) >>> 2] as OpenPathSource;
  // Each string is read where the ABI puts it, for the length its field gives, but never more than the ABI's
  // maximum nor past hdr.size: the bytes after the record are the next record's. A length out of range is a
  // producer bug (the BPF side computes them; the attacker only chooses the bytes), so, as with ks_exec's lengths
  // and ks_payload's data_len, it is bounded and not counted: the record's other fields are sound and a detector
  // may need them, and stats.truncatedFields stays what the producer itself flagged.
  const strings = o + OPEN.strings.offset;
  const end = o + size;
  const pathLen = v.u16[(o + OPEN.path_len.offset) >>> 1];
  e.path = cString(v.buf, strings, Math.min(pathLen, OPEN_STRING_MAX, end - strings));
  const callerLen = v.u16[(o + OPEN.caller_path_len.offset) >>> 1];
  const caller = strings + pathLen + 1;
  e.callerPath = callerLen === 0 ? '' : cString(v.buf, caller, Math.max(0, Math.min(callerLen, OPEN_STRING_MAX, end - caller)));
  return e;
}

const CONNECT = LAYOUT.ks_connect.fields;
function decodeConnect(v: Views, o: number): ConnectEvent {
  const e = header<ConnectEvent>(v, o, EventType.Connect);
  const family = v.u16[(o + CONNECT.family.offset) >>> 1];
  e.fd = v.i32[(o + CONNECT.fd.offset) >>> 2];
  e.family = family;
  e.port = v.u16[(o + CONNECT.port.offset) >>> 1];
  e.address = formatAddress(v.buf, family, o + CONNECT.addr.offset);
  e.protocol = v.u16[(o + CONNECT.protocol.offset) >>> 1];
  e.sockType = v.u16[(o + CONNECT.sock_type.offset) >>> 1];
  if (family !== AddressFamily.Unix) e.unixPath = '';
  else {
    const at = o + CONNECT.unix_path.offset;
    // An abstract socket name starts with a NUL; '@' is how ss(8) and /proc/net/unix show it.
    e.unixPath = v.buf[at] === 0 ? `@${cString(v.buf, at + 1, CONNECT.unix_path.length - 1)}` : cString(v.buf, at, CONNECT.unix_path.length);
  }
  return e;
}

const LISTEN = LAYOUT.ks_listen.fields;
function decodeListen(v: Views, o: number): ListenEvent {
  const e = header<ListenEvent>(v, o, EventType.Listen);
  const family = v.u16[(o + LISTEN.family.offset) >>> 1];
  e.op = v.u32[(o + LISTEN.op.offset) >>> 2] as Op;
  e.fd = v.i32[(o + LISTEN.fd.offset) >>> 2];
  e.family = family;
  e.port = v.u16[(o + LISTEN.port.offset) >>> 1];
  e.protocol = v.u16[(o + LISTEN.protocol.offset) >>> 1];
  e.sockType = v.u16[(o + LISTEN.sock_type.offset) >>> 1];
  e.address = formatAddress(v.buf, family, o + LISTEN.addr.offset);
  e.backlog = v.i32[(o + LISTEN.backlog.offset) >>> 2];
  return e;
}

const COMPAT = LAYOUT.ks_compat_syscall.fields;
function decodeCompatSyscall(v: Views, o: number): CompatSyscallEvent {
  const e = header<CompatSyscallEvent>(v, o, EventType.CompatSyscall);
  const args = (o + COMPAT.args.offset) >>> 2;
  e.nr = v.u32[(o + COMPAT.nr.offset) >>> 2];
  e.repeats = v.u32[(o + COMPAT.repeats.offset) >>> 2];
  e.args = [v.u32[args], v.u32[args + 1], v.u32[args + 2], v.u32[args + 3], v.u32[args + 4], v.u32[args + 5]];
  return e;
}

const PAYLOAD = LAYOUT.ks_payload.fields;
function decodePayload(v: Views, o: number): PayloadEvent {
  const e = header<PayloadEvent>(v, o, EventType.Payload);
  const family = v.u16[(o + PAYLOAD.family.offset) >>> 1];
  e.op = v.u32[(o + PAYLOAD.op.offset) >>> 2] as Op;
  e.kind = v.u32[(o + PAYLOAD.kind.offset) >>> 2];
  e.fd = v.i32[(o + PAYLOAD.fd.offset) >>> 2];
  e.family = family;
  e.port = v.u16[(o + PAYLOAD.port.offset) >>> 1];
  e.address = formatAddress(v.buf, family, o + PAYLOAD.addr.offset);
  e.totalLen = v.u32[(o + PAYLOAD.total_len.offset) >>> 2];
  e.streamOffset = v.u32[(o + PAYLOAD.stream_offset.offset) >>> 2];
  // A copy: the batch buffer belongs to the native side and is reused after this call.
  const length = Math.min(v.u32[(o + PAYLOAD.data_len.offset) >>> 2], PAYLOAD.data.length);
  const data = new Uint8Array(length);
  const from = o + PAYLOAD.data.offset;
  for (let i = 0; i < length; i++) data[i] = v.buf[from + i];
  e.data = data;
  return e;
}

const MODULE = LAYOUT.ks_module.fields;
function decodeModule(v: Views, o: number): ModuleEvent {
  const e = header<ModuleEvent>(v, o, EventType.Module);
  e.op = v.u32[(o + MODULE.op.offset) >>> 2] as Op;
  e.fd = v.i32[(o + MODULE.fd.offset) >>> 2];
  e.moduleFlags = v.u32[(o + MODULE.flags.offset) >>> 2];
  e.name = cString(v.buf, o + MODULE.name.offset, MODULE.name.length);
  return e;
}

const PTRACE = LAYOUT.ks_ptrace.fields;
function decodePtrace(v: Views, o: number): PtraceEvent {
  const e = header<PtraceEvent>(v, o, EventType.Ptrace);
  e.op = v.u32[(o + PTRACE.op.offset) >>> 2] as Op;
  e.targetTgid = v.u32[(o + PTRACE.target_tgid.offset) >>> 2];
  e.request = v.i64[(o + PTRACE.request.offset) >>> 3];
  e.addr = v.u64[(o + PTRACE.addr.offset) >>> 3];
  e.targetPidArg = v.u32[(o + PTRACE.target_pid_arg.offset) >>> 2];
  return e;
}

const BPF = LAYOUT.ks_bpf.fields;
function decodeBpf(v: Views, o: number): BpfEvent {
  const e = header<BpfEvent>(v, o, EventType.Bpf);
  e.op = v.u32[(o + BPF.op.offset) >>> 2] as Op;
  e.cmd = v.u32[(o + BPF.cmd.offset) >>> 2];
  e.progType = v.u32[(o + BPF.prog_type.offset) >>> 2];
  e.targetPid = v.i32[(o + BPF.target_pid.offset) >>> 2];
  e.config = v.u64[(o + BPF.config.offset) >>> 3];
  return e;
}

const FD_CREATE = LAYOUT.ks_fd_create.fields;
function decodeFdCreate(v: Views, o: number): FdCreateEvent {
  const e = header<FdCreateEvent>(v, o, EventType.FdCreate);
  e.op = v.u32[(o + FD_CREATE.op.offset) >>> 2] as Op;
  e.fdFlags = v.u32[(o + FD_CREATE.flags.offset) >>> 2];
  e.name = cString(v.buf, o + FD_CREATE.name.offset, FD_CREATE.name.length);
  return e;
}

const CREDS = LAYOUT.ks_creds.fields;
function decodeCreds(v: Views, o: number): CredsEvent {
  const e = header<CredsEvent>(v, o, EventType.Creds);
  e.op = v.u32[(o + CREDS.op.offset) >>> 2] as Op;
  e.args = [v.u32[(o + CREDS.arg0.offset) >>> 2], v.u32[(o + CREDS.arg1.offset) >>> 2], v.u32[(o + CREDS.arg2.offset) >>> 2]];
  e.capEffectiveBefore = v.u64[(o + CREDS.cap_effective_before.offset) >>> 3];
  e.capPermittedBefore = v.u64[(o + CREDS.cap_permitted_before.offset) >>> 3];
  e.capEffectiveNew = v.u64[(o + CREDS.cap_effective_new.offset) >>> 3];
  e.capPermittedNew = v.u64[(o + CREDS.cap_permitted_new.offset) >>> 3];
  e.euidBefore = v.u32[(o + CREDS.euid_before.offset) >>> 2];
  return e;
}

const CGROUP = LAYOUT.ks_cgroup.fields;
function decodeCgroup(v: Views, o: number): CgroupEvent {
  const e = header<CgroupEvent>(v, o, EventType.Cgroup);
  e.op = v.u32[(o + CGROUP.op.offset) >>> 2] as Op;
  e.id = v.u64[(o + CGROUP.id.offset) >>> 3];
  e.level = v.u32[(o + CGROUP.level.offset) >>> 2];
  e.path = cString(v.buf, o + CGROUP.path.offset, CGROUP.path.length);
  return e;
}

const IO_URING = LAYOUT.ks_io_uring.fields;
function decodeIoUring(v: Views, o: number): IoUringEvent {
  const e = header<IoUringEvent>(v, o, EventType.IoUring);
  const family = v.u16[(o + IO_URING.family.offset) >>> 1];
  e.op = v.u32[(o + IO_URING.op.offset) >>> 2] as Op;
  e.opcode = v.u32[(o + IO_URING.opcode.offset) >>> 2];
  e.ioUringFlags = v.u32[(o + IO_URING.flags.offset) >>> 2];
  e.fd = v.i32[(o + IO_URING.fd.offset) >>> 2];
  e.family = family;
  e.port = v.u16[(o + IO_URING.port.offset) >>> 1];
  e.address = formatAddress(v.buf, family, o + IO_URING.addr.offset);
  e.path = cString(v.buf, o + IO_URING.path.offset, IO_URING.path.length);
  return e;
}

const HOST_FS = LAYOUT.ks_host_fs.fields;
function decodeHostFs(v: Views, o: number): HostFsEvent {
  const e = header<HostFsEvent>(v, o, EventType.HostFs);
  e.op = v.u32[(o + HOST_FS.op.offset) >>> 2] as Op;
  e.hostFsFlags = v.u32[(o + HOST_FS.flags.offset) >>> 2];
  e.dev = v.u32[(o + HOST_FS.dev.offset) >>> 2];
  e.openFlags = v.u32[(o + HOST_FS.open_flags.offset) >>> 2];
  e.ino = v.u64[(o + HOST_FS.ino.offset) >>> 3];
  e.nlink = v.u32[(o + HOST_FS.nlink.offset) >>> 2];
  e.fsPath = cString(v.buf, o + HOST_FS.fs_path.offset, HOST_FS.fs_path.length);
  e.path = cString(v.buf, o + HOST_FS.path.offset, HOST_FS.path.length);
  e.hostPath = '';
  e.fsRootHostPath = '';
  return e;
}

function decodeRecord(v: Views, o: number, type: number, size: number): KernelEvent {
  switch (type) {
    case EventType.Exec: return decodeExec(v, o);
    case EventType.Fork: return decodeFork(v, o);
    case EventType.Exit: return decodeExit(v, o);
    case EventType.Namespace: return decodeNamespace(v, o);
    case EventType.Setns: return decodeSetns(v, o);
    case EventType.Mount: return decodeMount(v, o);
    case EventType.RootChange: return decodeRootChange(v, o);
    case EventType.Open: return decodeOpen(v, o, size);
    case EventType.Connect: return decodeConnect(v, o);
    case EventType.Payload: return decodePayload(v, o);
    case EventType.Module: return decodeModule(v, o);
    case EventType.Ptrace: return decodePtrace(v, o);
    case EventType.Bpf: return decodeBpf(v, o);
    case EventType.FdCreate: return decodeFdCreate(v, o);
    case EventType.Creds: return decodeCreds(v, o);
    case EventType.IoUring: return decodeIoUring(v, o);
    case EventType.Listen: return decodeListen(v, o);
    case EventType.HostFs: return decodeHostFs(v, o);
    case EventType.CompatSyscall: return decodeCompatSyscall(v, o);
    default: return decodeCgroup(v, o); // the caller has checked that type has a layout
  }
}

/**
 * Decodes every record in `buf` and calls onEvent for each, in order. Never throws on bad input: a record with an
 * unknown type or a size its type cannot have (not its size, or for a type whose size varies, outside its range) is
 * counted and skipped; a size that cannot be trusted (not a multiple of 8, smaller than the header, or past the end
 * of the batch) ends the batch and counts the rest.
 */
export function decodeBatch(
  buf: Buffer,
  onEvent: (event: KernelEvent) => void,
  stats: DecoderStats,
  log: RateLimitedLog = defaultLog,
): void {
  stats.batches++;
  if ((buf.byteOffset & (RECORD_ALIGN - 1)) !== 0) {
    // Typed-array views need natural alignment; the native side normally hands over aligned memory.
    const aligned = Buffer.allocUnsafeSlow(buf.length);
    buf.copy(aligned);
    buf = aligned;
    stats.alignmentCopies++;
  }
  const v = viewsOf(buf);
  const end = buf.length;
  let o = 0;
  while (o < end) {
    const remaining = end - o;
    if (remaining < HEADER_SIZE) {
      drop(stats, log, 'truncated', remaining, `batch ends with ${remaining} byte(s), less than a record header`);
      return;
    }
    const type = v.u16[(o + H.type.offset) >>> 1];
    const size = v.u16[(o + H.size.offset) >>> 1];
    if (size < HEADER_SIZE || (size & (RECORD_ALIGN - 1)) !== 0) {
      drop(stats, log, 'bad_size', remaining, `record at byte ${o} (type ${type}) has size ${size}; dropping the rest of the batch`);
      return;
    }
    if (size > remaining) {
      drop(stats, log, 'truncated', remaining, `record at byte ${o} (type ${type}) claims ${size} bytes, only ${remaining} left`);
      return;
    }
    const largest = type < EVENT_TYPE_MAX ? (RECORD_MAX_SIZE_BY_TYPE[type] ?? 0) : 0;
    if (largest === 0) {
      drop(stats, log, 'unknown_type', size, `record at byte ${o} has unknown type ${type}`);
    } else if (size > largest || size < RECORD_MIN_SIZE_BY_TYPE[type]) {
      const smallest = RECORD_MIN_SIZE_BY_TYPE[type];
      const expected = smallest === largest ? `${largest}` : `${smallest} to ${largest}`;
      drop(stats, log, 'size_mismatch', size, `${EventTypeName[type as EventType]} record at byte ${o} has size ${size}, expected ${expected}`);
    } else {
      if ((v.u32[(o + H.flags.offset) >>> 2] & HEADER_FLAG_TRUNCATED) !== 0) stats.truncatedFields++;
      stats.records++;
      stats.recordsByType[type]++;
      onEvent(decodeRecord(v, o, type, size));
    }
    o += size;
  }
}

function drop(stats: DecoderStats, log: RateLimitedLog, reason: DropReason, bytes: number, message: string): void {
  stats.dropped[reason]++;
  stats.droppedBytes += bytes;
  log.warn(`event decoder: ${message}`);
}
