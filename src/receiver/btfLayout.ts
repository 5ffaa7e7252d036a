// Checks src/receiver/layout.ts against the BTF of a compiled BPF object: the kernel side and the decoder must agree
// on every struct size, member offset, member type and array length, or events decode into silent garbage.
// The BTF is read straight from the ELF '.BTF' section (no bpftool at run time), so the agent can run the same
// check at start-up that test/layout.test.ts runs in CI.

import { readFile } from 'node:fs/promises';
import { KIND_SIZE, LAYOUT, type FieldKind, type StructLayout } from './layout.ts';

const BTF_MAGIC = 0xeb9f;

// BTF kinds (include/uapi/linux/btf.h). Only those that shape a struct member are interpreted; the rest are skipped
// by their record length.
const BTF_KIND = {
  INT: 1,
  PTR: 2,
  ARRAY: 3,
  STRUCT: 4,
  UNION: 5,
  ENUM: 6,
  FWD: 7,
  TYPEDEF: 8,
  VOLATILE: 9,
  CONST: 10,
  RESTRICT: 11,
  FUNC: 12,
  FUNC_PROTO: 13,
  VAR: 14,
  DATASEC: 15,
  FLOAT: 16,
  DECL_TAG: 17,
  TYPE_TAG: 18,
  ENUM64: 19,
} as const;
const BTF_INT_SIGNED = 1;

interface BtfType {
  kind: number;
  name: string;
  /** size for INT/STRUCT/UNION/ENUM; referenced type id for TYPEDEF/CONST/VOLATILE/PTR... */
  sizeOrType: number;
  intSigned?: boolean;
  array?: { elemType: number; length: number };
  members?: { name: string; type: number; bitOffset: number; bitfieldSize: number }[];
}

export interface BtfMember {
  name: string;
  offset: number;
  /** Scalar kind, or 'struct'; undefined when the member's type is something layout.ts cannot express. */
  kind: FieldKind | undefined;
  length?: number;
  struct?: string;
  /** Human description of the BTF type, for messages. */
  typeText: string;
  bitfield: boolean;
}

export interface BtfStruct {
  name: string;
  size: number;
  members: BtfMember[];
}

export interface LayoutMismatch {
  struct: string;
  member?: string;
  message: string;
}

/** The '.BTF' section of an ELF object, or the whole file when it is raw BTF (e.g. /sys/kernel/btf/vmlinux). */
export function btfSection(file: Buffer, source: string): Buffer {
  if (file.length >= 2 && file.readUInt16LE(0) === BTF_MAGIC) return file;
  if (file.length < 64 || file.readUInt32BE(0) !== 0x7f454c46) throw new Error(`${source}: neither an ELF object nor raw BTF`);
  if (file[4] !== 2 || file[5] !== 1) throw new Error(`${source}: only 64-bit little-endian ELF objects are supported`);
  const shoff = Number(file.readBigUInt64LE(0x28));
  const shentsize = file.readUInt16LE(0x3a);
  const shnum = file.readUInt16LE(0x3c);
  const shstrndx = file.readUInt16LE(0x3e);
  const section = (index: number) => {
    const at = shoff + index * shentsize;
    return {
      nameOffset: file.readUInt32LE(at),
      offset: Number(file.readBigUInt64LE(at + 24)),
      size: Number(file.readBigUInt64LE(at + 32)),
    };
  };
  const names = section(shstrndx);
  for (let i = 0; i < shnum; i++) {
    const s = section(i);
    const nameStart = names.offset + s.nameOffset;
    const nameEnd = file.indexOf(0, nameStart);
    if (file.toString('latin1', nameStart, nameEnd) === '.BTF') return file.subarray(s.offset, s.offset + s.size);
  }
  throw new Error(`${source}: no .BTF section (compile with clang -g)`);
}

