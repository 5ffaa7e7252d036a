// The ring-buffer record decoder's fuzzer: seeded generators of batches (valid records of every type with hostile
// contents, their mutations, records the decoder must skip or stop at, garbage) and the properties every decode
// keeps. test/decoder-fuzz.test.ts runs it; docs/development.md ("Fuzzing the decoder") says how to run it longer
// and replay a failure.
//
// Replay: case i of the campaign with seed S is generated from the seed S + i alone, so a failing case's seed,
// given as the campaign seed, reproduces it as the first case.
//
// Everything inside a record is attacker-chosen (comm, paths, argv, payload bytes); only the kernel's framing is
// trusted, and the fuzzer breaks that too, to check that a producer bug costs counted drops and never a crash,
// a wrong event or an unbounded string.

import assert from 'node:assert/strict';
import { createDecoderStats, decodeBatch, type DecoderStats, type DropReason } from '../../src/receiver/decoder.ts';
import { AddressFamily, EVENT_TYPE_MAX, EventType, IpProtocol, SocketType, type KernelEvent } from '../../src/receiver/events.ts';
import {
  KIND_SIZE,
  LAYOUT,
  RECORD_ALIGN,
  RECORD_MAX_SIZE_BY_TYPE,
  RECORD_MIN_SIZE_BY_TYPE,
  type FieldLayout,
  type StructLayout,
  type StructName,
} from '../../src/receiver/layout.ts';
import { RateLimitedLog } from '../../src/receiver/RateLimiter.ts';
import { openRecord, record, type FieldValue } from './records.ts';

/** mulberry32: small, fast, and the same sequence on every machine for a seed. */
export class Rng {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  u32(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform in [0, n), n <= 2^32. */
  below(n: number): number {
    return Math.floor((this.u32() / 2 ** 32) * n);
  }

  /** Uniform in [min, max]. */
  between(min: number, max: number): number {
    return min + this.below(max - min + 1);
  }

  chance(p: number): boolean {
    return this.u32() / 2 ** 32 < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)];
  }

  bytes(n: number): Buffer {
    const out = Buffer.alloc(n);
    for (let i = 0; i < n; i++) out[i] = this.u32() & 0xff;
    return out;
  }

  u64(): bigint {
    return (BigInt(this.u32()) << 32n) | BigInt(this.u32());
  }
}

const HEADER = LAYOUT.ks_header;
const HEADER_SIZE = HEADER.size;
const TYPE_OFFSET = HEADER.fields.type.offset;
const SIZE_OFFSET = HEADER.fields.size.offset;
const MAX_RECORD_SIZE = 0xffff; // hdr.size is a u16

const RECORD_STRUCTS: readonly StructName[] = (Object.keys(LAYOUT) as StructName[]).filter(
  (name) => (LAYOUT[name] as StructLayout).eventType !== undefined,
);
const STRUCT_BY_TYPE = new Map<number, StructName>(RECORD_STRUCTS.map((name) => [(LAYOUT[name] as StructLayout).eventType!, name]));
export const RECORD_TYPES: readonly EventType[] = [...STRUCT_BY_TYPE.keys()] as EventType[];

export function structOf(type: EventType): StructName {
  return STRUCT_BY_TYPE.get(type)!;
}

/** Members that count the bytes used in another member: the decoder must bound them by that member's size. */
const LENGTH_OF: Readonly<Record<string, string>> = { path_len: 'path', args_len: 'args', data_len: 'data', exe_path_len: 'exe_path' };

// ks_open packs its two strings into strings[] and is only as long as they need: its path_len and caller_path_len
// say where each string is, and the decoder must bound them by the ABI's maximum and by the record's end.
const OPEN = LAYOUT.ks_open.fields;
const OPEN_PACKED = new Set(['strings', 'path_len', 'caller_path_len']);
/** KS_PATH_LEN - 1: the most bytes either of ks_open's strings has. */
export const OPEN_STRING_MAX = OPEN.strings.length / 2 - 1;

/** Text members the generic rules below do not read whole: a length field or the ABI says which bytes count. */
const COUNTED = new Set([...Object.values(LENGTH_OF), 'strings']);

// ---------------------------------------------------------------------------------------------------------------
// Generators

const EDGE_SCALARS = {
  u16: [0, 1, 0x7fff, 0x8000, 0xffff],
  u32: [0, 1, 0x7fffffff, 0x80000000, 0xffffffff],
  s32: [0, -1, 0x7fffffff, -0x80000000],
  u64: [0n, 1n, 1n << 63n, (1n << 64n) - 1n],
  s64: [0n, -1n, (1n << 63n) - 1n, -(1n << 63n)],
} as const;

