// The baseline of one workload key: a ClassBaseline per class, the containers (replicas) seen, and what was
// already reported, so a novelty is reported once per dedupe window and a burst is capped per minute.

import { BoundedMap } from '../detectors/internal/BoundedMap.ts';
import { SEVERITIES, type Severity } from '../detection.ts';
import { BASELINE_CLASSES, CLASS_CAPS, type BaselineClass, type Observation } from './classes.ts';
import { ClassBaseline, type BaselineState, type ClassSnapshot } from './ClassBaseline.ts';
import type { BaselineSettings } from './settings.ts';

/**
 * Bumped when the snapshot's shape or an item's form changes. 2: connect items carry the protocol; a schema-1 file
 * is migrated as it is read (ProfileStore), a file of any other version is not loaded.
 */
export const PROFILE_SCHEMA_VERSION = 2;
/** Containers remembered per profile: enough to count replicas and to know a restarted agent's containers. */
const MAX_CONTAINERS = 64;
/** Novelties remembered per profile for deduplication; the oldest is forgotten (and may be reported again). */
const MAX_REPORTED = 512;
/** Image digests remembered per profile: a digest among these is not new (a rollback does not summarise again). */
export const MAX_IMAGE_VERSIONS = 5;
/** Items a new image's summary names; the rest are counted. */
const MAX_SUMMARY_SAMPLE = 8;

/**
 * One image digest a profile has run. A digest new to a profile (not among its last MAX_IMAGE_VERSIONS) that is not
 * its first opens a window (newImageMs) in which its containers' novelties are learned and collected here, to be
 * told as one summary when the window ends: a rollout is one event, not a burst of deviations.
 */
export interface ImageVersion {
  digest: string;
  firstSeenMs: number;
  lastSeenMs: number;
  /** Its window is open or its summary not yet told (false for a profile's first digest and for restored ones). */
  rollout: boolean;
  /** Novelties learned in its window: count, the first few as "class item", the highest severity among them. */
  newItems: number;
  sample: string[];
  severity: Severity | undefined;
}

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
  /** Oldest first; absent in files written before image versions existed. */
  versions?: ImageVersion[];
}

export type Outcome =
  | { kind: 'known' }
  | { kind: 'learned' }
  | { kind: 'ignored'; state: BaselineState }
  | { kind: 'deviation' }
  /** Learned in a new image's window, to be told in its summary. */
  | { kind: 'new_image' }
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
  /** Oldest first. */
  #versions: ImageVersion[] = [];
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

  get versions(): readonly ImageVersion[] {
    return this.#versions;
  }

  /**
   * Notes that a container of this profile runs `digest`; returns its version while that version's new-image window
   * is open (its novelties are then collected, not reported). A digest beyond the last MAX_IMAGE_VERSIONS is new again.
   */
  imageVersion(digest: string | undefined, nowMs: number, newImageMs: number): ImageVersion | undefined {
    if (digest === undefined) return undefined;
    let v = this.#versions.find((x) => x.digest === digest);
    if (v === undefined) {
      v = { digest, firstSeenMs: nowMs, lastSeenMs: nowMs, rollout: this.#versions.length > 0, newItems: 0, sample: [], severity: undefined };
      this.#versions.push(v);
      if (this.#versions.length > MAX_IMAGE_VERSIONS) {
        // The least recently run digest goes; what it taught stays learned (a profile is the union of its versions).
        const oldest = this.#versions.reduce((a, b) => (b.lastSeenMs < a.lastSeenMs ? b : a));
        this.#versions.splice(this.#versions.indexOf(oldest), 1);
      }
      this.dirty = true;
    } else if (nowMs - v.lastSeenMs >= 60_000) {
      // Persisted recency needs no finer grain than a minute; not dirtying the profile on every event.
      v.lastSeenMs = nowMs;
      this.dirty = true;
    }
    return v.rollout && nowMs - v.firstSeenMs < newImageMs ? v : undefined;
  }

  /** New images whose window has ended with novelties not yet told: each is returned once. */
  endedImageWindows(nowMs: number, newImageMs: number): ImageVersion[] {
    const ended: ImageVersion[] = [];
    for (const v of this.#versions) {
      if (!v.rollout || nowMs - v.firstSeenMs < newImageMs) continue;
      v.rollout = false;
      this.dirty = true;
      if (v.newItems > 0) ended.push(v);
    }
    return ended;
  }

  /** Classes whose timers moved them to another state. */
  advance(nowMs: number, s: BaselineSettings): BaselineClass[] {
    const changed: BaselineClass[] = [];
    for (const c of BASELINE_CLASSES) if (this.classes[c].advance(nowMs, s) !== undefined) changed.push(c);
    if (changed.length > 0) this.dirty = true;
    return changed;
  }

  /**
   * Learns, ignores or judges one observation; classes must have been advanced to nowMs. `newImage`: the event's
   * container runs an image whose window is open.
   */
  observe(o: Observation, nowMs: number, warmingUp: boolean, s: BaselineSettings, newImage?: ImageVersion): Outcome {
    const c = this.classes[o.cls];
    if (c.knows(o.item)) return { kind: 'known' };
    if (c.state === 'unstable' || c.state === 'saturated') return { kind: 'ignored', state: c.state };
    if (c.state === 'learning' || warmingUp) {
      c.learn(o.item, nowMs, s.collapseAt);
      this.dirty = true;
      return { kind: 'learned' };
    }
    if (newImage !== undefined) {
      c.learn(o.item, nowMs, s.collapseAt);
      newImage.newItems++;
      if (newImage.sample.length < MAX_SUMMARY_SAMPLE) newImage.sample.push(`${o.cls} ${o.item}`);
      // SEVERITIES runs from the highest down.
      if (newImage.severity === undefined || SEVERITIES.indexOf(o.severity) < SEVERITIES.indexOf(newImage.severity)) newImage.severity = o.severity;
      this.dirty = true;
      return { kind: 'new_image' };
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
   * An item the workload's own declaration makes normal (a pod spec's exec probe or hook): learned in any class that
   * still learns or judges, without a report. True when it was new.
   */
  learnDeclared(o: Observation, nowMs: number, s: BaselineSettings): boolean {
    const c = this.classes[o.cls];
    if (c.knows(o.item) || c.state === 'unstable' || c.state === 'saturated') return false;
    c.learn(o.item, nowMs, s.collapseAt);
    this.dirty = true;
    return true;
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
      versions: this.#versions.map((v) => ({ ...v, sample: [...v.sample] })),
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
    p.#versions = (s.versions ?? []).slice(-MAX_IMAGE_VERSIONS).map((v) => ({ ...v, sample: [...v.sample] }));
    p.dirty = false;
    return p;
  }
}
