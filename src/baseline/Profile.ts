// The baseline of one workload key: a ClassBaseline per class, the containers (replicas) seen, and what was
// already reported, so a novelty is reported once per dedupe window and a burst is capped per minute.

import { BoundedMap } from '../detectors/internal/BoundedMap.ts';
import { BASELINE_CLASSES, CLASS_CAPS, type BaselineClass, type Observation } from './classes.ts';
import { ClassBaseline, type BaselineState, type ClassSnapshot } from './ClassBaseline.ts';
import type { BaselineSettings } from './settings.ts';

/** Bumped when the snapshot's shape changes; a file of another version is not loaded. */
export const PROFILE_SCHEMA_VERSION = 1;
/** Containers remembered per profile: enough to count replicas and to know a restarted agent's containers. */
const MAX_CONTAINERS = 64;
/** Novelties remembered per profile for deduplication; the oldest is forgotten (and may be reported again). */
const MAX_REPORTED = 512;

export interface ProfileSnapshot {
  schema: number;
  key: string;
  createdMs: number;
  lastSeenMs: number;
  /** [container id, first seen ms] */
  containers: [string, number][];
  classes: Record<BaselineClass, ClassSnapshot>;
  /** ["class item", last reported ms] */
  reported: [string, number][];
}

export type Outcome =
  | { kind: 'known' }
  | { kind: 'learned' }
  | { kind: 'ignored'; state: BaselineState }
  | { kind: 'deviation' }
  | { kind: 'duplicate' }
  | { kind: 'rate_limited'; summarise: boolean };

export class Profile {
  readonly key: string;
  readonly createdMs: number;
  lastSeenMs: number;
  /** Changed since it was last persisted. */
  dirty = true;
  readonly classes: Record<BaselineClass, ClassBaseline>;
  readonly #containers = new BoundedMap<string, number>(MAX_CONTAINERS);
  readonly #reported = new BoundedMap<string, number>(MAX_REPORTED);
  #windowStartMs = 0;
  #windowCount = 0;

  constructor(key: string, nowMs: number, classes?: Record<BaselineClass, ClassBaseline>) {
    this.key = key;
    this.createdMs = nowMs;
    this.lastSeenMs = nowMs;
    this.classes = classes ?? (Object.fromEntries(BASELINE_CLASSES.map((c) => [c, new ClassBaseline(CLASS_CAPS[c], nowMs)])) as Record<BaselineClass, ClassBaseline>);
  }

  get replicasSeen(): number {
    return this.#containers.size;
  }

  /**
   * The profile's overall state: learning while any class learns, stable when all are, otherwise saturated or
   * unstable (some class gave up).
   */
  get state(): BaselineState {
    const states = BASELINE_CLASSES.map((c) => this.classes[c].state);
    if (states.includes('learning')) return 'learning';
    if (states.every((s) => s === 'stable')) return 'stable';
    return states.includes('saturated') ? 'saturated' : 'unstable';
  }

  /** True while this container is in its warm-up (its events only teach the profile). */
  warmingUp(containerId: string, containerStartMs: number, nowMs: number, warmupMs: number): boolean {
    let first = this.#containers.get(containerId);
    if (first === undefined) {
      first = Math.min(containerStartMs, nowMs);
      this.#containers.set(containerId, first);
      this.dirty = true;
    }
    return nowMs - first < warmupMs;
  }

  /** Classes whose timers moved them to another state. */
  advance(nowMs: number, s: BaselineSettings): BaselineClass[] {
    const changed: BaselineClass[] = [];
    for (const c of BASELINE_CLASSES) if (this.classes[c].advance(nowMs, s) !== undefined) changed.push(c);
    if (changed.length > 0) this.dirty = true;
    return changed;
  }

  /** Learns, ignores or judges one observation; classes must have been advanced to nowMs. */
  observe(o: Observation, nowMs: number, warmingUp: boolean, s: BaselineSettings): Outcome {
    const c = this.classes[o.cls];
    if (c.knows(o.item)) return { kind: 'known' };
    if (c.state === 'unstable' || c.state === 'saturated') return { kind: 'ignored', state: c.state };
    if (c.state === 'learning' || warmingUp) {
      c.learn(o.item, nowMs, s.collapseAt);
      this.dirty = true;
      return { kind: 'learned' };
    }
    const reportKey = `${o.cls} ${o.item}`;
    const last = this.#reported.get(reportKey);
    if (last !== undefined && nowMs - last < s.dedupeMs) return { kind: 'duplicate' };
    if (nowMs - this.#windowStartMs >= 60_000) {
      this.#windowStartMs = nowMs;
      this.#windowCount = 0;
    }
    this.#windowCount++;
    // Not remembered as reported: a suppressed novelty is reported when it recurs after the window.
    if (this.#windowCount > s.maxDeviationsPerMinute) {
      return { kind: 'rate_limited', summarise: this.#windowCount === s.maxDeviationsPerMinute + 1 };
    }
    this.#reported.set(reportKey, nowMs);
    this.dirty = true;
    return { kind: 'deviation' };
  }

  /**
   * An observation reported inside another's finding (a new exec's parent → child pair): reported and deduplicated
   * like a deviation, without spending the per-minute budget a second time for one event. True when it is new.
   */
  observeWith(o: Observation, nowMs: number, s: BaselineSettings): boolean {
    const c = this.classes[o.cls];
    if (c.state !== 'stable' || c.knows(o.item)) return false;
    const reportKey = `${o.cls} ${o.item}`;
    const last = this.#reported.get(reportKey);
    if (last !== undefined && nowMs - last < s.dedupeMs) return false;
    this.#reported.set(reportKey, nowMs);
    this.dirty = true;
    return true;
  }

  /** An operator's verdict: the item is normal for this workload from now on. */
  accept(cls: BaselineClass, item: string, nowMs: number, collapseAt: number): void {
    const c = this.classes[cls];
    // An unstable class has stopped learning; accepting into it would be silently lost.
    if (c.state === 'unstable') c.relearn(nowMs);
    c.learn(item, nowMs, collapseAt);
    this.#reported.delete(`${cls} ${item}`);
    this.dirty = true;
  }

  snapshot(): ProfileSnapshot {
    return {
      schema: PROFILE_SCHEMA_VERSION,
      key: this.key,
      createdMs: this.createdMs,
      lastSeenMs: this.lastSeenMs,
      containers: [...this.#containers.entries()],
      classes: Object.fromEntries(BASELINE_CLASSES.map((c) => [c, this.classes[c].snapshot()])) as Record<BaselineClass, ClassSnapshot>,
      reported: [...this.#reported.entries()],
    };
  }

  static restore(s: ProfileSnapshot): Profile {
    const classes = Object.fromEntries(
      BASELINE_CLASSES.map((c) => [c, ClassBaseline.restore(s.classes[c], CLASS_CAPS[c])]),
    ) as Record<BaselineClass, ClassBaseline>;
    const p = new Profile(s.key, s.createdMs, classes);
    p.lastSeenMs = s.lastSeenMs;
    for (const [id, ms] of s.containers) p.#containers.set(id, ms);
    for (const [k, ms] of s.reported) p.#reported.set(k, ms);
    p.dirty = false;
    return p;
  }
}
