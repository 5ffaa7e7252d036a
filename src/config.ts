// The agent's configuration: one JSON Schema is the single source of truth for the YAML file, its defaults,
// validation messages and the command-line flags (every leaf `a.bKey` is also `--a.b-key`).

import { readFileSync } from 'node:fs';
import { Ajv, type ErrorObject } from 'ajv';
import { parse as parseYaml } from 'yaml';
import { PeerKinds, PeerRangeError } from './baseline/PeerKinds.ts';
import { DEFAULT_BASELINE_SETTINGS as BL, DEFAULT_BASELINE_STORE_SETTINGS as BLS, type BaselineSettings, type BaselineStoreSettings } from './baseline/settings.ts';

export interface AgentConfig {
  nodeName: string;
  clusterName: string;
  stateDir: string;
  hostProc: string;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  console: { enabled: boolean; statusIntervalMs: number; minSeverity: string };
  outputs: string[];
  kernel: { objectPath: string; ringBytes: number; wakeupBatchBytes: number; urgentWakeupGapUs: number; pollIntervalMs: number; hotRingPercent: number; hotRecordsPerSecond: number; hotRecordsBurst: number; dropReportIntervalMs: number; compatSyscalls: boolean; btfPath: string; tracefsPath: string };
  processTable: { maxEntries: number; exitedGraceMs: number };
  otlp: {
    endpoint: string;
    insecure: boolean;
    headers: Record<string, string>;
    caFile: string;
    certFile: string;
    keyFile: string;
    incidentQuietWindowMs: number;
    lingerMs: number;
    traceLingerMs: number;
  };
  spool: { maxBytes: number; fsync: 'always' | 'interval' | 'never' };
  kubernetes: { enabled: 'auto' | 'on' | 'off'; kubeconfig: string; labelAllowList?: string[]; holdMs: number };
  runtime: { socket: string; holdMs: number };
  health: { listen: string };
  prometheus: { listen: string };
  rules: Record<string, unknown>;
  rulesFile: string;
  baseline: BaselineSettings & BaselineStoreSettings;
}

const str = (d: string, description: string) => ({ type: 'string', default: d, description });
const int = (d: number, description: string, minimum = 0) => ({ type: 'integer', default: d, minimum, description });
const cidrs = (description: string) => ({ type: 'array', items: { type: 'string' }, default: [], description });
const bool = (d: boolean, description: string) => ({ type: 'boolean', default: d, description });
const obj = (properties: Record<string, object>, description = '') => ({
  type: 'object',
  additionalProperties: false,
  default: {},
  description,
  properties,
});

