// Fuzzes the ring-buffer record decoder (src/receiver/decoder.ts) with malformed, truncated and oversized records
// from test/helpers/decoderFuzz.ts. The seeded campaign is bounded by a case count and a time budget:
//
//   KUBESENTRY_FUZZ_SECONDS     time budget of the campaign (default 20)
//   KUBESENTRY_FUZZ_ITERATIONS  most cases to run (default 1000000)
//   KUBESENTRY_FUZZ_SEED        first case's seed, to replay a failure (default: random, printed)
//
// docs/development.md, "Fuzzing the decoder".

import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { describe, it, type TestContext } from 'node:test';
import { Worker } from 'node:worker_threads';
import { EventType, EventTypeName } from '../src/receiver/events.ts';
import { LAYOUT, RECORD_ALIGN, type StructLayout } from '../src/receiver/layout.ts';
import {
  OPEN_STRING_MAX,
  RECORD_TYPES,
  Rng,
  decodeAndCheck,
  randomRecord,
  replayCommand,
  structOf,
  type CampaignOptions,
  type CampaignTotals,
} from './helpers/decoderFuzz.ts';
import { record } from './helpers/records.ts';

function envNumber(name: string, fallback: number, isValid: (n: number) => boolean, what: string): number {
  const text = process.env[name];
  if (text === undefined || text.trim() === '') return fallback;
  const n = Number(text);
  if (!isValid(n)) throw new Error(`${name} must be ${what}, got "${text}"`);
  return n;
}

const BUDGET_SECONDS = envNumber('KUBESENTRY_FUZZ_SECONDS', 20, (n) => n > 0, 'a positive number of seconds');
const ITERATIONS = envNumber('KUBESENTRY_FUZZ_ITERATIONS', 1_000_000, (n) => Number.isSafeInteger(n) && n > 0, 'a positive integer');
const SEED = envNumber('KUBESENTRY_FUZZ_SEED', randomInt(0, 2 ** 32), (n) => Number.isInteger(n) && n >= 0 && n < 2 ** 32, 'an integer in [0, 2^32)');
// One case takes milliseconds; a case that has not returned after this long is a decoder that does not terminate.
const STALL_MS = 30_000;

/** Set when a campaign found a case that never returns: decoding on the test's own thread would then hang too. */
let decoderHung = false;
/** A test that decodes on this thread, skipped once a campaign has seen the decoder hang. */
function onThisThread(body: () => void): (t: TestContext) => void {
  return (t) => {
    if (decoderHung) t.skip('the decoder hangs: see the failed campaign');
    else body();
  };
}
const EMPTY_DROPS = { unknown_type: 0, size_mismatch: 0, truncated: 0, bad_size: 0 };