function parseBtfTypes(btf: Buffer, source: string): BtfType[] {
  if (btf.length < 24 || btf.readUInt16LE(0) !== BTF_MAGIC) throw new Error(`${source}: bad BTF magic`);
  const hdrLen = btf.readUInt32LE(4);
  const typeStart = hdrLen + btf.readUInt32LE(8);
  const typeEnd = typeStart + btf.readUInt32LE(12);
  const strStart = hdrLen + btf.readUInt32LE(16);
  const str = (offset: number) => btf.toString('latin1', strStart + offset, btf.indexOf(0, strStart + offset));

  const types: BtfType[] = [{ kind: 0, name: 'void', sizeOrType: 0 }]; // type id 0 is void
  let at = typeStart;
  while (at < typeEnd) {
    const name = str(btf.readUInt32LE(at));
    const info = btf.readUInt32LE(at + 4);
    const sizeOrType = btf.readUInt32LE(at + 8);
    const kind = (info >>> 24) & 0x1f;
    const vlen = info & 0xffff;
    const kindFlag = info >>> 31 === 1;
    at += 12;
    const type: BtfType = { kind, name, sizeOrType };
    switch (kind) {
      case BTF_KIND.INT:
        type.intSigned = ((btf.readUInt32LE(at) >>> 24) & 0x0f & BTF_INT_SIGNED) !== 0;
        at += 4;
        break;
      case BTF_KIND.ARRAY:
        type.array = { elemType: btf.readUInt32LE(at), length: btf.readUInt32LE(at + 8) };
        at += 12;
        break;
      case BTF_KIND.STRUCT:
      case BTF_KIND.UNION:
        type.members = [];
        for (let i = 0; i < vlen; i++, at += 12) {
          const raw = btf.readUInt32LE(at + 8);
          type.members.push({
            name: str(btf.readUInt32LE(at)),
            type: btf.readUInt32LE(at + 4),
            bitOffset: kindFlag ? raw & 0xffffff : raw,
            bitfieldSize: kindFlag ? raw >>> 24 : 0,
          });
        }
        break;
      case BTF_KIND.ENUM:
      case BTF_KIND.FUNC_PROTO:
        at += vlen * 8;
        break;
      case BTF_KIND.DATASEC:
      case BTF_KIND.ENUM64:
        at += vlen * 12;
        break;
      case BTF_KIND.VAR:
      case BTF_KIND.DECL_TAG:
        at += 4;
        break;
      default:
        if (kind > BTF_KIND.ENUM64) throw new Error(`${source}: unknown BTF kind ${kind} at type ${types.length}`);
    }
    types.push(type);
  }
  return types;
}

function describeMember(types: BtfType[], typeId: number): Pick<BtfMember, 'kind' | 'length' | 'struct' | 'typeText'> {
  let t = types[typeId];
  while (t.kind === BTF_KIND.TYPEDEF || t.kind === BTF_KIND.CONST || t.kind === BTF_KIND.VOLATILE || t.kind === BTF_KIND.TYPE_TAG) {
    t = types[t.sizeOrType];
  }
  if (t.kind === BTF_KIND.ARRAY) {
    const elem = describeMember(types, t.array!.elemType);
    if (elem.length !== undefined) return { kind: undefined, typeText: `${elem.typeText}[${t.array!.length}]` };
    return { ...elem, length: t.array!.length, typeText: `${elem.typeText}[${t.array!.length}]` };
  }
  if (t.kind === BTF_KIND.STRUCT) return { kind: 'struct', struct: t.name, typeText: `struct ${t.name}` };
  if (t.kind === BTF_KIND.INT) {
    const size = t.sizeOrType;
    let kind: FieldKind | undefined;
    if (t.name === 'char' || t.name === 'signed char' || t.name === 'unsigned char') kind = t.name === 'unsigned char' ? 'u8' : 'char';
    else if (t.intSigned) kind = size === 4 ? 's32' : size === 8 ? 's64' : undefined;
    else kind = size === 1 ? 'u8' : size === 2 ? 'u16' : size === 4 ? 'u32' : size === 8 ? 'u64' : undefined;
    return { kind, typeText: t.name };
  }
  return { kind: undefined, typeText: `BTF kind ${t.kind} '${t.name}'` };
}

/** Every named struct in a BTF blob (ELF object or raw BTF), keyed by name. */
export function parseBtfStructs(file: Buffer, source = 'BTF'): Map<string, BtfStruct> {
  const types = parseBtfTypes(btfSection(file, source), source);
  const structs = new Map<string, BtfStruct>();
  for (const t of types) {
    if (t.kind !== BTF_KIND.STRUCT || t.name === '') continue;
    structs.set(t.name, {
      name: t.name,
      size: t.sizeOrType,
      members: t.members!.map((m) => ({
        name: m.name,
        offset: m.bitOffset / 8,
        bitfield: m.bitfieldSize !== 0 || m.bitOffset % 8 !== 0,
        ...describeMember(types, m.type),
      })),
    });
  }
  return structs;
}