export const CONFIG_SCHEMA = obj({
  nodeName: str('', 'Kubernetes node name (defaults to $K8S_NODE_NAME, then the host name)'),
  clusterName: str('', 'k8s.cluster.name on every record'),
  stateDir: str('/var/lib/kubesentry', 'Directory for the OTLP spool and other state'),
  hostProc: str('/proc', "The host's procfs (the agent needs the host PID namespace: hostPID in Kubernetes)"),
  logLevel: { type: 'string', enum: ['debug', 'info', 'warn', 'error'], default: 'info', description: 'Agent log level' },
  console: obj({
    enabled: bool(true, 'Print detections and a status line on the console'),
    statusIntervalMs: int(2000, 'Status line refresh interval (0 disables it)'),
    minSeverity: { type: 'string', enum: ['critical', 'high', 'medium', 'low', 'info'], default: 'info', description: 'Lowest severity printed' },
  }),
  outputs: {
    type: 'array',
    items: { type: 'string', pattern: '^jsonl:.+' },
    default: [],
    description: 'Extra outputs: jsonl:PATH appends one detection per line',
  },
  kernel: obj({
    objectPath: str('', 'Compiled BPF object (default: build/kubesentry.bpf.o next to the agent)'),
    ringBytes: int(8 << 20, 'BPF ring buffer size in bytes (power of two)', 4096),
    wakeupBatchBytes: int(64 << 10, 'Ring buffer bytes that wake the consumer early', 0),
    pollIntervalMs: int(75, 'How often the ring is read when no wakeup comes, and at most how often a trickle of urgent records is read: the latency of a steady stream of detections (p99 about this plus 10 ms) against the CPU of one JS batch and one log request per interval (docs/benchmarks.md has the trade-off measured)', 1),
    urgentWakeupGapUs: int(1000, 'Records that can be a detection on their own (namespace, mount, module, ptrace, bpf, credential changes, write-mode opens) wake the consumer at once, at most once per this many µs per CPU (0: batch them too)', 0),
    hotRingPercent: int(75, 'Hot records (exec, fork, exit, connect, payload, listen) are dropped in the kernel once the ring is this full (percent), so a flood leaves the rest for records that can be a detection on their own; 100 disables the reserve', 1),
    hotRecordsPerSecond: int(5000, 'Hot records one container (cgroup) may emit per second on average; past it they are dropped in the kernel, counted, and reported as a KS-GAP-001 detection naming the container (0: no limit)', 0),
    hotRecordsBurst: int(10000, 'Hot records a container may emit at once above hotRecordsPerSecond', 1),
    dropReportIntervalMs: int(5000, 'How often the kernel drop counts are read: at most one KS-GAP-001 detection per container per interval, with the counts since the previous one', 100),
    compatSyscalls: bool(true, 'Watch 32-bit (int 0x80) system calls of container processes (KS-ESC-021, and their kills): the syscall tracepoints do not see them, so this takes a raw sys_enter program that every system call on the node passes, about 60 ns of program plus the raw tracepoint\'s own cost (docs/benchmarks.md). Off only where 32-bit entry is closed (ia32_emulation=false, or a seccomp profile allowing x86_64 alone): otherwise int 0x80 hides every call from detection and enforcement'),
    btfPath: str('/sys/kernel/btf/vmlinux', 'Kernel BTF'),
    tracefsPath: str('/sys/kernel/tracing', 'tracefs mount point'),
  }),
  processTable: obj({
    maxEntries: int(65536, 'Most processes tracked', 1024),
    exitedGraceMs: int(30000, 'How long an exited process still resolves ancestry'),
  }),
  otlp: obj({
    endpoint: str('', 'OTLP gRPC endpoint (default $OTEL_EXPORTER_OTLP_ENDPOINT; empty: no OTLP)'),
    insecure: bool(false, 'Allow plaintext to a non-loopback endpoint'),
    headers: { type: 'object', additionalProperties: { type: 'string' }, default: {}, description: 'Extra gRPC headers' },
    caFile: str('', 'CA bundle for the endpoint'),
    certFile: str('', 'Client certificate (mTLS)'),
    keyFile: str('', 'Client key (mTLS)'),
    incidentQuietWindowMs: int(300000, 'Detections of a container this close together share one incident trace'),
    lingerMs: int(0, 'How long log export waits after new detections reach an idle spool before sending (0: at once; a batch of detections from one ring read always leaves in one request)'),
    traceLingerMs: int(1000, 'The same for incident-trace spans, which are for investigating rather than alerting and so leave in fewer, larger requests'),
  }),
  spool: obj({
    maxBytes: int(256 << 20, 'On-disk spool bound; oldest records are evicted past it', 1 << 20),
    fsync: { type: 'string', enum: ['always', 'interval', 'never'], default: 'interval', description: 'When spool appends are fsynced' },
  }),
  kubernetes: obj({
    enabled: { type: 'string', enum: ['auto', 'on', 'off'], default: 'auto', description: 'Pod metadata from the API server (auto: when in a cluster or KUBECONFIG is set)' },
    kubeconfig: str('', 'kubeconfig path (default in-cluster, then $KUBECONFIG)'),
    labelAllowList: { type: 'array', items: { type: 'string' }, description: 'Pod labels copied as k8s.pod.label.<key> (default: app and the app.kubernetes.io/* recommended labels)' },
    holdMs: int(2000, 'How long a detection waits for its pod to reach the cache'),
  }),
  runtime: obj({
    socket: str('', 'Docker-compatible runtime API socket for names and images of non-Kubernetes containers (default: the first of /run/podman/podman.sock, /var/run/docker.sock that exists)'),
    holdMs: int(1000, 'How long a detection waits for the runtime to name its container'),
  }),
  health: obj({ listen: str('', 'host:port of the /healthz and /readyz endpoint (empty: off; ${VAR} is replaced by that environment variable, e.g. ${POD_IP}:8080)') }),
  prometheus: obj({ listen: str('', 'host:port of a Prometheus scrape endpoint (empty: off; ${VAR} as in health.listen)') }),
  rules: { type: 'object', default: {}, description: 'Per-rule settings (see docs/detections.md)' },
  rulesFile: str('', 'YAML file with per-rule settings, reloaded on SIGHUP or change'),
  baseline: obj({
    minLearningMs: int(BL.minLearningMs, 'Behavioural baseline (KS-BL-001, docs/baseline.md): least time a class of a workload learns before it can be stable'),
    quietMs: int(BL.quietMs, 'A learning class becomes stable once it saw no new item for this long (after minLearningMs)'),
    maxLearningMs: int(BL.maxLearningMs, 'A class not stable after this long is unstable: it stops learning and reporting, and says so once'),
    warmupMs: int(BL.warmupMs, 'After each container start, its events only teach its profile for this long'),
    dedupeMs: int(BL.dedupeMs, 'A deviation of one workload is reported again only after this long'),
    maxDeviationsPerMinute: int(BL.maxDeviationsPerMinute, 'Deviations reported per workload per minute; the next is a summary, the rest are counted', 1),
    maxProfiles: int(BL.maxProfiles, 'Workload profiles kept in memory; the least recently seen is forgotten', 1),
    collapseAt: int(BL.collapseAt, 'Learned items of one shape (differing in numbers or hex) collapse into one pattern at this many', 2),
    clusterDomain: str(BL.clusterDomain, 'Cluster DNS domain, stripped with the search suffixes from learned DNS names'),
    podCidrs: cidrs('Pod address ranges of the cluster (CIDR, repeatable): a connect to one is peer kind pod'),
    serviceCidrs: cidrs('Service (ClusterIP) ranges of the cluster (CIDR, repeatable): peer kind service'),
    nodeCidrs: cidrs('Node address ranges (CIDR, repeatable): peer kind node (the node\'s own addresses are node peers without it)'),
    newImageMs: int(BL.newImageMs, 'After an image digest new to a workload is first seen, its new items are learned and told as one summary when this ends'),
    persistIntervalMs: int(BLS.persistIntervalMs, 'Changed profiles are written to <stateDir>/baseline this often and at shutdown', 100),
    retentionMs: int(BLS.retentionMs, 'Profiles of workloads not seen for this long are deleted'),
  }),
});

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const ajv = new Ajv({ allErrors: false, useDefaults: true, strict: false });
const validate = ajv.compile(CONFIG_SCHEMA);

