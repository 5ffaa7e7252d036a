// The open filter reads a successful open's caller string only where kernel facts say it can name more than the
// resolved path (bpf/open.bpf.c ks_open_caller_string_matters). The patterns with no leaf (/etc/kubernetes/*.conf,
// /etc/kubernetes/pki/*, /var/lib/kubelet/pki/*, /proc/*/root/*, ...) are matched on that string only, so these are
// the ways a container process reaches the host's files that the facts must still catch (found by an adversarial
// review of the first version of the gate, each reported before the gate existed): a chroot into a hostPath of /,
// nsenter into the host's mount namespace, a root on the volume's own filesystem, and a thread swapping the new fd's
// slot. Each test ends with a control the gate does not affect (a refused open, whose caller's string is always
// read, by the same process chain): once the control is seen, the open before it has been judged, so a missing
// detection fails at once instead of after a timeout.
//
// Nothing of the host is changed but the scratch files and directories this file creates and removes.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, rmdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { startAgent, type JsonDetection, type RunningAgent } from '../helpers/agent.ts';
import { startContainer, type Container } from '../helpers/podman.ts';
import { SIMULATOR_BUILD_DIR, SIMULATOR_MOUNT } from '../../src/simulate/scenarios.ts';
import { fileURLToPath } from 'node:url';

const CREDENTIAL_RULE = 'KS-ESC-015';
const HOST_RESOURCE_RULE = 'KS-ESC-012';
const DETECTION_TIMEOUT_MS = 60_000;
const HOST_STATIC_BINARY = '/usr/bin/busybox';
const KUBE_DIR = '/etc/kubernetes';
const SIMULATOR_DIR = fileURLToPath(new URL(`../../${SIMULATOR_BUILD_DIR}`, import.meta.url));
const RACE_ATTEMPTS = 100;

let agent: RunningAgent;
const containers: Container[] = [];
const hostScratch: string[] = [];
const createdParents: string[] = [];
const tag = randomBytes(4).toString('hex');
/** A stand-in for the node's kubeconfig, on the host's root filesystem where kubeadm puts it. */
const credential = `${KUBE_DIR}/ks-review-${tag}.conf`;
/** Never created: the control's refused open. */
const missing = `${KUBE_DIR}/ks-review-missing-${tag}.conf`;

before(async () => {
  assert.ok(existsSync(HOST_STATIC_BINARY), `${HOST_STATIC_BINARY} exists on the host`);
  makeHostDir(KUBE_DIR, false);
  writeFileSync(credential, 'apiVersion: v1\nkind: Config\n');
  hostScratch.push(credential);
  agent = await startAgent();
});
after(async () => {
  await agent?.stop();
  for (const c of containers) await c.remove().catch(() => {});
  for (const p of hostScratch.reverse()) rmSync(p, { recursive: true, force: true });
  for (const dir of createdParents.reverse()) {
    if (existsSync(dir) && readdirSync(dir).length === 0) rmdirSync(dir);
  }
});

/** mkdir -p that remembers which directories it created; `scratch`: remove the directory itself at the end. */
function makeHostDir(path: string, scratch = true): string {
  const parts = path.split('/').filter(Boolean);
  for (let i = 1; i <= parts.length; i++) {
    const dir = '/' + parts.slice(0, i).join('/');
    if (!existsSync(dir)) {
      mkdirSync(dir);
      if (i < parts.length || !scratch) createdParents.push(dir);
    }
  }
  if (scratch) hostScratch.push(path);
  return path;
}

async function pod(extraArgs: string[], image?: string): Promise<Container> {
  const container = await startContainer({ podUid: randomUUID(), extraArgs, image });
  containers.push(container);
  return container;
}

