// Table-driven tests of KS-ESC-021: 32-bit (int 0x80) system calls from a container.

import assert from 'node:assert/strict';
import { Attr } from '../../src/detectors/attributeKeys.ts';
import { CompatSyscall } from '../../src/detectors/rules/CompatSyscall.ts';
import { HOST_CGROUP, OTHER, ev } from './fixtures.ts';
import { detectorTable } from './table.ts';

const KILLED_AS_USER_NAMESPACE = 1 << 1; // KS_HDR_FLAG_KILLED, check 0 (user namespace) in bits 8..15

detectorTable(() => new CompatSyscall(), [
  {
    name: 'a 32-bit unshare in a container is high and names the call',
    events: [ev.compat()],
    expect: ['high'],
    check: (f) => {
      assert.deepEqual(f[0].attributes, { [Attr.syscall]: 'unshare', [Attr.compatSyscallNumber]: 310 });
      assert.match(f[0].summary, /32-bit system call unshare/);
    },
  },
  { name: 'a 32-bit call by a host process is not reported', events: [ev.compat({ cgroupId: HOST_CGROUP })], expect: [] },
  {
    name: 'a number no rule watches is reported by number, with the calls the kernel folded into it',
    events: [ev.compat({ nr: 64, repeats: 41 })],
    expect: ['high'],
    check: (f) => {
      assert.deepEqual(f[0].attributes, { [Attr.syscall]: '64', [Attr.compatSyscallNumber]: 64, [Attr.compatSyscallRepeats]: 41 });
      assert.match(f[0].summary, /i386 syscall 64/);
    },
  },
  { name: 'an ordinary number is reported once per container', events: [ev.compat({ nr: 20 }), ev.compat({ nr: 20, tgid: 4243 })], expect: [] },
  {
    name: 'the same ordinary number in another container is reported',
    events: [ev.compat({ nr: 20 }), ev.compat({ nr: 20, cgroupId: OTHER.cgroupId })],
    expect: ['high'],
  },
  {
    name: 'an escape-relevant number is reported again for another process of the container (cheapest evasion: fork first)',
    events: [ev.compat({ nr: 21 }), ev.compat({ nr: 21, tgid: 9999 })],
    expect: ['high'],
    check: (f) => assert.equal(f[0].attributes[Attr.syscall], 'mount'),
  },
  { name: 'the same escape-relevant call by the same process is not reported twice', events: [ev.compat({ nr: 21 }), ev.compat({ nr: 21 })], expect: [] },
  {
    name: 'a call the kernel killed is reported even after the same call was',
    events: [ev.compat(), ev.compat({ flags: KILLED_AS_USER_NAMESPACE })],
    expect: ['high'],
  },
]);