function describe(error: ErrorObject, source: string): string {
  const where = error.instancePath.replace(/^\//, '').replaceAll('/', '.') || '(top level)';
  if (error.keyword === 'additionalProperties') {
    const key = (error.params as { additionalProperty: string }).additionalProperty;
    const full = where === '(top level)' ? key : `${where}.${key}`;
    return `${source}: unknown config key '${full}'`;
  }
  return `${source}: ${where} ${error.message ?? 'is invalid'}`;
}

// A listen address often names an address only the pod knows at start (the downward API's status.podIP): the
// chart writes ${POD_IP}:8080. Only listen addresses are expanded, so no other value changes meaning with the
// environment, and an unset variable is an error rather than an empty host (which would listen on every address).
function expandListen(value: string, key: string, source: string, env: NodeJS.ProcessEnv): string {
  return value.replace(/\$\{([^}]*)\}/g, (_, name: string) => {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new ConfigError(`${source}: ${key} has an invalid variable reference '\${${name}}'`);
    const expanded = env[name];
    if (!expanded) throw new ConfigError(`${source}: ${key} uses \${${name}}, which is not set in the environment`);
    return expanded;
  });
}

/** Validates and fills defaults; throws ConfigError with a one-line reason. */
export function resolveConfig(raw: unknown, source: string, env: NodeJS.ProcessEnv = process.env): AgentConfig {
  const copy = structuredClone(raw ?? {});
  if (!validate(copy)) throw new ConfigError(describe(validate.errors![0], source));
  const config = copy as unknown as AgentConfig;
  config.health.listen = expandListen(config.health.listen, 'health.listen', source, env);
  config.prometheus.listen = expandListen(config.prometheus.listen, 'prometheus.listen', source, env);
  try {
    new PeerKinds(config.baseline);
  } catch (e) {
    if (e instanceof PeerRangeError) throw new ConfigError(`${source}: ${e.message}`);
    throw e;
  }
  return config;
}