async function inContainer(c: Container, script: string): Promise<string> {
  const r = await c.exec(['sh', '-c', script], { timeoutMs: 60_000 });
  assert.equal(r.code, 0, `${script}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

function ofContainer(c: Container): JsonDetection[] {
  return agent.detections().filter((d) => d.attributes['container.id'] === c.id);
}

function summary(c: Container): string {
  return JSON.stringify(ofContainer(c).map((d) => `${d.rule}/${d.severity}: ${d.attributes['file.path'] ?? d.summary}`));
}

/** Waits for the control (the refused open of `missing`), then asserts the rule reported `path` too. */
async function assertReportedBeforeControl(c: Container, rule: string, path: string, what: string): Promise<void> {
  await agent.waitForDetection(
    (d) => d.rule === CREDENTIAL_RULE && d.attributes['container.id'] === c.id && d.attributes['file.path'] === missing,
    `the control: the refused open of ${missing} (seen: ${summary(c)})`,
    DETECTION_TIMEOUT_MS,
  );
  const found = ofContainer(c).find((d) => d.rule === rule && d.attributes['file.path'] === path);
  assert.ok(found, `${what}: ${rule} for ${path} (seen for the container: ${summary(c)})`);
}

test('KS-ESC-015: kubelet credentials read after chroot into a hostPath volume of / (the "bad pod")', async () => {
  // No privilege: chroot is in the default capability set. The file is on the host's root filesystem, and after the
  // chroot so is the opener's root: the gate says the caller's string does not matter.
  const c = await pod(['-v', '/:/host:ro']);
  const out = await inContainer(
    c,
    `chroot /host ${HOST_STATIC_BINARY} cat ${credential} && { chroot /host ${HOST_STATIC_BINARY} cat ${missing} 2>/dev/null; true; }`,
  );
  assert.match(out, /kind: Config/, 'the credential was read');
  await assertReportedBeforeControl(c, CREDENTIAL_RULE, credential, 'a read of kubelet credentials through chroot /host');
});

test('KS-ESC-015 and KS-ESC-012: a privileged hostPID pod that joined the host mount namespace (nsenter -m)', async () => {
  // The process stays in the container's cgroup, which is what makes it a container's for every rule; its mount
  // namespace is the host's, where the gate reads no successful open's string.
  const c = await pod(['--privileged', '--pid=host']);
  const other = await pod([]);
  const enter = `nsenter -t ${process.pid} -m ${HOST_STATIC_BINARY}`;
  const victim = `/proc/${other.initPid}/root/etc/hostname`;
  await inContainer(c, `${enter} cat ${credential} >/dev/null && ${enter} cat ${victim} >/dev/null && { ${enter} cat ${missing} 2>/dev/null; true; }`);
  await agent.waitForDetection(
    (d) => d.rule === CREDENTIAL_RULE && d.attributes['container.id'] === c.id && d.attributes['file.path'] === missing,
    `the control: the refused open of ${missing} (seen: ${summary(c)})`,
    DETECTION_TIMEOUT_MS,
  );
  const unreported = [
    [CREDENTIAL_RULE, credential],
    [HOST_RESOURCE_RULE, victim],
  ].filter(([rule, path]) => !ofContainer(c).some((d) => d.rule === rule && d.attributes['file.path'] === path));
  assert.deepEqual(unreported, [], `reads from the host mount namespace went unreported (seen: ${summary(c)})`);
});

test('KS-ESC-015: a container whose root is on the same filesystem as its hostPath volume (rootfs not overlay)', async () => {
  // What a btrfs or native snapshotter, or podman --rootfs, gives: the root and the volume share a superblock, so
  // "not on the container's own root filesystem" is false for the volume's files too. No chroot, no privilege.
  const rootfs = makeHostDir(`/var/tmp/ks-review-rootfs-${tag}`);
  for (const d of ['bin', 'proc', 'sys', 'dev', 'etc', 'tmp', 'etc/kubernetes']) mkdirSync(`${rootfs}/${d}`, { recursive: true });
  copyFileSync(HOST_STATIC_BINARY, `${rootfs}/bin/busybox`);
  chmodSync(`${rootfs}/bin/busybox`, 0o755);
  for (const applet of ['sh', 'cat', 'sleep', 'true']) symlinkSync('busybox', `${rootfs}/bin/${applet}`);
  const kube = makeHostDir(`/var/tmp/ks-review-kube-${tag}`);
  writeFileSync(`${kube}/admin.conf`, 'apiVersion: v1\nkind: Config\n');

  const c = await pod(['--rootfs', '-v', `${kube}:${KUBE_DIR}:ro`], rootfs);
  const out = await inContainer(c, `cat ${KUBE_DIR}/admin.conf && { cat ${missing} 2>/dev/null; true; }`);
  assert.match(out, /kind: Config/, 'the credential was read');
  await assertReportedBeforeControl(c, CREDENTIAL_RULE, `${KUBE_DIR}/admin.conf`, 'a read of a hostPath kubeconfig');
});

test('control: the same read through a hostPath volume at /etc/kubernetes of an ordinary (overlay) container is reported', async () => {
  const kube = makeHostDir(`/var/tmp/ks-review-kube2-${tag}`);
  writeFileSync(`${kube}/admin.conf`, 'apiVersion: v1\nkind: Config\n');
  const c = await pod(['-v', `${kube}:${KUBE_DIR}:ro`]);
  await inContainer(c, `cat ${KUBE_DIR}/admin.conf >/dev/null && { cat ${missing} 2>/dev/null; true; }`);
  await assertReportedBeforeControl(c, CREDENTIAL_RULE, `${KUBE_DIR}/admin.conf`, 'a read of a hostPath kubeconfig');
});

test('KS-ESC-015: every read of a hostPath kubeconfig is reported though another thread swaps the new fd\'s slot', async () => {
  // open_swap_race: a second thread copies the new fd as soon as it is installed and puts a file of the image in its
  // slot; the program at sys_exit may then judge the image's file, for which the gate reads no caller string. At
  // 48cd2fe the caller's string was read whatever the slot held.
  assert.ok(existsSync(`${SIMULATOR_DIR}/open_swap_race`), 'make simulator');
  const kube = makeHostDir(`/var/tmp/ks-review-kube3-${tag}`);
  writeFileSync(`${kube}/admin.conf`, 'apiVersion: v1\nkind: Config\n');
  for (let i = 0; i < RACE_ATTEMPTS; i++) symlinkSync('admin.conf', `${kube}/a${i}.conf`);
  const c = await pod(['-v', `${kube}:${KUBE_DIR}:ro`, '-v', `${SIMULATOR_DIR}:${SIMULATOR_MOUNT}:ro`]);
  const out = await inContainer(
    c,
    `${SIMULATOR_MOUNT}/open_swap_race /bin/busybox ${KUBE_DIR}/a .conf ${RACE_ATTEMPTS} && { cat ${missing} 2>/dev/null; true; }`,
  );
  const read = out.trim().split('\n').map((l) => l.split(' ').map(Number)).filter(([, n]) => n > 0).map(([i]) => i);
  assert.equal(read.length, RACE_ATTEMPTS, `every attempt read the kubeconfig through the copy:\n${out}`);
  await agent.waitForDetection(
    (d) => d.rule === CREDENTIAL_RULE && d.attributes['container.id'] === c.id && d.attributes['file.path'] === missing,
    `the control: the refused open of ${missing}`,
    DETECTION_TIMEOUT_MS,
  );
  const seen = new Set(ofContainer(c).filter((d) => d.rule === CREDENTIAL_RULE).map((d) => d.attributes['file.path']));
  const unseen = read.filter((i) => !seen.has(`${KUBE_DIR}/a${i}.conf`));
  assert.deepEqual(unseen, [], `${unseen.length} of ${RACE_ATTEMPTS} reads of the kubeconfig went unreported`);
});