function randomScalar(rng: Rng, kind: FieldLayout['kind']): FieldValue {
  const edge = rng.chance(0.3);
  switch (kind) {
    case 'u16': return edge ? rng.pick(EDGE_SCALARS.u16) : rng.below(0x10000);
    case 'u32': return edge ? rng.pick(EDGE_SCALARS.u32) : rng.u32();
    case 's32': return edge ? rng.pick(EDGE_SCALARS.s32) : rng.u32() | 0;
    case 'u64': return edge ? rng.pick(EDGE_SCALARS.u64) : rng.u64();
    case 's64': return edge ? rng.pick(EDGE_SCALARS.s64) : BigInt.asIntN(64, rng.u64());
    default: throw new Error(`no scalar generator for ${kind}`);
  }
}

function ascii(rng: Rng, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i++) out[i] = rng.between(0x20, 0x7e);
  return out;
}

/**
 * Bytes for a char[bound] member, at most bound long: the shapes an attacker controls (a name filling the field with
 * no NUL, bytes that are not UTF-8, a multi-byte character cut by the bound, NULs inside) and strings repeated from
 * `pool`, which exercise the decoder's string cache.
 */
function randomText(rng: Rng, bound: number, pool: readonly Buffer[]): Buffer {
  switch (rng.below(9)) {
    case 0: return Buffer.alloc(0);
    case 1: return ascii(rng, rng.between(1, Math.min(bound, 40)));
    case 2: return ascii(rng, bound);
    case 3: return rng.bytes(rng.between(1, bound));
    case 4: return Buffer.from('ü€😀'.repeat(bound)).subarray(0, rng.between(1, bound));
    case 5: return Buffer.concat([ascii(rng, 3), Buffer.alloc(1), ascii(rng, 3)]).subarray(0, bound);
    case 6: return Buffer.from(Array.from({ length: rng.between(1, bound) }, () => rng.between(0x80, 0xff)));
    case 7: return Buffer.concat([Buffer.alloc(1), ascii(rng, bound - 1)]); // an abstract socket name, full
    default: {
      const fits = pool.filter((text) => text.length <= bound);
      return fits.length > 0 ? rng.pick(fits) : ascii(rng, Math.min(bound, 8));
    }
  }
}

function randomPool(rng: Rng): Buffer[] {
  return Array.from({ length: rng.between(1, 4) }, () => ascii(rng, rng.between(1, 20)));
}

function lengthValue(rng: Rng, kind: FieldLayout['kind'], used: number, bound: number): number {
  if (rng.chance(0.6)) return used;
  const edges = [0, 1, bound - 1, bound, bound + 1, 0x7fff, 0xffff];
  if (kind === 'u32') edges.push(0x10000, 0x80000000, 0xffffffff);
  return rng.chance(0.8) ? rng.pick(edges) : kind === 'u32' ? rng.u32() : rng.below(0x10000);
}

/** A well-framed record of `struct` (hdr.type and hdr.size right) with random contents in every member. */
export function randomRecord(rng: Rng, struct: StructName, pool: readonly Buffer[]): Buffer {
  const layout: StructLayout = LAYOUT[struct];
  const fields: Record<string, FieldValue> = {};
  for (const [name, field] of Object.entries(layout.fields)) {
    if (name === 'hdr' || LENGTH_OF[name] !== undefined || (struct === 'ks_open' && OPEN_PACKED.has(name))) continue;
    // The producer zeroes pad members; non-zero ones show a read that spills over from the member before.
    if (name.startsWith('_pad') && rng.chance(0.5)) continue;
    if (field.kind === 'char') fields[name] = randomText(rng, field.length!, pool);
    else if (field.length !== undefined && field.kind !== 'u8') fields[name] = rng.bytes(field.length * KIND_SIZE[field.kind as 'u32']);
    else if (field.length !== undefined) fields[name] = rng.bytes(rng.between(0, field.length));
    else if (name === 'family' && rng.chance(0.7)) fields[name] = rng.pick(Object.values(AddressFamily));
    else if (name === 'sock_type' && rng.chance(0.7)) fields[name] = rng.pick(Object.values(SocketType));
    else if (name === 'protocol' && rng.chance(0.7)) fields[name] = rng.pick(Object.values(IpProtocol));
    else fields[name] = randomScalar(rng, field.kind);
  }
  for (const [lengthName, counted] of Object.entries(LENGTH_OF)) {
    const field = layout.fields[lengthName];
    if (field === undefined || layout.fields[counted] === undefined) continue;
    const bound = layout.fields[counted].length!;
    fields[lengthName] = lengthValue(rng, field.kind, (fields[counted] as Uint8Array).length, bound);
  }
  const hdr: Record<string, FieldValue> = {
    flags: rng.chance(0.5) ? rng.below(4) : rng.u32(),
    ktime_ns: randomScalar(rng, 'u64'),
    cgroup_id: randomScalar(rng, 'u64'),
    tgid: randomScalar(rng, 'u32'),
    pid: randomScalar(rng, 'u32'),
    uid: randomScalar(rng, 'u32'),
    gid: randomScalar(rng, 'u32'),
    comm: randomText(rng, HEADER.fields.comm.length!, pool),
    start_boottime_ns: randomScalar(rng, 'u64'),
  };
  return struct === 'ks_open' ? randomOpenRecord(rng, fields, hdr, pool) : record(struct, fields, hdr);
}

