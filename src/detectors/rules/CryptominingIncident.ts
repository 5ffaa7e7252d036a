// KS-MIN-001: cryptomining as ONE incident per container. Each indicator is a signal with a weight; signals seen
// within a window combine as independent evidence (1 − Π(1 − w)) into a confidence. The incident is reported
// when confidence crosses the threshold and again only when its severity rises, so a miner yields at most three
// detections however many connections and executions it makes.

import { EventType, PayloadKind, StreamCapture, type ConnectEvent, type ExecEvent, type OpenEvent, type PayloadEvent } from '../../receiver/events.ts';
import type { Severity } from '../../detection.ts';
import { Attr } from '../attributeKeys.ts';
import {
  NO_FINDINGS,
  SyntheticEventType,
  type ContainerCpuSampleEvent,
  type DetectionContext,
  type Detector,
  type DetectorEvent,
  type Finding,
  type RuleMetadata,
} from '../Detector.ts';
import { BoundedMap } from '../internal/BoundedMap.ts';
import { dnsQuestionName, matchesDomainSuffix } from '../internal/dns.ts';
import { basename, isWriteOpen, processOf } from '../internal/util.ts';

/** Evidence weights: the probability each signal alone means mining. Exported for the docs. */
export const MINING_SIGNAL_WEIGHTS = {
  stratum_protocol: 0.9,
  miner_executable: 0.8,
  miner_arguments: 0.8,
  // A pool's name resolved from a container is rarely anything but a miner starting: enough alone at the default
  // threshold (0.6), where it was once hidden below it.
  pool_domain_query: 0.7,
  cpu_saturation_with_outbound_connection: 0.4,
  msr_access: 0.4,
  miner_arguments_weak: 0.3,
  hugepages_tuning: 0.3,
  pool_port_connection: 0.2,
} as const;
export type MiningSignal = keyof typeof MINING_SIGNAL_WEIGHTS;

/** Signals that mean something on the host too; the rest (MSR, huge pages, CPU) are normal node administration. */
const HOST_SIGNALS: ReadonlySet<MiningSignal> = new Set([
  'stratum_protocol', 'miner_executable', 'miner_arguments', 'pool_domain_query',
]);

const SEVERITY_RANK: Record<Severity, number> = { info: 0, low: 1, medium: 2, high: 3, critical: 4 };
const TRACKED_INCIDENTS = 8192;
/** Connections whose first writes are being put together, each at most StreamCapture.bytes. */
const TRACKED_STREAMS = 4096;

interface Stream {
  bytes: Uint8Array;
  records: number;
}
const AF_INET = 2;
const AF_INET6 = 10;
const HOST_KEY = 'host';

const STRATUM_METHODS = ['mining.subscribe', 'mining.authorize', 'mining.submit', 'mining.extranonce'];
const STRONG_OPTIONS = /^--(donate-level|randomx|cpu-max-threads-hint)/;
const MINING_ALGORITHM = /^(rx\/0|rx\/wow|cn\/r|cn\/0|randomx|cryptonight|ghostrider|kawpow|ethash|autolykos2?)$/i;
const CONTAINER_CLIS: ReadonlySet<string> = new Set(['podman', 'docker', 'nerdctl', 'crictl', 'ctr', 'kubectl']);
/** Shared result for the common case; callers only read it. */
const NO_ARGUMENTS = { strong: [] as string[], weak: [] as string[] };
const POOL_ENDPOINT = /^[a-z0-9.-]+\.[a-z]{2,}:\d{2,5}$/i;

interface SignalHit {
  atNs: bigint;
  tgid: number;
}

interface Incident {
  signals: Map<MiningSignal, SignalHit>;
  reportedSeverity?: Severity;
  serverAddress?: string;
  serverPort?: number;
  dnsName?: string;
  indicators: Set<string>;
  outbound?: { tgid: number; startNs: bigint; atNs: bigint };
  saturatedSinceNs?: bigint;
  utilization?: number;
}

