// Boot-clock → wall-clock conversion of kernel event times.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BootClock, rfc3339Nano } from '../src/clock.ts';

describe('BootClock', () => {
  it('converts the boot clock to the wall clock to within a millisecond of Date.now()', () => {
    const clock = new BootClock();
    for (let i = 0; i < 20; i++) {
      const before = Date.now();
      const converted = Number(clock.toUnixNs(clock.nowBootNs()) / 1_000_000n);
      const after = Date.now();
      assert.ok(converted >= before - 1 && converted <= after + 1, `${converted} not within [${before}, ${after}] ±1 ms`);
    }
  });

  it('reads the boot clock that /proc/uptime reports (10 ms resolution)', async () => {
    const { readFileSync } = await import('node:fs');
    const uptimeNs = BigInt(Math.round(Number(readFileSync('/proc/uptime', 'latin1').split(' ')[0]) * 1e9));
    const bootNs = new BootClock().nowBootNs();
    const differenceMs = Number(bootNs - uptimeNs) / 1e6;
    assert.ok(differenceMs >= -1 && differenceMs < 50, `boot clock ${differenceMs} ms from /proc/uptime`);
  });
});

describe('rfc3339Nano', () => {
  it('keeps all nine fraction digits and the date of each second', () => {
    assert.equal(rfc3339Nano(1_764_054_181_000_000_007n), '2025-11-25T07:03:01.000000007Z');
    assert.equal(rfc3339Nano(1_764_054_182_123_456_789n), '2025-11-25T07:03:02.123456789Z');
    assert.equal(rfc3339Nano(1_764_054_182_999_999_999n), '2025-11-25T07:03:02.999999999Z');
  });
});