describe('decoder fuzzing', () => {
  // The campaigns run first and on a worker: a decoder that never returns fails them with the case's seed, and the
  // tests below, which decode on this thread, are then skipped instead of hanging the suite.
  it('reaches every record type, every drop reason, mangled and misaligned batches (a fixed campaign)', async () => {
    const totals = await campaignInWorker({ seed: 1, iterations: 2000, budgetMs: Number.POSITIVE_INFINITY });
    for (const type of RECORD_TYPES) assert.ok(totals.recordsByType[type] > 0, `no ${EventTypeName[type]} record decoded`);
    for (const [reason, n] of Object.entries(totals.dropped)) assert.ok(n > 0, `no ${reason} drop`);
    assert.ok(totals.mangled > 0 && totals.alignmentCopies > 0);
    assert.ok(totals.bytes > RECORD_ALIGN * 0xffff, 'no batch beyond the largest record');
  });

  it(`keeps every property over a seeded campaign (seed ${SEED}, at most ${ITERATIONS} cases or ${BUDGET_SECONDS} s)`, async (t) => {
    t.diagnostic(`replay the first case: ${replayCommand(SEED)}`);
    const totals = await campaignInWorker({ seed: SEED, iterations: ITERATIONS, budgetMs: BUDGET_SECONDS * 1000 });
    t.diagnostic(`${totals.cases} cases, ${totals.bytes} bytes, ${totals.records} records decoded, drops ${JSON.stringify(totals.dropped)}`);
    assert.ok(totals.cases > 0);
  });

  it('drops a record of every type cut at every length as truncated, and decodes the good record before it', onThisThread(() => {
    const rng = new Rng(1);
    const before = record('ks_exit', { exit_code: 3 });
    for (const type of RECORD_TYPES) {
      const full = randomRecord(rng, structOf(type), []);
      for (let length = 1; length < full.length; length++) {
        decodeAndCheck(Buffer.concat([before, full.subarray(0, length)]), {
          decoded: [{ offset: 0, type: EventType.Exit }],
          dropped: { ...EMPTY_DROPS, truncated: 1 },
          droppedBytes: length,
        });
      }
    }
  }));

  // A length field an attacker inflates must not carry the read into the next member or past the record.
  const EVENT_KEY_OF_MEMBER: Readonly<Record<string, string>> = { args: 'argv', exe_path: 'exePath' };
  const lengthCases: Array<{ struct: 'ks_exec' | 'ks_payload'; lengthField: string; member: string; values: number[] }> = [
    { struct: 'ks_exec', lengthField: 'path_len', member: 'path', values: [0, 1, 255, 256, 257, 0x7fff, 0xffff] },
    { struct: 'ks_exec', lengthField: 'args_len', member: 'args', values: [0, 1, 511, 512, 513, 0x7fff, 0xffff] },
    { struct: 'ks_exec', lengthField: 'exe_path_len', member: 'exe_path', values: [0, 1, 255, 256, 257, 0x7fff, 0xffff] },
    { struct: 'ks_payload', lengthField: 'data_len', member: 'data', values: [0, 1, 127, 128, 129, 0xffff, 0x80000000, 0xffffffff] },
  ];
  for (const { struct, lengthField, member, values } of lengthCases) {
    it(`bounds ${struct}.${member} by its size whatever ${lengthField} says (zero, the bound, past it, negative as unsigned)`, onThisThread(() => {
      const layout: StructLayout = LAYOUT[struct];
      const bound = layout.fields[member].length!;
      // The member full to its last byte with no NUL, and the bytes right after it non-zero too.
      const filled = Buffer.alloc(bound, 'a');
      for (const value of values) {
        const rec = record(struct, { [member]: filled, [lengthField]: value });
        rec.fill('z', layout.fields[member].offset + bound);
        const { events } = decodeAndCheck(rec, { decoded: [{ offset: 0, type: layout.eventType! }], dropped: EMPTY_DROPS, droppedBytes: 0 });
        const used = Math.min(value, bound);
        const decoded = (events[0] as unknown as Record<string, unknown>)[EVENT_KEY_OF_MEMBER[member] ?? member];
        const expected = member === 'data' ? new Uint8Array(filled.subarray(0, used)) : member === 'args' ? (used === 0 ? [] : ['a'.repeat(used)]) : 'a'.repeat(used);
        assert.deepEqual(decoded, expected, `${lengthField} = ${value}`);
      }
    }));
  }

  it("never reads an open record's strings outside the record, whatever path_len and caller_path_len say", onThisThread(() => {
    const rng = new Rng(3);
    const OPEN = LAYOUT.ks_open.fields;
    const largest = LAYOUT.ks_open.size;
    // Valid open records of the largest size with no NUL in strings, so only the decoder's bounds stop a read.
    const neighbour = (byte: number) => record('ks_open', { strings: Buffer.alloc(OPEN.strings.length, byte) });
    const edges = [0, 1, 7, 8, OPEN_STRING_MAX - 1, OPEN_STRING_MAX, OPEN_STRING_MAX + 1, 511, 512, 0x7fff, 0xffff];
    for (let i = 0; i < 3000; i++) {
      const rec = randomRecord(rng, 'ks_open', []);
      const room = rec.length - OPEN.strings.offset;
      const lying = () => (rng.chance(0.7) ? rng.pick([...edges, room - 1, room, room + 1]) : rng.below(0x10000));
      rec.writeUInt16LE(lying(), OPEN.path_len.offset);
      rec.writeUInt16LE(lying(), OPEN.caller_path_len.offset);
      // Half without the NULs that would otherwise end a read inside the record whatever the lengths say.
      if (rng.chance(0.5)) for (let at = OPEN.strings.offset; at < rec.length; at++) rec[at] ||= rng.between(1, 0xff);
      // Alone in memory of exactly its size: a read past its end would throw (Buffer's slices check their range).
      const alone = Buffer.alloc(rec.length);
      rec.copy(alone);
      assert.equal(alone.buffer.byteLength, rec.length);
      const [event] = decodeAndCheck(alone, { decoded: [{ offset: 0, type: EventType.Open }], dropped: EMPTY_DROPS, droppedBytes: 0 }).events;
      // Between records of other bytes, it must decode to the same: nothing before or after it shows through.
      for (const byte of [0x7a, 0xfe]) {
        const plan = [0, largest, largest + rec.length].map((offset) => ({ offset, type: EventType.Open }));
        const { events } = decodeAndCheck(Buffer.concat([neighbour(byte), rec, neighbour(byte)]), { decoded: plan, dropped: EMPTY_DROPS, droppedBytes: 0 });
        assert.deepEqual(events[1], event, `path_len ${rec.readUInt16LE(OPEN.path_len.offset)}, caller_path_len ${rec.readUInt16LE(OPEN.caller_path_len.offset)}, size ${rec.length}`);
      }
    }
  }));

  const hostileSizes: Array<[string, number, 'bad_size' | 'truncated']> = [
    ['zero', 0, 'bad_size'],
    ['-1 as unsigned', 0xffff, 'bad_size'],
    ['-8 as unsigned, aligned and past the batch', 0xfff8, 'truncated'],
    ['one under a header', LAYOUT.ks_header.size - 1, 'bad_size'],
    ['0x8000, past the batch', 0x8000, 'truncated'],
  ];
  for (const [name, size, reason] of hostileSizes) {
    it(`ends the batch with one ${reason} drop at hdr.size ${name}, for every type, after decoding the record before`, onThisThread(() => {
      const rng = new Rng(2);
      for (const type of RECORD_TYPES) {
        const good = randomRecord(rng, structOf(type), []);
        const bad = randomRecord(rng, structOf(type), []);
        bad.writeUInt16LE(size, LAYOUT.ks_header.fields.size.offset);
        const after = randomRecord(rng, structOf(type), []);
        decodeAndCheck(Buffer.concat([good, bad, after]), {
          decoded: [{ offset: 0, type }],
          dropped: { ...EMPTY_DROPS, [reason]: 1 },
          droppedBytes: bad.length + after.length,
        });
      }
    }));
  }
});

