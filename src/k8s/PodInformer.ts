// List + watch of the pods scheduled on this node, feeding a PodCache. It runs as a background loop that
// never throws into the caller: a watch that ends normally is resumed from the last resourceVersion; 410 Gone
// (history compacted) means relist; any other failure (network, API server restart, 5xx) waits with
// exponential backoff and jitter before trying again. The state tells the enricher whether waiting for a
// pod can still pay off. Bodies are bounded (src/k8s/internal/ApiReader.ts): a list page that is refused as too
// large is asked again with half the page size; a watch event line that is too large ends the watch and relists,
// since the event it carried is lost.

import type { ApiReader } from './internal/ApiReader.ts';
import { ResponseTooLargeError } from './internal/boundedBody.ts';
import { Backoff } from './internal/Backoff.ts';
import { describeError } from './internal/describeError.ts';
import type { K8sLogger } from './Logger.ts';
import type { PodCache } from './PodCache.ts';
import type { PodLike, PodRecord } from './projectPod.ts';

/** syncing: before the first list; synced: cache current; unreachable: the last API call failed. */
export type InformerState = 'syncing' | 'synced' | 'unreachable' | 'stopped';

export interface PodInformerOptions {
  /** Lists and watches go through this (plain JSON over pooled connections, bodies bounded). */
  reader: ApiReader;
  nodeName: string;
  cache: PodCache;
  project: (pod: PodLike) => PodRecord | undefined;
  log: K8sLogger;
  /** Called after a pod was added, changed or deleted in the cache. */
  onPodChanged?: (uid: string) => void;
  onStateChanged?: (state: InformerState) => void;
  listPageSize?: number;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /** The server ends each watch after a random time in this range, spreading reconnects of many agents. */
  watchTimeoutSeconds?: { min: number; max: number };
}

export interface PodInformerCounters {
  listRequests: number;
  watchRequests: number;
  watchEvents: number;
  /** Relists because the API server answered 410 Gone (watch history or list continue token expired). */
  relistsAfterGone: number;
  /** Failed list/watch attempts (network errors, API server down, non-410 HTTP errors). */
  errors: number;
  /** Objects that were not pods with name, namespace and uid (or watch lines that were not JSON): dropped. */
  undecodable: number;
  /** List pages and watch event lines refused for their size (each followed by a smaller page or a relist). */
  oversized: number;
}

const DEFAULT_WATCH_TIMEOUT = { min: 300, max: 600 };
/** A watch that ended sooner than this is followed by a backoff pause, so it cannot hot-loop. */
const MIN_HEALTHY_WATCH_MS = 1000;

type WatchOutcome = 'ended' | 'gone';

class GoneError extends Error {}

interface PodListPage {
  metadata?: { resourceVersion?: string; continue?: string };
  items?: PodLike[];
}

export class PodInformer {
  readonly counters: PodInformerCounters = {
    listRequests: 0, watchRequests: 0, watchEvents: 0, relistsAfterGone: 0, errors: 0, undecodable: 0, oversized: 0,
  };
  private readonly options: PodInformerOptions;
  /** Lowered when a page is refused as too large; stays lowered (the node's pods are that big). */
  private pageSize: number;
  private readonly backoff: Backoff;
  private readonly fieldSelector: string;
  private currentState: InformerState = 'syncing';
  private resourceVersion = '';
  private loop: Promise<void> | undefined;
  private readonly stopController = new AbortController();
  private activeWatch: AbortController | undefined;
  private consecutiveFailures = 0;
  private syncedResolve: (() => void) | undefined;
  private readonly synced: Promise<void>;

  constructor(options: PodInformerOptions) {
    this.options = options;
    this.pageSize = options.listPageSize ?? 500;
    this.backoff = new Backoff(options.backoffInitialMs ?? 500, options.backoffMaxMs ?? 30_000);
    this.fieldSelector = `spec.nodeName=${options.nodeName}`;
    this.synced = new Promise((resolve) => { this.syncedResolve = resolve; });
  }

