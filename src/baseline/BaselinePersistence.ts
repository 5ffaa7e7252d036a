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

  /** Writes every profile changed since the last flush; a failed write is retried at the next one. */
  flush(): void {
    for (const snapshot of this.#detector.snapshots()) {
      if (!this.store.save(snapshot)) this.#detector.profile(snapshot.key)!.dirty = true;
    }
  }

  close(): void {
    clearInterval(this.#timer);
    this.flush();
  }
}
