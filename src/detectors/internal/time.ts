// Wall-clock nanoseconds → RFC 3339 with nanosecond precision ('2026-11-25T07:01:02.123456789Z').

const NS_PER_MS = 1_000_000n;

export function rfc3339Nano(unixNs: bigint): string {
  const ms = unixNs / NS_PER_MS;
  const iso = new Date(Number(ms)).toISOString(); // ...T07:01:02.123Z
  const nanos = (unixNs % 1_000_000_000n).toString().padStart(9, '0');
  return `${iso.slice(0, 19)}.${nanos}Z`;
}
