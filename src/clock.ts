// Kernel records carry CLOCK_BOOTTIME (bpf_ktime_get_boot_ns); people and OTLP want wall-clock time.
// Node exposes CLOCK_MONOTONIC (process.hrtime) and CLOCK_REALTIME, not BOOTTIME. BOOTTIME = MONOTONIC + time
// spent suspended; /proc/uptime reads BOOTTIME at 10 ms resolution, enough to learn that suspend offset, which is
// either zero (servers, VMs that never suspend) or far larger than 10 ms.
// The offset is re-learned periodically so NTP steps of the wall clock reach the records.

import { readFileSync } from 'node:fs';

const SUSPEND_NOISE_NS = 50_000_000n;

/**
 * CLOCK_REALTIME − CLOCK_MONOTONIC in ns. Date.now() has millisecond resolution, so the monotonic clock is read at
 * the moment Date.now() ticks over: that pins the offset to microseconds (performance.timeOrigin, fixed at start-up,
 * was ~1 ms off and never saw a step of the wall clock). Spins for at most about a millisecond.
 */
function monotonicToWallNs(): bigint {
  const before = Date.now();
  const giveUpAt = performance.now() + 2;
  let wallMs = Date.now();
  while (wallMs === before && performance.now() < giveUpAt) wallMs = Date.now();
  const monotonic = process.hrtime.bigint();
  return BigInt(wallMs) * 1_000_000n - monotonic;
}

function suspendedNs(monotonic: bigint): bigint {
  try {
    const uptimeSeconds = readFileSync('/proc/uptime', 'latin1').split(' ')[0];
    const [whole, frac = '0'] = uptimeSeconds.split('.');
    const boottime = BigInt(whole) * 1_000_000_000n + BigInt(frac.padEnd(9, '0').slice(0, 9));
    const delta = boottime - monotonic;
    return delta > SUSPEND_NOISE_NS ? delta : 0n;
  } catch {
    return 0n;
  }
}

export class BootClock {
  #bootToWallNs = 0n;
  /** CLOCK_BOOTTIME − CLOCK_MONOTONIC: the time the machine spent suspended. */
  #suspendedNs = 0n;
  #learnedAtMs = 0;

  constructor() {
    this.relearn();
  }

  relearn(): void {
    this.#suspendedNs = suspendedNs(process.hrtime.bigint());
    this.#bootToWallNs = monotonicToWallNs() - this.#suspendedNs;
    this.#learnedAtMs = Date.now();
  }

  /** Wall-clock Unix ns for a CLOCK_BOOTTIME ns value. */
  toUnixNs(bootNs: bigint): bigint {
    if (Date.now() - this.#learnedAtMs > 60_000) this.relearn();
    return bootNs + this.#bootToWallNs;
  }

  /** CLOCK_BOOTTIME ns now. */
  nowBootNs(): bigint {
    return process.hrtime.bigint() + this.#suspendedNs;
  }
}

/** RFC 3339 UTC with nanoseconds: 2026-11-25T07:03:01.123456789Z. */
export function rfc3339Nano(unixNs: bigint): string {
  const seconds = Number(unixNs / 1_000_000_000n);
  // Detections come in bursts within the same second: formatting the date part is most of the cost.
  if (seconds !== lastSeconds) {
    lastSeconds = seconds;
    lastSecondsText = new Date(seconds * 1000).toISOString().slice(0, 19);
  }
  const nanos = (unixNs % 1_000_000_000n).toString().padStart(9, '0');
  return `${lastSecondsText}.${nanos}Z`;
}

let lastSeconds = Number.NaN;
let lastSecondsText = '';
