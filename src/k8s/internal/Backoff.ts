// Exponential backoff with jitter: the delay doubles per consecutive failure up to a ceiling, and each wait is
// drawn from the upper half of the current window so a fleet of agents restarted together does not reconnect
// to the API server in lockstep.

export class Backoff {
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly random: () => number;
  private failures = 0;

  constructor(initialMs: number, maxMs: number, random: () => number = Math.random) {
    this.initialMs = initialMs;
    this.maxMs = maxMs;
    this.random = random;
  }

  nextDelayMs(): number {
    const window = Math.min(this.maxMs, this.initialMs * 2 ** Math.min(this.failures, 30));
    this.failures += 1;
    return Math.round(window / 2 + (this.random() * window) / 2);
  }

  reset(): void {
    this.failures = 0;
  }
}
