// 32-bit system calls (int 0x80) from a 64-bit container process: the syscalls/sys_enter_* tracepoints never fire for
// them on x86-64, so before bpf/compat.bpf.c they were neither reported nor killed (review of issue 14, finding 1;
// the first two cases are the review's demonstrations). With every enforceable rule on kill, the 32-bit unshare and
// mount die by SIGKILL before their next step, reported by the rule whose check killed them and by KS-ESC-021, and so
// do a clone3 whose flags cannot be read and a setns, bpf and ptrace; an ordinary 32-bit call is reported and left alone.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { JsonDetection } from '../helpers/agent.ts';
import type { Container } from '../helpers/podman.ts';
import { assertKilled, sim, startEnforcingAgent, type EnforcingAgent } from '../helpers/enforcing.ts';

const I386_GETPPID = 64;

let enforcing: EnforcingAgent;

before(async () => {
  enforcing = await startEnforcingAgent(['bypass_compat', 'compat_call']);
});
after(async () => {
  await enforcing?.stop();
});

const armed = (...flags: string[]): Promise<Container> => enforcing.armed(...flags);

function detectionFor(c: Container, rule: string, match: (d: JsonDetection) => boolean, what: string): Promise<JsonDetection> {
  return enforcing.agent.waitForDetection((d) => d.rule === rule && d.attributes['container.id'] === c.id && match(d), what, 30_000);
}

const killed = (d: JsonDetection) => d.attributes['kubesentry.enforcement.action'] === 'kill' && d.attributes['kubesentry.enforcement.signal_sent'] === true;
const compatCall = (nr: number) => (d: JsonDetection) => d.attributes['kubesentry.syscall.i386_number'] === nr;

test('unshare(CLONE_NEWUSER) through int 0x80 is killed under KS-ESC-001 and reported as a 32-bit call', async () => {
  const c = await armed();
  await assertKilled(c, sim('bypass_compat', 'unshare'));
  const kill = await detectionFor(c, 'KS-ESC-001', killed, 'the kill under KS-ESC-001');
  assert.match(kill.summary, /killed/);
  const alert = await detectionFor(c, 'KS-ESC-021', compatCall(310), 'the KS-ESC-021 detection of the 32-bit unshare');
  assert.equal(alert.severity, 'high');
  assert.equal(alert.attributes['kubesentry.syscall'], 'unshare');
});

test('a proc mount through int 0x80 in a privileged container is killed under KS-ESC-006 and reported as a 32-bit call', async () => {
  const c = await armed('--privileged');
  await c.exec(['mkdir', '-p', '/tmp/p32']);
  await assertKilled(c, sim('bypass_compat', 'mount', 'proc', '/tmp/p32'));
  await detectionFor(c, 'KS-ESC-006', killed, 'the kill under KS-ESC-006');
  const alert = await detectionFor(c, 'KS-ESC-021', compatCall(21), 'the KS-ESC-021 detection of the 32-bit mount');
  assert.equal(alert.attributes['kubesentry.syscall'], 'mount');
  const mounted = await c.exec(['sh', '-c', 'test -e /tmp/p32/self && echo mounted']);
  assert.match(mounted.stdout, /mounted/, 'the mount itself completed before the signal (docs/enforcement.md)');
});

test('an ordinary 32-bit call (getppid) is reported and not killed', async () => {
  const c = await armed();
  const r = await c.exec(sim('compat_call', String(I386_GETPPID)));
  assert.equal(r.code, 0, `${r.stdout}${r.stderr}`);
  assert.match(r.stdout, /compat_call: 64: ok/);
  const alert = await detectionFor(c, 'KS-ESC-021', compatCall(I386_GETPPID), 'the KS-ESC-021 detection of the 32-bit getppid');
  assert.equal(alert.attributes['kubesentry.enforcement.action'], undefined);
  assert.equal(alert.attributes['kubesentry.syscall'], String(I386_GETPPID));
});

test('a 32-bit clone3 whose flags cannot be read is killed as CLONE_NEWUSER would be (fail closed)', async () => {
  const c = await armed();
  // clone3 (435) with args at address 1: unreadable, so the kernel program cannot tell the flags.
  await assertKilled(c, sim('compat_call', '435', '1', '88'));
  await detectionFor(c, 'KS-ESC-001', killed, 'the kill under KS-ESC-001');
});

test('a 32-bit setns (on its number alone), bpf(BPF_PROG_LOAD) and ptrace(PTRACE_ATTACH) are killed under their rules', async () => {
  // The default seccomp profile refuses bpf before any tracepoint (nothing to kill then): unconfined, as a pod can be.
  const c = await armed('--security-opt', 'seccomp=unconfined');
  const cases: Array<[rule: string, nr: number, args: string[]]> = [
    ['KS-ESC-002', 346, ['0', '0']], // setns(stdin, 0): the fd is not looked at
    ['KS-ESC-010', 357, ['5', '0', '0']], // bpf(BPF_PROG_LOAD, NULL, 0)
    ['KS-ESC-009', 26, ['16', '1']], // ptrace(PTRACE_ATTACH, 1)
  ];
  for (const [rule, nr, args] of cases) {
    await assertKilled(c, sim('compat_call', String(nr), ...args));
    await detectionFor(c, rule, killed, `the kill of the 32-bit call ${nr} under ${rule}`);
    await detectionFor(c, 'KS-ESC-021', compatCall(nr), `the KS-ESC-021 detection of the 32-bit call ${nr}`);
  }
});