/**
 * A ks_open record at the size its strings use (sometimes larger, up to the struct, with zeros or junk after them),
 * with path_len and caller_path_len mostly right and otherwise at the edges of the ABI's maximum, of the record's
 * end and of a u16.
 */
function randomOpenRecord(rng: Rng, fields: Record<string, FieldValue>, hdr: Record<string, FieldValue>, pool: readonly Buffer[]): Buffer {
  const path = randomText(rng, OPEN_STRING_MAX, pool);
  const caller = rng.chance(0.5) ? randomText(rng, OPEN_STRING_MAX, pool) : Buffer.alloc(0);
  const packed = openRecord(path, caller, fields, hdr);
  const used = OPEN.strings.offset + path.length + 1 + (caller.length > 0 ? caller.length + 1 : 0);
  if (rng.chance(0.8)) return mutateOpenLengths(rng, packed, path.length, caller.length);
  const largest = LAYOUT.ks_open.size;
  const size = RECORD_ALIGN * rng.between(packed.length / RECORD_ALIGN, largest / RECORD_ALIGN);
  const rec = openRecord(path, caller, fields, { ...hdr, size });
  if (rng.chance(0.5)) rec.set(rng.bytes(size - used), used);
  return mutateOpenLengths(rng, rec, path.length, caller.length);
}

function openLength(rng: Rng, used: number, room: number): number {
  if (rng.chance(0.6)) return used;
  const edges = [0, 1, OPEN_STRING_MAX - 1, OPEN_STRING_MAX, OPEN_STRING_MAX + 1, room - 1, room, room + 1, 0x7fff, 0xffff];
  return rng.chance(0.8) ? rng.pick(edges.filter((n) => n >= 0)) : rng.below(0x10000);
}

function mutateOpenLengths(rng: Rng, rec: Buffer, pathLen: number, callerLen: number): Buffer {
  const path = openLength(rng, pathLen, rec.length - OPEN.strings.offset);
  rec.writeUInt16LE(path, OPEN.path_len.offset);
  rec.writeUInt16LE(openLength(rng, callerLen, rec.length - OPEN.strings.offset - path - 1), OPEN.caller_path_len.offset);
  return rec;
}

/** Flips a few bits anywhere but hdr.type and hdr.size, so the record stays well framed. */
function flipBodyBits(rng: Rng, rec: Buffer): void {
  for (let n = rng.between(1, 8); n > 0; n--) {
    const at = rng.between(SIZE_OFFSET + 2, rec.length - 1);
    rec[at] ^= 1 << rng.below(8);
  }
}

function randomRecordStruct(rng: Rng): StructName {
  return rng.pick(RECORD_STRUCTS);
}

/** A size the decoder cannot trust: below a header, or not a multiple of the record alignment. */
function untrustworthySize(rng: Rng, typeSize: number): number {
  const candidates = [0, 1, RECORD_ALIGN, HEADER_SIZE - RECORD_ALIGN, HEADER_SIZE - 1, HEADER_SIZE + 1, typeSize - 1, typeSize + 1, MAX_RECORD_SIZE];
  const size = rng.chance(0.7) ? rng.pick(candidates) : rng.below(MAX_RECORD_SIZE + 1);
  return size < HEADER_SIZE || size % RECORD_ALIGN !== 0 ? size : size + 1;
}

/** Every size some record type can have at an end of its range (and zeros for numbers that are no type). */
const TYPE_SIZES = [...RECORD_MAX_SIZE_BY_TYPE, ...RECORD_MIN_SIZE_BY_TYPE];

