// One class of one profile (e.g. the execs of default/Deployment/web/nginx) and its learning state:
//
//   learning ──(age ≥ minLearning and no new item for quiet)──▶ stable
//   learning ──(age ≥ maxLearning)──▶ unstable        learning/stable ──(cap reached)──▶ saturated
//
// Only a stable class reports new items; unstable and saturated ones neither learn nor report (the detector says so
// once). Times are wall-clock ms, so they mean the same after an agent restart or a node reboot.

import type { BaselineSettings } from './settings.ts';
import { itemShape } from './canonical.ts';

export type BaselineState = 'learning' | 'stable' | 'unstable' | 'saturated';
export const BASELINE_STATES: readonly BaselineState[] = ['learning', 'stable', 'unstable', 'saturated'];

export type LearningTimings = Pick<BaselineSettings, 'minLearningMs' | 'quietMs' | 'maxLearningMs'>;

export interface ClassSnapshot {
  state: BaselineState;
  startedMs: number;
  lastNewMs: number;
  stateSinceMs: number;
  items: string[];
  patterns: string[];
  /** The unstable/saturated status was told. */
  statusReported: boolean;
}

export class ClassBaseline {
  state: BaselineState = 'learning';
  startedMs: number;
  lastNewMs: number;
  stateSinceMs: number;
  statusReported = false;
  readonly cap: number;
  readonly #items = new Set<string>();
  /** Shapes that replaced their many siblings; an item of one of these shapes is known. */
  readonly #patterns = new Set<string>();
  readonly #shapeCounts = new Map<string, number>();

  constructor(cap: number, startedMs: number) {
    this.cap = cap;
    this.startedMs = startedMs;
    this.lastNewMs = startedMs;
    this.stateSinceMs = startedMs;
  }

  get size(): number {
    return this.#items.size + this.#patterns.size;
  }

  knows(item: string): boolean {
    return this.#items.has(item) || (this.#patterns.size > 0 && this.#patterns.has(itemShape(item)));
  }

  /**
   * Adds an item (learning, warm-up or an operator's accept). Saturates the class when it reaches its cap. A new
   * item restarts the quiet period only while learning: a stable class stays stable.
   */
  learn(item: string, nowMs: number, collapseAt: number): void {
    if (this.state === 'unstable' || this.state === 'saturated' || this.knows(item)) return;
    this.#items.add(item);
    if (this.state === 'learning') this.lastNewMs = nowMs;
    const shape = itemShape(item);
    if (shape !== item) {
      const count = (this.#shapeCounts.get(shape) ?? 0) + 1;
      this.#shapeCounts.set(shape, count);
      if (count >= collapseAt) this.#collapse(shape);
    }
    if (this.size >= this.cap) this.#enter('saturated', nowMs);
  }

  /** Applies the learning timers; returns the new state when it changed. */
  advance(nowMs: number, t: LearningTimings): BaselineState | undefined {
    if (this.state !== 'learning') return undefined;
    const age = nowMs - this.startedMs;
    if (age >= t.minLearningMs && nowMs - this.lastNewMs >= t.quietMs) return this.#enter('stable', nowMs);
    if (age >= t.maxLearningMs) return this.#enter('unstable', nowMs);
    return undefined;
  }

  /** Learning starts over (an operator's reset of an unstable class). */
  relearn(nowMs: number): void {
    this.#items.clear();
    this.#patterns.clear();
    this.#shapeCounts.clear();
    this.startedMs = nowMs;
    this.lastNewMs = nowMs;
    this.statusReported = false;
    this.#enter('learning', nowMs);
  }

  snapshot(): ClassSnapshot {
    return {
      state: this.state,
      startedMs: this.startedMs,
      lastNewMs: this.lastNewMs,
      stateSinceMs: this.stateSinceMs,
      items: [...this.#items],
      patterns: [...this.#patterns],
      statusReported: this.statusReported,
    };
  }

  static restore(s: ClassSnapshot, cap: number): ClassBaseline {
    const c = new ClassBaseline(cap, s.startedMs);
    c.state = s.state;
    c.lastNewMs = s.lastNewMs;
    c.stateSinceMs = s.stateSinceMs;
    c.statusReported = s.statusReported;
    for (const p of s.patterns) c.#patterns.add(p);
    for (const item of s.items) {
      c.#items.add(item);
      const shape = itemShape(item);
      if (shape !== item) c.#shapeCounts.set(shape, (c.#shapeCounts.get(shape) ?? 0) + 1);
    }
    return c;
  }

  #collapse(shape: string): void {
    for (const item of this.#items) if (itemShape(item) === shape) this.#items.delete(item);
    this.#shapeCounts.delete(shape);
    this.#patterns.add(shape);
  }

  #enter(state: BaselineState, nowMs: number): BaselineState {
    this.state = state;
    this.stateSinceMs = nowMs;
    return state;
  }
}