export class CryptominingIncident implements Detector {
  readonly meta: RuleMetadata = {
    id: 'KS-MIN-001',
    version: '1.1.0',
    title: 'Cryptomining',
    category: 'cryptomining',
    severity: 'medium',
    mitre: { technique: 'T1496', name: 'Resource Hijacking' },
    events: [
      EventType.Payload, EventType.Connect, EventType.Exec, EventType.Open, SyntheticEventType.ContainerCpuSample,
    ],
    description:
      'One incident per container (and one for host processes) combining signals seen within ' +
      'settings.miningSignalWindowSeconds: stratum JSON-RPC (mining.subscribe/authorize/submit, "method":"login" ' +
      'with "agent") anywhere after a \'{\' in the first writes of a TCP connection, put together across writes and ' +
      'writev/sendmsg iovecs up to the kernel\'s bounds (256 bytes passed or 8 writes) (0.9); a known miner executable ' +
      '(0.8); miner arguments ' +
      '(stratum+tcp:// URLs, --donate-level, --randomx, -a rx/0, --cpu-max-threads-hint: 0.8; --coin or ' +
      '-o host:port with -u: 0.3); DNS queries for pool domains (0.7: reported alone); sustained CPU saturation while holding an ' +
      'outbound connection (0.4); /dev/cpu/*/msr opens (0.4); huge-page tuning (0.3); connections to pool ports ' +
      '(0.2). Confidence = 1 − Π(1 − weight). Reported when it reaches settings.miningConfidenceThreshold ' +
      '(medium; high from 0.8, critical from 0.95), then again only when the severity rises. MSR, huge-page and ' +
      'CPU signals count only in containers; container CLIs on the node (podman, docker, kubectl ...) are not judged ' +
      'by their arguments. Stratum over TLS is only visible through ports, DNS and executables. Not seen: stratum ' +
      'after the capture bounds (more than 8 writes, or more than 256 bytes of padding, before the JSON), bytes ' +
      'sent by sendfile/splice or io_uring, or by another process than the one that connected (a forked child, a ' +
      'passed fd); DNS over TCP, DoH or to a resolver library that is not on UDP port 53.',
    falsePositives: [
      'Services that legitimately use the listed ports (3333, 4444, 5555, 7777, 8888, 9999 are common dev ports): ' +
        'port matches alone stay below the threshold.',
      'Batch jobs that saturate CPU while streaming results: this signal alone stays below the threshold.',
    ],
    tuning:
      'settings.miningPoolPorts, miningPoolDomains, minerExecutables, miningConfidenceThreshold, ' +
      'miningSignalWindowSeconds, cpuSaturationUtilization, cpuSaturationSeconds, longLivedConnectionSeconds.',
    uuid: '2e78780b-f31a-4741-8ea1-482c62b8d3f7',
    openPathPatterns: ['/dev/cpu/*/msr', '/proc/sys/vm/nr_hugepages', '/sys/kernel/mm/hugepages/*/nr_hugepages'],
  };

  readonly #incidents = new BoundedMap<string, Incident>(TRACKED_INCIDENTS);
  /**
   * The first writes of fresh TCP connections, by tgid/fd, until the kernel's bounds. Not counted in
   * stateEvictions: most connections write less than the bounds and are only ever evicted, which loses nothing.
   */
  readonly #streams = new BoundedMap<string, Stream>(TRACKED_STREAMS);

  stateEvictions(): number {
    return this.#incidents.evictions;
  }

  onEvent(event: DetectorEvent, ctx: DetectionContext): readonly Finding[] {
    if (event.type === SyntheticEventType.ContainerCpuSample) return this.#onCpuSample(event, ctx);
    const container = ctx.container(event);
    const key = container === null ? HOST_KEY : container.id;
    switch (event.type) {
      case EventType.Payload:
        return this.#onPayload(event, key, ctx);
      case EventType.Connect:
        return this.#onConnect(event, key, ctx);
      case EventType.Exec:
        return this.#onExec(event, key, ctx);
      case EventType.Open:
        return this.#onOpen(event, key, ctx);
      default:
        return NO_FINDINGS;
    }
  }

