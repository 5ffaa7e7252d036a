// The detector engine: dispatches each event only to the enabled detectors that declared its type, turns their
// findings into Detection records (rule, severity, process/container attributes, ancestry, id, time), applies
// per-rule exceptions and severity overrides, and reloads its configuration without losing detector state.
// A rule that throws is contained: the other rules still get the event, and a rule that keeps throwing is taken
// out of dispatch until the next reload (RULE_ERROR_LIMIT).

import type { AncestryEntry, AttributeValue, Detection, Severity } from '../detection.ts';
import type { NamespaceInodes } from '../receiver/events.ts';
import type { ContainerIdentity, ProcessInfo } from '../receiver/identity.ts';
import { Attr } from './attributeKeys.ts';
import {
  compileSettings,
  validateRulesConfig,
  RulesConfigError,
  type DetectorSettings,
  type BeforePodMetadata,
  type KillException,
  type RuleAction,
  type RuleException,
  type RulesConfig,
} from './config.ts';
import {
  DETECTOR_EVENT_TYPE_LIMIT,
  SyntheticEventType,
  type AgentContext,
  type DetectionContext,
  type Detector,
  type DetectorEvent,
  type Finding,
  type PodAttributes,
  type RuleMetadata,
} from './Detector.ts';
import { allDetectors } from './registry.ts';
import { workloadFromAttributes, workloadName, type WorkloadIdentity } from '../baseline/ProfileKey.ts';
import { sensitivePathPatterns } from './paths.ts';
import { compilePathPattern, matchesPathPattern, pathPatternsMayOverlap, type CompiledPathPattern } from '../receiver/pathPatterns.ts';
import { EventType, Op, OpenFileFact, OpenPathSource, type KernelEvent, type OpenEvent } from '../receiver/events.ts';
import { kernelEnforcementOf, type EnforcementModeName, type KernelEnforceCheck, type KernelEnforcement } from '../receiver/enforcement.ts';
import { basename } from './internal/util.ts';
import { rfc3339Nano } from '../clock.ts';
import { uuidV7 } from './internal/uuid.ts';

/** What the kernel recognised the opened file as (OpenFileFact): every rule on opens judges such a record. */
const IDENTIFIED_FILE = OpenFileFact.CgroupControl | OpenFileFact.KernelTunable;

const MAX_ANCESTRY = 32;
const RULESET_NAME = 'kubesentry';
const NO_DETECTIONS: readonly Detection[] = Object.freeze([]);

/**
 * Consecutive events a rule may throw on before the engine stops giving it events. Consecutive, not per window: a
 * rule that fails on some inputs keeps running on the others (an attacker who can make a rule throw must not be
 * able to switch it off with a slow trickle), while a rule broken for every input stops costing an exception per
 * event. A reload of the rules configuration gives a disabled rule a fresh start.
 */
export const RULE_ERROR_LIMIT = 10;

export interface RuleCounters {
  /** Detections produced. */
  detections: number;
  /** Findings dropped because an exception matched. */
  suppressed: number;
  /** Detector state entries forgotten to stay bounded (see Detector.stateEvictions). */
  stateEvictions: number;
  /** Events on which the rule (or turning its findings into detections) threw; each lost that rule's findings. */
  errors: number;
}

/** Told to the agent on every rule failure, so it can log and count it. */
export interface RuleFailure {
  rule: string;
  /** The event's type (EventType or SyntheticEventType). */
  eventType: number;
  error: unknown;
  /** The error as one line (a message may quote attacker-chosen text with newlines in it). */
  message: string;
  /** Failures in a row, this one included. */
  consecutive: number;
  /** True when this failure reached the limit and the rule no longer gets events. */
  disabled: boolean;
}

export interface EngineOptions {
  /** Called synchronously from process() on every failure; must not throw. */
  onRuleFailure?: (failure: RuleFailure) => void;
  /** Default RULE_ERROR_LIMIT. */
  ruleErrorLimit?: number;
}

export type ReloadResult = { ok: true } | { ok: false; error: string };

