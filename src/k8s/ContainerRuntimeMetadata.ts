// Container name and image for containers outside Kubernetes (podman, Docker), from the runtime's
// Docker-compatible HTTP API on its unix socket: GET /containers/<id>/json. Answers are cached per container
// id (a container's name and image never change); lookups from the detection path read the cache only, and a
// detection from a container not yet asked about is held until the runtime answers or the hold expires. An
// answer is bounded (MAX_RUNTIME_ANSWER_BYTES): a socket that sends more is refused rather than buffered.

import { existsSync } from 'node:fs';
import http from 'node:http';
import {
  CONTAINER_ID,
  CONTAINER_IMAGE_ID,
  CONTAINER_IMAGE_NAME,
  CONTAINER_NAME,
  KUBESENTRY_IMAGE_REFERENCE,
  type PodAttributes,
} from './attributes.ts';
import { readBounded, ResponseTooLargeError } from './internal/boundedBody.ts';
import { describeError } from './internal/describeError.ts';
import { silentLogger, type K8sLogger } from './Logger.ts';
import { imageRepository } from './projectPod.ts';

export const DEFAULT_RUNTIME_SOCKETS: readonly string[] = [
  '/run/podman/podman.sock',
  '/var/run/docker.sock',
  '/run/docker.sock',
];

/** One inspect answer: tens of KiB for a real container, even with many mounts and a long environment. */
export const MAX_RUNTIME_ANSWER_BYTES = 1 << 20;

export interface ContainerRuntimeMetadataOptions {
  /** The runtime's API socket; default: the first of DEFAULT_RUNTIME_SOCKETS that exists. */
  socketPath?: string;
  log?: K8sLogger;
  /** How long a detection waits for the runtime's answer. */
  holdMs?: number;
  /** Cached answers (including "not ours"); the oldest are dropped beyond this. */
  maxEntries?: number;
}

export type RuntimeReleaseOutcome = 'enriched' | 'bare';
export type RuntimeRelease = (attributes: PodAttributes, outcome: RuntimeReleaseOutcome) => void;

export interface RuntimeMetadataCounters {
  /** Inspect requests sent to the runtime. */
  requests: number;
  /** Containers the runtime does not know (404): e.g. a Kubernetes container of another runtime. */
  unknown: number;
  /** Requests that failed (socket error, timeout, non-404 HTTP error, answer too large). */
  errors: number;
  /** Of those, answers refused for being over MAX_RUNTIME_ANSWER_BYTES. */
  oversized: number;
  /** Detections released with only container.id. */
  misses: number;
}

/** null: the runtime does not know this container. */
type Answer = PodAttributes | null;

export class ContainerRuntimeMetadata {
  readonly counters: RuntimeMetadataCounters = { requests: 0, unknown: 0, errors: 0, oversized: 0, misses: 0 };
  readonly socketPath: string | null;
  private readonly log: K8sLogger;
  private readonly holdMs: number;
  private readonly maxEntries: number;
  private readonly answers = new Map<string, Answer>();
  private readonly waiting = new Map<string, Set<RuntimeRelease>>();
  private readonly inFlight = new Set<string>();
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(options: ContainerRuntimeMetadataOptions = {}) {
    this.log = options.log ?? silentLogger;
    this.holdMs = options.holdMs ?? 2000;
    this.maxEntries = options.maxEntries ?? 4096;
    if (options.socketPath !== undefined && !existsSync(options.socketPath)) {
      throw new Error(`container runtime socket ${options.socketPath} does not exist`);
    }
    this.socketPath = options.socketPath ?? DEFAULT_RUNTIME_SOCKETS.find((path) => existsSync(path)) ?? null;
    this.log.info(this.socketPath
      ? `runtime: container names and images from ${this.socketPath}`
      : `runtime: no container runtime API socket (${DEFAULT_RUNTIME_SOCKETS.join(', ')}); names and images of non-Kubernetes containers off`);
  }

  /** Cached answer: attributes, 'pending' while unknown (or being asked), 'miss' if the runtime does not know it. */
  lookup(containerId: string): PodAttributes | 'pending' | 'miss' {
    if (!this.socketPath) return 'miss';
    const answer = this.answers.get(containerId);
    if (answer === undefined) return 'pending';
    return answer ?? 'miss';
  }

  /** Asks the runtime in the background (e.g. when a new container cgroup appears), so later lookups hit. */
  observe(containerId: string): void {
    if (!this.socketPath || this.answers.has(containerId) || this.inFlight.has(containerId)) return;
    this.inFlight.add(containerId);
    this.counters.requests += 1;
    void this.inspect(this.socketPath, containerId).then((answer) => {
      this.inFlight.delete(containerId);
      if (answer !== undefined) this.store(containerId, answer);
      this.settle(containerId, answer ?? null);
    });
  }

