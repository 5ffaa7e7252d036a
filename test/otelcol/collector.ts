// Test harness for the real OpenTelemetry Collector (built by scripts/build-otelcol.sh): OTLP/gRPC in on a free
// loopback port (optionally TLS), file exporter out as JSON lines, readers that flatten that output.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { waitFor as sharedWaitFor } from '../helpers/wait.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

let cachedBinary: string | undefined;

/** Path of the collector binary: $OTELCOL_BIN, or built/cached by scripts/build-otelcol.sh. */
export function collectorBinary(): string {
  if (process.env.OTELCOL_BIN) return process.env.OTELCOL_BIN;
  cachedBinary ??= execFileSync(path.join(repoRoot, 'scripts/build-otelcol.sh'), {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 20 * 60_000,
  }).trim();
  return cachedBinary;
}

export async function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * `waitFor` from test/helpers/wait.ts in the argument order these tests use; any value but undefined/false counts
 * (0 and '' included), so results are boxed on the way through.
 */
export async function waitFor<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const boxed = await sharedWaitFor(async () => {
    const value = await check();
    return value !== undefined && value !== false ? { value } : undefined;
  }, { what, timeoutMs, intervalMs: 50 });
  return boxed.value;
}

export interface CollectorOptions {
  /** clientCaFile: require client certificates signed by this CA (mTLS). */
  tls?: { certFile: string; keyFile: string; clientCaFile?: string };
  port?: number;
  /** Also accept OTLP/HTTP (plaintext); logsPath overrides /v1/logs, e.g. /otlp/v1/logs to stand in for Loki. */
  http?: { logsPath?: string };
}

export type Attributes = Record<string, unknown>;

export interface CollectedLog {
  resource: Attributes;
  scope: string;
  timeUnixNano: string;
  observedTimeUnixNano: string;
  severityNumber?: number;
  severityText?: string;
  eventName?: string;
  body: unknown;
  attributes: Attributes;
  traceId?: string;
  spanId?: string;
}

export interface CollectedSpan {
  resource: Attributes;
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: Attributes;
  status?: { code?: number; message?: string };
}

export class TestCollector {
  readonly dir: string;
  readonly port: number;
  readonly outputFile: string;
  readonly endpoint: string;
  /** http://127.0.0.1:<port> when started with the http option. */
  httpEndpoint: string | undefined;
  readonly #configFile: string;
  #process: ChildProcess | undefined;
  #stderr = '';