export function readConfigFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`${path}: cannot read config file: ${(e as Error).message}`);
  }
  try {
    return parseYaml(text) ?? {};
  } catch (e) {
    throw new ConfigError(`${path}: not valid YAML: ${(e as Error).message.split('\n')[0]}`);
  }
}

interface SchemaNode {
  type?: string;
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
  description?: string;
  enum?: string[];
}

const kebab = (s: string) => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** Every schema leaf as a flag: `--kernel.ring-bytes` ↔ kernel.ringBytes. */
export function configFlags(): Map<string, { path: string[]; node: SchemaNode }> {
  const flags = new Map<string, { path: string[]; node: SchemaNode }>();
  const walk = (node: SchemaNode, path: string[]) => {
    if (node.type === 'object' && node.properties) {
      for (const [k, child] of Object.entries(node.properties)) walk(child, [...path, k]);
      return;
    }
    flags.set(`--${path.map(kebab).join('.')}`, { path, node });
  };
  walk(CONFIG_SCHEMA as SchemaNode, []);
  return flags;
}

function coerce(value: string, node: SchemaNode, flag: string): unknown {
  switch (node.type) {
    case 'integer': {
      if (!/^\d+$/.test(value)) throw new ConfigError(`${flag}: expected a whole number, got '${value}'`);
      return Number(value);
    }
    case 'boolean':
      if (value === 'true' || value === '') return true;
      if (value === 'false') return false;
      throw new ConfigError(`${flag}: expected true or false, got '${value}'`);
    case 'object': {
      // key=value,key=value (headers), the same shape as OTEL_EXPORTER_OTLP_HEADERS.
      const out: Record<string, string> = {};
      for (const pair of value.split(',').filter(Boolean)) {
        const eq = pair.indexOf('=');
        if (eq <= 0) throw new ConfigError(`${flag}: expected key=value pairs, got '${pair}'`);
        out[pair.slice(0, eq).trim()] = decodeURIComponent(pair.slice(eq + 1).trim());
      }
      return out;
    }
    default:
      return value;
  }
}

/**
 * Applies `--a.b value`/`--a.b=value` flags on top of the file's object. Array options append per use.
 * Returns what was not a config flag (command words and command-specific flags) for the caller to parse.
 */
export function applyFlags(base: Record<string, unknown>, argv: string[], shorthands: Record<string, string> = {}): string[] {
  const flags = configFlags();
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i];
    let value: string | undefined;
    const eq = arg.indexOf('=');
    if (arg.startsWith('--') && eq > 0) {
      value = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
    }
    arg = shorthands[arg] ?? arg;
    const spec = flags.get(arg);
    if (!spec) {
      rest.push(argv[i]);
      continue;
    }
    if (value === undefined) {
      const next = argv[i + 1];
      if (spec.node.type === 'boolean' && (next === undefined || next.startsWith('--'))) value = 'true';
      else if (next === undefined) throw new ConfigError(`${arg}: missing value`);
      else value = argv[++i];
    }
    let target = base;
    for (const key of spec.path.slice(0, -1)) {
      if (typeof target[key] !== 'object' || target[key] === null) target[key] = {};
      target = target[key] as Record<string, unknown>;
    }
    const leaf = spec.path[spec.path.length - 1];
    if (spec.node.type === 'array') {
      const list = Array.isArray(target[leaf]) ? (target[leaf] as unknown[]) : [];
      target[leaf] = [...list, value];
    } else {
      target[leaf] = coerce(value, spec.node, arg);
    }
  }
  return rest;
}
