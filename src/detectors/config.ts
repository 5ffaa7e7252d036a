// The rules configuration: per-rule enable/severity/exceptions plus the settings detectors read. Validated by hand
// so every mistake gets one line that names the path and what is allowed.
//
//   rules:
//     KS-ESC-002: { enabled: false }
//     KS-ESC-008:
//       severity: medium
//       exceptions:
//         - { namespaces: [ci], images: ['docker:*-dind'] }      # all given fields must match
//         - { executables: [/usr/local/bin/dockerd] }
//         - { workloads: [Deployment/builder] }         # the pod's top controller, Kind/name
//   settings:
//     miningPoolPorts: [3333, 4444]
//
// Exception values match exactly, or as a prefix when they end in '*'.
//
// Enforcement (docs/enforcement.md): a global mode and a per-rule action, both reloadable.
//
//   enforcement: on                  # off (default) | dry-run | on
//   beforePodMetadata: alert         # alert (default) | kill: a rule whose kill depends on pod metadata not known
//                                    # yet for a container (killIn, container exceptions) does not kill / kills
//   rules:
//     KS-ESC-001:
//       action: kill                 # alert (default) | kill; only rules the kernel can enforce
//       killIn:                      # only these containers (absent: all): namespaces, images, workloads
//         - { namespaces: [prod-*] }
//       killExceptions:              # containers where the rule only alerts: namespaces, images, workloads
//         - { namespaces: [ci] }
//         - { workloads: [DaemonSet/node-agent] }

import { SEVERITIES, type Severity } from '../detection.ts';
import { ENFORCEMENT_MODES, type EnforcementModeName } from '../receiver/enforcement.ts';

export interface RuleException {
  namespaces?: string[];
  images?: string[];
  /** The pod's top controller as Kind/name: Deployment/web, DaemonSet/node-*. */
  workloads?: string[];
  executables?: string[];
  parentExecutables?: string[];
}

export type RuleAction = 'alert' | 'kill';
export const RULE_ACTIONS: readonly RuleAction[] = ['alert', 'kill'];

/** Kill decisions are made per container in the kernel: only what names a container can except one. */
export type KillException = Pick<RuleException, 'namespaces' | 'images' | 'workloads'>;

export interface RuleConfig {
  enabled?: boolean;
  action?: RuleAction;
  /** With action kill: the containers it kills in (any entry matching); absent: every container. */
  killIn?: KillException[];
  killExceptions?: KillException[];
  /** Replaces the rule's base severity; findings that raise their own severity (e.g. to critical) keep it. */
  severity?: Severity;
  exceptions?: RuleException[];
}

export interface SettingsConfig {
  miningPoolPorts?: number[];
  miningPoolDomains?: string[];
  minerExecutables?: string[];
  miningConfidenceThreshold?: number;
  miningSignalWindowSeconds?: number;
  cpuSaturationUtilization?: number;
  cpuSaturationSeconds?: number;
  longLivedConnectionSeconds?: number;
  runtimeSockets?: string[];
  kubeletPorts?: number[];
  runtimeExecutables?: string[];
  userNamespaceFollowUpSeconds?: number;
}

/** What a rule whose kill depends on pod metadata does in a container whose metadata is not known yet. */
export const BEFORE_POD_METADATA = ['alert', 'kill'] as const;
export type BeforePodMetadata = (typeof BEFORE_POD_METADATA)[number];

export interface RulesConfig {
  enforcement?: EnforcementModeName;
  beforePodMetadata?: BeforePodMetadata;
  rules?: Record<string, RuleConfig>;
  settings?: SettingsConfig;
}

/** Settings in the form detectors use them (sets for lookups, ns for times). */
export interface DetectorSettings {
  miningPoolPorts: ReadonlySet<number>;
  /** Lower-case domain suffixes; a name matches when equal or ending in '.' + suffix. */
  miningPoolDomains: readonly string[];
  /** Lower-case executable base names. */
  minerExecutables: ReadonlySet<string>;
  miningConfidenceThreshold: number;
  miningSignalWindowNs: bigint;
  cpuSaturationUtilization: number;
  cpuSaturationNs: bigint;
  longLivedConnectionNs: bigint;
  /** Base names of container-runtime API sockets. */
  runtimeSockets: ReadonlySet<string>;
  kubeletPorts: ReadonlySet<number>;
  /**
   * Runtime binaries, by base name (looked up in the host's usual binary directories, RUNTIME_DIRECTORIES) or by
   * absolute host path. The agent stats them through the host's root; a process that executed one of these files
   * (same device and inode) in the host's mount namespace is doing the runtime's set-up (mounts, setns into a new
   * container) until it executes anything else. The name of a process never counts.
   */
  runtimeExecutables: ReadonlySet<string>;
  userNamespaceFollowUpNs: bigint;
}

