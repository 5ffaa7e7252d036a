// Telemetry configuration: explicit settings override the standard OTEL_* environment variables, which override
// defaults. All validation happens here, once, so the export path never meets a half-valid setting.
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export type FsyncPolicy = 'always' | 'interval' | 'never';

export interface TelemetryConfig {
  /** OTLP gRPC endpoint, e.g. https://otel-agent:4317. Env: OTEL_EXPORTER_OTLP_ENDPOINT. Default http://localhost:4317. */
  endpoint?: string;
  /** Extra gRPC metadata (e.g. auth). Env: OTEL_EXPORTER_OTLP_HEADERS (k=v,k2=v2, URL-encoded values). */
  headers?: Record<string, string>;
  /** Allow plaintext to a non-loopback endpoint. Env: OTEL_EXPORTER_OTLP_INSECURE=true. */
  insecure?: boolean;
  /** PEM CA bundle that verifies the Collector. Env: OTEL_EXPORTER_OTLP_CERTIFICATE. */
  caFile?: string;
  /** mTLS client key/certificate. Env: OTEL_EXPORTER_OTLP_CLIENT_KEY / OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE. */
  clientKeyFile?: string;
  clientCertFile?: string;
  /** Env: OTEL_SERVICE_NAME. Default kubesentry. */
  serviceName?: string;
  serviceVersion?: string;
  /** Default: a UUID persisted in stateDir, so restarts keep the same instance id. */
  serviceInstanceId?: string;
  /** Merged over OTEL_RESOURCE_ATTRIBUTES. */
  resourceAttributes?: Record<string, string>;
  hostName?: string;
  /** k8s.node.name. Env: KUBESENTRY_NODE_NAME, K8S_NODE_NAME or NODE_NAME (downward API). */
  nodeName?: string;
  /**
   * The agent's own pod (k8s.pod.name, k8s.pod.uid, k8s.namespace.name), on the resource of the agent's metrics
   * only. Env (downward API): K8S_POD_NAME, K8S_POD_UID, K8S_NAMESPACE_NAME.
   */
  agentPod?: { name?: string; uid?: string; namespace?: string };
  /** k8s.cluster.name. Env: KUBESENTRY_CLUSTER_NAME. */
  clusterName?: string;
  /** Directory for the export spool and the instance id. Required. */
  stateDir: string;
  spool?: {
    /** Default 256 MiB. */
    maxBytes?: number;
    /** Default interval. */
    fsync?: FsyncPolicy;
    /** Default 1000 ms. */
    fsyncIntervalMs?: number;
  };
  /** A container's detections belong to the same incident trace until this much detection time passes without one. Default 5 min. */
  incidentQuietWindowMs?: number;
  export?: {
    /** Items per OTLP request. Default 512. */
    maxBatchItems?: number;
    /**
     * How long the log sender waits after new data arrives at its idle spool before sending, so detections that
     * come close together leave in one request instead of one each. Default 0: everything one flush spooled (a
     * whole ring-buffer batch) already leaves in one request, and a timer is one more wakeup per batch, which on
     * this kind of VM costs about as much CPU as the request itself (docs/benchmarks.md).
     */
    lingerMs?: number;
    /**
     * The same for incident-trace spans. Traces are for investigating, not alerting (the log record is the
     * alert), so they wait longer and leave in far fewer requests. Default 1000 ms.
     */
    traceLingerMs?: number;
    /** Default 10 s. */
    timeoutMs?: number;
    /** Default 500 ms. */
    initialBackoffMs?: number;
    /** Default 30 s. */
    maxBackoffMs?: number;
  };
  metrics?: {
    /** OTLP metric export interval. Default 60 s. */
    exportIntervalMs?: number;
    /** Export agent metrics over OTLP. Default true. */
    otlp?: boolean;
    /** Serve a Prometheus scrape endpoint. */
    prometheus?: { port: number; host?: string };
  };
  /** Environment to read OTEL_* from. Default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Receives one line when export starts failing, when the error changes, and when it recovers. */
  onDiagnostic?: (message: string) => void;
}

export interface ResolvedTelemetryConfig {
  endpoint: URL;
  /** host:port for gRPC. */
  target: string;
  tls: boolean;
  headers: Record<string, string>;
  ca?: Buffer;
  clientKey?: Buffer;
  clientCert?: Buffer;
  /** Configured resource attributes; detected ones (host, os, process) are added under them by the pipeline. */
  resourceAttributes: Record<string, string>;
  agentPodAttributes: Record<string, string>;
  /** OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT / _VALUE_LENGTH_LIMIT, as the SDK's LoggerProvider takes them. */
  logRecordLimits: { attributeCountLimit: number; attributeValueLengthLimit: number };
  stateDir: string;
  spoolMaxBytes: number;
  fsync: FsyncPolicy;
  fsyncIntervalMs: number;
  incidentQuietWindowMs: number;
  maxBatchItems: number;
  lingerMs: number;
  traceLingerMs: number;
  exportTimeoutMs: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
  metricsExportIntervalMs: number;
  metricsOtlp: boolean;
  prometheus?: { port: number; host: string };
}

