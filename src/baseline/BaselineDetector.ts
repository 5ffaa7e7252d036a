// KS-BL-001: the behavioural baseline as a detector. Each container event becomes an observation of its workload's
// profile (classes.ts); a class learns until it is stable (ClassBaseline.ts), then a new item is a deviation,
// reported once per dedupe window and at most maxDeviationsPerMinute a minute per profile. Pure like every detector:
// persistence is the agent's (ProfileStore.ts), through snapshots() and restore().

import { Attr } from '../detectors/attributeKeys.ts';
import { NO_FINDINGS, type DetectionContext, type Detector, type DetectorEvent, type Finding, type RuleMetadata } from '../detectors/Detector.ts';
import { isRuntimeSetup } from '../detectors/internal/util.ts';
import { BoundedMap } from '../detectors/internal/BoundedMap.ts';
import { dnsAnswerAddresses } from '../detectors/internal/dns.ts';
import { EventType, PayloadKind, type KernelEvent } from '../receiver/events.ts';
import type { ContainerIdentity } from '../receiver/identity.ts';
import { OBSERVED_EVENTS, UNKNOWN_PARENT, isPodSpecExec, observe, type BaselineClass, type Observation } from './classes.ts';
import { BASELINE_STATES, type BaselineState } from './ClassBaseline.ts';
import { Profile, type ImageVersion, type ProfileSnapshot } from './Profile.ts';
import { canonicalDnsName } from './canonical.ts';
import { PeerKinds } from './PeerKinds.ts';
import { profileKey } from './ProfileKey.ts';
import { DEFAULT_BASELINE_SETTINGS, type BaselineSettings } from './settings.ts';

/** Why a novelty was not reported: each is counted (kubesentry.baseline.deviations.suppressed). */
export type SuppressReason =
  | 'duplicate'
  | 'rate_limited'
  | 'unstable'
  | 'saturated'
  | 'unkeyed'
  | 'new_image'
  | 'unknown_parent'
  | 'pod_spec';

export interface BaselineCounters {
  /** Reported deviations by "class severity". */
  deviations: Map<string, number>;
  suppressed: Map<SuppressReason, number>;
  /** Profiles forgotten to stay within maxProfiles. */
  evictions: number;
}

/** Addresses remembered with the name they were resolved from, node-wide; the least recently used go first. */
const MAX_RESOLVED_ADDRESSES = 16_384;
/** Containers whose init start is remembered: more than a node runs at once. */
const MAX_TRACKED_CONTAINERS = 8192;

const CLASS_LABEL: Record<BaselineClass, string> = {
  exec: 'executable',
  exec_pair: 'parent → child exec',
  connect: 'outbound connection',
  dns: 'DNS name',
  listen: 'listening port',
  sensitive_open: 'sensitive file access',
  syscall: 'privileged syscall',
};

export class BaselineDetector implements Detector {
  readonly meta: RuleMetadata = {
    id: 'KS-BL-001',
    version: '0.2.0',
    title: 'Workload did something its baseline never saw',
    category: 'baseline',
    severity: 'medium',
    mitre: { technique: 'T1059', name: 'Command and Scripting Interpreter' },
    events: OBSERVED_EVENTS,
    description:
      'Each workload (namespace / owner kind and name / container; a bare pod by namespace and image; a ' +
      'non-Kubernetes container by image, else by container id) learns what it does, per class: executables ' +
      '(with root and writable-location bits), parent → child execs, outbound connects (peer kind: loopback, ' +
      'metadata, node, service, pod from the configured cluster ranges, internal, external; and port), DNS ' +
      'names (cluster search suffixes stripped), listening ports (protocol, port, loopback or not), ' +
      'sensitive-file opens and privileged syscalls (mount, unshare, setns, module, bpf, ptrace), each by ' +
      'executable. A class is stable after its minimum learning time with no new item for its quiet period; ' +
      'then a new item is reported once per dedupe window: high for a new shell, interpreter or downloader and ' +
      'a new sensitive open, medium for another new binary, listening port, external, metadata-endpoint or node ' +
      'port and privileged syscall, low for a new DNS name or a connect to a pod, service or other internal ' +
      'peer. A class that is not stable by its maximum learning time (unstable) or reaches its item cap ' +
      '(saturated) stops learning and reporting and says so once (info). The first minutes after each container ' +
      'start only learn; the exec probes and lifecycle hooks of the pod spec are known before they run; a ' +
      'deviation of a process exec\'d into the container through the runtime (kubectl exec) is marked ' +
      'interactive; a new connect carries the name its address was resolved from when the container received ' +
      'that DNS answer. A profile keeps its last 5 image digests; what the containers of a new digest do new in ' +
      'its first minutes is learned and told as one summary at the highest of its items\' severities (nothing ' +
      'when it behaves as before). See docs/baseline.md.',
    falsePositives: [
      'Rare but legitimate work not seen while learning (a monthly job, a failover path, an operator\'s kubectl exec, marked interactive).',
      'A rollout that changes behaviour: one summary per new image digest (its novelties in its first minutes).',
    ],
    tuning:
      'Lengthen baseline.minLearningMs / quietMs for workloads with slow cycles; accept legitimate items; exceptions ' +
      'by namespace, image or executable as for any rule.',
    uuid: '0b9f5b8e-2f4c-4c1e-9a57-6d1c1b0e7a31',
  };