  /** Calls release exactly once: at once when cached, else when the runtime answers or holdMs passes. */
  hold(containerId: string, release: RuntimeRelease): void {
    const known = this.lookup(containerId);
    if (known !== 'pending') {
      this.release(containerId, known === 'miss' ? null : known, release);
      return;
    }
    let waiters = this.waiting.get(containerId);
    if (!waiters) this.waiting.set(containerId, (waiters = new Set()));
    waiters.add(release);
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (waiters.delete(release)) this.release(containerId, null, release);
    }, this.holdMs);
    timer.unref();
    this.timers.add(timer);
    this.observe(containerId);
  }

  /** Drops the cached answer of a container that is gone. */
  forget(containerId: string): void {
    this.answers.delete(containerId);
  }

  /** Releases every waiting detection bare. */
  close(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const containerId of [...this.waiting.keys()]) this.settle(containerId, null);
  }

  private settle(containerId: string, answer: Answer): void {
    const waiters = this.waiting.get(containerId);
    if (!waiters) return;
    this.waiting.delete(containerId);
    for (const release of waiters) this.release(containerId, answer, release);
  }

  private release(containerId: string, answer: Answer, release: RuntimeRelease): void {
    if (!answer) this.counters.misses += 1;
    try {
      release(answer ? { ...answer } : { [CONTAINER_ID]: containerId }, answer ? 'enriched' : 'bare');
    } catch (error) {
      this.log.warn(`runtime: a held detection's release callback threw: ${String(error)}`);
    }
  }

  private store(containerId: string, answer: Answer): void {
    this.answers.set(containerId, answer);
    while (this.answers.size > this.maxEntries) {
      this.answers.delete(this.answers.keys().next().value as string);
    }
  }

  /** The answer, or undefined when asking failed (not cached: the next detection asks again). */
  private inspect(socketPath: string, containerId: string): Promise<Answer | undefined> {
    if (!/^[0-9a-f]{12,64}$/.test(containerId)) return Promise.resolve(null);
    return new Promise((resolve) => {
      const request = http.get({ socketPath, path: `/containers/${containerId}/json`, timeout: this.holdMs }, (response) => {
        readBounded(response, MAX_RUNTIME_ANSWER_BYTES, `GET /containers/${containerId.slice(0, 12)}/json`).then((body) => {
          if (response.statusCode === 404) {
            this.counters.unknown += 1;
            resolve(null);
            return;
          }
          if (response.statusCode !== 200) {
            this.failed(containerId, new Error(`HTTP ${response.statusCode}`), resolve);
            return;
          }
          try {
            resolve(toAttributes(containerId, JSON.parse(body.toString('utf8')) as InspectResponse));
          } catch (error) {
            this.failed(containerId, error, resolve);
          }
        }, (error: unknown) => {
          request.destroy();
          if (error instanceof ResponseTooLargeError) this.counters.oversized += 1;
          this.failed(containerId, error, resolve);
        });
      });
      request.on('timeout', () => request.destroy(new Error(`no answer in ${this.holdMs} ms`)));
      request.on('error', (error) => this.failed(containerId, error, resolve));
    });
  }

  private failed(containerId: string, error: unknown, resolve: (answer: undefined) => void): void {
    this.counters.errors += 1;
    if (this.counters.errors === 1) {
      this.log.warn(`runtime: inspecting container ${containerId.slice(0, 12)} via ${this.socketPath} failed ` +
        `(${describeError(error)}); further failures are only counted`);
    }
    resolve(undefined);
  }
}

interface InspectResponse {
  Id?: string;
  Name?: string;
  Image?: string;
  Config?: { Image?: string };
}

function toAttributes(containerId: string, inspected: InspectResponse): PodAttributes {
  const attributes: PodAttributes = { [CONTAINER_ID]: containerId };
  if (inspected.Name) attributes[CONTAINER_NAME] = inspected.Name.replace(/^\//, '');
  const reference = inspected.Config?.Image;
  if (reference) {
    attributes[CONTAINER_IMAGE_NAME] = imageRepository(reference);
    attributes[KUBESENTRY_IMAGE_REFERENCE] = reference;
  }
  const imageId = inspected.Image;
  if (imageId) attributes[CONTAINER_IMAGE_ID] = /^[0-9a-f]{64}$/.test(imageId) ? `sha256:${imageId}` : imageId;
  return attributes;
}