  #incident(key: string): Incident {
    let incident = this.#incidents.get(key);
    if (!incident) {
      incident = { signals: new Map(), indicators: new Set() };
      this.#incidents.set(key, incident);
    }
    return incident;
  }

  #onPayload(event: PayloadEvent, key: string, ctx: DetectionContext): readonly Finding[] {
    if (event.kind === PayloadKind.DnsQuery) {
      const name = dnsQuestionName(event.data);
      if (name === undefined || matchesDomainSuffix(name, ctx.settings.miningPoolDomains) === undefined) return NO_FINDINGS;
      const incident = this.#incident(key);
      incident.dnsName = name;
      return this.#signal(incident, key, 'pool_domain_query', event.tgid, event.ktimeNs, ctx);
    }
    if (event.kind !== PayloadKind.TcpFirstBytes) return NO_FINDINGS;
    const method = stratumMethod(this.#stream(event));
    // The port is the connection's, judged once, at its first write.
    const poolPort = event.streamOffset === 0 && ctx.settings.miningPoolPorts.has(event.port);
    if (method === undefined && !poolPort) return NO_FINDINGS;
    const incident = this.#incident(key);
    incident.serverAddress = event.address;
    incident.serverPort = event.port;
    if (method !== undefined) incident.indicators.add(method);
    return this.#signal(incident, key, method !== undefined ? 'stratum_protocol' : 'pool_port_connection', event.tgid, event.ktimeNs, ctx);
  }

  /**
   * The connection's bytes so far: the kernel reports a fresh connection's first writes one by one (a 1-byte first
   * write, writev/sendmsg iovecs), so a JSON-RPC message split across them is matched whole. Captures are appended in
   * arrival order; one cut at the capture bound leaves a gap that only costs a match across it.
   */
  #stream(event: PayloadEvent): Uint8Array {
    const key = `${event.tgid}/${event.fd}`;
    const before = event.streamOffset === 0 ? undefined : this.#streams.get(key);
    const records = (before?.records ?? 0) + 1;
    let bytes = event.data;
    if (before !== undefined) {
      bytes = new Uint8Array(before.bytes.length + event.data.length);
      bytes.set(before.bytes);
      bytes.set(event.data, before.bytes.length);
    }
    // The kernel's last record for the connection: nothing will be appended.
    if (event.streamOffset + event.totalLen >= StreamCapture.bytes || records >= StreamCapture.writes) this.#streams.delete(key);
    else this.#streams.set(key, { bytes, records });
    return bytes;
  }

  #onConnect(event: ConnectEvent, key: string, ctx: DetectionContext): readonly Finding[] {
    if ((event.family !== AF_INET && event.family !== AF_INET6) || isLoopback(event.address)) return NO_FINDINGS;
    const poolPort = ctx.settings.miningPoolPorts.has(event.port);
    if (key === HOST_KEY && !poolPort) return NO_FINDINGS;
    const incident = key === HOST_KEY ? undefined : this.#incident(key);
    if (incident && incident.outbound === undefined) {
      // The oldest live connection is what "long-lived" is measured from; replaced once its process is gone.
      incident.outbound = { tgid: event.tgid, startNs: processOf(event, ctx)?.startBoottimeNs ?? 0n, atNs: event.ktimeNs };
    } else if (incident?.outbound && !isAlive(incident.outbound, ctx)) {
      incident.outbound = { tgid: event.tgid, startNs: processOf(event, ctx)?.startBoottimeNs ?? 0n, atNs: event.ktimeNs };
    }
    if (!poolPort) return NO_FINDINGS;
    const target = incident ?? this.#incident(key);
    target.serverAddress = event.address;
    target.serverPort = event.port;
    return this.#signal(target, key, 'pool_port_connection', event.tgid, event.ktimeNs, ctx);
  }

  #onExec(event: ExecEvent, key: string, ctx: DetectionContext): readonly Finding[] {
    const miners = ctx.settings.minerExecutables;
    const executable =
      minerNamed(basename(event.path), miners) ?? minerNamed(basename(event.argv[0] ?? ''), miners) ?? minerNamed(event.comm, miners);
    // A container CLI on the node carries the container's command in its own argv; the container reports it.
    const containerCli = key === HOST_KEY && CONTAINER_CLIS.has(basename(event.path));
    const { strong, weak } = containerCli ? NO_ARGUMENTS : minerArguments(event.argv);
    if (executable === undefined && strong.length === 0 && weak.length === 0) return NO_FINDINGS;
    const incident = this.#incident(key);
    let findings: readonly Finding[] = NO_FINDINGS;
    if (executable !== undefined) {
      incident.indicators.add(`executable:${executable}`);
      findings = this.#signal(incident, key, 'miner_executable', event.tgid, event.ktimeNs, ctx);
    }
    for (const a of [...strong, ...weak]) incident.indicators.add(a);
    if (strong.length > 0 || weak.length > 0) {
      const more = this.#signal(incident, key, strong.length > 0 ? 'miner_arguments' : 'miner_arguments_weak', event.tgid, event.ktimeNs, ctx);
      if (more.length > 0) findings = more;
    }
    return findings;
  }

  #onOpen(event: OpenEvent, key: string, ctx: DetectionContext): readonly Finding[] {
    if (key === HOST_KEY) return NO_FINDINGS;
    let signal: MiningSignal;
    if (/^\/dev\/cpu\/[^/]+\/msr$/.test(event.path)) signal = 'msr_access';
    else if (
      isWriteOpen(event.openFlags) &&
      (event.path === '/proc/sys/vm/nr_hugepages' || (event.path.startsWith('/sys/kernel/mm/hugepages/') && event.path.endsWith('/nr_hugepages')))
    ) {
      signal = 'hugepages_tuning';
    } else return NO_FINDINGS;
    return this.#signal(this.#incident(key), key, signal, event.tgid, event.ktimeNs, ctx);
  }

  #onCpuSample(event: ContainerCpuSampleEvent, ctx: DetectionContext): readonly Finding[] {
    const key = event.container.id;
    const existing = this.#incidents.peek(key);
    if (event.utilization < ctx.settings.cpuSaturationUtilization) {
      if (existing) existing.saturatedSinceNs = undefined;
      return NO_FINDINGS;
    }
    const incident = existing ?? this.#incident(key);
    incident.saturatedSinceNs ??= event.ktimeNs - event.windowNs;
    incident.utilization = event.utilization;
    const outbound = incident.outbound;
    if (event.ktimeNs - incident.saturatedSinceNs < ctx.settings.cpuSaturationNs) return NO_FINDINGS;
    if (!outbound || !isAlive(outbound, ctx) || event.ktimeNs - outbound.atNs < ctx.settings.longLivedConnectionNs) {
      return NO_FINDINGS;
    }
    return this.#signal(incident, key, 'cpu_saturation_with_outbound_connection', outbound.tgid, event.ktimeNs, ctx);
  }

  #signal(incident: Incident, key: string, signal: MiningSignal, tgid: number, nowNs: bigint, ctx: DetectionContext): readonly Finding[] {
    if (key === HOST_KEY && !HOST_SIGNALS.has(signal)) return NO_FINDINGS;
    incident.signals.set(signal, { atNs: nowNs, tgid });
    let miss = 1;
    let strongest: MiningSignal = signal;
    for (const [name, hit] of incident.signals) {
      if (nowNs - hit.atNs > ctx.settings.miningSignalWindowNs) {
        incident.signals.delete(name);
        continue;
      }
      miss *= 1 - MINING_SIGNAL_WEIGHTS[name];
      if (MINING_SIGNAL_WEIGHTS[name] > MINING_SIGNAL_WEIGHTS[strongest]) strongest = name;
    }
    const confidence = 1 - miss;
    if (confidence < ctx.settings.miningConfidenceThreshold) return NO_FINDINGS;
    const severity: Severity = confidence >= 0.95 ? 'critical' : confidence >= 0.8 ? 'high' : 'medium';
    if (incident.reportedSeverity !== undefined && SEVERITY_RANK[severity] <= SEVERITY_RANK[incident.reportedSeverity]) {
      return NO_FINDINGS;
    }
    incident.reportedSeverity = severity;
    const signals = [...incident.signals.keys()].sort();
    const rounded = Math.round(confidence * 100) / 100;
    const attributes: Finding['attributes'] = {
      [Attr.miningConfidence]: rounded,
      [Attr.miningSignals]: signals,
    };
    if (incident.serverAddress !== undefined) attributes[Attr.serverAddress] = incident.serverAddress;
    if (incident.serverPort !== undefined) attributes[Attr.serverPort] = incident.serverPort;
    if (incident.dnsName !== undefined) attributes[Attr.dnsQuestionName] = incident.dnsName;
    if (incident.utilization !== undefined) attributes[Attr.cpuUtilization] = incident.utilization;
    const where = key === HOST_KEY ? 'on the host' : `in container ${key.slice(0, 12)}`;
    return [
      {
        severity,
        summary: `Cryptomining ${where}: confidence ${rounded} from ${signals.join(', ')}`,
        attributes,
        tgid: incident.signals.get(strongest)?.tgid ?? tgid,
      },
    ];
  }
}