  readonly settings: BaselineSettings;
  readonly #peers: PeerKinds;
  readonly counters: BaselineCounters = { deviations: new Map(), suppressed: new Map(), evictions: 0 };
  /** "<container id> <address>" → the name a DNS answer this container received gave that address for. */
  readonly #resolved = new BoundedMap<string, string>(MAX_RESOLVED_ADDRESSES);
  /** Per container: the start of its init, the earliest process the runtime started in it. */
  readonly #initStarts = new BoundedMap<string, bigint>(MAX_TRACKED_CONTAINERS);
  /** Insertion order is recency: the first entry is the least recently seen profile. */
  readonly #profiles = new Map<string, Profile>();

  /** `nodeAddresses`: the node's own addresses (its interfaces), node peers whatever the CIDRs say. */
  constructor(settings: Partial<BaselineSettings> = {}, nodeAddresses: readonly string[] = []) {
    this.settings = { ...DEFAULT_BASELINE_SETTINGS, ...settings };
    this.#peers = new PeerKinds({ ...this.settings, nodeAddresses });
  }

  onEvent(event: DetectorEvent, ctx: DetectionContext): readonly Finding[] {
    if (!('tgid' in event)) return NO_FINDINGS;
    const container = ctx.container(event);
    if (container === null || isRuntimeSetup(event, ctx)) return NO_FINDINGS;
    if (event.type === EventType.Payload && event.kind === PayloadKind.DnsAnswer) {
      this.#rememberAnswer(container.id, event.data);
      return NO_FINDINGS;
    }
    const observations = observe(event, ctx, this.settings.clusterDomain, this.#peers);
    if (observations.length === 0) return NO_FINDINGS;
    // Every exec keeps the container's init start current; other events ask only when they deviate.
    let interactive = event.type === EventType.Exec ? this.#interactive(event.tgid, container, ctx) : null;
    const interactiveNow = () => (interactive ??= this.#interactive(event.tgid, container, ctx));
    const nowMs = wallMs(ctx, ctx.nowNs);
    const startMs = wallMs(ctx, container.firstSeenNs);
    let workload = ctx.workload?.(container);
    if (workload === 'pending') {
      // A young container's pod is routinely not known yet; learning it under a makeshift key would split its
      // profile. Later, the workload is not coming: the container's own key is better than nothing.
      if (nowMs - startMs < this.settings.warmupMs) {
        this.#suppress('unkeyed', observations.length);
        return NO_FINDINGS;
      }
      workload = undefined;
    }
    const profile = this.#profile(profileKey(container, workload), nowMs);
    const findings: Finding[] = [];
    for (const cls of profile.advance(nowMs, this.settings)) this.#statusFinding(profile, cls, findings);
    for (const version of profile.endedImageWindows(nowMs, this.settings.newImageMs)) {
      findings.push(this.#newImageFinding(profile, version, nowMs));
    }
    const warmingUp = profile.warmingUp(container.id, startMs, nowMs, this.settings.warmupMs);
    const newImage = profile.imageVersion(workload?.imageDigest, nowMs, this.settings.newImageMs);
    let execFinding: Finding | undefined;
    for (const o of observations) {
      if (o.cls === 'exec_pair' && o.item.startsWith(UNKNOWN_PARENT)) {
        this.#suppress('unknown_parent', 1);
        continue;
      }
      if (isPodSpecExec(o, workload?.execHooks)) {
        // Declared in the pod spec (an exec probe, a preStop hook that only runs at shutdown): known before it runs.
        if (profile.learnDeclared(o, nowMs, this.settings)) this.#suppress('pod_spec', 1);
        continue;
      }
      if (o.cls === 'exec_pair' && execFinding !== undefined) {
        // A new executable makes its pair new too: one finding says both.
        if (profile.observeWith(o, nowMs, this.settings)) {
          this.#countDeviation(o);
          execFinding.attributes[Attr.baselineExecPair] = o.item;
        }
        continue;
      }
      const outcome = profile.observe(o, nowMs, warmingUp, this.settings, newImage);
      switch (outcome.kind) {
        case 'learned':
          this.#statusFinding(profile, o.cls, findings);
          break;
        case 'ignored':
          this.#suppress(outcome.state === 'unstable' ? 'unstable' : 'saturated', 1);
          break;
        case 'duplicate':
          this.#suppress('duplicate', 1);
          break;
        case 'new_image':
          this.#suppress('new_image', 1);
          break;
        case 'rate_limited':
          this.#suppress('rate_limited', 1);
          if (outcome.summarise) findings.push(this.#summaryFinding(profile, o, event));
          break;
        case 'deviation': {
          const finding = this.#deviationFinding(profile, o, nowMs, interactiveNow());
          if (event.type === EventType.Connect) this.#namePeer(finding, container.id, event.address);
          if (o.cls === 'exec') execFinding = finding;
          findings.push(finding);
          break;
        }
      }
    }
    return findings;
  }

  stateEvictions(): number {
    return this.counters.evictions;
  }

  /** Profiles by overall state, for the profiles gauge. */
  profileStates(): Map<BaselineState, number> {
    const counts = new Map<BaselineState, number>(BASELINE_STATES.map((s) => [s, 0]));
    for (const p of this.#profiles.values()) counts.set(p.state, counts.get(p.state)! + 1);
    return counts;
  }

  get profileCount(): number {
    return this.#profiles.size;
  }

  profile(key: string): Profile | undefined {
    return this.#profiles.get(key);
  }

  /** Snapshots of the profiles changed since the last call (all with `all`), marking them clean. */
  snapshots(all = false): ProfileSnapshot[] {
    const out: ProfileSnapshot[] = [];
    for (const p of this.#profiles.values()) {
      if (!all && !p.dirty) continue;
      out.push(p.snapshot());
      p.dirty = false;
    }
    return out;
  }

  /** Loads a persisted profile (replacing one of the same key), as the most recently seen. */
  restore(snapshot: ProfileSnapshot): void {
    this.#profiles.delete(snapshot.key);
    this.#insert(Profile.restore(snapshot));
  }

  /** Drops a profile (deleted by an operator): its workload learns from scratch. */
  forget(key: string): void {
    this.#profiles.delete(key);
  }

  #profile(key: string, nowMs: number): Profile {
    let p = this.#profiles.get(key);
    if (p === undefined) {
      p = new Profile(key, nowMs);
      this.#insert(p);
    } else {
      this.#profiles.delete(key);
      this.#profiles.set(key, p);
    }
    p.lastSeenMs = nowMs;
    return p;
  }

  #insert(p: Profile): void {
    this.#profiles.set(p.key, p);
    while (this.#profiles.size > this.settings.maxProfiles) {
      this.#profiles.delete(this.#profiles.keys().next().value as string);
      this.counters.evictions++;
    }
  }

  #suppress(reason: SuppressReason, n: number): void {
    this.counters.suppressed.set(reason, (this.counters.suppressed.get(reason) ?? 0) + n);
  }

  #attributes(profile: Profile, cls: BaselineClass, nowMs: number): Finding['attributes'] {
    return {
      [Attr.baselineProfile]: profile.key,
      [Attr.baselineClass]: cls,
      [Attr.baselineState]: profile.classes[cls].state,
      [Attr.baselineProfileAgeSeconds]: Math.max(0, Math.floor((nowMs - profile.createdMs) / 1000)),
      [Attr.baselineReplicasSeen]: profile.replicasSeen,
    };
  }

  #countDeviation(o: Observation): void {
    const key = `${o.cls} ${o.severity}`;
    this.counters.deviations.set(key, (this.counters.deviations.get(key) ?? 0) + 1);
  }