/**
 * A size a record could have (aligned, at least a header) that its type cannot: outside [smallest, largest];
 * sometimes the largest a u16 allows.
 */
function wrongSaneSize(rng: Rng, smallest: number, largest: number): number {
  const top = MAX_RECORD_SIZE - (MAX_RECORD_SIZE % RECORD_ALIGN);
  const candidates = [HEADER_SIZE, smallest - RECORD_ALIGN, largest + RECORD_ALIGN, ...TYPE_SIZES.filter((s) => s > 0), top];
  let size = rng.chance(0.8) ? rng.pick(candidates) : HEADER_SIZE + RECORD_ALIGN * rng.below((top - HEADER_SIZE) / RECORD_ALIGN + 1);
  if ((size >= smallest && size <= largest) || size < HEADER_SIZE) size = largest + RECORD_ALIGN;
  return size;
}

const UNKNOWN_TYPES = [0, EVENT_TYPE_MAX, EVENT_TYPE_MAX + 1, 0xff, 0x100, 0x8000, 0xffff];

export type SkipReason = Extract<DropReason, 'unknown_type' | 'size_mismatch'>;
export type EndReason = Extract<DropReason, 'bad_size' | 'truncated'>;

/** A batch and what the decoder must make of it. */
export interface Plan {
  batch: Buffer;
  /** Byte offset and type of each record that must decode, in order. */
  decoded: { offset: number; type: EventType }[];
  dropped: Record<DropReason, number>;
  droppedBytes: number;
}

/**
 * A batch built from parts whose outcome is known: records that decode (some with flipped bits inside), records to
 * skip (unknown type, a size that does not match the type, up to the largest size), then possibly one part that ends
 * the batch (an untrustworthy size, followed by anything; or a record cut short, last).
 */
export function randomPlan(rng: Rng): Plan {
  const pool = randomPool(rng);
  const parts: Buffer[] = [];
  const plan: Omit<Plan, 'batch'> = {
    decoded: [],
    dropped: { unknown_type: 0, size_mismatch: 0, truncated: 0, bad_size: 0 },
    droppedBytes: 0,
  };
  let offset = 0;
  const add = (part: Buffer) => {
    parts.push(part);
    offset += part.length;
  };
  // Mostly a handful of records, sometimes a batch of hundreds.
  const count = rng.chance(0.03) ? rng.between(100, 400) : rng.between(0, 12);
  for (let i = 0; i < count; i++) {
    const struct = randomRecordStruct(rng);
    const layout: StructLayout = LAYOUT[struct];
    const rec = randomRecord(rng, struct, pool);
    const roll = rng.below(10);
    if (roll < 6) {
      if (rng.chance(0.3)) flipBodyBits(rng, rec);
      plan.decoded.push({ offset, type: layout.eventType! });
      add(rec);
    } else if (roll < 8) {
      rec.writeUInt16LE(rng.chance(0.7) ? rng.pick(UNKNOWN_TYPES) : rng.between(EVENT_TYPE_MAX, 0xffff), TYPE_OFFSET);
      plan.dropped.unknown_type++;
      plan.droppedBytes += rec.length;
      add(rec);
    } else {
      const size = wrongSaneSize(rng, layout.minSize ?? layout.size, layout.size);
      const wrong = Buffer.concat([rec, rng.bytes(Math.max(0, size - rec.length))]).subarray(0, size);
      wrong.writeUInt16LE(size, SIZE_OFFSET);
      plan.dropped.size_mismatch++;
      plan.droppedBytes += size;
      add(wrong);
    }
  }
  const ending = rng.below(4);
  if (ending === 1) {
    const rec = randomRecord(rng, randomRecordStruct(rng), pool);
    rec.writeUInt16LE(untrustworthySize(rng, rec.length), SIZE_OFFSET);
    // Whatever follows an untrustworthy size is never read as records, however good it looks.
    const rest = [rec, ...Array.from({ length: rng.below(3) }, () => randomRecord(rng, randomRecordStruct(rng), pool))];
    if (rng.chance(0.5)) rest.push(rng.bytes(rng.below(300)));
    const tail = Buffer.concat(rest);
    plan.dropped.bad_size++;
    plan.droppedBytes += tail.length;
    add(tail);
  } else if (ending === 2) {
    const tail = truncatedTail(rng, pool);
    plan.dropped.truncated++;
    plan.droppedBytes += tail.length;
    add(tail);
  }
  return { batch: Buffer.concat(parts), ...plan };
}