export const DEFAULT_SETTINGS: Required<SettingsConfig> = {
  miningPoolPorts: [3333, 3334, 3357, 4444, 5555, 5556, 6666, 7777, 8888, 9999, 14433, 14444, 20580, 45560, 45700],
  miningPoolDomains: [
    'minexmr.com', 'nanopool.org', 'supportxmr.com', 'moneroocean.stream', '2miners.com', 'f2pool.com',
    'hashvault.pro', 'herominers.com', 'c3pool.com', 'xmrpool.eu', 'monerohash.com', 'nicehash.com',
    'unmineable.com', 'ethermine.org', 'viabtc.com', 'antpool.com', 'poolin.com', 'miningpoolhub.com',
    'zpool.ca', 'mining-dutch.nl', 'p2pool.io', 'kryptex.network', 'woolypooly.com', 'flockpool.com',
  ],
  minerExecutables: [
    'xmrig', 'xmrig-notls', 'xmr-stak', 'xmr-stak-rx', 'xmr-stak-cpu', 'cpuminer', 'cpuminer-multi', 'cpuminer-opt',
    'minerd', 't-rex', 'lolminer', 'nbminer', 'ccminer', 'ethminer', 'phoenixminer', 'nanominer', 'gminer',
    'teamredminer', 'srbminer-multi', 'cgminer', 'bfgminer', 'bminer', 'xmrig-cuda', 'kawpowminer',
  ],
  miningConfidenceThreshold: 0.6,
  miningSignalWindowSeconds: 1800,
  cpuSaturationUtilization: 0.9,
  cpuSaturationSeconds: 300,
  longLivedConnectionSeconds: 60,
  runtimeSockets: [
    'docker.sock', 'containerd.sock', 'crio.sock', 'podman.sock', 'dockershim.sock', 'cri-dockerd.sock',
    'containerd-shim.sock', 'kubelet.sock',
  ],
  kubeletPorts: [10250, 10255],
  runtimeExecutables: ['runc', 'crun', 'conmon', 'youki', 'runsc', 'containerd-shim', 'containerd-shim-runc-v2'],
  userNamespaceFollowUpSeconds: 60,
};

export class RulesConfigError extends Error {
  override name = 'RulesConfigError';
}

const RULE_KEYS = ['enabled', 'severity', 'exceptions', 'action', 'killIn', 'killExceptions'] as const;
const EXCEPTION_KEYS = ['namespaces', 'images', 'workloads', 'executables', 'parentExecutables'] as const;
const KILL_EXCEPTION_KEYS = ['namespaces', 'images', 'workloads'] as const;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkKeys(obj: Record<string, unknown>, allowed: readonly string[], where: string): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) {
      throw new RulesConfigError(`${where}.${key}: unknown key (allowed: ${allowed.join(', ')})`);
    }
  }
}

function stringList(v: unknown, where: string): string[] {
  if (!Array.isArray(v) || v.some((s) => typeof s !== 'string' || s.length === 0)) {
    throw new RulesConfigError(`${where}: must be a list of non-empty strings`);
  }
  return v as string[];
}

function portList(v: unknown, where: string): number[] {
  if (!Array.isArray(v) || v.some((p) => !Number.isInteger(p) || p < 1 || p > 65535)) {
    throw new RulesConfigError(`${where}: must be a list of port numbers 1..65535`);
  }
  return v as number[];
}

function numberIn(v: unknown, min: number, max: number, where: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
    throw new RulesConfigError(`${where}: must be a number from ${min} to ${max}`);
  }
  return v;
}