interface ActiveRule {
  detector: Detector;
  severity: Severity;
  exceptions: readonly RuleException[];
  action: RuleAction;
  /** undefined: every container. */
  killIn: readonly KillException[] | undefined;
  killExceptions: readonly KillException[];
  counters: RuleCounters;
  /** Failures in a row; a success resets it. */
  consecutiveErrors: number;
  /** Set when consecutiveErrors reached the limit; the rule stays in `configured` for isExcepted. A reload compiles fresh rules. */
  disabled: boolean;
  /** Attributes every detection of this rule carries; computed once per configuration. */
  ruleAttributes: Record<string, AttributeValue>;
}

interface OpenCandidate {
  rule: ActiveRule;
  /**
   * undefined: the rule gets every record of this pattern (the pattern is its own, or it has none). Otherwise its
   * patterns that can match the same paths: it gets the record only when one of them matches the path too (the
   * kernel tags a record with the first pattern it matched, which may be another rule's).
   */
  alsoMatching: CompiledPathPattern[] | undefined;
}

interface CompiledConfig {
  byType: (ActiveRule[] | undefined)[];
  /**
   * Open records by the kernel filter's pattern index: the Open rules that pattern may concern. Most opens concern
   * one rule; asking all of them was most of an open record's cost.
   */
  byOpenPattern: OpenCandidate[][];
  /** Rules the configuration enables, including those disabled after failures. */
  configured: ActiveRule[];
  settings: DetectorSettings;
  enforcement: EnforcementModeName;
  beforePodMetadata: BeforePodMetadata;
}

/** The DetectionContext detectors see: the agent's context for the current event plus the engine's settings. */
class EngineContext implements DetectionContext {
  agent: AgentContext;
  settings: DetectorSettings;

  constructor(agent: AgentContext, settings: DetectorSettings) {
    this.agent = agent;
    this.settings = settings;
  }
  process(tgid: number, startBoottimeNs?: bigint): ProcessInfo | undefined {
    return this.agent.process(tgid, startBoottimeNs);
  }
  container(event: DetectorEvent): ContainerIdentity | null {
    return event.type === SyntheticEventType.ContainerCpuSample || event.type === SyntheticEventType.TelemetryGap
      ? event.container
      : this.agent.container(event);
  }
  ancestry(tgid: number, startBoottimeNs?: bigint): readonly ProcessInfo[] {
    return this.agent.ancestry(tgid, startBoottimeNs);
  }
  podAttributes(container: ContainerIdentity): PodAttributes | undefined {
    return this.agent.podAttributes?.(container);
  }
  lineageRecordsLostSince(cgroupId: bigint, sinceNs: bigint): boolean {
    return this.agent.lineageRecordsLostSince?.(cgroupId, sinceNs) ?? false;
  }
  workload(container: ContainerIdentity): WorkloadIdentity | 'pending' | undefined {
    return this.agent.workload?.(container);
  }
  get hostNamespaces(): NamespaceInodes {
    return this.agent.hostNamespaces;
  }
  get nowNs(): bigint {
    return this.agent.nowNs;
  }
  bootToWallNs(bootNs: bigint): bigint {
    return this.agent.bootToWallNs(bootNs);
  }
}

const UNSET_AGENT: AgentContext = {
  process: () => undefined,
  container: () => null,
  ancestry: () => [],
  hostNamespaces: { mnt: 0, pid: 0, net: 0, user: 0, uts: 0, ipc: 0, cgroup: 0 },
  nowNs: 0n,
  bootToWallNs: (ns) => ns,
};

export class DetectorEngine {
  readonly #detectors: readonly Detector[];
  readonly #openPatterns: readonly CompiledPathPattern[];
  /** The kernel open filter's patterns for these detectors; open records carry their index in this list. */
  readonly openPathPatterns: readonly string[];
  readonly #counters = new Map<string, RuleCounters>();
  #compiled: CompiledConfig;
  readonly #ctx: EngineContext;
  readonly #onRuleFailure: (failure: RuleFailure) => void;
  readonly #ruleErrorLimit: number;
  /** Rule id → the error that disabled it, until the next reload. */
  readonly #disabled = new Map<string, string>();