function describeExpected(field: StructLayout['fields'][string]): string {
  const base = field.kind === 'struct' ? `struct ${field.struct}` : field.kind;
  return field.length === undefined ? base : `${base}[${field.length}]`;
}

function describeActual(member: BtfMember): string {
  if (member.kind === undefined) return member.typeText;
  const base = member.kind === 'struct' ? `struct ${member.struct}` : member.kind;
  return member.length === undefined ? base : `${base}[${member.length}]`;
}

/** Every disagreement between the layout table and the BTF structs; empty when they match. */
export function compareLayout(
  actual: Map<string, BtfStruct>,
  expected: Readonly<Record<string, StructLayout>> = LAYOUT,
): LayoutMismatch[] {
  const mismatches: LayoutMismatch[] = [];
  for (const [structName, layout] of Object.entries(expected)) {
    const btf = actual.get(structName);
    if (!btf) {
      // clang emits BTF only for types reachable from globals, maps and function signatures, not from locals.
      mismatches.push({
        struct: structName,
        message: `struct ${structName} is not in the object's BTF (reference it from a global in bpf/ so clang emits its BTF)`,
      });
      continue;
    }
    if (btf.size !== layout.size) {
      mismatches.push({ struct: structName, message: `struct ${structName} is ${btf.size} bytes in BTF, layout.ts says ${layout.size}` });
    }
    const members = new Map(btf.members.map((m) => [m.name, m]));
    for (const [memberName, field] of Object.entries(layout.fields)) {
      const member = members.get(memberName);
      const where = `${structName}.${memberName}`;
      if (!member) {
        mismatches.push({ struct: structName, member: memberName, message: `${where} is in layout.ts but not in BTF` });
        continue;
      }
      if (member.bitfield) {
        mismatches.push({ struct: structName, member: memberName, message: `${where} is a bitfield, which layout.ts cannot describe` });
        continue;
      }
      if (member.offset !== field.offset) {
        mismatches.push({ struct: structName, member: memberName, message: `${where} is at offset ${member.offset} in BTF, layout.ts says ${field.offset}` });
      }
      const expectedType = describeExpected(field);
      const actualType = describeActual(member);
      if (expectedType !== actualType) {
        mismatches.push({ struct: structName, member: memberName, message: `${where} is ${actualType} in BTF, layout.ts says ${expectedType}` });
      }
    }
    for (const member of btf.members) {
      if (!(member.name in layout.fields)) {
        mismatches.push({ struct: structName, member: member.name, message: `${structName}.${member.name} (offset ${member.offset}) is in BTF but not in layout.ts` });
      }
    }
    // Members must tile the struct with no implicit padding (every pad byte is named in events.h).
    let covered = 0;
    for (const field of Object.values(layout.fields).toSorted((a, b) => a.offset - b.offset)) {
      if (field.offset !== covered) {
        mismatches.push({ struct: structName, message: `${structName} has ${field.offset - covered} unnamed byte(s) at offset ${covered} in layout.ts` });
      }
      covered = field.offset + fieldSize(field, expected);
    }
    if (covered !== layout.size) {
      mismatches.push({ struct: structName, message: `${structName} has ${layout.size - covered} unnamed trailing byte(s) in layout.ts` });
    }
  }
  return mismatches;
}

function fieldSize(field: StructLayout['fields'][string], layouts: Readonly<Record<string, StructLayout>>): number {
  const one = field.kind === 'struct' ? (layouts[field.struct!]?.size ?? 0) : KIND_SIZE[field.kind];
  return one * (field.length ?? 1);
}

/** Reads a compiled BPF object and compares its BTF with layout.ts. */
export async function checkObjectLayout(objectPath: string, expected: Readonly<Record<string, StructLayout>> = LAYOUT): Promise<LayoutMismatch[]> {
  return compareLayout(parseBtfStructs(await readFile(objectPath), objectPath), expected);
}

/**
 * The agent's start-up self-check: throws one line naming the first mismatches when the object and the decoder
 * disagree, because every event decoded after that would be wrong.
 */
export async function assertObjectLayout(objectPath: string): Promise<void> {
  const mismatches = await checkObjectLayout(objectPath);
  if (mismatches.length === 0) return;
  const shown = mismatches.slice(0, 3).map((m) => m.message).join('; ');
  const more = mismatches.length > 3 ? ` (+${mismatches.length - 3} more)` : '';
  throw new Error(`${objectPath} does not match the decoder's layout (src/receiver/layout.ts): ${shown}${more}`);
}