/** A list of container matches (killIn, killExceptions): the exception syntax, restricted to what names a container. */
function containerMatches(v: unknown, where: string, whenEmpty: string): KillException[] {
  if (!Array.isArray(v)) throw new RulesConfigError(`${where}: must be a list`);
  return v.map((ex, i) => {
    const exWhere = `${where}[${i}]`;
    if (!isPlainObject(ex)) {
      throw new RulesConfigError(`${exWhere}: must be an object (${KILL_EXCEPTION_KEYS.join(', ')}; kills are decided per container)`);
    }
    checkKeys(ex, KILL_EXCEPTION_KEYS, exWhere);
    const ke: KillException = {};
    for (const key of KILL_EXCEPTION_KEYS) {
      if (ex[key] !== undefined) ke[key] = stringList(ex[key], `${exWhere}.${key}`);
    }
    if (Object.keys(ke).length === 0) throw new RulesConfigError(`${exWhere}: an empty entry ${whenEmpty}`);
    return ke;
  });
}

// YAML 1.1 readers (Helm's values, kubectl's older clients) turn an unquoted `on`/`off` into a boolean, and Helm
// writes it back into the ConfigMap as `true`/`false`: an agent that refused them would crash-loop on every node.
function enforcementModeOf(value: unknown): EnforcementModeName {
  if (value === true) return 'on';
  if (value === false) return 'off';
  if (!ENFORCEMENT_MODES.includes(value as EnforcementModeName)) {
    throw new RulesConfigError(`enforcement: must be one of ${ENFORCEMENT_MODES.join(', ')}`);
  }
  return value as EnforcementModeName;
}

/**
 * Checks a parsed (JSON/YAML) config against the known rule ids; throws RulesConfigError with one line.
 * `killableRuleIds`: the rules the kernel can enforce (action: kill); every known rule when not given.
 */
