// `kubesentry run`: the receive pipeline, the detector engine, Kubernetes enrichment and every output, wired
// together with one shutdown path. Nothing on the event path waits on I/O: outputs are synchronous appends or
// hand-offs to the telemetry spool.

import { createServer, type Server } from 'node:http';
import { hostname, networkInterfaces } from 'node:os';
import { readFileSync, watchFile, unwatchFile } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { AgentConfig } from './config.ts';
import type { Detection } from './detection.ts';
import { DetectorEngine, RULE_ERROR_LIMIT, RulesConfigError, allDetectors, type AgentContext, type DetectorEvent, type RuleFailure } from './detectors/index.ts';
import { BaselineDetector } from './baseline/BaselineDetector.ts';
import { BaselinePersistence } from './baseline/BaselinePersistence.ts';
import { workloadFromAttributes, workloadName } from './baseline/ProfileKey.ts';
import type { KubernetesMetadata } from './k8s/index.ts';
import { ContainerRuntimeMetadata } from './k8s/ContainerRuntimeMetadata.ts';
import { createLogger, type Logger } from './log.ts';
import type { Telemetry } from './otel/index.ts';
import { ConsoleOutput } from './output/ConsoleOutput.ts';
import { JsonlOutput } from './output/JsonlOutput.ts';
import { escapeForTerminal } from './output/escape.ts';
import { AgentStartError, openPipeline, type Pipeline } from './pipeline.ts';
import { ContainerCpuSampler } from './receiver/ContainerCpuSampler.ts';
import { TelemetryGapSampler } from './receiver/TelemetryGapSampler.ts';
import { LineageRecordLoss } from './receiver/LineageRecordLoss.ts';
import { RateLimitedLog } from './receiver/RateLimiter.ts';
import { EventType, EventTypeName, Op, type KernelEvent } from './receiver/events.ts';
import { isKubepodsRoot } from './receiver/cgroups.ts';
import { cgroupLevel, ContainerEnforcement } from './enforcement/ContainerEnforcement.ts';
import type { EnforcementOutcome } from './receiver/enforcement.ts';
import type { PodAttributes } from './detectors/Detector.ts';
import type { ContainerIdentity } from './receiver/identity.ts';

function loadRules(config: AgentConfig): unknown {
  if (!config.rulesFile) return config.rules;
  try {
    return parseYaml(readFileSync(config.rulesFile, 'utf8')) ?? {};
  } catch (e) {
    throw new RulesConfigError(`${config.rulesFile}: ${(e as Error).message.split('\n')[0]}`);
  }
}

function otlpEndpoint(config: AgentConfig): string {
  return config.otlp.endpoint || process.env.OTEL_EXPORTER_OTLP_ENDPOINT || process.env.OTEL_EXPORTER_OTLP_LOGS_ENDPOINT || '';
}

export interface AgentHandle {
  /** Resolves with the exit code once the agent has stopped. */
  done: Promise<number>;
  stop(): Promise<void>;
}

export async function runAgent(config: AgentConfig): Promise<number> {
  const agent = await startAgent(config);
  const stop = () => void agent.stop();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return agent.done;
}