  /**
   * @param config parsed rules configuration (see config.ts); throws RulesConfigError when it is invalid.
   * @param detectors the detectors to run; every one of the registry by default.
   */
  constructor(config?: unknown, detectors: readonly Detector[] = allDetectors(), options: EngineOptions = {}) {
    this.#onRuleFailure = options.onRuleFailure ?? (() => {});
    this.#ruleErrorLimit = options.ruleErrorLimit ?? RULE_ERROR_LIMIT;
    const ids = new Set<string>();
    for (const d of detectors) {
      if (ids.has(d.meta.id)) throw new Error(`two detectors share rule id ${d.meta.id}`);
      ids.add(d.meta.id);
      this.#counters.set(d.meta.id, { detections: 0, suppressed: 0, stateEvictions: 0, errors: 0 });
    }
    this.#detectors = detectors;
    this.openPathPatterns = sensitivePathPatterns(detectors);
    this.#openPatterns = this.openPathPatterns.map(compilePathPattern);
    this.#compiled = this.#compile(validateRulesConfig(config, [...ids], this.#killableRuleIds()));
    this.#ctx = new EngineContext(UNSET_AGENT, this.#compiled.settings);
  }

  #killableRuleIds(): string[] {
    return this.#detectors.filter((d) => d.meta.enforcement !== undefined).map((d) => d.meta.id);
  }

  /** The global enforcement mode of the current configuration. */
  get enforcementMode(): EnforcementModeName {
    return this.#compiled.enforcement;
  }

  /**
   * The kernel checks that kill in a container with these pod attributes (undefined: no pod metadata), as the
   * bitmask of enforce_cgroups: every enabled rule with action kill whose killIn (if any) matches the container
   * and whose killExceptions do not, nor one of its exceptions that names only containers (namespaces, images,
   * workloads): a container the rule does not report on is not one it kills in.
   *
   * `unknown`: attributes still to come (the pod is known before its container status and owner are). An entry
   * that may match once they are known is decided by beforePodMetadata: with alert (failing open) a killIn entry
   * does not count and an exception does, so the checks are a subset of those the complete metadata gives; with
   * kill (failing closed), the reverse.
   */
  killChecksFor(pod: PodAttributes | undefined, unknown: ReadonlySet<ContainerPodField> = NOTHING_UNKNOWN): number {
    const failClosed = this.#compiled.beforePodMetadata === 'kill';
    const field = (patterns: readonly string[] | undefined, key: ContainerPodField): Match =>
      patterns === undefined ? 'yes' : unknown.has(key) ? 'maybe' : matchesValue(patterns, pod?.[key]) ? 'yes' : 'no';
    const entry = (ex: KillException & RuleException): Match => {
      if (!namesOnlyContainers(ex)) return 'no';
      const fields = [field(ex.namespaces, 'namespace'), field(ex.images, 'image'), field(ex.workloads, 'workload')];
      return fields.includes('no') ? 'no' : fields.includes('maybe') ? 'maybe' : 'yes';
    };
    const anyOf = (entries: readonly (KillException & RuleException)[]): Match => {
      let found: Match = 'no';
      for (const ex of entries) {
        const m = entry(ex);
        if (m === 'yes') return 'yes';
        if (m === 'maybe') found = 'maybe';
      }
      return found;
    };
    return this.#killChecksWhere((rule) => {
      const scope = rule.killIn === undefined ? 'yes' : anyOf(rule.killIn);
      const inScope = scope === 'yes' || (scope === 'maybe' && failClosed);
      const excepted = [anyOf(rule.killExceptions), anyOf(rule.exceptions)].some((m) => m === 'yes' || (m === 'maybe' && !failClosed));
      return inScope && !excepted;
    });
  }

  /** The kernel checks that kill in a container whose pod metadata is not known at all yet (killChecksFor). */
  killChecksBeforePodMetadata(): number {
    return this.killChecksFor(undefined, EVERYTHING_UNKNOWN);
  }

  /** Whether some enabled rule with action kill may kill somewhere. */
  killsAnywhere(): boolean {
    return this.#killChecksWhere(() => true) !== 0;
  }

  /** The checks of every enabled rule with action kill that `kills` keeps. */
  #killChecksWhere(kills: (rule: ActiveRule) => boolean): number {
    let mask = 0;
    for (const rule of this.#compiled.configured) {
      const checks = rule.detector.meta.enforcement?.checks;
      if (rule.action !== 'kill' || rule.disabled || checks === undefined || !kills(rule)) continue;
      for (const check of checks) mask |= 1 << check;
    }
    return mask;
  }

  /** Whether the rule is enabled with action kill. */
  killsFor(ruleId: string): boolean {
    return this.#compiled.configured.some((r) => r.detector.meta.id === ruleId && r.action === 'kill' && !r.disabled);
  }

  /** Filesystem type → the kernel check a mount of it falls under, from every rule's enforcement metadata. */
  enforcedFsTypes(): Map<string, KernelEnforceCheck> {
    const out = new Map<string, KernelEnforceCheck>();
    for (const d of this.#detectors) {
      const mount = d.meta.enforcement?.mount;
      if (mount !== undefined) for (const fstype of mount.fsTypes) out.set(fstype, mount.check);
    }
    return out;
  }

  /** Rule id → the kernel checks that enforce it. */
  enforcementChecks(): Map<string, readonly KernelEnforceCheck[]> {
    const out = new Map<string, readonly KernelEnforceCheck[]>();
    for (const d of this.#detectors) if (d.meta.enforcement) out.set(d.meta.id, d.meta.enforcement.checks);
    return out;
  }

  /** Metadata of every known rule, enabled or not. */
  get rules(): readonly RuleMetadata[] {
    return this.#detectors.map((d) => d.meta);
  }

  get settings(): DetectorSettings {
    return this.#compiled.settings;
  }

  /** Event types at least one enabled rule needs; the agent may skip decoding the others. */
  get eventTypes(): ReadonlySet<number> {
    const types = new Set<number>();
    this.#compiled.byType.forEach((rules, type) => rules && types.add(type));
    return types;
  }

  isEnabled(ruleId: string): boolean {
    return this.#compiled.configured.some((r) => r.detector.meta.id === ruleId && !r.disabled);
  }

  /** Rules taken out of dispatch because they kept throwing, with the last error; empty again after a reload. */
  get disabledRules(): ReadonlyMap<string, string> {
    return this.#disabled;
  }

  /** Per rule id, for metrics. */
  counters(): ReadonlyMap<string, Readonly<RuleCounters>> {
    for (const d of this.#detectors) this.#counters.get(d.meta.id)!.stateEvictions = d.stateEvictions?.() ?? 0;
    return this.#counters;
  }

  /**
   * Validates and applies a new configuration. On error the current rules stay in force and the reason is
   * returned. Detector state (e.g. a user namespace awaiting its uid_map write) survives for every rule.
   */
  reload(config: unknown): ReloadResult {
    try {
      const ids = this.#detectors.map((d) => d.meta.id);
      const validated = validateRulesConfig(config, ids, this.#killableRuleIds());
      this.#disabled.clear();
      this.#compiled = this.#compile(validated);
      this.#ctx.settings = this.#compiled.settings;
      return { ok: true };
    } catch (err) {
      if (err instanceof RulesConfigError) return { ok: false, error: err.message };
      throw err;
    }
  }

  /**
   * Re-applies the rule's exceptions to a detection whose pod metadata arrived after the engine made it (the
   * agent's Kubernetes enrichment may hold a detection until the pod is known). True, and counted as suppressed,
   * when an exception now matches: the caller drops the detection.
   */
  isExcepted(detection: Detection): boolean {
    const rule = this.#compiled.configured.find((r) => r.detector.meta.id === detection.rule);
    if (rule === undefined || rule.exceptions.length === 0) return false;
    const text = (key: string): string | undefined => {
      const v = detection.attributes[key];
      return typeof v === 'string' ? v : undefined;
    };
    const matched = rule.exceptions.some(
      (ex) =>
        matchesValue(ex.namespaces, text(Attr.k8sNamespaceName)) &&
        matchesValue(ex.images, text(Attr.containerImageName)) &&
        matchesValue(ex.workloads, workloadName(workloadFromAttributes(stringAttributes(detection.attributes)))) &&
        matchesValue(ex.executables, text(Attr.processExecutablePath)) &&
        matchesValue(ex.parentExecutables, detection.ancestry[1]?.executable),
    );
    if (matched) {
      rule.counters.suppressed++;
      rule.counters.detections--;
    }
    return matched;
  }

  /**
   * Runs the event through every enabled detector that declared its type. When the kernel killed the process for
   * this record (or would have, in dry-run), the detection of the rule that decided says so, and there always is
   * one: a kill is never silent, even when the rule's own logic, or an exception, would have reported nothing.
   */
  process(event: DetectorEvent, agent: AgentContext): readonly Detection[] {
    const detections = this.#dispatch(event, agent);
    if (!('flags' in event)) return detections;
    const enforcement = kernelEnforcementOf(event.flags);
    return enforcement === undefined ? detections : this.#withEnforcement(event, enforcement, detections);
  }

  #withEnforcement(event: KernelEvent, enforcement: KernelEnforcement, detections: readonly Detection[]): readonly Detection[] {
    const detector = this.#detectors.find((d) => d.meta.enforcement?.checks.includes(enforcement.check));
    if (detector === undefined) return detections;
    const killed = enforcement.outcome === 'killed';
    const note = killed ? ' (killed)' : enforcement.outcome === 'dry-run' ? ' (would have killed: enforcement dry-run)' : ' (kill failed: the kernel refused the signal)';
    const mark = (d: Detection) => {
      d.attributes[Attr.enforcementAction] = enforcement.outcome === 'dry-run' ? 'dry-run' : 'kill';
      d.attributes[Attr.enforcementSignalSent] = killed;
      d.summary += note;
    };
    const own = detections.filter((d) => d.rule === detector.meta.id);
    if (own.length > 0) {
      own.forEach(mark);
      return detections;
    }
    const rule = this.#compiled.configured.find((r) => r.detector === detector) ?? this.#transientRule(detector);
    const verb = killed ? 'was killed' : enforcement.outcome === 'dry-run' ? 'would have been killed' : 'was to be killed (the kernel refused the signal)';
    const finding: Finding = { summary: `${event.comm} ${verb} by enforcement of ${detector.meta.id} (${detector.meta.title})`, attributes: {} };
    const made = this.#toDetection(rule, finding, event, this.#ctx, { ignoreExceptions: true });
    if (made === undefined) return detections;
    mark(made);
    made.summary = finding.summary;
    return [...detections, made];
  }

  /** A rule the configuration no longer enables, for a kill the kernel decided under the previous one. */
  #transientRule(detector: Detector): ActiveRule {
    return {
      detector,
      severity: detector.meta.severity,
      exceptions: [],
      action: 'kill',
      killIn: undefined,
      killExceptions: [],
      counters: this.#counters.get(detector.meta.id)!,
      consecutiveErrors: 0,
      disabled: false,
      ruleAttributes: ruleAttributes(detector.meta),
    };
  }

  #dispatch(event: DetectorEvent, agent: AgentContext): readonly Detection[] {
    if (event.type === EventType.Open) {
      // A tag that does not fit the path (an object built for another rule set) falls back to every Open rule, and
      // so does a file the kernel identified (a core_pattern bind-mounted where another rule's pattern matches).
      const pattern = this.#openPatterns[event.patternId];
      if (pattern !== undefined && (event.fileFacts & IDENTIFIED_FILE) === 0 && matchesPathPattern(pattern, event.path)) {
        return this.#processOpen(event, this.#compiled.byOpenPattern[event.patternId], agent);
      }
    }
    const rules = this.#compiled.byType[event.type];
    if (rules === undefined) return NO_DETECTIONS;
    this.#ctx.agent = agent;
    let out: Detection[] | undefined;
    for (let i = 0; i < rules.length; i++) out = this.#run(rules[i], event, out);
    return out ?? NO_DETECTIONS;
  }

  #processOpen(event: OpenEvent, candidates: readonly OpenCandidate[], agent: AgentContext): readonly Detection[] {
    this.#ctx.agent = agent;
    let out: Detection[] | undefined;
    for (let i = 0; i < candidates.length; i++) {
      const { rule, alsoMatching } = candidates[i];
      if (alsoMatching !== undefined && !alsoMatching.some((p) => matchesPathPattern(p, event.path))) continue;
      out = this.#run(rule, event, out);
    }
    return out ?? NO_DETECTIONS;
  }

  #run(rule: ActiveRule, event: DetectorEvent, out: Detection[] | undefined): Detection[] | undefined {
    // Disabled during this event's dispatch (the list being walked is the one compiled before).
    if (rule.disabled) return out;
    const before = out?.length ?? 0;
    try {
      const findings = rule.detector.onEvent(event, this.#ctx);
      for (let j = 0; j < findings.length; j++) {
        const detection = this.#toDetection(rule, findings[j], event, this.#ctx);
        if (detection !== undefined) (out ??= []).push(detection);
      }
      rule.consecutiveErrors = 0;
    } catch (error) {
      // Half of a rule's findings for an event is not a result: drop what it produced before throwing.
      if (out !== undefined) out.length = before;
      this.#fail(rule, event.type, error);
    }
    return out;
  }

  #fail(rule: ActiveRule, eventType: number, error: unknown): void {
    rule.counters.errors++;
    rule.consecutiveErrors++;
    const disable = rule.consecutiveErrors >= this.#ruleErrorLimit;
    const message = errorText(error);
    if (disable) {
      rule.disabled = true;
      this.#disabled.set(rule.detector.meta.id, message);
      this.#removeFromDispatch(rule);
    }
    this.#onRuleFailure({ rule: rule.detector.meta.id, eventType, error, message, consecutive: rule.consecutiveErrors, disabled: disable });
  }

  /**
   * New tables rather than edits in place: the dispatch loop running now walks the old ones. The rule's other state
   * (and every other rule's failure count) stays as it is.
   */
  #removeFromDispatch(rule: ActiveRule): void {
    const c = this.#compiled;
    c.byType = c.byType.map((rules) => {
      const kept = rules?.filter((r) => r !== rule);
      return kept !== undefined && kept.length > 0 ? kept : undefined;
    });
    c.byOpenPattern = c.byOpenPattern.map((candidates) => candidates.filter((x) => x.rule !== rule));
  }

  #compile(config: RulesConfig): CompiledConfig {
    const byType: (ActiveRule[] | undefined)[] = new Array(DETECTOR_EVENT_TYPE_LIMIT).fill(undefined);
    const configured: ActiveRule[] = [];
    for (const detector of this.#detectors) {
      const rc = config.rules?.[detector.meta.id];
      if (rc?.enabled === false) continue;
      const rule: ActiveRule = {
        detector,
        severity: rc?.severity ?? detector.meta.severity,
        exceptions: rc?.exceptions ?? [],
        action: rc?.action ?? 'alert',
        killIn: rc?.killIn,
        killExceptions: rc?.killExceptions ?? [],
        counters: this.#counters.get(detector.meta.id)!,
        consecutiveErrors: 0,
        disabled: false,
        ruleAttributes: ruleAttributes(detector.meta),
      };
      configured.push(rule);
      for (const type of detector.meta.events) {
        if (type < 0 || type >= DETECTOR_EVENT_TYPE_LIMIT) throw new Error(`${detector.meta.id}: event type ${type} out of range`);
        (byType[type] ??= []).push(rule);
      }
    }
    const byOpenPattern = this.#openPatterns.map((pattern, index) => {
      const candidates: OpenCandidate[] = [];
      for (const rule of byType[EventType.Open] ?? []) {
        const own = rule.detector.meta.openPathPatterns ?? [];
        if (own.length === 0 || own.includes(this.openPathPatterns[index])) {
          candidates.push({ rule, alsoMatching: undefined });
          continue;
        }
        // Every rule's patterns are in openPathPatterns, already compiled at the same index.
        const overlapping = own
          .map((p) => this.#openPatterns[this.openPathPatterns.indexOf(p)])
          .filter((p) => pathPatternsMayOverlap(p, pattern));
        if (overlapping.length > 0) candidates.push({ rule, alsoMatching: overlapping });
      }
      return candidates;
    });
    return { byType, byOpenPattern, configured, settings: compileSettings(config.settings), enforcement: config.enforcement ?? 'off',
      beforePodMetadata: config.beforePodMetadata ?? 'alert' };
  }

  #toDetection(
    rule: ActiveRule,
    finding: Finding,
    event: DetectorEvent,
    ctx: EngineContext,
    options: { ignoreExceptions?: boolean } = {},
  ): Detection | undefined {
    const tgid = finding.tgid ?? ('tgid' in event ? event.tgid : 0);
    // The record's own process is known by its start time too: a dead process's entry must not lend the pid's new
    // owner its executable (an exception) or its container.
    const start = 'startBoottimeNs' in event && tgid === event.tgid ? event.startBoottimeNs : undefined;
    const proc = tgid === 0 ? undefined : ctx.process(tgid, start);
    // The container of the process the detection is about: its table entry's, taken from its exec (or its parent's)
    // record, which a privileged process cannot change afterwards by moving itself into another container's cgroup.
    // For the record's own process without a container in its entry (a host process, or a /proc read of a process
    // exiting under it that found no cgroup), the cgroup the kernel put in the record answers.
    const own = 'tgid' in event && tgid === event.tgid;
    const container = proc?.container ?? (own || !proc ? ctx.container(event) : null);
    const pod = container ? ctx.podAttributes(container) : undefined;
    if (!options.ignoreExceptions && rule.exceptions.length > 0 && matchesException(rule.exceptions, proc, pod, ctx)) {
      rule.counters.suppressed++;
      return undefined;
    }
    rule.counters.detections++;
    const wallNs = ctx.bootToWallNs(event.ktimeNs);
    const id = uuidV7(Number(wallNs / 1_000_000n));
    const attributes: Record<string, AttributeValue> = {};
    if (proc) {
      attributes[Attr.processPid] = proc.tgid;
      attributes[Attr.processParentPid] = proc.ppid;
      attributes[Attr.processExecutablePath] = proc.executable;
      attributes[Attr.processExecutableName] = basename(proc.executable);
      attributes[Attr.processCommandLine] = proc.commandLine;
      attributes[Attr.processUserId] = proc.uid;
    } else if ('comm' in event && tgid === event.tgid) {
      attributes[Attr.processPid] = event.tgid;
      attributes[Attr.processExecutableName] = event.comm;
      attributes[Attr.processUserId] = event.uid;
    }
    if (container) {
      attributes[Attr.containerId] = container.id;
      attributes[Attr.containerRuntimeName] = container.runtime;
      if (container.podUid !== undefined) attributes[Attr.k8sPodUid] = container.podUid;
      if (pod?.namespace !== undefined) attributes[Attr.k8sNamespaceName] = pod.namespace;
      if (pod?.podName !== undefined) attributes[Attr.k8sPodName] = pod.podName;
      if (pod?.image !== undefined) attributes[Attr.containerImageName] = pod.image;
    }
    if (event.type === EventType.Open && event.op !== Op.OpenByHandleAt) {
      attributes[Attr.openPathSource] = event.pathSource === OpenPathSource.Resolved ? 'resolved' : 'caller';
      if (event.callerPath !== '') attributes[Attr.openCallerPath] = event.callerPath;
    }
    Object.assign(attributes, finding.attributes, rule.ruleAttributes);
    attributes[Attr.detectionId] = id;
    const meta = rule.detector.meta;
    return {
      id,
      time: rfc3339Nano(wallNs),
      timeUnixNs: wallNs,
      rule: meta.id,
      category: meta.category,
      severity: finding.severity ?? rule.severity,
      summary: finding.summary,
      attributes,
      ancestry: proc ? ancestry(proc, ctx) : [],
    };
  }
}