export function validateRulesConfig(
  raw: unknown,
  knownRuleIds: readonly string[],
  killableRuleIds: readonly string[] = knownRuleIds,
): RulesConfig {
  if (raw === undefined || raw === null) return {};
  if (!isPlainObject(raw)) throw new RulesConfigError('rules config: must be an object with "rules" and/or "settings"');
  checkKeys(raw, ['enforcement', 'beforePodMetadata', 'rules', 'settings'], 'config');
  const out: RulesConfig = {};
  if (raw.enforcement !== undefined) out.enforcement = enforcementModeOf(raw.enforcement);
  if (raw.beforePodMetadata !== undefined) {
    if (!BEFORE_POD_METADATA.includes(raw.beforePodMetadata as BeforePodMetadata)) {
      throw new RulesConfigError(`beforePodMetadata: must be one of ${BEFORE_POD_METADATA.join(', ')}`);
    }
    out.beforePodMetadata = raw.beforePodMetadata as BeforePodMetadata;
  }
  if (raw.rules !== undefined) {
    if (!isPlainObject(raw.rules)) throw new RulesConfigError('rules: must be a map from rule id to rule settings');
    out.rules = {};
    for (const [id, rule] of Object.entries(raw.rules)) {
      const where = `rules.${id}`;
      if (!knownRuleIds.includes(id)) {
        throw new RulesConfigError(`${where}: unknown rule id (known: ${knownRuleIds.join(', ')})`);
      }
      if (!isPlainObject(rule)) throw new RulesConfigError(`${where}: must be an object (${RULE_KEYS.join(', ')})`);
      checkKeys(rule, RULE_KEYS, where);
      const rc: RuleConfig = {};
      if (rule.enabled !== undefined) {
        if (typeof rule.enabled !== 'boolean') throw new RulesConfigError(`${where}.enabled: must be true or false`);
        rc.enabled = rule.enabled;
      }
      if (rule.severity !== undefined) {
        if (!SEVERITIES.includes(rule.severity as Severity)) {
          throw new RulesConfigError(`${where}.severity: must be one of ${SEVERITIES.join(', ')}`);
        }
        rc.severity = rule.severity as Severity;
      }
      if (rule.exceptions !== undefined) {
        if (!Array.isArray(rule.exceptions)) throw new RulesConfigError(`${where}.exceptions: must be a list`);
        rc.exceptions = rule.exceptions.map((ex, i) => {
          const exWhere = `${where}.exceptions[${i}]`;
          if (!isPlainObject(ex)) throw new RulesConfigError(`${exWhere}: must be an object (${EXCEPTION_KEYS.join(', ')})`);
          checkKeys(ex, EXCEPTION_KEYS, exWhere);
          const re: RuleException = {};
          for (const key of EXCEPTION_KEYS) {
            if (ex[key] !== undefined) re[key] = stringList(ex[key], `${exWhere}.${key}`);
          }
          if (Object.keys(re).length === 0) {
            throw new RulesConfigError(`${exWhere}: empty exception would silence the whole rule; use enabled: false`);
          }
          return re;
        });
      }
      if (rule.action !== undefined) {
        if (!RULE_ACTIONS.includes(rule.action as RuleAction)) {
          throw new RulesConfigError(`${where}.action: must be one of ${RULE_ACTIONS.join(', ')}`);
        }
        if (rule.action === 'kill' && !killableRuleIds.includes(id)) {
          throw new RulesConfigError(
            `${where}.action: kill is not supported by this rule (rules the kernel can enforce: ${killableRuleIds.join(', ')})`,
          );
        }
        rc.action = rule.action as RuleAction;
      }
      if (rule.killIn !== undefined) {
        rc.killIn = containerMatches(rule.killIn, `${where}.killIn`, 'would match every container; omit killIn');
      }
      if (rule.killExceptions !== undefined) {
        rc.killExceptions = containerMatches(rule.killExceptions, `${where}.killExceptions`, 'would except every container; use action: alert');
      }
      out.rules[id] = rc;
    }
  }
  if (raw.settings !== undefined) {
    if (!isPlainObject(raw.settings)) throw new RulesConfigError('settings: must be an object');
    checkKeys(raw.settings, Object.keys(DEFAULT_SETTINGS), 'settings');
    const s = raw.settings;
    const st: SettingsConfig = {};
    if (s.miningPoolPorts !== undefined) st.miningPoolPorts = portList(s.miningPoolPorts, 'settings.miningPoolPorts');
    if (s.kubeletPorts !== undefined) st.kubeletPorts = portList(s.kubeletPorts, 'settings.kubeletPorts');
    for (const key of ['miningPoolDomains', 'minerExecutables', 'runtimeSockets', 'runtimeExecutables'] as const) {
      if (s[key] !== undefined) st[key] = stringList(s[key], `settings.${key}`);
    }
    if (s.miningConfidenceThreshold !== undefined) {
      st.miningConfidenceThreshold = numberIn(s.miningConfidenceThreshold, 0.01, 1, 'settings.miningConfidenceThreshold');
    }
    if (s.cpuSaturationUtilization !== undefined) {
      st.cpuSaturationUtilization = numberIn(s.cpuSaturationUtilization, 0.01, 1, 'settings.cpuSaturationUtilization');
    }
    for (const key of [
      'miningSignalWindowSeconds', 'cpuSaturationSeconds', 'longLivedConnectionSeconds', 'userNamespaceFollowUpSeconds',
    ] as const) {
      if (s[key] !== undefined) st[key] = numberIn(s[key], 0, 86400 * 7, `settings.${key}`);
    }
    out.settings = st;
  }
  return out;
}

const NS_PER_SECOND = 1_000_000_000;

export function compileSettings(config: SettingsConfig | undefined): DetectorSettings {
  const s = { ...DEFAULT_SETTINGS, ...config };
  const seconds = (v: number): bigint => BigInt(Math.round(v * NS_PER_SECOND));
  return {
    miningPoolPorts: new Set(s.miningPoolPorts),
    miningPoolDomains: s.miningPoolDomains.map((d) => d.toLowerCase().replace(/^\.+|\.+$/g, '')),
    minerExecutables: new Set(s.minerExecutables.map((n) => n.toLowerCase())),
    miningConfidenceThreshold: s.miningConfidenceThreshold,
    miningSignalWindowNs: seconds(s.miningSignalWindowSeconds),
    cpuSaturationUtilization: s.cpuSaturationUtilization,
    cpuSaturationNs: seconds(s.cpuSaturationSeconds),
    longLivedConnectionNs: seconds(s.longLivedConnectionSeconds),
    runtimeSockets: new Set(s.runtimeSockets),
    kubeletPorts: new Set(s.kubeletPorts),
    runtimeExecutables: new Set(s.runtimeExecutables),
    userNamespaceFollowUpNs: seconds(s.userNamespaceFollowUpSeconds),
  };
}
