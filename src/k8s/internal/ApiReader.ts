// Plain JSON GETs against the API server over one keep-alive connection pool. The generated client of
// @kubernetes/client-node 2.0 builds a new TLS dispatcher (and handshake) per call and decodes every pod into
// class instances; the list and owner lookups need neither, and a full node's pod list decoded twice was the
// largest transient in the agent's memory. Credentials (CA, client certs, bearer or token file) come from the
// same KubeConfig, so in-cluster token rotation is honoured on every request. Watches go through here too: the
// client library's Watch splits the stream with readline, which buffers a line of any length.
//
// Every body is bounded (MAX_LIST_RESPONSE_BYTES, MAX_WATCH_EVENT_BYTES): an API server or a proxy in front of it
// that sends without end is refused with ResponseTooLargeError instead of growing the agent's heap without bound.

import http from 'node:http';
import https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import { readBounded, ResponseTooLargeError } from './boundedBody.ts';

/**
 * One list page or object. A page of 500 pods is a few MiB on a busy node; the informer halves its page size when
 * a page is refused, so this bounds memory without making any real node unlistable.
 */
export const MAX_LIST_RESPONSE_BYTES = 16 << 20;
/** One watch event line: above etcd's default request limit (1.5 MiB), so no object the API server stores is refused. */
export const MAX_WATCH_EVENT_BYTES = 2 << 20;

/** An HTTP error answer from the API server; `code` is the status, as in the generated client's ApiException. */
export class ApiStatusError extends Error {
  readonly code: number;
  constructor(code: number, message: string) {
    super(message);
    this.name = 'ApiStatusError';
    this.code = code;
  }
}

export interface WatchOptions {
  signal: AbortSignal;
  /** The stream is cut (and the promise rejects) after this long without a byte. */
  inactivityMs: number;
  /** Called once the server answered 200: the API server is reachable. */
  onOpen?: () => void;
}

export interface ApiReader {
  /**
   * GET path (with query) and parse the JSON body; rejects with ApiStatusError for non-2xx answers and with
   * ResponseTooLargeError for a body over MAX_LIST_RESPONSE_BYTES.
   */
  getJson(pathAndQuery: string, signal?: AbortSignal): Promise<unknown>;
  /**
   * GET a watch stream and call onLine with each line (one JSON event each). Resolves when the server ends the
   * stream or `signal` aborts it; rejects with ApiStatusError, ResponseTooLargeError (a line over
   * MAX_WATCH_EVENT_BYTES) or the network error.
   */
  watch(pathAndQuery: string, options: WatchOptions, onLine: (line: string) => void): Promise<void>;
}

export class KubeConfigApiReader implements ApiReader {
  private readonly config: KubeConfig;
  private readonly timeoutMs: number;

  constructor(config: KubeConfig, timeoutMs = 30_000) {
    this.config = config;
    this.timeoutMs = timeoutMs;
  }

  private async request(pathAndQuery: string, timeoutMs: number, signal?: AbortSignal): Promise<{ url: URL; request: http.ClientRequest }> {
    const cluster = this.config.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster');
    const url = new URL(cluster.server.replace(/\/+$/, '') + pathAndQuery);
    const options: https.RequestOptions = { headers: { Accept: 'application/json' }, timeout: timeoutMs, signal };
    await this.config.applyToHTTPSOptions(options);
    const transport = url.protocol === 'http:' ? http : https;
    const request = transport.get(url, options);
    request.on('timeout', () => request.destroy(new Error(`GET ${url.pathname}: no data in ${timeoutMs} ms`)));
    return { url, request };
  }

  async getJson(pathAndQuery: string, signal?: AbortSignal): Promise<unknown> {
    const { url, request } = await this.request(pathAndQuery, this.timeoutMs, signal);
    const answer = await new Promise<Answer>((resolve, reject) => {
      request.on('response', (response) => {
        readBounded(response, MAX_LIST_RESPONSE_BYTES, `GET ${url.pathname}`).then(
          (body) => resolve({ status: response.statusCode ?? 0, body }),
          (error: unknown) => {
            request.destroy();
            reject(error);
          },
        );
      });
      request.on('error', reject);
    });
    // The request's listeners keep this promise, and so its result, alive until the socket is collected; on a
    // full node that was a whole page of pods. Take the body out so only an empty holder stays behind.
    const text = answer.body.toString('utf8');
    answer.body = EMPTY;
    if (answer.status < 200 || answer.status > 299) {
      throw new ApiStatusError(answer.status, `GET ${url.pathname}: HTTP ${answer.status} ${statusMessage(text)}`.trim());
    }
    try {
      return JSON.parse(text);
    } catch {
      throw new Error(`GET ${url.pathname}: response is not JSON`);
    }
  }

  async watch(pathAndQuery: string, options: WatchOptions, onLine: (line: string) => void): Promise<void> {
    if (options.signal.aborted) return;
    const { url, request } = await this.request(pathAndQuery, options.inactivityMs, options.signal);
    const what = `watch ${url.pathname}`;
    await new Promise<void>((resolve, reject) => {
      request.on('error', (error) => (options.signal.aborted ? resolve() : reject(error)));
      request.on('response', (response) => {
        const status = response.statusCode ?? 0;
        if (status !== 200) {
          readBounded(response, MAX_WATCH_EVENT_BYTES, what).then(
            (body) => reject(new ApiStatusError(status, `${what}: HTTP ${status} ${statusMessage(body.toString('utf8'))}`.trim())),
            reject,
          );
          return;
        }
        options.onOpen?.();
        const lines = new LineSplitter(MAX_WATCH_EVENT_BYTES, what);
        response.on('data', (chunk: Buffer) => {
          try {
            lines.push(chunk, onLine);
          } catch (error) {
            request.destroy(error as Error);
          }
        });
        response.on('end', () => resolve());
        response.on('error', (error) => (options.signal.aborted ? resolve() : reject(error)));
      });
    });
  }
}

/** Splits a byte stream at '\n' holding at most `maxLineBytes` of an unfinished line. */
class LineSplitter {
  private readonly maxLineBytes: number;
  private readonly what: string;
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(maxLineBytes: number, what: string) {
    this.maxLineBytes = maxLineBytes;
    this.what = what;
  }

  push(chunk: Buffer, onLine: (line: string) => void): void {
    let start = 0;
    for (let newline = chunk.indexOf(10); newline >= 0; newline = chunk.indexOf(10, start)) {
      this.check(newline - start);
      this.pending.push(chunk.subarray(start, newline));
      const line = Buffer.concat(this.pending).toString('utf8');
      this.pending = [];
      this.pendingBytes = 0;
      start = newline + 1;
      if (line.trim() !== '') onLine(line);
    }
    if (start < chunk.length) {
      this.check(chunk.length - start);
      this.pending.push(chunk.subarray(start));
      this.pendingBytes += chunk.length - start;
    }
  }

  private check(more: number): void {
    if (this.pendingBytes + more > this.maxLineBytes) {
      throw new ResponseTooLargeError(`${this.what}: an event line is longer than ${this.maxLineBytes} bytes`, this.maxLineBytes);
    }
  }
}

interface Answer {
  status: number;
  body: Buffer;
}

const EMPTY = Buffer.alloc(0);

/** The message of a Kubernetes Status body, if the body is one. */
function statusMessage(text: string): string {
  try {
    const status = JSON.parse(text) as { message?: unknown };
    return typeof status.message === 'string' ? status.message : '';
  } catch {
    return '';
  }
}