/** Bytes that end a batch as 'truncated': less than a header, or a sane size claiming more bytes than are left. */
function truncatedTail(rng: Rng, pool: readonly Buffer[]): Buffer {
  if (rng.chance(0.2)) return rng.bytes(rng.between(1, HEADER_SIZE - 1));
  const rec = randomRecord(rng, randomRecordStruct(rng), pool);
  if (rng.chance(0.7)) return rec.subarray(0, rng.between(1, rec.length - 1));
  // The largest aligned size with a few bytes behind it: an oversized claim.
  rec.writeUInt16LE(MAX_RECORD_SIZE - (MAX_RECORD_SIZE % RECORD_ALIGN), SIZE_OFFSET);
  return rec;
}

/** The plan's batch broken further at random: bit flips and edge values anywhere (headers too), cuts, splices. */
export function mangle(rng: Rng, batch: Buffer): Buffer {
  let out: Buffer = Buffer.from(batch);
  if (rng.chance(0.05)) return rng.bytes(rng.below(4096));
  for (let n = rng.between(1, 4); n > 0; n--) {
    // Two bytes at least: the edits below write a u16.
    if (out.length < 2) out = rng.bytes(rng.between(2, 511));
    switch (rng.below(5)) {
      case 0:
        out[rng.below(out.length)] ^= 1 << rng.below(8);
        break;
      case 1: {
        // Headers sit on 8-byte boundaries: aim edge values at hdr.type and hdr.size.
        const at = Math.min(out.length - 2, RECORD_ALIGN * rng.below(Math.ceil(out.length / RECORD_ALIGN)) + rng.pick([TYPE_OFFSET, SIZE_OFFSET]));
        out.writeUInt16LE(rng.chance(0.5) ? rng.pick(EDGE_SCALARS.u16) : rng.pick(TYPE_SIZES), at);
        break;
      }
      case 2:
        out = out.subarray(0, rng.below(out.length + 1));
        break;
      case 3: {
        const at = rng.below(out.length + 1);
        out = Buffer.concat([out.subarray(0, at), rng.bytes(rng.below(200)), out.subarray(at)]);
        break;
      }
      default: {
        const from = rng.below(out.length);
        const to = rng.between(from, out.length);
        out = Buffer.concat([out, out.subarray(from, to)]);
      }
    }
  }
  return out;
}

/** The same bytes at an address that is not 8-aligned, as a native side that did not align would hand them over. */
export function misaligned(rng: Rng, batch: Buffer): Buffer {
  const shift = rng.between(1, RECORD_ALIGN - 1);
  const backing = Buffer.alloc(batch.length + shift);
  batch.copy(backing, shift);
  return backing.subarray(shift);
}

// ---------------------------------------------------------------------------------------------------------------
// Properties

/** Upper bounds, in UTF-16 code units, of every string an event carries; each input byte yields at most one. */
const STRING_BOUNDS: Readonly<Record<string, number>> = {
  comm: HEADER.fields.comm.length,
  path: LAYOUT.ks_exec.fields.path.length, // KS_PATH_LEN: exec, open and cgroup alike
  exePath: LAYOUT.ks_exec.fields.exe_path.length,
  callerPath: OPEN_STRING_MAX,
  source: LAYOUT.ks_mount.fields.source.length,
  target: LAYOUT.ks_mount.fields.target.length,
  fstype: LAYOUT.ks_mount.fields.fstype.length,
  newRoot: LAYOUT.ks_root_change.fields.new_root.length,
  putOld: LAYOUT.ks_root_change.fields.put_old.length,
  // An abstract name's leading NUL becomes '@', so the text is never longer than the member.
  unixPath: LAYOUT.ks_connect.fields.unix_path.length,
  name: LAYOUT.ks_module.fields.name.length, // KS_NAME_LEN: module and fd_create
  address: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'.length,
  fsPath: LAYOUT.ks_host_fs.fields.fs_path.length,
  // Filled by the receiver from the host's mount table, never by the decoder.
  hostPath: 0,
  fsRootHostPath: 0,
};
const ARGS_BOUND = LAYOUT.ks_exec.fields.args.length;
const PAYLOAD_BOUND = LAYOUT.ks_payload.fields.data.length;
const SIGNED_32 = new Set(['exitCode', 'fd', 'dirfd', 'nstype', 'targetPid', 'result', 'backlog']);
const UNSIGNED_16 = new Set(['family', 'port', 'protocol', 'sockType']);
const SIGNED_64 = new Set(['request']);

