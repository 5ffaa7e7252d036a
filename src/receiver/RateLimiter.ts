// A token bucket. The receiver uses it wherever bad input or misses could otherwise turn into unbounded work or
// log volume: decoder warnings, /proc fallback reads, cgroup subtree re-walks.

export class RateLimiter {
  readonly #capacity: number;
  readonly #refillPerMs: number;
  readonly #now: () => number;
  #tokens: number;
  #last: number;

  /** At most `burst` at once and `perSecond` sustained. `now` is injectable for tests (milliseconds). */
  constructor(perSecond: number, burst = perSecond, now: () => number = performance.now.bind(performance)) {
    this.#capacity = burst;
    this.#refillPerMs = perSecond / 1000;
    this.#now = now;
    this.#tokens = burst;
    this.#last = now();
  }

  tryAcquire(): boolean {
    const now = this.#now();
    this.#tokens = Math.min(this.#capacity, this.#tokens + (now - this.#last) * this.#refillPerMs);
    this.#last = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

export type LogSink = (message: string) => void;

const stderrSink: LogSink = (message) => process.stderr.write(`kubesentry: ${message}\n`);

/** Logs through `sink` at most at the limiter's rate and says how many messages it swallowed in between. */
export class RateLimitedLog {
  readonly #sink: LogSink;
  readonly #limiter: RateLimiter;
  #suppressed = 0;

  constructor(sink: LogSink = stderrSink, perSecond = 1, burst = 5) {
    this.#sink = sink;
    this.#limiter = new RateLimiter(perSecond, burst);
  }

  warn(message: string): void {
    if (!this.#limiter.tryAcquire()) {
      this.#suppressed++;
      return;
    }
    const suffix = this.#suppressed > 0 ? ` (${this.#suppressed} similar messages suppressed)` : '';
    this.#suppressed = 0;
    this.#sink(message + suffix);
  }
}