export class TelemetryConfigError extends Error {
  override name = 'TelemetryConfigError';
}

const DEFAULT_ENDPOINT = 'http://localhost:4317';

export function resolveTelemetryConfig(config: TelemetryConfig, serviceVersion: string): ResolvedTelemetryConfig {
  const env = config.env ?? process.env;
  if (!config.stateDir) throw new TelemetryConfigError('telemetry: stateDir is required (holds the export spool)');

  const endpointText = config.endpoint ?? env.OTEL_EXPORTER_OTLP_ENDPOINT ?? DEFAULT_ENDPOINT;
  const insecure = config.insecure ?? parseBool(env.OTEL_EXPORTER_OTLP_INSECURE, 'OTEL_EXPORTER_OTLP_INSECURE') ?? false;
  const endpoint = parseEndpoint(endpointText, insecure);
  const tls = endpoint.protocol === 'https:';
  if (!tls && !insecure && !isLoopback(endpoint.hostname)) {
    throw new TelemetryConfigError(
      `telemetry: refusing plaintext OTLP to non-loopback endpoint ${endpointText}; use https:// or set insecure: true`,
    );
  }

  const caFile = config.caFile ?? env.OTEL_EXPORTER_OTLP_CERTIFICATE;
  const clientKeyFile = config.clientKeyFile ?? env.OTEL_EXPORTER_OTLP_CLIENT_KEY;
  const clientCertFile = config.clientCertFile ?? env.OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE;
  if ((clientKeyFile === undefined) !== (clientCertFile === undefined)) {
    throw new TelemetryConfigError('telemetry: client key and client certificate must be given together');
  }
  if (!tls && (caFile || clientKeyFile)) {
    throw new TelemetryConfigError(`telemetry: TLS files given but endpoint ${endpointText} is plaintext; use https://`);
  }

  const headers = { ...parseKeyValueList(env.OTEL_EXPORTER_OTLP_HEADERS, 'OTEL_EXPORTER_OTLP_HEADERS'), ...config.headers };

  const stateDir = path.resolve(config.stateDir);
  const resourceAttributes: Record<string, string> = {
    ...parseKeyValueList(env.OTEL_RESOURCE_ATTRIBUTES, 'OTEL_RESOURCE_ATTRIBUTES'),
    ...config.resourceAttributes,
  };
  const set = (key: string, value: string | undefined): void => {
    if (value !== undefined && value !== '') resourceAttributes[key] = value;
  };
  set('service.name', config.serviceName ?? env.OTEL_SERVICE_NAME ?? resourceAttributes['service.name'] ?? 'kubesentry');
  set('service.version', config.serviceVersion ?? resourceAttributes['service.version'] ?? serviceVersion);
  set('host.name', config.hostName ?? resourceAttributes['host.name'] ?? os.hostname());
  set('k8s.node.name', config.nodeName ?? env.KUBESENTRY_NODE_NAME ?? env.K8S_NODE_NAME ?? env.NODE_NAME ?? resourceAttributes['k8s.node.name']);
  set('k8s.cluster.name', config.clusterName ?? env.KUBESENTRY_CLUSTER_NAME ?? resourceAttributes['k8s.cluster.name']);
  if (config.serviceInstanceId) set('service.instance.id', config.serviceInstanceId);
  const agentPodAttributes: Record<string, string> = {};
  const setPod = (key: string, value: string | undefined): void => {
    if (value !== undefined && value !== '') agentPodAttributes[key] = value;
  };
  setPod('k8s.pod.name', config.agentPod?.name ?? env.K8S_POD_NAME);
  setPod('k8s.pod.uid', config.agentPod?.uid ?? env.K8S_POD_UID);
  setPod('k8s.namespace.name', config.agentPod?.namespace ?? env.K8S_NAMESPACE_NAME);
  const limit = (name: string, fallback: number): number => {
    const text = env[name];
    if (text === undefined || text.trim() === '') return fallback;
    const n = Number(text);
    if (!Number.isInteger(n) || n <= 0) throw new TelemetryConfigError(`telemetry: ${name} must be a positive integer, got ${text}`);
    return n;
  };

  const positive = (value: number | undefined, fallback: number, name: string): number => {
    const v = value ?? fallback;
    if (!Number.isFinite(v) || v <= 0) throw new TelemetryConfigError(`telemetry: ${name} must be a positive number, got ${value}`);
    return v;
  };
  const nonNegative = (value: number | undefined, fallback: number, name: string): number => {
    const v = value ?? fallback;
    if (!Number.isFinite(v) || v < 0) throw new TelemetryConfigError(`telemetry: ${name} must be 0 or more, got ${value}`);
    return v;
  };
  const fsync = config.spool?.fsync ?? 'interval';
  if (!['always', 'interval', 'never'].includes(fsync)) {
    throw new TelemetryConfigError(`telemetry: spool.fsync must be always, interval or never, got ${String(fsync)}`);
  }
  const prom = config.metrics?.prometheus;
  if (prom && (!Number.isInteger(prom.port) || prom.port < 0 || prom.port > 65535)) {
    throw new TelemetryConfigError(`telemetry: metrics.prometheus.port must be 0-65535, got ${prom.port}`);
  }

  return {
    endpoint,
    target: `${endpoint.hostname.includes(':') ? `[${endpoint.hostname}]` : endpoint.hostname}:${endpoint.port || (tls ? 443 : 4317)}`,
    tls,
    headers,
    ca: caFile ? readPem(caFile, 'CA certificate') : undefined,
    clientKey: clientKeyFile ? readPem(clientKeyFile, 'client key') : undefined,
    clientCert: clientCertFile ? readPem(clientCertFile, 'client certificate') : undefined,
    resourceAttributes,
    agentPodAttributes,
    // The SDK's default of 128 attributes could cut a detection's (the SDK would count, not keep, the rest).
    logRecordLimits: {
      attributeCountLimit: limit('OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT', 1024),
      attributeValueLengthLimit: limit('OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT', Infinity),
    },
    stateDir,
    spoolMaxBytes: positive(config.spool?.maxBytes, 256 * 1024 * 1024, 'spool.maxBytes'),
    fsync,
    fsyncIntervalMs: positive(config.spool?.fsyncIntervalMs, 1000, 'spool.fsyncIntervalMs'),
    incidentQuietWindowMs: positive(config.incidentQuietWindowMs, 5 * 60_000, 'incidentQuietWindowMs'),
    maxBatchItems: positive(config.export?.maxBatchItems, 512, 'export.maxBatchItems'),
    lingerMs: nonNegative(config.export?.lingerMs, 0, 'export.lingerMs'),
    traceLingerMs: nonNegative(config.export?.traceLingerMs, 1000, 'export.traceLingerMs'),
    exportTimeoutMs: positive(config.export?.timeoutMs, 10_000, 'export.timeoutMs'),
    initialBackoffMs: positive(config.export?.initialBackoffMs, 500, 'export.initialBackoffMs'),
    maxBackoffMs: positive(config.export?.maxBackoffMs, 30_000, 'export.maxBackoffMs'),
    metricsExportIntervalMs: positive(config.metrics?.exportIntervalMs, 60_000, 'metrics.exportIntervalMs'),
    metricsOtlp: config.metrics?.otlp ?? true,
    prometheus: prom ? { port: prom.port, host: prom.host ?? '0.0.0.0' } : undefined,
  };
}

