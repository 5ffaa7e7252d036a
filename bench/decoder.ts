// Decoder throughput on one core for a realistic mix (mostly exec/fork/exit/open, some connect), reported as
// records per second and as a ratio to the 1M records/s target. Run: node bench/decoder.ts
import { createDecoderStats, decodeBatch } from '../src/receiver/decoder.ts';
import type { KernelEvent } from '../src/receiver/events.ts';
import { openRecord, record } from '../test/helpers/records.ts';
import { reportResult } from './result.ts';

const TARGET_RECORDS_PER_SECOND = 1_000_000;

const args = Buffer.from(['/usr/bin/python3', '-m', 'http.server', '--bind', '127.0.0.1', ''].join('\x00'));
// Open records are as long as their strings: a path of about 40 bytes, and for one open in four a resolved path with
// the caller's (relative) string after it.
const KEY = '/var/lib/kubelet/pki/kubelet-client.key';
const openByCaller = openRecord(KEY, '', { op: 31, path_source: 1, pattern_id: 4, ret: 3 }, { comm: 'cat' });
const openResolved = openRecord(KEY, '../pki/kubelet-client.key', { op: 31, path_source: 2, pattern_id: 4, ret: 3 }, { comm: 'cat' });
const mixWith = (open: Buffer) => [
  record('ks_exec', { path: '/usr/bin/python3', path_len: 16, args, args_len: args.length, argc: 5 }, { comm: 'python3' }),
  record('ks_fork', { child_tgid: 77 }, { comm: 'bash' }),
  record('ks_fork', { child_tgid: 78 }, { comm: 'bash' }),
  record('ks_exit', { exit_code: 0 }, { comm: 'true' }),
  record('ks_exit', { exit_code: 0 }, { comm: 'true' }),
  open,
  record('ks_connect', { family: 2, port: 3333, addr: new Uint8Array([10, 0, 0, 1]) }, { comm: 'xmrig' }),
  record('ks_creds', { op: 90 }, { comm: 'sudo' }),
];
const mixes = [mixWith(openResolved), mixWith(openByCaller), mixWith(openByCaller), mixWith(openByCaller)];
const batch = Buffer.concat(Array.from({ length: 256 }, (_, i) => mixes[i % mixes.length]).flat());
const recordsPerBatch = 256 * mixes[0].length;

function run(batches: number): number {
  const stats = createDecoderStats();
  let sink = 0;
  const onEvent = (e: KernelEvent) => (sink += e.tgid);
  const start = process.hrtime.bigint();
  for (let i = 0; i < batches; i++) decodeBatch(batch, onEvent, stats);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (stats.records !== batches * recordsPerBatch || sink < 0) throw new Error('decoder dropped records in the benchmark');
  return (batches * recordsPerBatch) / seconds;
}

run(200); // warm-up: let V8 optimise the decode paths
const rate = run(2000);
console.log(`decoder: ${Math.round(rate).toLocaleString('en')} records/s (${(rate / TARGET_RECORDS_PER_SECOND).toFixed(2)}x the 1M/s target)`);
reportResult('decoder.records_per_s', rate, 'records/s', { op: '>=', value: TARGET_RECORDS_PER_SECOND });