function checkString(key: string, value: string): void {
  const bound = STRING_BOUNDS[key];
  assert.ok(bound !== undefined, `string field ${key} has no ABI bound in the fuzzer: add it to STRING_BOUNDS`);
  assert.ok(value.length <= bound, `${key} is ${value.length} long, over its bound ${bound}`);
  assert.ok(!value.includes('\0'), `${key} contains a NUL`);
}

function checkNumber(key: string, value: number): void {
  assert.ok(Number.isInteger(value), `${key} is ${value}, not an integer`);
  const [min, max] = SIGNED_32.has(key) ? [-(2 ** 31), 2 ** 31 - 1] : UNSIGNED_16.has(key) ? [0, 0xffff] : [0, 2 ** 32 - 1];
  assert.ok(value >= min && value <= max, `${key} is ${value}, outside [${min}, ${max}]`);
}

function checkBigint(key: string, value: bigint): void {
  const [min, max] = SIGNED_64.has(key) ? [-(1n << 63n), (1n << 63n) - 1n] : [0n, (1n << 64n) - 1n];
  assert.ok(value >= min && value <= max, `${key} is ${value}, outside the 64-bit range`);
}

/** Every value is of a kind the ABI can produce and within its member's range; nothing is undefined or NaN. */
export function checkEventBounds(event: KernelEvent): void {
  assert.ok(RECORD_TYPES.includes(event.type), `event type ${event.type} is not a record type`);
  if (event.type === EventType.Open) assert.ok(event.path.length <= OPEN_STRING_MAX, `open path is ${event.path.length} long, over ${OPEN_STRING_MAX}`);
  for (const [key, value] of Object.entries(event)) {
    if (typeof value === 'string') checkString(key, value);
    else if (typeof value === 'number') checkNumber(key, value);
    else if (typeof value === 'bigint') checkBigint(key, value);
    else if (key === 'argv') {
      const argv = value as string[];
      for (const arg of argv) assert.ok(typeof arg === 'string' && !arg.includes('\0'), 'argv holds a non-string or a NUL');
      const chars = argv.reduce((sum, arg) => sum + arg.length, 0) + Math.max(0, argv.length - 1);
      assert.ok(chars <= ARGS_BOUND, `argv spans ${chars} characters, over the ${ARGS_BOUND} bytes of args`);
    } else if (key === 'data') {
      assert.ok(value instanceof Uint8Array, 'payload data is not bytes');
      assert.ok(value.length <= PAYLOAD_BOUND, `payload data of ${value.length} bytes, over ${PAYLOAD_BOUND}`);
    } else if (key === 'args' || key === 'ns') {
      for (const [inner, n] of Object.entries(value as object)) checkNumber(`${key}.${inner}`, n as number);
    } else assert.fail(`${key} is ${String(value)}: not a value the decoder should produce`);
  }
}

function cText(bytes: Buffer, at: number, max: number): string {
  let end = at;
  while (end < at + max && bytes[end] !== 0) end++;
  return bytes.toString('utf8', at, end);
}

function argvOf(bytes: Buffer): string[] {
  const argv: string[] = [];
  let from = 0;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] === 0) {
      argv.push(bytes.toString('utf8', from, i));
      from = i + 1;
    }
  }
  if (from < bytes.length) argv.push(bytes.toString('utf8', from));
  return argv;
}

const camel = (cName: string) => cName.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

/**
 * What the ABI says a record's header and text members decode to, read with Buffer's byte-order methods
 * independently of the decoder's typed-array views. (Every other member's mapping is tested against C-written
 * records in test/decoder.test.ts.)
 */
