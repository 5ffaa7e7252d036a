// The baseline's tunables. The defaults here are the config schema's defaults (src/config.ts reads them), so the
// two cannot disagree; tests pass compressed values (seconds instead of hours).

export interface BaselineSettings {
  /** A class needs at least this much learning before it can become stable. */
  minLearningMs: number;
  /** ...and no new item for this long. */
  quietMs: number;
  /** A class not stable after this long is unstable: it stops learning and alerting. */
  maxLearningMs: number;
  /** After a container of a profile starts, its events only teach the profile. */
  warmupMs: number;
  /** A reported (profile, item) is reported again only after this long. */
  dedupeMs: number;
  /** Deviations reported per profile per minute; the next one becomes a summary and the rest are counted. */
  maxDeviationsPerMinute: number;
  /** Profiles kept in memory; the least recently seen is forgotten beyond it. */
  maxProfiles: number;
  /** Siblings of one shape (e.g. /app/worker-<n>) collapse into the shape once this many are learned. */
  collapseAt: number;
  /** Cluster DNS domain, stripped with the resolver's search suffixes from DNS queries. */
  clusterDomain: string;
  /**
   * After an image digest new to a profile is first seen, what its containers do new is learned, and told once as
   * one summary when this ends, instead of one deviation per item (a rollout that changes behaviour).
   */
  newImageMs: number;
  /** The cluster's address ranges (CIDRs), which name a connect's peer kind; empty: private ranges are 'internal'. */
  podCidrs: string[];
  serviceCidrs: string[];
  nodeCidrs: string[];
}

export const DEFAULT_BASELINE_SETTINGS: Readonly<BaselineSettings> = Object.freeze({
  minLearningMs: 60 * 60_000,
  quietMs: 30 * 60_000,
  maxLearningMs: 24 * 60 * 60_000,
  warmupMs: 180_000,
  dedupeMs: 60 * 60_000,
  maxDeviationsPerMinute: 10,
  maxProfiles: 2000,
  collapseAt: 15,
  clusterDomain: 'cluster.local',
  newImageMs: 10 * 60_000,
  podCidrs: [],
  serviceCidrs: [],
  nodeCidrs: [],
});

/** Where and how often the agent persists profiles (baseline/ProfileStore.ts). */
export interface BaselineStoreSettings {
  /** Changed profiles are written at most this often (and at shutdown). */
  persistIntervalMs: number;
  /** Profiles of workloads not seen for this long are deleted. */
  retentionMs: number;
}

export const DEFAULT_BASELINE_STORE_SETTINGS: Readonly<BaselineStoreSettings> = Object.freeze({
  persistIntervalMs: 30_000,
  retentionMs: 7 * 24 * 60 * 60_000,
});