/** One line: a rule's error may carry a path or argv an attacker chose, with newlines in it. */
function errorText(error: unknown): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return text.split('\n')[0];
}

function ruleAttributes(meta: RuleMetadata): Record<string, AttributeValue> {
  const techniquePath = meta.mitre.technique.replace('.', '/');
  return {
    [Attr.ruleId]: meta.id,
    [Attr.securityRuleUuid]: meta.uuid,
    [Attr.securityRuleName]: meta.title,
    [Attr.securityRuleVersion]: meta.version,
    [Attr.securityRuleCategory]: meta.category,
    [Attr.securityRuleRulesetName]: RULESET_NAME,
    [Attr.securityRuleReference]: `https://attack.mitre.org/techniques/${techniquePath}/`,
    [Attr.mitreTechniqueId]: meta.mitre.technique,
    [Attr.mitreTechniqueName]: meta.mitre.name,
  };
}

/**
 * An ancestor's entry is the same in every detection: the process table replaces a process's info on exec rather
 * than changing it, so entries are kept per info object, and a burst of detections under one parent formats its
 * times once.
 */
const ancestorEntries = new WeakMap<ProcessInfo, AncestryEntry>();

/** The process and its ancestors up to its container's first process (or the host's init). */
function ancestry(proc: ProcessInfo, ctx: DetectionContext): AncestryEntry[] {
  const chain = ctx.ancestry(proc.tgid, proc.startBoottimeNs);
  const entries: AncestryEntry[] = [];
  for (let i = 0; i < chain.length && i < MAX_ANCESTRY; i++) {
    const p = chain[i];
    let entry = ancestorEntries.get(p);
    if (entry === undefined) {
      entry = {
        pid: p.tgid,
        executable: p.executable,
        command_line: p.commandLine,
        start_time: rfc3339Nano(ctx.bootToWallNs(p.execTimeNs)),
        start_boottime_ns: p.startBoottimeNs.toString(),
      };
      ancestorEntries.set(p, entry);
    }
    // A copy: consumers own the detection they receive.
    entries.push({ ...entry });
  }
  return entries;
}

