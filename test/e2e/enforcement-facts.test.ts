// Enforcement decided on kernel facts rather than on what the caller wrote (review findings 2, 4, 9, 13): the open's
// file identified by its filesystem and dentry names and written-to by its f_mode, clone3 whose clone_args the
// program cannot read, a #! script executed from a memfd. Cases brought over from the review's demonstrations
// (branch `review`, test/e2e/enforcement-bypass.test.ts and enforcement-false-kill.test.ts), plus the false kills
// the fixes must not make. Every rule the kernel can enforce kills, with no exception.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { SIMULATOR_MOUNT } from '../../src/simulate/scenarios.ts';
import { assertKilled, KILLED_BY_SIGKILL, sim, startEnforcingAgent, type EnforcingAgent } from '../helpers/enforcing.ts';

let enforcing: EnforcingAgent;
before(async () => {
  enforcing = await startEnforcingAgent(['bypass_untouched', 'bypass_memfd_script']);
});
after(async () => {
  await enforcing?.stop();
});

const armed = (...flags: string[]) => enforcing.armed(...flags);

test('openat2(O_WRONLY) of core_pattern with struct open_how in a page not yet faulted in is killed (f_mode decides)', async () => {
  const c = await armed('--privileged');
  const current = (await c.exec(['cat', '/proc/sys/kernel/core_pattern'])).stdout.trim();
  await assertKilled(c, sim('bypass_untouched', 'openat2', '/proc/sys/kernel/core_pattern', current));
});

test('core_pattern bind-mounted under another name is killed when opened for writing, and reported', async () => {
  const c = await armed('--privileged');
  await assertKilled(c, ['sh', '-c',
    'cat /proc/sys/kernel/core_pattern > /tmp/v && touch /tmp/cpb && mount --bind /proc/sys/kernel/core_pattern /tmp/cpb && cat /tmp/v > /tmp/cpb && echo reached']);
  await enforcing.agent.waitForDetection((d) => d.rule === 'KS-ESC-005' && d.attributes['file.path'] === '/tmp/cpb' &&
    d.attributes['kubesentry.enforcement.signal_sent'] === true, 'KS-ESC-005 kill of /tmp/cpb', 30_000);
});

test('release_agent and notify_on_release of a cgroup mounted at /mnt/cg are killed when opened for writing', async () => {
  const c = await armed('--privileged');
  const mount = await c.exec(['sh', '-c', 'mkdir -p /mnt/cg && exec mount -t cgroup -o none,name=ks-facts cgroup /mnt/cg']);
  assert.equal(mount.code, KILLED_BY_SIGKILL, 'the mount itself is killed');
  await assertKilled(c, ['sh', '-c', 'echo 1 > /mnt/cg/notify_on_release; echo reached']);
  await assertKilled(c, ['sh', '-c', 'cat /mnt/cg/release_agent > /mnt/cg/release_agent; echo reached']);
  await enforcing.agent.waitForDetection((d) => d.rule === 'KS-ESC-004' && d.attributes['file.path'] === '/mnt/cg/release_agent' &&
    d.severity === 'critical', 'KS-ESC-004 critical on /mnt/cg/release_agent', 30_000);
});

test('no false kill: an ordinary file written at /tmp/<dir>/notify_on_release, nor a file on disk named like a tunable', async () => {
  const c = await armed();
  const r = await c.exec(['sh', '-c',
    'mkdir -p /tmp/app/sys/kernel && echo 1 > /tmp/app/notify_on_release && echo 1 > /tmp/app/release_agent && ' +
    'echo x > /tmp/app/sys/kernel/core_pattern && echo survived']);
  assert.match(r.stdout, /survived/, `a write to a plain tmpfs file was killed (exit status ${r.code})`);
  // One ring, read in order: once the detection of a later process of the container is in, so are the writes'.
  const barrier = await c.exec(['unshare', '-U', 'true']);
  assert.equal(barrier.code, KILLED_BY_SIGKILL);
  await enforcing.agent.waitForDetection((d) => d.rule === 'KS-ESC-001' && d.attributes['container.id'] === c.id, 'the barrier', 30_000);
  const found = enforcing.agent.detections().filter((d) => (d.rule === 'KS-ESC-004' || d.rule === 'KS-ESC-005') &&
    String(d.attributes['file.path'] ?? '').startsWith('/tmp/app/'));
  assert.deepEqual(found.map((d) => `${d.rule} ${d.severity} ${d.attributes['file.path']}`), []);
});

test('clone3(CLONE_NEWUSER) with clone_args in a page not yet faulted in is killed (fails closed)', async () => {
  await assertKilled(await armed(), sim('bypass_untouched', 'clone3'));
});

test('a #! script executed from a memfd is killed: execve of /proc/self/fd/N, execveat(fd, "", AT_EMPTY_PATH)', async () => {
  const c = await armed();
  await assertKilled(c, sim('bypass_memfd_script'));
  await assertKilled(c, sim('bypass_memfd_script', 'execveat'));
});

test('a program deleted from a tmpfs and executed through its open fd is killed', async () => {
  const c = await armed('--tmpfs', '/scratch:rw,exec'); // podman's /dev/shm is noexec
  await assertKilled(c, ['sh', '-c',
    `cp ${SIMULATOR_MOUNT}/bypass_untouched /scratch/x && (exec 3</scratch/x && rm /scratch/x && exec /proc/self/fd/3; echo reached)`]);
});

test('no false kill: a file on disk named memfd:x is executed', async () => {
  const c = await armed();
  // A static ELF of the simulator's (busybox would look its applet up by the name memfd:x); it prints its usage.
  const r = await c.exec(['sh', '-c', `cp ${SIMULATOR_MOUNT}/bypass_untouched '/memfd:x' && '/memfd:x'; echo "survived: $?"`]);
  assert.match(r.stdout, /survived: [0-9]+/, `${r.stdout}${r.stderr}`);
  assert.doesNotMatch(r.stdout, /survived: 137/, `a file on disk named memfd:x was killed: ${r.stderr}`);
});
