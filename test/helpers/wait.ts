/**
 * The one way tests wait: poll a condition until it yields a value or a deadline passes.
 *
 *   const pid = await waitFor(() => findPid('sleep'), { what: 'the sleep process to appear' });
 *
 * waitFor(probe, { timeoutMs = 10_000, intervalMs = 25, what })
 *   Calls `probe` (sync or async) until it returns a truthy value and resolves with that value.
 *   A probe that throws counts as "not yet"; at the deadline the rejection names `what` and carries the
 *   probe's last error, so a probe that can never succeed still explains itself.
 *   A probe that never settles cannot hold the test past the deadline.
 *
 * Never sleep for a fixed time to let something happen: wait for the thing itself.
 */
import { setTimeout as delay } from 'node:timers/promises';

export interface WaitOptions {
  /** Give up after this long. */
  timeoutMs?: number;
  /** Pause between probes. */
  intervalMs?: number;
  /** What is awaited, phrased to follow "timed out waiting for". */
  what: string;
}

export class WaitTimeoutError extends Error {
  override name = 'WaitTimeoutError';
}

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_INTERVAL_MS = 25;

const PENDING = Symbol('pending');

export async function waitFor<T>(
  probe: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  options: WaitOptions,
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const intervalMs = options.intervalMs ?? DEFAULT_INTERVAL_MS;
  if (!(timeoutMs > 0) || !(intervalMs > 0)) {
    throw new RangeError(`waitFor(${options.what}): timeoutMs and intervalMs must be positive numbers`);
  }
  const deadline = performance.now() + timeoutMs;
  let lastError: unknown;
  let attempts = 0;

  for (;;) {
    attempts++;
    const remaining = deadline - performance.now();
    try {
      const value = await raceDeadline(Promise.resolve().then(probe), remaining);
      if (value !== PENDING && value) return value as T;
    } catch (err) {
      lastError = err;
    }
    const left = deadline - performance.now();
    if (left <= 0) break;
    await delay(Math.min(intervalMs, left));
  }

  const why = lastError === undefined ? '' : `; last probe error: ${describe(lastError)}`;
  throw new WaitTimeoutError(`timed out after ${timeoutMs} ms (${attempts} probes) waiting for ${options.what}${why}`);
}

async function raceDeadline<T>(work: Promise<T>, remainingMs: number): Promise<T | typeof PENDING> {
  const ac = new AbortController();
  try {
    return await Promise.race([
      work,
      delay(Math.max(0, remainingMs), PENDING, { signal: ac.signal }),
    ]);
  } finally {
    ac.abort();
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