  private constructor(dir: string, port: number, httpPort: number | undefined, options: CollectorOptions) {
    this.dir = dir;
    this.port = port;
    this.outputFile = path.join(dir, 'output.jsonl');
    this.endpoint = `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
    this.#configFile = path.join(dir, 'config.yaml');
    const grpc: Record<string, unknown> = { endpoint: `127.0.0.1:${port}` };
    if (options.tls) {
      grpc.tls = { cert_file: options.tls.certFile, key_file: options.tls.keyFile };
      if (options.tls.clientCaFile) (grpc.tls as Record<string, string>).client_ca_file = options.tls.clientCaFile;
    }
    const protocols: Record<string, unknown> = { grpc };
    if (httpPort !== undefined) {
      this.httpEndpoint = `http://127.0.0.1:${httpPort}`;
      protocols.http = { endpoint: `127.0.0.1:${httpPort}`, ...(options.http?.logsPath ? { logs_url_path: options.http.logsPath } : {}) };
    }
    const pipeline = { receivers: ['otlp'], exporters: ['file'] };
    fs.writeFileSync(
      this.#configFile,
      stringify({
        receivers: { otlp: { protocols } },
        exporters: { file: { path: this.outputFile, format: 'json', flush_interval: '50ms' } },
        service: {
          // No self-telemetry listener: several test collectors may run at once and must not fight over :8888.
          telemetry: { metrics: { level: 'none' }, logs: { level: 'warn' } },
          pipelines: { logs: pipeline, traces: pipeline, metrics: pipeline },
        },
      }),
    );
  }

  static async start(options: CollectorOptions = {}): Promise<TestCollector> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubesentry-otelcol-'));
    const port = options.port ?? (await freeLoopbackPort());
    const httpPort = options.http ? await freeLoopbackPort() : undefined;
    const collector = new TestCollector(dir, port, httpPort, options);
    await collector.start();
    return collector;
  }

  get running(): boolean {
    return this.#process !== undefined;
  }

  /** Starts (again) on the same port and output file; resolves when the OTLP port accepts connections. */
  async start(): Promise<void> {
    if (this.#process) throw new Error('collector already running');
    this.#stderr = '';
    const child = spawn(collectorBinary(), ['--config', this.#configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      this.#stderr = (this.#stderr + chunk).slice(-16_000);
    });
    let exited = false;
    child.once('exit', () => {
      exited = true;
      if (this.#process === child) this.#process = undefined;
    });
    this.#process = child;
    await waitFor(`collector to listen on 127.0.0.1:${this.port}`, async () => {
      if (exited) throw new Error(`collector exited during startup:\n${this.#stderr}`);
      return canConnect(this.port);
    });
  }

  async stop(): Promise<void> {
    const child = this.#process;
    if (!child) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
    this.#process = undefined;
  }

  get stderr(): string {
    return this.#stderr;
  }

  async dispose(): Promise<void> {
    await this.stop();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  /** Every JSON line the file exporter wrote, parsed. */
  readRequests(): Record<string, unknown>[] {
    if (!fs.existsSync(this.outputFile)) return [];
    const out: Record<string, unknown>[] = [];
    for (const line of fs.readFileSync(this.outputFile, 'utf8').split('\n')) {
      if (line.trim() === '') continue;
      try {
        out.push(JSON.parse(line));
      } catch {
        // The exporter may be mid-write of the last line; the next read sees it whole.
      }
    }
    return out;
  }

  readLogs(): CollectedLog[] {
    const out: CollectedLog[] = [];
    for (const request of this.readRequests()) {
      for (const rl of (request.resourceLogs as any[]) ?? []) {
        const resource = attributesOf(rl.resource?.attributes);
        for (const sl of rl.scopeLogs ?? []) {
          for (const lr of sl.logRecords ?? []) {
            out.push({
              resource,
              scope: sl.scope?.name ?? '',
              timeUnixNano: lr.timeUnixNano,
              observedTimeUnixNano: lr.observedTimeUnixNano,
              severityNumber: lr.severityNumber,
              severityText: lr.severityText,
              eventName: lr.eventName,
              body: lr.body ? valueOf(lr.body) : undefined,
              attributes: attributesOf(lr.attributes),
              traceId: lr.traceId || undefined,
              spanId: lr.spanId || undefined,
            });
          }
        }
      }
    }
    return out;
  }

  readSpans(): CollectedSpan[] {
    const out: CollectedSpan[] = [];
    for (const request of this.readRequests()) {
      for (const rs of (request.resourceSpans as any[]) ?? []) {
        const resource = attributesOf(rs.resource?.attributes);
        for (const ss of rs.scopeSpans ?? []) {
          for (const s of ss.spans ?? []) {
            out.push({
              resource,
              name: s.name,
              traceId: s.traceId,
              spanId: s.spanId,
              parentSpanId: s.parentSpanId || undefined,
              startTimeUnixNano: s.startTimeUnixNano,
              endTimeUnixNano: s.endTimeUnixNano,
              attributes: attributesOf(s.attributes),
              status: s.status,
            });
          }
        }
      }
    }
    return out;
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** OTLP JSON AnyValue → plain JS value (int64 arrive as strings and stay strings, except small ones). */
export function valueOf(v: any): unknown {
  if (v === null || v === undefined) return undefined;
  if ('stringValue' in v) return v.stringValue;
  if ('boolValue' in v) return v.boolValue;
  if ('intValue' in v) return Number(v.intValue);
  if ('doubleValue' in v) return v.doubleValue;
  if ('arrayValue' in v) return (v.arrayValue.values ?? []).map(valueOf);
  if ('kvlistValue' in v) return attributesOf(v.kvlistValue.values);
  if ('bytesValue' in v) return v.bytesValue;
  return undefined;
}

function attributesOf(list: any[] | undefined): Attributes {
  const out: Attributes = {};
  for (const kv of list ?? []) out[kv.key] = valueOf(kv.value);
  return out;
}

/** Runs the collector on a shipped config file with the given environment; resolves once `port` accepts connections. */
export async function runCollectorWithConfig(configFile: string, env: Record<string, string>, port: number): Promise<{ stop(): Promise<void>; stderr(): string }> {
  let stderr = '';
  let exited = false;
  const child = spawn(collectorBinary(), ['--config', configFile], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-16_000);
  });
  const exit = new Promise<void>((resolve) => child.once('exit', () => {
    exited = true;
    resolve();
  }));
  const stop = async (): Promise<void> => {
    if (exited) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exit;
    clearTimeout(timer);
  };
  try {
    await waitFor(`collector (${path.basename(configFile)}) to listen on 127.0.0.1:${port}`, async () => {
      if (exited) throw new Error(`collector exited during startup:\n${stderr}`);
      return canConnect(port);
    });
  } catch (error) {
    await stop();
    throw error;
  }
  return { stop, stderr: () => stderr };
}
