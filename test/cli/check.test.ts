// `kubesentry check` on this machine: besides whether the agent can run, whether enforcement can kill here and
// which checks' hooks attach. This kernel has bpf_send_signal and no CONFIG_MODULES (no init_module tracepoints).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { AGENT_BIN } from '../helpers/agent.ts';
import { run } from '../helpers/run.ts';
import type { CheckReport } from '../../src/check.ts';
import { KERNEL_ENFORCE_CHECK_MAX } from '../../src/receiver/enforcement.ts';

const BAD_OBJECT = fileURLToPath(new URL('../../build/kubesentry-test-bad.bpf.o', import.meta.url));

test('check says enforcement can kill here, per check, and names the hooks a check lacks', async () => {
  const r = await run(process.execPath, [AGENT_BIN, 'check'], { timeoutMs: 120_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^ok {3}bpf_send_signal: enforcement can kill$/m);
  assert.match(r.stdout, /^ok {3}enforcement check 0 UserNamespace \(KS-ESC-001\)$/m);
  assert.match(r.stdout, /^ok {3}enforcement check 8 MemfdExec \(KS-ESC-017\)$/m);
  // No module syscall tracepoints on this kernel: only the 32-bit entry's program (sys_enter_compat) decides there.
  assert.match(r.stdout, /^part enforcement check 4 ModuleLoad \(KS-ESC-007\): not at sys_enter_init_module \(tp: tracepoint syscalls\/sys_enter_init_module not in/m);
  assert.match(r.stdout, /^enforcement can work here for UserNamespace, .*ModuleLoad \(partly\)/m);
});

test('check --json carries the same per check and hook', async () => {
  const r = await run(process.execPath, [AGENT_BIN, 'check', '--json'], { timeoutMs: 120_000 });
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout) as CheckReport;
  assert.equal(report.enforcement?.sendSignal.supported, true);
  assert.equal(report.enforcement?.checks.length, KERNEL_ENFORCE_CHECK_MAX);
  const setns = report.enforcement?.checks.find((c) => c.check === 'SetnsHost');
  assert.deepEqual(setns?.hooks, [{ hook: 'sys_enter_setns', attached: true }, { hook: 'sys_enter_compat', attached: true }]);
});

test('check reports agent programs that do not load as enforcement that cannot work, and still exits 0', async () => {
  const r = await run(process.execPath, [AGENT_BIN, 'check', '--kernel.object-path', BAD_OBJECT], { timeoutMs: 120_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^no {3}enforcement checks: the agent's programs did not load: cannot load .*kubesentry-test-bad\.bpf\.o/m);
});