  #deviationFinding(profile: Profile, o: Observation, nowMs: number, interactive: boolean | undefined): Finding {
    this.#countDeviation(o);
    const attributes: Finding['attributes'] = { ...this.#attributes(profile, o.cls, nowMs), [Attr.baselineItem]: o.item };
    if (interactive !== undefined) attributes[Attr.baselineInteractive] = interactive;
    return {
      severity: o.severity,
      summary: `new ${CLASS_LABEL[o.cls]} for ${profile.key}: ${o.item}${interactive ? ' (exec\'d into the container through the runtime)' : ''}`,
      attributes,
    };
  }

  /**
   * What a DNS answer gave this container. The answer is the resolver's word (which the workload, or whoever runs
   * its resolver, chooses), so the name is context on a deviation, never part of an item.
   */
  #rememberAnswer(containerId: string, data: Uint8Array): void {
    const answer = dnsAnswerAddresses(data);
    if (answer === undefined) return;
    const name = canonicalDnsName(answer.name, this.settings.clusterDomain);
    for (const address of answer.addresses) this.#resolved.set(`${containerId} ${address}`, name);
  }

  #namePeer(finding: Finding, containerId: string, address: string): void {
    const name = this.#resolved.get(`${containerId} ${address.replace(/^::ffff:(?=\d+\.)/, '')}`);
    if (name === undefined) return;
    finding.attributes[Attr.baselinePeerDnsName] = name;
    finding.summary += ` (resolved from ${name})`;
  }

  /**
   * Whether the process descends from one the runtime started in the container after its init (kubectl exec, an
   * exec probe, a hook) rather than from the init itself: its topmost ancestor in the container has a parent outside
   * it and started after the earliest such process seen there. Kernel facts (parent, start time), not names.
   * undefined when the walk does not reach a parent outside the container the process table knows.
   */
  #interactive(tgid: number, container: ContainerIdentity, ctx: DetectionContext): boolean | undefined {
    const top = ctx.ancestry(tgid).at(-1);
    if (top === undefined) return undefined;
    const parent = ctx.process(top.ppid);
    if (parent === undefined || parent.container?.id === container.id) return undefined;
    const init = this.#initStarts.get(container.id);
    if (init === undefined || top.startBoottimeNs < init) {
      this.#initStarts.set(container.id, top.startBoottimeNs);
      return false;
    }
    return top.startBoottimeNs > init;
  }

  /** One per profile and minute once the budget is spent; carries the novelty that spent it, at its severity. */
  #summaryFinding(profile: Profile, o: Observation, event: KernelEvent): Finding {
    const nowMs = profile.lastSeenMs;
    return {
      severity: o.severity,
      summary:
        `${profile.key} deviates from its baseline more than ${this.settings.maxDeviationsPerMinute} times a minute; ` +
        `further deviations this minute are counted, not reported (this one: new ${CLASS_LABEL[o.cls]} ${o.item})`,
      attributes: { ...this.#attributes(profile, o.cls, nowMs), [Attr.baselineItem]: o.item, [Attr.baselineSummary]: true },
      tgid: event.tgid,
    };
  }

  /**
   * A new image's window ended with novelties: one finding for all of them, at the highest of their severities (a
   * rollout that starts running a shell is worth a look, but as one event, not a burst).
   */
  #newImageFinding(profile: Profile, v: ImageVersion, nowMs: number): Finding {
    const more = v.newItems > v.sample.length ? ` and ${v.newItems - v.sample.length} more` : '';
    return {
      severity: v.severity ?? 'info',
      summary:
        `image ${v.digest} of ${profile.key} did ${v.newItems} thing(s) its baseline never saw in its first ` +
        `${Math.round(this.settings.newImageMs / 60_000)} min, now learned: ${v.sample.join('; ')}${more}`,
      attributes: {
        [Attr.baselineProfile]: profile.key,
        [Attr.baselineState]: profile.state,
        [Attr.baselineProfileAgeSeconds]: Math.max(0, Math.floor((nowMs - profile.createdMs) / 1000)),
        [Attr.baselineReplicasSeen]: profile.replicasSeen,
        [Attr.baselineImageDigest]: v.digest,
        [Attr.baselineImageNewItems]: v.newItems,
        [Attr.baselineImageSample]: [...v.sample],
      },
    };
  }

  #statusFinding(profile: Profile, cls: BaselineClass, findings: Finding[]): void {
    const c = profile.classes[cls];
    if ((c.state !== 'unstable' && c.state !== 'saturated') || c.statusReported) return;
    c.statusReported = true;
    profile.dirty = true;
    const why = c.state === 'saturated'
      ? `it reached its cap of ${c.cap} items`
      : `it still learned new items after ${Math.round(this.settings.maxLearningMs / 60_000)} min`;
    findings.push({
      severity: 'info',
      summary: `baseline of ${profile.key} for ${CLASS_LABEL[cls]} is ${c.state} (${why}): its new items are no longer learned or reported`,
      attributes: this.#attributes(profile, cls, profile.lastSeenMs),
    });
  }
}

function wallMs(ctx: DetectionContext, bootNs: bigint): number {
  return Number(ctx.bootToWallNs(bootNs) / 1_000_000n);
}
