// The host's filesystem table: which mounts are host storage, their kernel device ids, and host paths of paths
// from a filesystem's root.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HostFilesystems, kernelDev } from '../src/receiver/hostFilesystems.ts';
import { parseMountInfo } from '../src/receiver/mountinfo.ts';

const MOUNTINFO = [
  '22 27 0:21 / /proc rw,relatime - proc proc rw',
  '24 27 0:6 / /dev rw,relatime - devtmpfs devtmpfs rw',
  '25 24 0:23 / /dev/shm rw,relatime - tmpfs tmpfs rw',
  '27 1 254:0 / / rw,relatime - ext4 /dev/vda rw',
  '50 27 254:0 /run/netns /run/netns rw,relatime shared:1 - ext4 /dev/vda rw',
  '60 27 254:16 / /var rw,relatime - xfs /dev/vdb rw',
  '61 27 259:3 /data /srv/with\\040space rw - ext4 /dev/nvme0n1p3 rw',
  '70 27 0:90 / /var/lib/containers/storage/overlay/abc/merged rw - overlay overlay rw,lowerdir=/x',
].join('\n');

describe('host filesystems', () => {
  const table = new HostFilesystems(parseMountInfo(MOUNTINFO));

  it('encodes major:minor as the kernel\'s s_dev and rejects what is not a device number', () => {
    assert.equal(kernelDev('254:0'), 254 << 20);
    assert.equal(kernelDev('259:3'), (259 << 20) | 3);
    assert.equal(kernelDev('4095:1048575'), 0xffffffff);
    assert.equal(kernelDev('4096:0'), undefined);
    assert.equal(kernelDev('x:1'), undefined);
  });

  it('lists storage filesystems once each, and no kernel view, memory filesystem or container overlay', () => {
    assert.deepEqual(table.devices().sort(), [kernelDev('254:0'), kernelDev('254:16'), kernelDev('259:3')].sort());
  });

  it('maps a path from a filesystem root to where the host mounts it', () => {
    assert.equal(table.hostPath(kernelDev('254:0')!, '/etc/cron.d/x'), '/etc/cron.d/x');
    assert.equal(table.hostPath(kernelDev('254:0')!, '/'), '/');
    assert.equal(table.hostPath(kernelDev('254:16')!, '/lib/kubelet/pods/u/f'), '/var/lib/kubelet/pods/u/f');
    assert.equal(table.hostPath(kernelDev('254:16')!, '/'), '/var');
    assert.equal(table.hostPath(kernelDev('259:3')!, '/data/a'), '/srv/with space/a');
    assert.equal(table.hostPath(kernelDev('259:3')!, '/data'), '/srv/with space');
  });

  it('prefers the host mount that shows the whole filesystem over a bind of a subtree', () => {
    assert.equal(table.hostPath(kernelDev('254:0')!, '/run/netns/a'), '/run/netns/a');
  });

  it('gives no host path for a part of a filesystem no host mount shows, nor for a filesystem that is not the host\'s', () => {
    assert.equal(table.hostPath(kernelDev('259:3')!, '/other/x'), '');
    assert.equal(table.hostPath(kernelDev('259:3')!, '/database'), '');
    assert.equal(table.hostPath(kernelDev('0:90')!, '/etc/passwd'), '');
  });

  it('counts an overlay as the host\'s own storage only when it is the host\'s root', () => {
    const overlayRoot = new HostFilesystems(parseMountInfo('1 0 0:30 / / rw - overlay overlay rw'));
    assert.deepEqual(overlayRoot.devices(), [kernelDev('0:30')]);
  });
});
