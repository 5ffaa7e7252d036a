// Builds raw ring-buffer records from layout.ts for tests and benchmarks that need bytes the kernel would write.
// (Decoder correctness against the real C layout is tested separately from C-written records.)

import { KIND_SIZE, LAYOUT, RECORD_ALIGN, type StructLayout, type StructName } from '../../src/receiver/layout.ts';

export type FieldValue = number | bigint | string | Uint8Array;

function writeField(buf: Buffer, at: number, layout: StructLayout, name: string, value: FieldValue): void {
  const field = layout.fields[name];
  if (!field) throw new Error(`no field ${name} in layout`);
  const o = at + field.offset;
  if (field.length !== undefined) {
    const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : (value as Uint8Array);
    const size = field.length * KIND_SIZE[field.kind as 'u8'];
    if (bytes.length > size) throw new Error(`${name}: ${bytes.length} bytes do not fit in ${size}`);
    buf.set(bytes, o);
    return;
  }
  switch (field.kind) {
    case 'u16': buf.writeUInt16LE(Number(value), o); break;
    case 'u32': buf.writeUInt32LE(Number(value), o); break;
    case 's32': buf.writeInt32LE(Number(value), o); break;
    case 'u64': buf.writeBigUInt64LE(BigInt(value as number | bigint), o); break;
    case 's64': buf.writeBigInt64LE(BigInt(value as number | bigint), o); break;
    default: throw new Error(`${name}: cannot write kind ${field.kind}`);
  }
}

/**
 * One record of `struct`, with hdr.type and hdr.size filled from the layout unless `hdr` overrides them.
 * Keys are the C member names.
 */
export function record(struct: StructName, fields: Record<string, FieldValue> = {}, hdr: Record<string, FieldValue> = {}): Buffer {
  const layout: StructLayout = LAYOUT[struct];
  const buf = Buffer.alloc(layout.size);
  if (layout.eventType !== undefined) {
    const headerFields = { type: layout.eventType, size: layout.size, ...hdr };
    for (const [name, value] of Object.entries(headerFields)) writeField(buf, 0, LAYOUT.ks_header, name, value);
  }
  for (const [name, value] of Object.entries(fields)) writeField(buf, 0, layout, name, value);
  return buf;
}

const OPEN = LAYOUT.ks_open.fields;

/**
 * A ks_open record as the kernel emits it: `path` NUL, then `callerPath` NUL when it is not empty, packed into
 * strings[], path_len and caller_path_len set, and the record (and hdr.size) only as long as the bytes used, rounded
 * up to RECORD_ALIGN. `fields` and `hdr` are written last, so a test can give a length or a size that lies; a size
 * larger than the struct zero-fills, a smaller one cuts.
 */
export function openRecord(
  path: string | Uint8Array,
  callerPath: string | Uint8Array = '',
  fields: Record<string, FieldValue> = {},
  hdr: Record<string, FieldValue> = {},
): Buffer {
  const bytesOf = (text: string | Uint8Array) => (typeof text === 'string' ? Buffer.from(text) : Buffer.from(text));
  const pathBytes = bytesOf(path);
  const callerBytes = bytesOf(callerPath);
  const nul = Buffer.alloc(1);
  const strings = Buffer.concat(callerBytes.length === 0 ? [pathBytes, nul] : [pathBytes, nul, callerBytes, nul]);
  const used = OPEN.strings.offset + strings.length;
  const size = Number(hdr.size ?? Math.ceil(used / RECORD_ALIGN) * RECORD_ALIGN);
  const full = record(
    'ks_open',
    { strings, path_len: pathBytes.length, caller_path_len: callerBytes.length, ...fields },
    { ...hdr, size },
  );
  const out = Buffer.alloc(size);
  full.copy(out, 0, 0, Math.min(size, full.length));
  return out;
}
