// A bounded on-disk FIFO of serialized OTLP requests that survives agent restarts (SIGKILL included).
//
// Layout under <dir>: numbered segment files written append-only, and a `cursor` file naming the first record not
// yet acknowledged by the Collector. The cursor is rewritten in place after every acknowledgement (one pwrite of a
// fixed-size, checksummed record: a rename per ack cost more CPU than the export itself); a cursor that fails its
// checksum is treated as absent, which re-sends from the oldest record and never skips one. Records are [u32 payload length][u32 crc32 of the rest][u8 kind]
// [f64 spooled-at ms][payload]; a torn or corrupt tail (crash mid-write) is cut off when the spool is reopened.
// Only acknowledged records move the cursor, so a crash between send and cursor write re-sends (duplicates carry
// the detection id), never loses. When full, whole segments are evicted oldest first and reported to onEvict.
//
// All file I/O is synchronous and runs from the telemetry flush and sender loops, never from emit().
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { ensurePrivateDir, openPrivateFile, writePrivateFileAtomically } from '../../fileModes.ts';
import type { FsyncPolicy } from '../TelemetryConfig.ts';

export const SpoolKind = { Logs: 1, Traces: 2 } as const;
export type SpoolKind = (typeof SpoolKind)[keyof typeof SpoolKind];
export const SPOOL_KIND_NAME: Record<SpoolKind, 'logs' | 'traces'> = { 1: 'logs', 2: 'traces' };

const HEADER_BYTES = 17;
const SEGMENT_SUFFIX = '.seg';

export interface SpoolItem {
  kind: SpoolKind;
  payload: Uint8Array;
}

export interface SpoolBatch {
  kind: SpoolKind;
  payloads: Buffer[];
  /** Position of the first record, for ack(). */
  readonly segmentSeq: number;
  readonly firstRecord: number;
}

export interface Eviction {
  logs: number;
  traces: number;
  /** Spool-time range of the evicted records (ms since epoch). */
  firstSpooledMs: number;
  lastSpooledMs: number;
}

export interface SpoolOptions {
  maxBytes: number;
  fsync: FsyncPolicy;
  fsyncIntervalMs: number;
  onEvict: (eviction: Eviction) => void;
  /** Told when an existing spool directory, or a file in it, was looser than private and has been tightened. */
  onDiagnostic?: (message: string) => void;
}

interface RecordIndex {
  offset: number;
  length: number;
  kind: SpoolKind;
  spooledMs: number;
}

interface Segment {
  seq: number;
  file: string;
  size: number;
  records: RecordIndex[];
  /** Kept open while the segment is being drained, so a peek is one pread rather than open + read + close. */
  readFd?: number;
}

// Fixed size so every rewrite covers the previous one exactly; JSON padded with spaces stays parseable.
const CURSOR_BYTES = 96;

export class Spool {
  readonly #dir: string;
  readonly #options: SpoolOptions;
  readonly #segmentMaxBytes: number;
  #segments: Segment[] = [];
  /** First unacknowledged record: in #segments[0] once acked records' segments are deleted. */
  #cursorRecord = 0;
  #activeFd: number | undefined;
  #bytes = 0;
  #pending = { logs: 0, traces: 0 };
  #dirty = false;
  #fsyncTimer: NodeJS.Timeout | undefined;
  #closed = false;
  #cursorFd: number | undefined;
  readonly #cursorBuffer = Buffer.alloc(CURSOR_BYTES);
  /** The last append as written, so a sender that keeps up peeks it from memory instead of reading it back. */
  #lastAppend: { segmentSeq: number; offset: number; bytes: Buffer } | undefined;