// The OpenTelemetry SDK and the Kubernetes client take seconds to import on a loaded node: only when used.
export async function startAgent(config: AgentConfig, extraOutput?: (d: Detection) => void): Promise<AgentHandle> {
  const log = createLogger(config.logLevel);
  const nodeName = config.nodeName || process.env.K8S_NODE_NAME || process.env.NODE_NAME || hostname();

  // A rule an attacker can make throw at will must not flood the log; the disabling is always told.
  const ruleFailureLog = new RateLimitedLog((m) => log.warn(m));
  const onRuleFailure = (f: RuleFailure) => {
    const event = EventTypeName[f.eventType as keyof typeof EventTypeName] ?? String(f.eventType);
    if (f.disabled) {
      log.error(
        `rule ${f.rule} disabled: it threw on ${f.consecutive} events in a row, its detections are not produced until ` +
          `the rules are reloaded (SIGHUP): ${f.message}`,
      );
    } else {
      ruleFailureLog.warn(`rule ${f.rule} threw on a ${event} event (${f.consecutive} in a row, disabled at ${RULE_ERROR_LIMIT}): ${f.message}`);
    }
  };
  // The agent runs in the node's network namespace (hostNetwork): its interfaces are the node's addresses. The
  // CIDRs were checked with the config.
  const nodeAddresses = Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address));
  const baseline = new BaselineDetector(config.baseline, nodeAddresses);
  let engine: DetectorEngine;
  try {
    engine = new DetectorEngine(loadRules(config), allDetectors({ baseline }), { onRuleFailure });
  } catch (e) {
    if (e instanceof RulesConfigError) throw new AgentStartError(`rules: ${e.message}`);
    throw e;
  }

  const outputs: ((d: Detection) => void)[] = extraOutput ? [extraOutput] : [];
  const closers: (() => void | Promise<void>)[] = [];
  const consoleOut = config.console.enabled
    ? new ConsoleOutput(process.stdout, process.stderr, config.console.minSeverity as Detection['severity'])
    : undefined;
  if (consoleOut) {
    outputs.push((d) => consoleOut.write(d));
    closers.push(() => consoleOut.close());
  }
  const jsonlOutputs: JsonlOutput[] = [];
  for (const spec of config.outputs) {
    const path = spec.slice('jsonl:'.length);
    let out: JsonlOutput;
    try {
      out = new JsonlOutput(path);
    } catch (e) {
      throw new AgentStartError(`--output ${spec}: ${(e as Error).message}`);
    }
    jsonlOutputs.push(out);
    outputs.push((d) => out.write(d));
    closers.push(() => out.close());
  }

  let telemetry: Telemetry | undefined;
  const endpoint = otlpEndpoint(config);
  if (endpoint || config.prometheus.listen) {
    const [promHost, promPort] = splitHostPort(config.prometheus.listen);
    const { createTelemetry } = await import('./otel/index.ts');
    try {
      telemetry = createTelemetry({
        endpoint: endpoint || undefined,
        insecure: config.otlp.insecure || undefined,
        headers: Object.keys(config.otlp.headers).length ? config.otlp.headers : undefined,
        caFile: config.otlp.caFile || undefined,
        clientCertFile: config.otlp.certFile || undefined,
        clientKeyFile: config.otlp.keyFile || undefined,
        nodeName,
        clusterName: config.clusterName || undefined,
        stateDir: config.stateDir,
        spool: { maxBytes: config.spool.maxBytes, fsync: config.spool.fsync },
        incidentQuietWindowMs: config.otlp.incidentQuietWindowMs,
        export: { lingerMs: config.otlp.lingerMs, traceLingerMs: config.otlp.traceLingerMs },
        metrics: { otlp: Boolean(endpoint), prometheus: promPort ? { port: promPort, host: promHost } : undefined },
        onDiagnostic: (m) => log.warn(m),
      });
    } catch (e) {
      throw new AgentStartError(`otlp: ${(e as Error).message}`);
    }
    const t = telemetry;
    if (endpoint) outputs.push((d) => t.emit(d));
    closers.push(() => t.shutdown());
  }
  const metrics = telemetry?.metrics;

  const k8sWanted =
    config.kubernetes.enabled === 'on' ||
    (config.kubernetes.enabled === 'auto' && Boolean(process.env.KUBERNETES_SERVICE_HOST || process.env.KUBECONFIG || config.kubernetes.kubeconfig));
  const k8s: KubernetesMetadata | undefined = k8sWanted
    ? new (await import('./k8s/index.ts')).KubernetesMetadata({
        nodeName,
        kubeconfigPath: config.kubernetes.kubeconfig || undefined,
        labelAllowList: config.kubernetes.labelAllowList,
        holdMs: config.kubernetes.holdMs,
        log: { info: (m) => log.info(m), warn: (m) => log.warn(m) },
      })
    : undefined;
  if (k8s) closers.push(() => k8s.stop());

  // Outside Kubernetes the runtime's own API names containers and their images (set up once the kernel side runs,
  // so a start-up failure stays a single line).
  let runtimeMeta: ContainerRuntimeMetadata | undefined;

  let detections = 0;
  const deliver = (d: Detection) => {
    detections++;
    metrics?.detection(d.rule, d.severity);
    for (const out of outputs) out(d);
  };
  const route = (d: Detection) => {
    const podUid = d.attributes['k8s.pod.uid'] as string | undefined;
    const containerId = d.attributes['container.id'] as string | undefined;
    if (!containerId) return deliver(d);
    if (!podUid || !k8s) {
      if (podUid || !runtimeMeta) return deliver(d);
      return runtimeMeta.hold(containerId, (attributes, outcome) => {
        // Without a socket the feature is off, not missing anything.
        if (outcome === 'bare' && runtimeMeta?.socketPath) metrics?.runtimeMetadataMiss();
        Object.assign(d.attributes, attributes);
        if (!engine.isExcepted(d)) deliver(d);
      });
    }
    k8s.enricher.hold(podUid, containerId, (attributes, outcome) => {
      if (outcome === 'bare' && podUid) metrics?.k8sMetadataMiss();
      Object.assign(d.attributes, attributes);
      // Namespace and image exceptions can only be judged once the pod is known.
      if (!engine.isExcepted(d)) deliver(d);
    });
  };

  let pipeline: Pipeline;
  let lineageLoss: LineageRecordLoss | undefined;
  const lineage = () => (lineageLoss ??= new LineageRecordLoss(pipeline.kernel, () => pipeline.clock.nowBootNs()));
  const context: AgentContext = {
    process: (tgid, startBoottimeNs) => pipeline.process(tgid, startBoottimeNs),
    ancestry: (tgid, startBoottimeNs) => pipeline.processes.ancestry(tgid, { stopAtContainerInit: true }, startBoottimeNs),
    container: (event: DetectorEvent): ContainerIdentity | null =>
      'tgid' in event ? pipeline.container(event.cgroupId, event.tgid) : null,
    podAttributes: k8s
      ? (c) => {
          const found = k8s.enricher.enrich(c.podUid, c.id);
          return typeof found === 'object' ? podAttributesOf(found) : undefined;
        }
      : undefined,
    workload: (c) => {
      if (k8s && c.podUid) {
        const found = k8s.enricher.enrich(c.podUid, c.id);
        if (typeof found !== 'object') return found === 'pending' ? 'pending' : undefined;
        return { ...workloadFromAttributes(found), execHooks: k8s.enricher.execHooks(c.podUid, c.id) };
      }
      const named = runtimeMeta?.lookup(c.id);
      if (named === 'pending') runtimeMeta!.observe(c.id);
      return typeof named === 'object' ? workloadFromAttributes(named) : named === 'pending' ? 'pending' : undefined;
    },
    lineageRecordsLostSince: (cgroupId, sinceNs) => lineage().lostSince(cgroupId, sinceNs),
    hostNamespaces: { mnt: 0, pid: 0, net: 0, user: 0, uts: 0, ipc: 0, cgroup: 0 },
    nowNs: 0n,
    bootToWallNs: (ns) => pipeline.clock.toUnixNs(ns),
  };
  let enforcement: ContainerEnforcement | undefined;
  // The kernel's open filter tells a container's process in the host's mount namespace by its cgroup (nsenter).
  const setContainerRoots = () =>
    pipeline.kernel.setContainerRoots([...pipeline.containers.kubepodsRoots()].map(([cgroupId, path]) => ({ cgroupId, level: cgroupLevel(path) })));
  const onEvent = (event: KernelEvent) => {
    if (event.type === EventType.Exec) {
      // After the process table took the exec in: it says whether this is the runtime's set-up or the workload.
      const proc = pipeline.process(event.tgid);
      if (proc?.container) enforcement?.onExec(proc.container, { runtimeSetup: proc.runtimeSetup, mntNs: event.ns.mnt });
    } else if (event.type === EventType.Cgroup && event.op === Op.CgroupRmdir) {
      enforcement?.onCgroupRemoved(event.id, event.path);
      lineageLoss?.forget(event.id);
    } else if (event.type === EventType.Cgroup && event.op === Op.CgroupMkdir && pipeline.containers.pathOf(event.id) === event.path) {
      // After the resolver took the mkdir in (it ignores a v1 hierarchy's): a root, or a container not running yet.
      if (isKubepodsRoot(event.path)) {
        enforcement?.addKubepodsRoot(event.id, event.path);
        setContainerRoots();
      }
      const container = pipeline.containers.resolve(event.id);
      if (container?.cgroupId === event.id) enforcement?.onContainerCreated(container);
    }
    context.nowNs = event.ktimeNs;
    const found = engine.process(event, context);
    for (let i = 0; i < found.length; i++) route(found[i]);
  };

  try {
    pipeline = await openPipeline({
      config,
      log,
      pathPatterns: engine.openPathPatterns,
      onEvent,
      runtimeExecutables: () => engine.settings.runtimeExecutables,
    });
  } catch (e) {
    for (const close of closers) void close();
    throw e;
  }
  context.hostNamespaces = pipeline.host.inodes;
  // Set up before any batch is read (batches arrive from the event loop, after this synchronous stretch), so the
  // containers of the start-up snapshot are armed too.
  const podOf = (c: ContainerIdentity): PodAttributes | 'pending' | undefined => {
    if (!k8s || !c.podUid) return undefined;
    const found = k8s.enricher.enrich(c.podUid, c.id);
    if (typeof found === 'object') return podAttributesOf(found);
    // A miss (the API server unreachable, the pod not listed) is metadata still to come as far as a kill is
    // concerned: beforePodMetadata decides, and by default an exception that may name the pod keeps it from a kill.
    return 'pending';
  };
  const enforcementLog = new RateLimitedLog((m) => log.warn(m));
  try {
    pipeline.kernel.setHostNamespaces(Object.values(pipeline.host.inodes));
    setContainerRoots();
    pipeline.kernel.setEnforcedFsTypes(engine.enforcedFsTypes());
    enforcement = new ContainerEnforcement({
      kernel: pipeline.kernel,
      mode: () => engine.enforcementMode,
      killChecksFor: (pod, unknown) => engine.killChecksFor(pod, unknown),
      // Without Kubernetes enrichment no metadata will come: a container's checks are final from the start.
      killChecksBeforePodMetadata: () => (k8s ? engine.killChecksBeforePodMetadata() : engine.killChecksFor(undefined)),
      killsAnywhere: () => engine.killsAnywhere(),
      podOf,
      podLevelOf: (c) => {
        const known = k8s && c.podUid ? k8s.enricher.podLevel(c.podUid) : undefined;
        if (known === undefined) return undefined;
        // The image comes with the container's status, the workload with its owner's lookup.
        return { pod: podAttributesOf(known.attributes), unknown: new Set(known.ownerKnown ? ['image'] : ['image', 'workload']) };
      },
      hostMntNs: pipeline.host.inodes.mnt,
      // A full map refuses every new container at each of its execs: rate-limited, the count is in the lines.
      warn: (m) => enforcementLog.warn(m),
      debug: (m) => log.debug(m),
    });
  } catch (e) {
    pipeline.close();
    for (const close of closers) void close();
    throw new AgentStartError(`enforcement: ${(e as Error).message}`);
  }
  const armedEnforcement = enforcement;
  for (const [cgroupId, cgroupPath] of pipeline.containers.kubepodsRoots()) armedEnforcement.addKubepodsRoot(cgroupId, cgroupPath);
  if (engine.enforcementMode !== 'off') log.info(`enforcement ${engine.enforcementMode}: ${describeKillRules(engine)}`);
  const pendingEnforcement = setInterval(() => armedEnforcement.retryPending(), ENFORCEMENT_RETRY_MS);
  pendingEnforcement.unref();
  metrics?.observeKernelReader(() => pipeline.blindness() === undefined);
  try {
    runtimeMeta = new ContainerRuntimeMetadata({
      socketPath: config.runtime.socket || undefined,
      holdMs: config.runtime.holdMs,
      log: { info: (m) => log.info(m), warn: (m) => log.warn(m) },
    });
  } catch (e) {
    pipeline.close();
    for (const close of closers) void close();
    throw new AgentStartError(`runtime.socket: ${(e as Error).message}`);
  }
  const runtime = runtimeMeta;
  closers.push(() => runtime.close());
  let baselineStore: BaselinePersistence;
  try {
    baselineStore = new BaselinePersistence(baseline, join(config.stateDir, 'baseline'), config.baseline, (m) => log.warn(m));
  } catch (e) {
    pipeline.close();
    for (const close of closers) void close();
    throw new AgentStartError(`baseline: ${(e as Error).message}`);
  }
  closers.push(() => baselineStore.close());
  metrics?.observeBaselineProfiles(() => baseline.profileStates());
  // Container CPU use feeds the cryptomining incident's "sustained saturation" signal.
  const cpuSampler = new ContainerCpuSampler({
    resolver: pipeline.containers,
    nowBootNs: () => pipeline.clock.nowBootNs(),
    onSample: (sample) => {
      context.nowNs = sample.ktimeNs;
      const found = engine.process(sample, context);
      for (let i = 0; i < found.length; i++) route(found[i]);
    },
  });
  cpuSampler.start();
  // Records the kernel dropped, per container: a detection (a flood can be made to hide an escape) and metrics.
  const gapSampler = new TelemetryGapSampler({
    source: pipeline.kernel,
    resolveContainer: (cgroupId) => pipeline.containers.resolve(cgroupId),
    nowBootNs: () => pipeline.clock.nowBootNs(),
    intervalMs: config.kernel.dropReportIntervalMs,
    onGap: (gap) => {
      context.nowNs = gap.ktimeNs;
      const found = engine.process(gap, context);
      for (let i = 0; i < found.length; i++) route(found[i]);
    },
    onDropped: (type, reason, count) => metrics?.kernelDroppedByReason(type, reason, count),
    onRead: (drops, unattributed) => lineage().observe(drops, unattributed),
  });
  gapSampler.start();
  const hooks = pipeline.kernel.hooks();
  for (const h of hooks.filter((h) => h.variant === null)) {
    log.warn(`hook ${h.hook} not attached, its events will not be seen: ${h.rejected.map((r) => `${r.variant}: ${r.reason}`).join('; ')}`);
  }
  const untrustedLoads = pipeline.kernel.untrustedLoads();
  if (!untrustedLoads.enabled) {
    // sees the same opens; only their cost differs
    log.info(`open programs read the fd slot and file name with a probe read each (~30-40 ns more per open): ${untrustedLoads.reason}`);
  }

  // Rules reload: SIGHUP or a change of the rules file. A bad file keeps the running rules.
  const reload = (why: string) => {
    let next: unknown;
    try {
      next = loadRules(config);
    } catch (e) {
      log.error(`rules reload (${why}) rejected, keeping the current rules: ${(e as Error).message}`);
      return;
    }
    const result = engine.reload(next);
    if (result.ok) {
      armedEnforcement.reconfigure();
      log.info(`rules reloaded (${why}); enforcement ${engine.enforcementMode}: ${describeKillRules(engine)}`);
    } else log.error(`rules reload (${why}) rejected, keeping the current rules: ${result.error}`);
  };
  const onHup = () => reload('SIGHUP');
  process.on('SIGHUP', onHup);
  if (config.rulesFile) watchFile(config.rulesFile, { interval: 1000 }, () => reload('file changed'));
  // Announced only with the SIGHUP handler in place: SIGHUP's default action would end the agent.
  log.info(
    `kubesentry running on ${nodeName}: ${hooks.filter((h) => h.variant !== null).length} of ${hooks.length} hooks attached, ` +
      `${engine.rules.length} rules, cgroup2 at ${pipeline.containers.mountPoint}` +
      (endpoint ? `, OTLP to ${endpoint}` : ', OTLP off (no endpoint)'),
  );

  // Metrics and the status line read the same counters.
  let lastRecords = 0;
  let lastAt = performance.now();
  const reportedDrops = new Map<string, bigint>();
  const reportedDecoder = { unknown_type: 0, size_mismatch: 0, truncated: 0, bad_size: 0 } as Record<string, number>;
  const reportedEvictions = new Map<string, number>();
  const reportedRuleErrors = new Map<string, number>();
  let reportedWriteErrors = 0;
  const reportedBaseline = new Map<string, number>();
  /** Adds the growth of a cumulative counter since the last tick. */
  const baselineDelta = (key: string, total: number, record: (delta: number) => void) => {
    const delta = total - (reportedBaseline.get(key) ?? 0);
    if (delta > 0) record(delta);
    reportedBaseline.set(key, total);
  };
  const reportedOversized = { kubernetes: 0, runtime: 0 };
  const reportedEnforcement = new Map<string, bigint>();
  const ruleOfCheck = new Map<number, string>();
  for (const [rule, checks] of engine.enforcementChecks()) for (const check of checks) ruleOfCheck.set(check, rule);
  /** Kernel enforcement decisions since the last read, per rule and outcome. */
  const enforcementDeltas = () => {
    const out: { rule: string; outcome: EnforcementOutcome; count: number }[] = [];
    for (const { check, outcome, count } of pipeline.kernel.enforcementActions()) {
      const key = `${check} ${outcome}`;
      const delta = count - (reportedEnforcement.get(key) ?? 0n);
      if (delta > 0n) out.push({ rule: ruleOfCheck.get(check) ?? `check ${check}`, outcome, count: Number(delta) });
      reportedEnforcement.set(key, count);
    }
    return out;
  };
  const recordsByTypeSeen = new Array<number>(pipeline.decoderStats.recordsByType.length).fill(0);
  const tick = () => {
    const now = performance.now();
    const stats = pipeline.decoderStats;
    const rate = ((stats.records - lastRecords) * 1000) / Math.max(1, now - lastAt);
    lastRecords = stats.records;
    lastAt = now;
    let totalDrops = 0n;
    for (const [type, count] of pipeline.kernelDrops()) {
      totalDrops += count;
      const delta = count - (reportedDrops.get(type) ?? 0n);
      if (delta > 0n) metrics?.kernelDropped(type, Number(delta));
      reportedDrops.set(type, count);
    }
    if (metrics) {
      stats.recordsByType.forEach((n, type) => {
        const delta = n - recordsByTypeSeen[type];
        if (delta > 0) metrics.eventsReceived(EventTypeName[type as keyof typeof EventTypeName] ?? String(type), delta);
        recordsByTypeSeen[type] = n;
      });
      for (const [reason, n] of Object.entries(stats.dropped)) {
        const delta = n - reportedDecoder[reason];
        if (delta > 0) metrics.decoderError(reason, delta);
        reportedDecoder[reason] = n;
      }
      for (const [rule, counters] of engine.counters()) {
        const delta = counters.stateEvictions - (reportedEvictions.get(rule) ?? 0);
        if (delta > 0) metrics.detectorStateEvicted(rule, delta);
        reportedEvictions.set(rule, counters.stateEvictions);
        const errors = counters.errors - (reportedRuleErrors.get(rule) ?? 0);
        if (errors > 0) metrics.detectorError(rule, errors);
        reportedRuleErrors.set(rule, counters.errors);
      }
      const disabled = new Map<string, boolean>();
      for (const rule of engine.rules) {
        if (engine.isEnabled(rule.id) || engine.disabledRules.has(rule.id)) disabled.set(rule.id, engine.disabledRules.has(rule.id));
      }
      metrics.setDetectorsDisabled(disabled);
      const oversized = { kubernetes: k8s?.counters().informer?.oversized ?? 0, runtime: runtime.counters.oversized };
      for (const source of ['kubernetes', 'runtime'] as const) {
        metrics.metadataOversized(source, oversized[source] - reportedOversized[source]);
        reportedOversized[source] = oversized[source];
      }
      const writeErrors = jsonlOutputs.reduce((sum, o) => sum + o.writeErrors, 0);
      if (writeErrors > reportedWriteErrors) metrics.outputError('jsonl', writeErrors - reportedWriteErrors);
      reportedWriteErrors = writeErrors;
      for (const [key, n] of baseline.counters.deviations) {
        const [cls, severity] = key.split(' ');
        baselineDelta(`deviation ${key}`, n, (d) => metrics.baselineDeviations(cls, severity, d));
      }
      for (const [reason, n] of baseline.counters.suppressed) baselineDelta(`suppressed ${reason}`, n, (d) => metrics.baselineSuppressed(reason, d));
      const storeCounters = baselineStore.store.counters;
      baselineDelta('store write', storeCounters.writeErrors, (d) => metrics.baselineStoreError('write', d));
      baselineDelta('store invalid', storeCounters.invalid, (d) => metrics.baselineStoreError('invalid', d));
      for (const { rule, outcome, count } of enforcementDeltas()) metrics.enforcementActions(rule, outcome, count);
      metrics.setProcessTableSize(pipeline.processes.size);
      metrics.setContainerCacheSize(pipeline.containers.containerCount);
    }
    consoleOut?.status({
      eventsPerSecond: rate,
      kernelDrops: totalDrops,
      containers: pipeline.containers.containerCount,
      processes: pipeline.processes.size,
      detections,
      disabledRules: [...engine.disabledRules.keys()],
    });
  };
  const interval = config.console.statusIntervalMs || 5000;
  const ticker = setInterval(tick, interval);

  let stopped = false;
  const notReady = () => (stopped ? 'stopping' : pipeline.blindness());
  const health = config.health.listen ? serveHealth(config.health.listen, notReady, () => degradation(engine), log) : undefined;

  let resolveDone!: (code: number) => void;
  const done = new Promise<number>((r) => (resolveDone = r));
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    clearInterval(ticker);
    clearInterval(pendingEnforcement);
    cpuSampler.stop();
    gapSampler.stop();
    process.off('SIGHUP', onHup);
    if (config.rulesFile) unwatchFile(config.rulesFile);
    pipeline.close();
    health?.close();
    for (const close of closers) {
      try {
        await close();
      } catch (e) {
        log.warn(`shutdown: ${(e as Error).message}`);
      }
    }
    resolveDone(0);
  };
  return { done, stop };
}