  get state(): InformerState {
    return this.currentState;
  }

  /** Starts the background loop and returns at once. */
  start(): void {
    if (this.loop) return;
    this.loop = this.run();
  }

  /** Resolves after the first complete list; never rejects (a down API server just keeps it pending). */
  whenSynced(): Promise<void> {
    return this.synced;
  }

  async stop(): Promise<void> {
    this.stopController.abort();
    this.activeWatch?.abort();
    await this.loop;
    this.setState('stopped');
  }

  private get stopped(): boolean {
    return this.stopController.signal.aborted;
  }

  private async run(): Promise<void> {
    let needList = true;
    while (!this.stopped) {
      try {
        if (needList) {
          await this.list();
          needList = false;
          this.recovered();
          this.setState('synced');
          this.syncedResolve?.();
        }
        const startedMs = performance.now();
        const outcome = await this.watchOnce();
        if (outcome === 'gone') {
          this.counters.relistsAfterGone += 1;
          needList = true;
        }
        // A watch that ends (or is Gone) at once, every time, must not turn into a loop of requests or full lists.
        if (performance.now() - startedMs < MIN_HEALTHY_WATCH_MS) await this.pause(this.backoff.nextDelayMs());
      } catch (error) {
        if (this.stopped) break;
        if (error instanceof GoneError) {
          this.counters.relistsAfterGone += 1;
          needList = true;
          continue;
        }
        if (error instanceof ResponseTooLargeError && !needList) {
          // A watch event refused: the cache missed it, so relist (after a pause: the next may be as large).
          this.counters.oversized += 1;
          this.options.log.warn(`k8s: ${error.message}; relisting pods`);
          needList = true;
          await this.pause(this.backoff.nextDelayMs());
          continue;
        }
        this.failed(error);
        await this.pause(this.backoff.nextDelayMs());
      }
    }
  }

  /** Lists every pod of this node in pages, then reconciles the cache in one step. */
  private async list(): Promise<void> {
    const records: PodRecord[] = [];
    let continueToken: string | undefined;
    let listVersion = '';
    let more = true;
    while (more && !this.stopped) {
      this.counters.listRequests += 1;
      const query = new URLSearchParams({ fieldSelector: this.fieldSelector, limit: String(this.pageSize) });
      if (continueToken) query.set('continue', continueToken);
      let page: PodListPage;
      try {
        page = await this.options.reader.getJson(`/api/v1/pods?${query}`, this.stopController.signal) as PodListPage;
      } catch (error) {
        if ((error as { code?: unknown }).code === 410) throw new GoneError('list continue token expired');
        if (error instanceof ResponseTooLargeError && this.pageSize > 1) {
          // The same page again with fewer pods: a continue token is valid with any limit.
          this.counters.oversized += 1;
          this.pageSize = Math.max(1, Math.floor(this.pageSize / 2));
          this.options.log.warn(`k8s: ${error.message}; listing ${this.pageSize} pods per page from now on`);
          continue;
        }
        throw error;
      }
      for (const pod of page.items ?? []) {
        const record = this.options.project(pod);
        if (record) records.push(record);
        else this.counters.undecodable += 1;
      }
      listVersion = page.metadata?.resourceVersion ?? '';
      continueToken = page.metadata?.continue || undefined;
      more = continueToken !== undefined;
    }
    // A list cut short by stop() is not the node's pods: the cache stays as it was.
    if (this.stopped) return;

    const listed = new Set(records.map((record) => record.uid));
    const now = performance.now();
    for (const uid of [...this.options.cache.uids()]) {
      if (!listed.has(uid)) {
        this.options.cache.markDeleted(uid, now);
        this.options.onPodChanged?.(uid);
      }
    }
    for (const record of records) this.apply(record);
    this.resourceVersion = listVersion;
  }