function parseEndpoint(text: string, insecure: boolean): URL {
  // A bare host:port (legal for gRPC) gets its scheme from `insecure`, as the OTLP spec describes.
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `${insecure ? 'http' : 'https'}://${text}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new TelemetryConfigError(`telemetry: endpoint is not a URL: ${text}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TelemetryConfigError(`telemetry: endpoint scheme must be http or https, got ${url.protocol} in ${text}`);
  }
  return url;
}

export function isLoopback(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

function parseBool(value: string | undefined, name: string): boolean | undefined {
  if (value === undefined || value === '') return undefined;
  const v = value.trim().toLowerCase();
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw new TelemetryConfigError(`telemetry: ${name} must be true or false, got ${value}`);
}

function parseKeyValueList(value: string | undefined, name: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!value) return out;
  for (const part of value.split(',')) {
    if (part.trim() === '') continue;
    const eq = part.indexOf('=');
    if (eq <= 0) throw new TelemetryConfigError(`telemetry: ${name} entry is not key=value: ${part.trim()}`);
    try {
      out[decodeURIComponent(part.slice(0, eq).trim())] = decodeURIComponent(part.slice(eq + 1).trim());
    } catch {
      throw new TelemetryConfigError(`telemetry: ${name} entry is not valid URL encoding: ${part.trim()}`);
    }
  }
  return out;
}

function readPem(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new TelemetryConfigError(`telemetry: cannot read ${what} ${file}: ${(error as Error).message}`);
  }
}

