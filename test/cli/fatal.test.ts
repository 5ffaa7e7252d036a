// What a node operator sees when the agent cannot start: one line on stderr that says why, and a non-zero exit.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { AGENT_BIN } from '../helpers/agent.ts';
import { run } from '../helpers/run.ts';
import { writeTemp } from './temp.ts';

const BAD_OBJECT = fileURLToPath(new URL('../../build/kubesentry-test-bad.bpf.o', import.meta.url));

async function kubesentry(...args: string[]) {
  const r = await run(process.execPath, [AGENT_BIN, ...args, '--state-dir', writeTemp('.keep', '') + '.state'], { timeoutMs: 120_000 });
  const lines = r.stderr.trim().split('\n').filter(Boolean);
  return { code: r.code, lines, stderr: r.stderr };
}

function assertOneLine(r: { lines: string[]; stderr: string }, pattern: RegExp): void {
  assert.equal(r.lines.length, 1, `expected one line on stderr, got:\n${r.stderr}`);
  assert.match(r.lines[0], pattern);
}

test('an unknown config key exits 2 naming the key', async () => {
  const file = writeTemp('unknown.yaml', 'otlp:\n  endpiont: http://127.0.0.1:4317\n');
  const r = await kubesentry('run', '--config', file);
  assert.equal(r.code, 2);
  assertOneLine(r, /^kubesentry: .*unknown config key 'otlp.endpiont'$/);
});

test('a cluster range that is not a CIDR exits 2 naming the key and the value', async () => {
  const r = await kubesentry('run', '--baseline.pod-cidrs', '10.244.0.0/16', '--baseline.pod-cidrs', '10.245.0.0');
  assert.equal(r.code, 2);
  assertOneLine(r, /^kubesentry: .*baseline\.podCidrs: '10\.245\.0\.0' is not a CIDR/);
});

test('an unknown flag exits 2', async () => {
  const r = await kubesentry('run', '--no-such-flag');
  assert.equal(r.code, 2);
  assertOneLine(r, /unknown option '--no-such-flag'/);
});

test('missing kernel BTF exits 1 naming the path', async () => {
  const r = await kubesentry('run', '--kernel.btf-path', '/nonexistent/vmlinux');
  assert.equal(r.code, 1);
  assertOneLine(r, /^kubesentry: kernel BTF not found at \/nonexistent\/vmlinux/);
});

test('check reports a kernel without BTF as unable to run', async () => {
  const r = await run(process.execPath, [AGENT_BIN, 'check', '--kernel.btf-path', '/nonexistent/vmlinux'], { timeoutMs: 60_000 });
  assert.equal(r.code, 1);
  assert.match(r.stdout, /the agent cannot run here: kernel BTF not found at \/nonexistent\/vmlinux/);
});

test('a tracefs that cannot be mounted exits 1 with the reason', async () => {
  // A regular file cannot be a mount point: mount(2) refuses with ENOTDIR.
  const notADirectory = writeTemp('not-a-dir', '');
  const r = await kubesentry('run', '--kernel.tracefs-path', notADirectory);
  assert.equal(r.code, 1);
  assertOneLine(r, /^kubesentry: tracefs: .*(not a directory|ENOTDIR)/i);
});

test('a program the verifier rejects exits 1 with the verifier reason', async () => {
  const r = await kubesentry('run', '--kernel.object-path', BAD_OBJECT);
  assert.equal(r.code, 1);
  assertOneLine(r, /^kubesentry: cannot load .*verifier rejected verifier_reject__tp: R0 invalid mem access 'map_value_or_null'/);
});