/**
 * The stratum method a JSON-RPC message calls, or 'login' for the XMR-style login with an agent string. The message
 * need not start the stream: whatever comes before its '{' (whitespace, a newline, a junk line a pool skips) does not
 * hide it.
 */
export function stratumMethod(data: Uint8Array): string | undefined {
  const start = data.indexOf(0x7b /* '{' */);
  if (start < 0) return undefined;
  let text = '';
  for (let i = start; i < data.length; i++) text += String.fromCharCode(data[i]);
  for (const method of STRATUM_METHODS) if (text.includes(`"${method}"`)) return method;
  if (/"method"\s*:\s*"login"/.test(text) && text.includes('"agent"')) return 'login';
  return undefined;
}

/** The lower-case name when it is a known miner or a versioned/platform release of one (xmrig-6.21.0, t-rex.exe). */
function minerNamed(name: string, miners: ReadonlySet<string>): string | undefined {
  if (name === '') return undefined;
  const lower = name.toLowerCase();
  if (miners.has(lower)) return lower;
  const cut = lower.search(/[-_.]\d|\.exe$/);
  return cut > 0 && miners.has(lower.slice(0, cut)) ? lower : undefined;
}

export function minerArguments(argv: readonly string[]): { strong: string[]; weak: string[] } {
  let strong: string[] | undefined;
  let weak: string[] | undefined;
  const add = (list: string[] | undefined, name: string): string[] => {
    if (!list) return [name];
    if (!list.includes(name)) list.push(name);
    return list;
  };
  for (let i = 1; i < argv.length; i++) {
    const arg = argv[i];
    if (arg.includes('stratum+')) {
      if (/stratum\+(tcp|ssl|tls):\/\//i.test(arg)) strong = add(strong, 'stratum_url');
      continue;
    }
    // Every other indicator is an option: anything else costs one character comparison.
    if (arg.charCodeAt(0) !== 45 /* '-' */) continue;
    const option = STRONG_OPTIONS.exec(arg);
    if (option) strong = add(strong, `--${option[1]}`);
    else if (arg === '-a' || arg === '--algo') {
      if (MINING_ALGORITHM.test(argv[i + 1] ?? '')) strong = add(strong, 'mining_algorithm');
    } else if (arg.startsWith('--algo=') || arg.startsWith('-a=')) {
      if (MINING_ALGORITHM.test(arg.slice(arg.indexOf('=') + 1))) strong = add(strong, 'mining_algorithm');
    } else if (arg === '--coin' || arg.startsWith('--coin=')) weak = add(weak, '--coin');
    else if (arg === '-o' && POOL_ENDPOINT.test(argv[i + 1] ?? '') && (argv.includes('-u') || argv.includes('--user'))) {
      weak = add(weak, 'pool_and_wallet_arguments');
    }
  }
  return strong || weak ? { strong: strong ?? [], weak: weak ?? [] } : NO_ARGUMENTS;
}

function isLoopback(address: string): boolean {
  return address.startsWith('127.') || address === '::1' || address.startsWith('::ffff:127.');
}

function isAlive(conn: { tgid: number; startNs: bigint }, ctx: DetectionContext): boolean {
  const proc = ctx.process(conn.tgid);
  return proc !== undefined && (conn.startNs === 0n || proc.startBoottimeNs === conn.startNs);
}
