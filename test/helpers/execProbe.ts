// The kubelet's exec probe, as the baseline tests need it: the runtime execs the same command into each target
// container, round after round, every periodMs, until stopped. Rounds are counted so a test can wait for some to
// pass (a probe seen in a given state) instead of sleeping.

import type { Container } from './podman.ts';
import { waitFor } from './wait.ts';

export interface ExecProbe {
  /** Waits until `n` more rounds (each an exec into every target) have completed. */
  roundsFromNow(n: number, what: string): Promise<void>;
  stop(): Promise<void>;
}

export function startExecProbe(targets: () => readonly Container[], command: readonly string[], periodMs = 1500): ExecProbe {
  let running = true;
  let rounds = 0;
  let wake: (() => void) | undefined;
  const loop = (async () => {
    while (running) {
      for (const c of targets()) await c.exec(command, { timeoutMs: 30_000 }).catch(() => {});
      rounds++;
      // The probe period, not a synchronisation; cut short by stop().
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, periodMs);
      });
    }
  })();
  return {
    roundsFromNow: async (n, what) => {
      const target = rounds + n;
      await waitFor(() => rounds >= target, { what, timeoutMs: 60_000 + n * 5_000 });
    },
    stop: async () => {
      running = false;
      wake?.();
      await loop;
    },
  };
}