function stringAttributes(attributes: Readonly<Record<string, AttributeValue>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(attributes)) if (typeof value === 'string') out[key] = value;
  return out;
}

/** The pod attributes that decide a kill, which can be known or still to come. */
export type ContainerPodField = 'namespace' | 'image' | 'workload';
type Match = 'yes' | 'no' | 'maybe';
const NOTHING_UNKNOWN: ReadonlySet<ContainerPodField> = new Set();
const EVERYTHING_UNKNOWN: ReadonlySet<ContainerPodField> = new Set(['namespace', 'image', 'workload']);

/** An exception entry that names no executable: whether it matches depends on the container alone. */
function namesOnlyContainers(ex: Pick<RuleException, 'executables' | 'parentExecutables'>): boolean {
  return ex.executables === undefined && ex.parentExecutables === undefined;
}

function matchesValue(patterns: readonly string[] | undefined, value: string | undefined): boolean {
  if (patterns === undefined) return true;
  if (value === undefined) return false;
  return patterns.some((p) => (p.endsWith('*') ? value.startsWith(p.slice(0, -1)) : value === p));
}

function matchesException(
  exceptions: readonly RuleException[],
  proc: ProcessInfo | undefined,
  pod: PodAttributes | undefined,
  ctx: DetectionContext,
): boolean {
  return exceptions.some(
    (ex) =>
      matchesValue(ex.namespaces, pod?.namespace) &&
      matchesValue(ex.images, pod?.image) &&
      matchesValue(ex.workloads, pod?.workload) &&
      matchesValue(ex.executables, proc?.executable) &&
      matchesValue(ex.parentExecutables, proc ? ctx.ancestry(proc.tgid, proc.startBoottimeNs)[1]?.executable : undefined),
  );
}