  private watchOnce(): Promise<WatchOutcome> {
    const { min, max } = this.options.watchTimeoutSeconds ?? DEFAULT_WATCH_TIMEOUT;
    const timeoutSeconds = Math.round(min + Math.random() * (max - min));
    this.counters.watchRequests += 1;
    let gone = false;
    let watchError: Error | undefined;
    const onLine = (line: string) => {
      let event: { type?: unknown; object?: unknown };
      try {
        event = JSON.parse(line) as typeof event;
      } catch {
        this.counters.undecodable += 1;
        return;
      }
      this.counters.watchEvents += 1;
      const type = typeof event.type === 'string' ? event.type : '';
      if (type === 'ERROR') {
        const status = (event.object ?? {}) as { code?: number; message?: string };
        if (status.code === 410) gone = true;
        else watchError = new Error(`watch ERROR event: ${status.code ?? '?'} ${status.message ?? ''}`.trim());
        return;
      }
      this.onWatchEvent(type, (event.object ?? {}) as PodLike);
    };
    const query = new URLSearchParams({
      watch: 'true',
      fieldSelector: this.fieldSelector,
      resourceVersion: this.resourceVersion,
      allowWatchBookmarks: 'true',
      timeoutSeconds: String(timeoutSeconds),
    });
    const controller = new AbortController();
    this.activeWatch = controller;
    if (this.stopped) controller.abort();
    // Past the server's timeoutSeconds, the inactivity limit only catches a connection that died silently.
    const watching = this.options.reader.watch(
      `/api/v1/pods?${query}`,
      { signal: controller.signal, inactivityMs: (timeoutSeconds + 30) * 1000, onOpen: () => this.recovered() },
      onLine,
    );
    return watching.then(
      (): WatchOutcome => {
        this.activeWatch = undefined;
        if (gone) return 'gone';
        if (watchError) throw watchError;
        return 'ended';
      },
      (error: unknown): WatchOutcome => {
        this.activeWatch = undefined;
        if (gone || (error as { code?: unknown }).code === 410) return 'gone';
        throw error;
      },
    );
  }


  private onWatchEvent(type: string, pod: PodLike): void {
    const version = pod.metadata?.resourceVersion;
    if (type === 'BOOKMARK') {
      if (version) this.resourceVersion = version;
      return;
    }
    // The watch delivering events proves the API server is back.
    this.recovered();
    if (type === 'ADDED' || type === 'MODIFIED') {
      const record = this.options.project(pod);
      if (!record) this.counters.undecodable += 1;
      else this.apply(record);
    } else if (type === 'DELETED') {
      const uid = pod.metadata?.uid;
      if (uid) {
        this.options.cache.markDeleted(uid, performance.now());
        this.options.onPodChanged?.(uid);
      } else {
        this.counters.undecodable += 1;
      }
    }
    if (version) this.resourceVersion = version;
  }

  private apply(record: PodRecord): void {
    const existing = this.options.cache.byPodUid(record.uid);
    if (existing && existing.resourceVersion === record.resourceVersion && record.resourceVersion !== '') return;
    this.options.cache.upsert(record);
    this.options.onPodChanged?.(record.uid);
  }

  private failed(error: unknown): void {
    this.counters.errors += 1;
    this.consecutiveFailures += 1;
    if (this.currentState !== 'unreachable') {
      this.options.log.warn(`k8s: cannot list/watch pods (${describeError(error)}); API server treated as unreachable, ` +
        `retrying with backoff; pod metadata from the last sync only`);
    }
    this.setState('unreachable');
  }

  private recovered(): void {
    if (this.consecutiveFailures > 0) {
      this.options.log.info(`k8s: API server reachable again after ${this.consecutiveFailures} failed attempt(s)`);
    }
    this.consecutiveFailures = 0;
    this.backoff.reset();
    if (this.currentState === 'unreachable') this.setState('synced');
  }

  private setState(state: InformerState): void {
    if (state === this.currentState) return;
    this.currentState = state;
    this.options.onStateChanged?.(state);
  }

  private async pause(ms: number): Promise<void> {
    if (this.stopped) return;
    const signal = this.stopController.signal;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done);
    });
  }
}
