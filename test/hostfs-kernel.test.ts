// The host-filesystem hooks (bpf/hostfs.bpf.c) on the real kernel, without a container runtime: host commands in a
// private mount namespace (unshare -m) stand for a container, since the kernel's test is "not the host's mount
// namespace and a superblock of the host's". Each record is found by its tgid after that process's exit record
// (which closes its records) and checked field by field. Needs root and kernel BTF; never skipped.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { createDecoderStats, decodeBatch } from '../src/receiver/decoder.ts';
import { EventType, HostFsFlag, Op, type HostFsEvent, type KernelEvent } from '../src/receiver/events.ts';
import { readHostFilesystems } from '../src/receiver/hostFilesystems.ts';
import { openKernelSource, type HookVariant, type KernelSource } from '../src/receiver/kernel.ts';
import { waitFor } from './helpers/wait.ts';

const BUSYBOX = '/usr/bin/busybox';
const O_WRONLY = 0o1;
const O_CREAT = 0o100;
const SCRATCH = `/tmp/ks-hostfs-kernel-${process.pid}`;

function hostMountNamespace(): number {
  return Number(/\[(\d+)\]/.exec(readlinkSync('/proc/2/ns/mnt'))![1]);
}

/** st_dev (user-space encoding) of a file as the kernel's s_dev (major << 20 | minor). */
function kernelDevOf(file: string): number {
  const dev = Number(statSync(file).dev);
  const major = (dev >>> 8) & 0xfff;
  const minor = (dev & 0xff) | ((dev >>> 12) & 0xfff00);
  return ((major << 20) | minor) >>> 0;
}

/** Runs a command to its end and returns its pid; a non-zero exit fails the test with its stderr. */
function run(command: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(child.pid!) : reject(new Error(`${command} ${args.join(' ')} exited ${code}: ${stderr}`))));
  });
}

const inPrivateMountNamespace = (script: string) => run('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script]);

for (const variants of [undefined, ['raw_tp', 'tp']] as (readonly HookVariant[] | undefined)[]) {
  describe(`host-filesystem hooks (${variants ? 'fallback variants' : 'preferred variants'})`, () => {
    const events: KernelEvent[] = [];
    let source: KernelSource;

    before(() => {
      const hostFs = readHostFilesystems((m) => assert.fail(m));
      source = openKernelSource({
        agentTgid: process.pid,
        pathPatterns: [],
        wakeupBatchBytes: 0,
        variants,
        hostFilesystems: { mountNamespaceInode: hostMountNamespace(), devices: hostFs.devices() },
      });
      const stats = createDecoderStats();
      source.start((batch) => decodeBatch(batch, (e) => events.push(e), stats));
      mkdirSync(`${SCRATCH}/real`, { recursive: true });
      mkdirSync(`${SCRATCH}/bound`, { recursive: true });
    });
    after(() => {
      source?.close();
      rmSync(SCRATCH, { recursive: true, force: true });
    });

    /** The process's host_fs records, once its exit record shows that all of them are in. */
    async function hostFsRecordsOf(pid: number): Promise<HostFsEvent[]> {
      await waitFor(() => events.some((e) => e.type === EventType.Exit && e.tgid === pid), { what: `the exit of ${pid}` });
      return events.filter((e): e is HostFsEvent => e.type === EventType.HostFs && e.tgid === pid);
    }

    test('an exec of a host file reports the executed file itself, through a mount of the whole filesystem', async () => {
      const pid = await inPrivateMountNamespace(`cd /usr/lib && exec ../bin/busybox true`);
      const exec = (await hostFsRecordsOf(pid)).find((e) => e.op === Op.Exec && e.fsPath === BUSYBOX);
      assert.ok(exec, `an exec record for ${BUSYBOX}`);
      assert.equal(exec.path, BUSYBOX);
      assert.equal(exec.ino, BigInt(statSync(BUSYBOX).ino));
      assert.equal(exec.dev, kernelDevOf(BUSYBOX));
      assert.ok((exec.hostFsFlags & HostFsFlag.WholeFs) !== 0, 'the root mount shows the whole filesystem');
    });

    test('a write-open through a bind mount and a relative path reports the path from the filesystem root', async () => {
      const pid = await inPrivateMountNamespace(`mount --bind ${SCRATCH}/real ${SCRATCH}/bound && cd ${SCRATCH}/bound && echo x > f`);
      const [write] = (await hostFsRecordsOf(pid)).filter((e) => e.op === Op.Openat || e.op === Op.Open);
      assert.ok(write, 'a write-open record');
      assert.equal(write.fsPath, `${SCRATCH}/real/f`, 'the file as it lies on the filesystem');
      assert.equal(write.path, `${SCRATCH}/bound/f`, 'the file as the process\'s mount namespace shows it');
      assert.equal(write.hostFsFlags & HostFsFlag.WholeFs, 0, 'a bind of a directory does not show the whole filesystem');
      // The file's f_flags: open itself clears O_CREAT, O_EXCL, O_TRUNC and O_NOCTTY from them.
      assert.equal(write.openFlags & (O_WRONLY | O_CREAT), O_WRONLY);
      assert.equal(write.ino, BigInt(statSync(`${SCRATCH}/real/f`).ino));
      assert.equal(write.nlink, 1);
    });

    test('a chroot reports the new root read from the kernel after the call', async () => {
      const pid = await inPrivateMountNamespace(`cd / && exec chroot . ${BUSYBOX} true`);
      const chroot = (await hostFsRecordsOf(pid)).find((e) => e.op === Op.Chroot);
      assert.ok(chroot, 'a chroot record');
      assert.equal(chroot.fsPath, '/');
      assert.equal(chroot.path, '/');
      assert.ok((chroot.hostFsFlags & HostFsFlag.WholeFs) !== 0);
    });

    test('read-only opens, and writes in the host mount namespace, report nothing', async () => {
      const reader = await inPrivateMountNamespace(`exec cat /etc/hostname ${SCRATCH}/real/f > /dev/null`);
      assert.deepEqual((await hostFsRecordsOf(reader)).filter((e) => e.op !== Op.Exec).map((e) => e.fsPath), []);
      const hostWriter = await run('sh', ['-c', `echo x > ${SCRATCH}/real/host-write`]);
      assert.deepEqual((await hostFsRecordsOf(hostWriter)).map((e) => e.fsPath), []);
    });
  });
}