  constructor(dir: string, options: SpoolOptions) {
    this.#dir = dir;
    this.#options = options;
    // Eviction is per segment, so a segment is at most an eighth of the budget: a full spool loses ~1/8 at a time.
    this.#segmentMaxBytes = Math.max(64 * 1024, Math.min(16 * 1024 * 1024, Math.floor(options.maxBytes / 8)));
    ensurePrivateDir(dir, options.onDiagnostic ?? (() => {}));
    this.#load();
    if (options.fsync === 'interval') {
      this.#fsyncTimer = setInterval(() => this.#syncIfDirty(), options.fsyncIntervalMs);
      this.#fsyncTimer.unref();
    }
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** Unacknowledged records per signal. */
  get pending(): { logs: number; traces: number } {
    return { ...this.#pending };
  }

  get isEmpty(): boolean {
    return this.#pending.logs + this.#pending.traces === 0;
  }

  /** Appends items in one write; returns how many were refused because a single item exceeds the whole budget. */
  append(items: SpoolItem[]): number {
    if (this.#closed) throw new Error('spool is closed');
    let refused = 0;
    const now = Date.now();
    const encoded: { item: SpoolItem; bytes: Buffer }[] = [];
    for (const item of items) {
      const bytes = encodeRecord(item, now);
      if (bytes.length > this.#options.maxBytes) {
        refused++;
        continue;
      }
      encoded.push({ item, bytes });
    }
    let start = 0;
    while (start < encoded.length) {
      let segment = this.#activeSegment();
      if (segment.size >= this.#segmentMaxBytes) segment = this.#rotate();
      // Write as many as fit in this segment in one syscall, so a batch is one append rather than many.
      let end = start;
      let size = 0;
      while (end < encoded.length && (end === start || segment.size + size + encoded[end].bytes.length <= this.#segmentMaxBytes)) {
        size += encoded[end].bytes.length;
        end++;
      }
      this.#makeRoom(size);
      segment = this.#activeSegment();
      const chunk = end - start === 1 ? encoded[start].bytes : Buffer.concat(encoded.slice(start, end).map((e) => e.bytes));
      fs.writeSync(this.#activeFd!, chunk);
      this.#lastAppend = { segmentSeq: segment.seq, offset: segment.size, bytes: chunk };
      let offset = segment.size;
      for (let i = start; i < end; i++) {
        const { item, bytes } = encoded[i];
        segment.records.push({ offset, length: bytes.length, kind: item.kind, spooledMs: now });
        offset += bytes.length;
        this.#pending[SPOOL_KIND_NAME[item.kind]]++;
      }
      segment.size += size;
      this.#bytes += size;
      start = end;
    }
    this.#dirty = true;
    if (this.#options.fsync === 'always') this.#syncIfDirty();
    return refused;
  }

  /** The next unacknowledged records of one kind, oldest first, at most maxItems. */
  peek(maxItems: number): SpoolBatch | undefined {
    // A fully acknowledged segment stays until a newer one exists (it may still be the one being appended to).
    while (this.#segments.length > 1 && this.#cursorRecord >= this.#segments[0].records.length) {
      this.#dropOldestSegment();
      this.#writeCursor();
    }
    const segment = this.#segments[0];
    if (!segment || this.#cursorRecord >= segment.records.length) return undefined;
    const first = segment.records[this.#cursorRecord];
    let last = this.#cursorRecord;
    while (
      last + 1 < segment.records.length &&
      last + 1 - this.#cursorRecord < maxItems &&
      segment.records[last + 1].kind === first.kind
    ) {
      last++;
    }
    const end = segment.records[last].offset + segment.records[last].length;
    const tail = this.#lastAppend;
    let bytes: Buffer;
    if (tail && tail.segmentSeq === segment.seq && first.offset >= tail.offset && end <= tail.offset + tail.bytes.length) {
      bytes = tail.bytes.subarray(first.offset - tail.offset, end - tail.offset);
    } else {
      bytes = Buffer.allocUnsafe(end - first.offset);
      segment.readFd ??= fs.openSync(segment.file, 'r');
      readFully(segment.readFd, bytes, first.offset);
    }
    const payloads: Buffer[] = [];
    for (let i = this.#cursorRecord; i <= last; i++) {
      const r = segment.records[i];
      const start = r.offset - first.offset;
      payloads.push(bytes.subarray(start + HEADER_BYTES, start + r.length));
    }
    return { kind: first.kind, payloads, segmentSeq: segment.seq, firstRecord: this.#cursorRecord };
  }

  /** Marks a peeked batch delivered. A batch whose records were evicted meanwhile is ignored. */
  ack(batch: SpoolBatch): void {
    const segment = this.#segments[0];
    if (!segment || segment.seq !== batch.segmentSeq || this.#cursorRecord !== batch.firstRecord) return;
    for (let i = 0; i < batch.payloads.length; i++) {
      this.#pending[SPOOL_KIND_NAME[segment.records[this.#cursorRecord + i].kind]]--;
    }
    this.#cursorRecord += batch.payloads.length;
    if (this.#cursorRecord >= segment.records.length && this.#segments.length > 1) {
      this.#dropOldestSegment();
    }
    this.#writeCursor();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#fsyncTimer) clearInterval(this.#fsyncTimer);
    if (this.#options.fsync !== 'never') this.#syncIfDirty();
    if (this.#activeFd !== undefined) fs.closeSync(this.#activeFd);
    this.#activeFd = undefined;
    for (const segment of this.#segments) closeReadFd(segment);
    if (this.#cursorFd !== undefined) fs.closeSync(this.#cursorFd);
    this.#cursorFd = undefined;
  }

  #activeSegment(): Segment {
    const last = this.#segments.at(-1);
    if (last && this.#activeFd !== undefined) return last;
    return this.#rotate();
  }

  #rotate(): Segment {
    if (this.#activeFd !== undefined) {
      if (this.#options.fsync !== 'never') this.#syncIfDirty();
      fs.closeSync(this.#activeFd);
    }
    const seq = (this.#segments.at(-1)?.seq ?? 0) + 1;
    const file = path.join(this.#dir, `${String(seq).padStart(16, '0')}${SEGMENT_SUFFIX}`);
    this.#activeFd = openPrivateFile(file, 'a');
    const segment: Segment = { seq, file, size: 0, records: [] };
    this.#segments.push(segment);
    return segment;
  }

  #makeRoom(incoming: number): void {
    let evicted: Eviction | undefined;
    while (this.#bytes + incoming > this.#options.maxBytes && this.#segments.length > 0) {
      if (this.#segments.length === 1) this.#rotate();
      const segment = this.#segments[0];
      for (let i = this.#cursorRecord; i < segment.records.length; i++) {
        const r = segment.records[i];
        evicted ??= { logs: 0, traces: 0, firstSpooledMs: r.spooledMs, lastSpooledMs: r.spooledMs };
        evicted[SPOOL_KIND_NAME[r.kind]]++;
        this.#pending[SPOOL_KIND_NAME[r.kind]]--;
        evicted.firstSpooledMs = Math.min(evicted.firstSpooledMs, r.spooledMs);
        evicted.lastSpooledMs = Math.max(evicted.lastSpooledMs, r.spooledMs);
      }
      this.#dropOldestSegment();
      this.#writeCursor();
    }
    if (evicted) this.#options.onEvict(evicted);
  }

  #dropOldestSegment(): void {
    const segment = this.#segments.shift()!;
    closeReadFd(segment);
    this.#bytes -= segment.size;
    this.#cursorRecord = 0;
    fs.rmSync(segment.file, { force: true });
  }

  #writeCursor(): void {
    const segment = this.#segments[0];
    const seq = segment?.seq ?? 0;
    const offset = segment ? (segment.records[this.#cursorRecord]?.offset ?? segment.size) : 0;
    const buffer = this.#cursorBuffer;
    buffer.fill(0x20);
    buffer.write(JSON.stringify({ seq, offset, crc: cursorChecksum(seq, offset) }));
    if (this.#cursorFd === undefined) {
      // Replaces a cursor of another size (an older format) once; from then on every write overlays the last.
      writePrivateFileAtomically(path.join(this.#dir, 'cursor'), buffer);
      this.#cursorFd = fs.openSync(path.join(this.#dir, 'cursor'), 'r+');
    } else {
      fs.writeSync(this.#cursorFd, buffer, 0, CURSOR_BYTES, 0);
    }
    if (this.#options.fsync === 'always') fs.fdatasyncSync(this.#cursorFd);
  }

  #syncIfDirty(): void {
    // Records the Collector has acknowledged need no durability: with nothing pending there is nothing to sync. A
    // sender that keeps up leaves the log spool empty most of the time, and each fdatasync puts the JS thread to
    // sleep on the journal several times (session 4, `git show fb4a52a:docs/benchmarks.md`). A later sync covers the skipped bytes.
    if (!this.#dirty || this.#activeFd === undefined || this.isEmpty) return;
    fs.fdatasyncSync(this.#activeFd);
    this.#dirty = false;
  }

  #load(): void {
    const files = fs
      .readdirSync(this.#dir)
      .filter((f) => /^\d{16}\.seg$/.test(f))
      .sort();
    let cursor = { seq: 0, offset: 0 };
    try {
      const read = JSON.parse(fs.readFileSync(path.join(this.#dir, 'cursor'), 'utf8'));
      // Spools written before the checksum have none; their cursor was replaced atomically by rename.
      if (read.crc === undefined || read.crc === cursorChecksum(read.seq, read.offset)) cursor = read;
    } catch {
      // No cursor yet (fresh spool) or an unreadable one: start from the oldest record; at worst re-sends.
    }
    for (const name of files) {
      const seq = Number(name.slice(0, 16));
      const file = path.join(this.#dir, name);
      if (seq < cursor.seq) {
        fs.rmSync(file, { force: true });
        continue;
      }
      const segment = scanSegment(seq, file);
      this.#segments.push(segment);
      this.#bytes += segment.size;
    }
    const first = this.#segments[0];
    if (first && first.seq === cursor.seq) {
      const index = first.records.findIndex((r) => r.offset >= cursor.offset);
      this.#cursorRecord = index === -1 ? first.records.length : index;
    }
    this.#segments.forEach((segment, i) => {
      for (let r = i === 0 ? this.#cursorRecord : 0; r < segment.records.length; r++) {
        this.#pending[SPOOL_KIND_NAME[segment.records[r].kind]]++;
      }
    });
    // Appends always go to a fresh segment after a restart, so a torn tail is never appended to.
  }
}

function encodeRecord(item: SpoolItem, spooledMs: number): Buffer {
  const bytes = Buffer.allocUnsafe(HEADER_BYTES + item.payload.length);
  bytes.writeUInt32LE(item.payload.length, 0);
  bytes.writeUInt8(item.kind, 8);
  bytes.writeDoubleLE(spooledMs, 9);
  bytes.set(item.payload, HEADER_BYTES);
  bytes.writeUInt32LE(zlib.crc32(bytes.subarray(8)), 4);
  return bytes;
}

function cursorChecksum(seq: number, offset: number): number {
  return zlib.crc32(`${seq}:${offset}`);
}

function closeReadFd(segment: Segment): void {
  if (segment.readFd === undefined) return;
  fs.closeSync(segment.readFd);
  segment.readFd = undefined;
}

function scanSegment(seq: number, file: string): Segment {
  const data = fs.readFileSync(file);
  const records: RecordIndex[] = [];
  let offset = 0;
  while (offset + HEADER_BYTES <= data.length) {
    const length = HEADER_BYTES + data.readUInt32LE(offset);
    if (offset + length > data.length) break;
    if (zlib.crc32(data.subarray(offset + 8, offset + length)) !== data.readUInt32LE(offset + 4)) break;
    const kind = data.readUInt8(offset + 8);
    if (kind !== SpoolKind.Logs && kind !== SpoolKind.Traces) break;
    records.push({ offset, length, kind, spooledMs: data.readDoubleLE(offset + 9) });
    offset += length;
  }
  if (offset < data.length) fs.truncateSync(file, offset);
  return { seq, file, size: offset, records };
}

function readFully(fd: number, into: Buffer, position: number): void {
  let done = 0;
  while (done < into.length) {
    const n = fs.readSync(fd, into, done, into.length - done, position + done);
    if (n === 0) throw new Error('spool segment shorter than its index');
    done += n;
  }
}

/**
 * One spool per signal, so each drains in large single-signal batches (a detection writes a log record and a span
 * batch; interleaved in one FIFO they would go out one request each). The byte budget is split evenly.
 */
export class SignalSpools {
  readonly #spools: Record<SpoolKind, Spool>;

  constructor(dir: string, options: SpoolOptions) {
    ensurePrivateDir(dir, options.onDiagnostic ?? (() => {}));
    const half = { ...options, maxBytes: Math.floor(options.maxBytes / 2) };
    this.#spools = {
      [SpoolKind.Logs]: new Spool(path.join(dir, 'logs'), half),
      [SpoolKind.Traces]: new Spool(path.join(dir, 'traces'), half),
    };
  }

  get bytes(): number {
    return this.#spools[SpoolKind.Logs].bytes + this.#spools[SpoolKind.Traces].bytes;
  }

  get pending(): { logs: number; traces: number } {
    return { logs: this.#spools[SpoolKind.Logs].pending.logs, traces: this.#spools[SpoolKind.Traces].pending.traces };
  }

  get isEmpty(): boolean {
    return this.#spools[SpoolKind.Logs].isEmpty && this.#spools[SpoolKind.Traces].isEmpty;
  }

  /** Returns how many items of each signal were refused (bigger than that signal's whole budget). */
  append(items: SpoolItem[]): { logs: number; traces: number } {
    const refused = { logs: 0, traces: 0 };
    for (const kind of [SpoolKind.Logs, SpoolKind.Traces]) {
      const ofKind = items.filter((i) => i.kind === kind);
      if (ofKind.length > 0) refused[SPOOL_KIND_NAME[kind]] += this.#spools[kind].append(ofKind);
    }
    return refused;
  }

  peek(kind: SpoolKind, maxItems: number): SpoolBatch | undefined {
    return this.#spools[kind].peek(maxItems);
  }

  ack(batch: SpoolBatch): void {
    this.#spools[batch.kind].ack(batch);
  }

  close(): void {
    this.#spools[SpoolKind.Logs].close();
    this.#spools[SpoolKind.Traces].close();
  }
}