/** What exceptions match a container on, from its pod's enrichment attributes. */
function podAttributesOf(found: Readonly<Record<string, string>>): PodAttributes {
  return {
    namespace: found['k8s.namespace.name'],
    podName: found['k8s.pod.name'],
    image: found['container.image.name'],
    workload: workloadName(workloadFromAttributes(found)),
  };
}

/** How often containers waiting for pod metadata are looked at again before they are armed for enforcement. */
const ENFORCEMENT_RETRY_MS = 500;

function describeKillRules(engine: DetectorEngine): string {
  const killing = [...engine.enforcementChecks().keys()].filter((rule) => engine.killsFor(rule));
  return killing.length > 0 ? `action kill for ${killing.join(', ')}` : 'no rule has action kill';
}

function splitHostPort(listen: string): [string, number] {
  if (!listen) return ['', 0];
  const i = listen.lastIndexOf(':');
  const port = Number(listen.slice(i + 1));
  if (i < 0 || !Number.isInteger(port) || port <= 0 || port > 65535) throw new AgentStartError(`listen address '${listen}' is not host:port`);
  return [listen.slice(0, i) || '0.0.0.0', port];
}

/** What the agent is blind to while running: one line each, for /readyz. */
export function degradation(engine: DetectorEngine): string[] {
  return [...engine.disabledRules].map(([rule, error]) => `rule ${rule} disabled after repeated errors: ${error}`);
}