/** A campaign on a worker thread, watched: a case that never returns fails the test with its seed. */
function campaignInWorker(options: Omit<CampaignOptions, 'onCase'>): Promise<CampaignTotals> {
  const progress = new SharedArrayBuffer(2 * Int32Array.BYTES_PER_ELEMENT);
  const counters = new Int32Array(progress); // [cases started, seed of the current case]
  const worker = new Worker(new URL('./helpers/decoderFuzzWorker.ts', import.meta.url), {
    workerData: { ...options, progress },
  });
  return new Promise<CampaignTotals>((resolve, reject) => {
    let lastCount = -1;
    let lastChange = performance.now();
    const watchdog = setInterval(() => {
      const count = Atomics.load(counters, 0);
      if (count !== lastCount) {
        lastCount = count;
        lastChange = performance.now();
      } else if (performance.now() - lastChange > STALL_MS) {
        const caseSeed = Atomics.load(counters, 1) >>> 0;
        decoderHung = true;
        settle(() => reject(new Error(`decoder fuzz case ${caseSeed} did not return within ${STALL_MS / 1000} s (replay: ${replayCommand(caseSeed)})`)));
        void worker.terminate();
      }
    }, 1000);
    let settled = false;
    const settle = (done: () => void) => {
      if (settled) return;
      settled = true;
      clearInterval(watchdog);
      done();
    };
    worker.once('message', (totals: CampaignTotals) => settle(() => resolve(totals)));
    worker.once('error', (error) => settle(() => reject(error)));
    worker.once('exit', (code) => settle(() => reject(new Error(`the fuzz worker exited with code ${code} before reporting`))));
  });
}