export function expectedFields(bytes: Buffer, type: EventType): Record<string, unknown> {
  const H = HEADER.fields;
  const expected: Record<string, unknown> = {
    type,
    flags: bytes.readUInt32LE(H.flags.offset),
    ktimeNs: bytes.readBigUInt64LE(H.ktime_ns.offset),
    cgroupId: bytes.readBigUInt64LE(H.cgroup_id.offset),
    tgid: bytes.readUInt32LE(H.tgid.offset),
    pid: bytes.readUInt32LE(H.pid.offset),
    uid: bytes.readUInt32LE(H.uid.offset),
    gid: bytes.readUInt32LE(H.gid.offset),
    comm: cText(bytes, H.comm.offset, H.comm.length!),
    startBoottimeNs: bytes.readBigUInt64LE(H.start_boottime_ns.offset),
  };
  const layout: StructLayout = LAYOUT[structOf(type)];
  for (const [name, field] of Object.entries(layout.fields)) {
    if (field.kind === 'char' && !COUNTED.has(name) && name !== 'unix_path') {
      expected[camel(name)] = cText(bytes, field.offset, field.length!);
    }
  }
  const usedBytes = (counted: string): Buffer => {
    const lengthField = layout.fields[`${counted}_len`];
    const used = lengthField.kind === 'u16' ? bytes.readUInt16LE(lengthField.offset) : bytes.readUInt32LE(lengthField.offset);
    const field = layout.fields[counted];
    return bytes.subarray(field.offset, field.offset + Math.min(used, field.length!));
  };
  if (type === EventType.Exec) {
    const path = usedBytes('path');
    expected.path = cText(path, 0, path.length);
    expected.argv = argvOf(usedBytes('args'));
  } else if (type === EventType.Payload) {
    expected.data = new Uint8Array(usedBytes('data'));
  } else if (type === EventType.Open) {
    // Where the ABI puts each string, for its length, but no more than the ABI's maximum nor past hdr.size (which
    // bytes.length is): the bytes after the record are another record's.
    const pathLen = bytes.readUInt16LE(OPEN.path_len.offset);
    const callerLen = bytes.readUInt16LE(OPEN.caller_path_len.offset);
    const within = (at: number, length: number) => cText(bytes, at, Math.max(0, Math.min(length, OPEN_STRING_MAX, bytes.length - at)));
    expected.path = within(OPEN.strings.offset, pathLen);
    expected.callerPath = callerLen === 0 ? '' : within(OPEN.strings.offset + pathLen + 1, callerLen);
  } else if (type === EventType.Connect) {
    const C = LAYOUT.ks_connect.fields;
    const at = C.unix_path.offset;
    const family = bytes.readUInt16LE(C.family.offset);
    expected.unixPath =
      family !== AddressFamily.Unix ? '' : bytes[at] === 0 ? `@${cText(bytes, at + 1, C.unix_path.length - 1)}` : cText(bytes, at, C.unix_path.length);
  } else if (type === EventType.CompatSyscall) {
    const A = LAYOUT.ks_compat_syscall.fields.args;
    expected.nr = bytes.readUInt32LE(LAYOUT.ks_compat_syscall.fields.nr.offset);
    expected.args = Array.from({ length: A.length }, (_, i) => bytes.readUInt32LE(A.offset + 4 * i));
  }
  return expected;
}

const TYPE_AT = (batch: Buffer, offset: number) => batch.readUInt16LE(offset + TYPE_OFFSET);
const SIZE_AT = (batch: Buffer, offset: number) => batch.readUInt16LE(offset + SIZE_OFFSET);

function decodeAlone(bytes: Buffer): KernelEvent[] {
  const copy = Buffer.alloc(bytes.length); // its own, aligned ArrayBuffer
  bytes.copy(copy);
  const events: KernelEvent[] = [];
  decodeBatch(copy, (e) => events.push(e), createDecoderStats(), new RateLimitedLog(() => {}, 1e9, 1e9));
  return events;
}

/**
 * Decodes `batch` and checks what holds for any input: it returns (a throw propagates to the caller, which names
 * the case), every byte is decoded or counted as dropped, at most one drop ends the batch, each event sits on a
 * well-framed record and is what that record decodes to on its own (so nothing before it leaks in), its header and
 * text members are what the ABI says, every value is within its member's range, and every warning is one line.
 * With a plan, the decode must also match it exactly.
 */