/**
 * /healthz: the process is alive. /readyz: the kernel programs are attached and the pipeline runs, else 503 with
 * the reason. Either body adds a line per degradation (e.g. a rule disabled after errors), still 200 then: the
 * other rules run, and a restart would not bring the rule back sooner than a reload.
 *
 * A failed ring reader leaves the agent alive and not ready rather than exiting: it keeps exporting what it holds
 * and the metrics that say it is blind (kubesentry.kernel.reader.up 0, kernel drops rising), the pod shows 0/1
 * ready, and a failure that would recur does not turn into a crash loop that reloads every BPF program each time.
 * Operators who want the restart point the liveness probe at /readyz (docs/deploy.md#health-endpoint-contract-with-the-agent).
 */
export function serveHealth(listen: string, notReady: () => string | undefined, degraded: () => string[], log: Logger): Server {
  const [host, port] = splitHostPort(listen);
  const server = createServer((req, res) => {
    const reason = req.url === '/readyz' ? notReady() : undefined;
    const ok = req.url === '/healthz' ? true : req.url === '/readyz' ? reason === undefined : undefined;
    res.statusCode = ok === undefined ? 404 : ok ? 200 : 503;
    const detail = req.url === '/readyz' ? degraded().map((line) => `${escapeForTerminal(line)}\n`).join('') : '';
    res.end(ok === undefined ? 'not found\n' : ok ? `ok\n${detail}` : `not ready: ${escapeForTerminal(reason ?? '')}\n${detail}`);
  });
  server.on('error', (e) => log.error(`health endpoint ${listen}: ${e.message}`));
  server.listen(port, host);
  server.unref();
  return server;
}
