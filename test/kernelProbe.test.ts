// probeKernel against this machine's kernel, plus the mountinfo parsing it relies on. Runs as root, never skipped.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { after, before, describe, test } from 'node:test';
import { HOOK_TYPES, probeKernel } from '../src/receiver/probe.ts';
import { readMountInfo } from '../src/receiver/mountinfo.ts';

const CGROUP2_SUPER_MAGIC = '63677270';

describe('probeKernel', () => {
  before(() => assert.equal(process.getuid?.(), 0, 'the kernel tests need root (CI runs them as root)'));

  test('reports this kernel as able to run the agent, with a reason for every refused hook type', () => {
    const report = probeKernel();
    assert.equal(report.canRun, true, report.problems.join('; '));
    assert.deepEqual(report.problems, []);
    assert.equal(report.btf.present, true);
    assert.equal(report.tracefs.mounted, true);
    assert.equal(report.ringBuffer.supported, true);
    assert.deepEqual(report.hookTypes.map((h) => h.hookType), [...HOOK_TYPES]);
    assert.equal(report.hookTypes.find((h) => h.hookType === 'tracepoint')?.supported, true);
    for (const hook of report.hookTypes.filter((h) => !h.supported)) {
      assert.ok(hook.stage === 'load' || hook.stage === 'attach', `${hook.hookType}: stage ${hook.stage}`);
      assert.ok((hook.errno ?? 0) > 0, `${hook.hookType}: errno ${hook.errno}`);
      assert.ok(hook.reason && !hook.reason.includes('\n'), `${hook.hookType}: reason '${hook.reason}'`);
    }
    assert.match(report.kernelRelease, /^\d+\.\d+/);
  });

  test('the cgroup2 mount point it reports is a cgroup2 filesystem', () => {
    const mount = probeKernel().cgroup2Mount;
    assert.ok(mount !== null, 'no cgroup2 mount found');
    assert.equal(execFileSync('stat', ['-f', '-c', '%t', mount], { encoding: 'utf8' }).trim(), CGROUP2_SUPER_MAGIC);
  });

  test('a missing BTF file makes the agent unable to run, and says where it looked', () => {
    const report = probeKernel({ btfPath: '/nonexistent/vmlinux' });
    assert.equal(report.canRun, false);
    assert.equal(report.btf.present, false);
    assert.ok(report.problems.some((p) => p.includes('/nonexistent/vmlinux')), report.problems.join('; '));
    assert.ok(report.hookTypes.every((h) => !h.supported));
  });

  describe('with tracefs at a path where it is not mounted', () => {
    let tracefsPath: string;
    before(() => {
      tracefsPath = mkdtempSync(`${tmpdir()}/kubesentry-tracefs-`);
    });
    after(() => {
      if (readMountInfo().some((m) => m.mountPoint === tracefsPath)) execFileSync('umount', [tracefsPath]);
      rmdirSync(tracefsPath);
    });

    test('mounts it, says so, and attaches the tracepoint probe through it', () => {
      const report = probeKernel({ tracefsPath });
      assert.deepEqual(report.tracefs, { path: tracefsPath, mounted: true, mountedByProbe: true });
      assert.ok(readMountInfo().some((m) => m.mountPoint === tracefsPath && m.fstype === 'tracefs'));
      assert.equal(report.hookTypes.find((h) => h.hookType === 'tracepoint')?.supported, true);
    });

    test('with mounting turned off, reports it unmounted and the agent unable to run', () => {
      execFileSync('umount', [tracefsPath]);
      const report = probeKernel({ tracefsPath, mount: false });
      assert.equal(report.tracefs.mounted, false);
      assert.match(report.tracefs.reason ?? '', /not mounted/);
      assert.equal(report.canRun, false);
    });
  });
});

describe('readMountInfo', () => {
  test('unescapes octal sequences and finds cgroup2 by filesystem type, not by path', () => {
    const dir = mkdtempSync(`${tmpdir()}/kubesentry-mountinfo-`);
    const file = `${dir}/mountinfo`;
    writeFileSync(
      file,
      [
        '25 1 0:23 / /sys/fs/cgroup rw,nosuid - tmpfs tmpfs rw',
        '30 25 0:26 / /sys/fs/cgroup/unified rw,nosuid shared:9 - cgroup2 cgroup2 rw,nsdelegate',
        '31 25 0:27 / /mnt/with\\040space rw - ext4 /dev/sda\\0401 rw',
      ].join('\n') + '\n',
    );
    try {
      const mounts = readMountInfo(file);
      assert.equal(mounts.find((m) => m.fstype === 'cgroup2')?.mountPoint, '/sys/fs/cgroup/unified');
      assert.deepEqual(mounts[2], { dev: '0:27', root: '/', mountPoint: '/mnt/with space', fstype: 'ext4', source: '/dev/sda 1' });
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
});