export function decodeAndCheck(batch: Buffer, plan?: Omit<Plan, 'batch'>): { stats: DecoderStats; events: KernelEvent[] } {
  const stats = createDecoderStats();
  const warnings: string[] = [];
  const seen: { offset: number; size: number; event: KernelEvent }[] = [];
  let decodedBytes = 0;
  decodeBatch(
    batch,
    (event) => {
      // Skipped records are counted before the walk moves past them, so this is where the event's record starts.
      const offset = decodedBytes + stats.droppedBytes;
      const size = offset + HEADER_SIZE <= batch.length ? SIZE_AT(batch, offset) : Number.NaN;
      seen.push({ offset, size, event });
      decodedBytes += size;
    },
    stats,
    new RateLimitedLog((message) => warnings.push(message), 1e9, 1e9),
  );
  for (const { offset, size, event } of seen) {
    const where = `event at byte ${offset} (type ${event.type})`;
    assert.ok(offset + size <= batch.length, `${where} runs past the batch`);
    assert.equal(TYPE_AT(batch, offset), event.type, `${where}: hdr.type there differs`);
    assert.ok(
      size % RECORD_ALIGN === 0 && size >= RECORD_MIN_SIZE_BY_TYPE[event.type] && size <= RECORD_MAX_SIZE_BY_TYPE[event.type],
      `${where}: hdr.size there, ${size}, is not a size of its type`,
    );
    checkEventBounds(event);
    const bytes = batch.subarray(offset, offset + size);
    const expected = expectedFields(bytes, event.type);
    for (const [key, value] of Object.entries(expected)) {
      assert.deepEqual((event as unknown as Record<string, unknown>)[key], value, `${where}: ${key}`);
    }
    assert.deepEqual(decodeAlone(bytes), [event], `${where} decodes differently on its own`);
  }
  assert.equal(decodedBytes + stats.droppedBytes, batch.length, 'decoded + dropped bytes differ from the batch length');
  assert.equal(stats.records, seen.length);
  assert.equal(stats.recordsByType.reduce((a, b) => a + b, 0), stats.records);
  assert.ok(stats.dropped.bad_size + stats.dropped.truncated <= 1, 'more than one drop ended the batch');
  const drops = Object.values(stats.dropped).reduce((a, b) => a + b, 0);
  assert.equal(warnings.length, drops, 'each drop warns once');
  for (const warning of warnings) assert.ok(!warning.includes('\n'), `a warning spans lines: ${JSON.stringify(warning)}`);
  if (plan) {
    assert.deepEqual(
      seen.map(({ offset, event }) => ({ offset, type: event.type })),
      plan.decoded,
      'decoded records (byte offset, type) differ from the plan',
    );
    assert.deepEqual(stats.dropped, plan.dropped, 'drops by reason differ from the plan');
    assert.equal(stats.droppedBytes, plan.droppedBytes, 'dropped bytes differ from the plan');
  }
  return { stats, events: seen.map(({ event }) => event) };
}

// ---------------------------------------------------------------------------------------------------------------
// Campaign

export interface CampaignTotals {
  cases: number;
  bytes: number;
  records: number;
  recordsByType: number[];
  dropped: Record<DropReason, number>;
  alignmentCopies: number;
  mangled: number;
}

export function emptyTotals(): CampaignTotals {
  const stats = createDecoderStats();
  return { cases: 0, bytes: 0, records: 0, recordsByType: stats.recordsByType, dropped: stats.dropped, alignmentCopies: 0, mangled: 0 };
}

/** One case, from its seed alone. */
export function runCase(caseSeed: number, totals: CampaignTotals = emptyTotals()): void {
  const rng = new Rng(caseSeed);
  const { batch, ...plan } = randomPlan(rng);
  const mangled = rng.chance(0.3);
  let input = mangled ? mangle(rng, batch) : batch;
  if (rng.chance(0.2)) input = misaligned(rng, input);
  const { stats } = decodeAndCheck(input, mangled ? undefined : plan);
  const isMisaligned = (input.byteOffset & (RECORD_ALIGN - 1)) !== 0;
  assert.equal(stats.alignmentCopies, isMisaligned ? 1 : 0, 'a batch is copied once when, and only when, it is misaligned');
  totals.cases++;
  totals.bytes += input.length;
  totals.records += stats.records;
  totals.alignmentCopies += stats.alignmentCopies;
  if (mangled) totals.mangled++;
  for (let t = 0; t < stats.recordsByType.length; t++) totals.recordsByType[t] += stats.recordsByType[t];
  for (const reason of Object.keys(stats.dropped) as DropReason[]) totals.dropped[reason] += stats.dropped[reason];
}

export interface CampaignOptions {
  seed: number;
  iterations: number;
  budgetMs: number;
  /** Called before each case, so a watchdog can name the case that never returned. */
  onCase?: (caseSeed: number) => void;
}

export class FuzzCaseError extends Error {
  override name = 'FuzzCaseError';
}

export function replayCommand(caseSeed: number): string {
  return `KUBESENTRY_FUZZ_SEED=${caseSeed} KUBESENTRY_FUZZ_ITERATIONS=1 node --test test/decoder-fuzz.test.ts`;
}

/** Cases seed, seed + 1, … until `iterations` have run or `budgetMs` has passed, whichever comes first. */
export function runCampaign(options: CampaignOptions): CampaignTotals {
  const totals = emptyTotals();
  const start = performance.now();
  for (let i = 0; i < options.iterations && performance.now() - start < options.budgetMs; i++) {
    const caseSeed = (options.seed + i) >>> 0;
    options.onCase?.(caseSeed);
    try {
      runCase(caseSeed, totals);
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error);
      throw new FuzzCaseError(`decoder fuzz case ${caseSeed} failed (replay: ${replayCommand(caseSeed)}): ${why}`, { cause: error });
    }
  }
  return totals;
}
