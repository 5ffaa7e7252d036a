// Table-driven tests of KS-ESC-020: io_uring in a container, once per container and operation.

import assert from 'node:assert/strict';
import { IoUringOpcode, Op } from '../../src/receiver/events.ts';
import { Attr } from '../../src/detectors/attributeKeys.ts';
import { IoUringInContainer } from '../../src/detectors/rules/IoUringInContainer.ts';
import { HOST_CGROUP, OTHER, ev } from './fixtures.ts';
import { detectorTable } from './table.ts';

const submit = (opcode: number, extra: Parameters<typeof ev.ioUring>[0] = {}) => ev.ioUring({ op: Op.IoUringSubmit, opcode, ...extra });

detectorTable(() => new IoUringInContainer(), [
  {
    name: 'io_uring_setup in a container is medium',
    events: [ev.ioUring()],
    expect: ['medium'],
    check: (f) => assert.deepEqual(f[0].attributes, { [Attr.ioUringOperation]: 'setup', [Attr.syscall]: 'io_uring_setup' }),
  },
  { name: 'io_uring_setup on the host is not reported', events: [ev.ioUring({ cgroupId: HOST_CGROUP })], expect: [] },
  {
    name: 'an OPENAT submitted through a ring names the path as passed',
    events: [ev.ioUring(), submit(IoUringOpcode.Openat, { fd: -100, path: '/proc/sys/kernel/core_pattern' })],
    expect: ['medium'],
    check: (f) => assert.equal(f[0].attributes[Attr.filePath], '/proc/sys/kernel/core_pattern'),
  },
  {
    name: 'a CONNECT submitted through a ring names the peer',
    events: [submit(IoUringOpcode.Connect, { fd: 3, family: 2, port: 3333, address: '203.0.113.7' })],
    expect: ['medium'],
    check: (f) => assert.deepEqual([f[0].attributes[Attr.serverAddress], f[0].attributes[Attr.serverPort]], ['203.0.113.7', 3333]),
  },
  {
    name: 'a second OPENAT in the same container is not reported again',
    events: [submit(IoUringOpcode.Openat, { path: '/etc/passwd' }), submit(IoUringOpcode.Openat, { path: '/etc/shadow' })],
    expect: [],
  },
  {
    name: 'the same operation in another container is reported',
    events: [submit(IoUringOpcode.Openat, { path: '/etc/passwd' }), submit(IoUringOpcode.Openat, { cgroupId: OTHER.cgroupId, path: '/etc/passwd' })],
    expect: ['medium'],
  },
  { name: 'another opcode is not reported', events: [submit(22 /* IORING_OP_READ */)], expect: [] },
]);
