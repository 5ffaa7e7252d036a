// The agent's side of profile persistence: loads the store into the detector at start, writes changed profiles
// every persistIntervalMs and at shutdown. Writes happen on a timer off the event path.

import { BaselineDetector } from './BaselineDetector.ts';
import { ProfileStore } from './ProfileStore.ts';
import type { BaselineStoreSettings } from './settings.ts';

export class BaselinePersistence {
  readonly store: ProfileStore;
  readonly #detector: BaselineDetector;
  readonly #timer: NodeJS.Timeout;

  constructor(detector: BaselineDetector, dir: string, settings: BaselineStoreSettings, warn: (m: string) => void) {
    this.#detector = detector;
    this.store = new ProfileStore(dir, warn);
    for (const snapshot of this.store.load(Date.now(), settings.retentionMs, detector.settings.maxProfiles)) detector.restore(snapshot);
    this.#timer = setInterval(() => this.flush(), settings.persistIntervalMs);
    this.#timer.unref();
  }

  /**
   * Takes over what the CLI changed (import, accept, delete), then writes every profile changed since the last flush;
   * a failed write is retried at the next one.
   */
  flush(): void {
    const { changed, deleted } = this.store.externalChanges();
    for (const snapshot of changed) this.#detector.restore(snapshot);
    for (const key of deleted) this.#detector.forget(key);
    for (const snapshot of this.#detector.snapshots()) {
      if (!this.store.save(snapshot)) {
        const profile = this.#detector.profile(snapshot.key);
        if (profile) profile.dirty = true;
      }
    }
  }

  close(): void {
    clearInterval(this.#timer);
    this.flush();
  }
}
