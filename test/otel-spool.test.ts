// The export spool on its own: ordering, acknowledgement across reopen, torn-tail recovery, bounded size.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { Spool, SpoolKind, type Eviction } from '../src/otel/internal/Spool.ts';

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'kubesentry-spool-'));
}

function open(dir: string, maxBytes = 1024 * 1024, evictions: Eviction[] = []): Spool {
  return new Spool(dir, { maxBytes, fsync: 'never', fsyncIntervalMs: 1000, onEvict: (e) => evictions.push(e) });
}

const item = (text: string, kind: SpoolKind = SpoolKind.Logs) => ({ kind, payload: Buffer.from(text) });

describe('export spool', () => {
  test('hands out records oldest first, one signal per batch', () => {
    const spool = open(tempDir());
    spool.append([item('a'), item('b'), item('t1', SpoolKind.Traces), item('c')]);
    const first = spool.peek(10)!;
    assert.equal(first.kind, SpoolKind.Logs);
    assert.deepEqual(first.payloads.map(String), ['a', 'b']);
    spool.ack(first);
    const second = spool.peek(10)!;
    assert.equal(second.kind, SpoolKind.Traces);
    assert.deepEqual(second.payloads.map(String), ['t1']);
    spool.ack(second);
    assert.deepEqual(spool.peek(10)!.payloads.map(String), ['c']);
    assert.deepEqual(spool.pending, { logs: 1, traces: 0 });
    spool.close();
  });

  test('an unacknowledged batch is handed out again after a reopen; an acknowledged one is not', () => {
    const dir = tempDir();
    let spool = open(dir);
    spool.append([item('a'), item('b'), item('c')]);
    spool.ack(spool.peek(1)!);
    spool.peek(2); // in flight when the process dies: never acknowledged
    // No close(): simulates SIGKILL.
    spool = open(dir);
    assert.deepEqual(spool.peek(10)!.payloads.map(String), ['b', 'c']);
    spool.append([item('d')]);
    spool.ack(spool.peek(10)!);
    assert.deepEqual(spool.peek(10)!.payloads.map(String), ['d']);
    spool.close();
  });

  test('a torn record at the tail (crash mid-write) is cut off; the records before it survive', () => {
    const dir = tempDir();
    const spool = open(dir);
    spool.append([item('whole-1'), item('whole-2')]);
    spool.close();
    const [segment] = fs.readdirSync(dir).filter((f) => f.endsWith('.seg'));
    const file = path.join(dir, segment);
    const intact = fs.statSync(file).size;
    fs.appendFileSync(file, Buffer.from([0x40, 0, 0, 0, 1, 2, 3, 4, 1, 9, 9])); // header claims 64 bytes, has none
    const reopened = open(dir);
    assert.deepEqual(reopened.peek(10)!.payloads.map(String), ['whole-1', 'whole-2']);
    assert.equal(fs.statSync(file).size, intact, 'the torn tail was truncated');
    reopened.close();
  });

  test('a corrupted record (bad checksum) ends what is trusted in that segment', () => {
    const dir = tempDir();
    const spool = open(dir);
    spool.append([item('good'), item('flipped')]);
    spool.close();
    const [segment] = fs.readdirSync(dir).filter((f) => f.endsWith('.seg'));
    const file = path.join(dir, segment);
    const bytes = fs.readFileSync(file);
    bytes[bytes.length - 1] ^= 0xff;
    fs.writeFileSync(file, bytes);
    const reopened = open(dir);
    assert.deepEqual(reopened.peek(10)!.payloads.map(String), ['good']);
    reopened.close();
  });

  test('when full, whole oldest segments are evicted and every evicted record is reported', () => {
    const evictions: Eviction[] = [];
    const maxBytes = 1024 * 1024;
    const spool = open(tempDir(), maxBytes, evictions);
    const payload = 'x'.repeat(1000);
    const total = 3000;
    for (let i = 0; i < total; i++) spool.append([item(`${i}:${payload}`, i % 2 ? SpoolKind.Traces : SpoolKind.Logs)]);
    assert.ok(spool.bytes <= maxBytes);
    const evicted = evictions.reduce((n, e) => n + e.logs + e.traces, 0);
    assert.ok(evicted > 0);
    assert.equal(evicted + spool.pending.logs + spool.pending.traces, total, 'evicted + kept = appended');
    // Survivors are the newest, in order.
    const first = Number(String(spool.peek(1)!.payloads[0]).split(':')[0]);
    assert.equal(first, evicted);
    spool.close();
  });

  for (const fsync of ['always', 'interval'] as const) {
    test(`fsync ${fsync}: appended records are readable after a reopen`, () => {
      const dir = tempDir();
      const spool = new Spool(dir, { maxBytes: 1024 * 1024, fsync, fsyncIntervalMs: 10, onEvict: () => {} });
      spool.append([item('a'), item('b')]);
      spool.ack(spool.peek(1)!);
      const reopened = open(dir);
      assert.deepEqual(reopened.peek(10)!.payloads.map(String), ['b']);
      reopened.close();
      spool.close();
    });
  }

  test('fsync interval: a spool whose every record is acknowledged is not synced; one with pending records is', () => {
    const synced: number[] = [];
    const fdatasyncSync = fs.fdatasyncSync;
    fs.fdatasyncSync = (fd: number) => {
      synced.push(fd);
      fdatasyncSync(fd);
    };
    try {
      // close() syncs what the interval would have: the same check, without waiting for a timer.
      const delivered = new Spool(tempDir(), { maxBytes: 1024 * 1024, fsync: 'interval', fsyncIntervalMs: 60_000, onEvict: () => {} });
      delivered.append([item('a'), item('b')]);
      delivered.ack(delivered.peek(10)!);
      delivered.close();
      assert.equal(synced.length, 0, 'nothing pending, nothing to make durable');
      const pending = new Spool(tempDir(), { maxBytes: 1024 * 1024, fsync: 'interval', fsyncIntervalMs: 60_000, onEvict: () => {} });
      pending.append([item('a'), item('b')]);
      pending.ack(pending.peek(1)!);
      pending.close();
      assert.equal(synced.length, 1, 'the unacknowledged record is synced');
    } finally {
      fs.fdatasyncSync = fdatasyncSync;
    }
  });

  test('a record bigger than the whole spool is refused and counted, not stored', () => {
    const spool = open(tempDir(), 128 * 1024);
    assert.equal(spool.append([item('y'.repeat(200 * 1024)), item('small')]), 1);
    assert.deepEqual(spool.peek(10)!.payloads.map(String), ['small']);
    spool.close();
  });
});
