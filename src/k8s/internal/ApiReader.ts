// Plain JSON GETs against the API server over one keep-alive connection pool. The generated client of
// @kubernetes/client-node 2.0 builds a new TLS dispatcher (and handshake) per call and decodes every pod into
// class instances; the list and owner lookups need neither, and a full node's pod list decoded twice was the
// largest transient in the agent's memory. Credentials (CA, client certs, bearer or token file) come from the
// same KubeConfig, so in-cluster token rotation is honoured on every request.

import http from 'node:http';
import https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

/** An HTTP error answer from the API server; `code` is the status, as in the generated client's ApiException. */
export class ApiStatusError extends Error {
  readonly code: number;
  constructor(code: number, message: string) {
    super(message);
    this.name = 'ApiStatusError';
    this.code = code;
  }
}

export interface ApiReader {
  /** GET path (with query) and parse the JSON body; rejects with ApiStatusError for non-2xx answers. */
  getJson(pathAndQuery: string, signal?: AbortSignal): Promise<unknown>;
}

export class KubeConfigApiReader implements ApiReader {
  private readonly config: KubeConfig;
  private readonly timeoutMs: number;

  constructor(config: KubeConfig, timeoutMs = 30_000) {
    this.config = config;
    this.timeoutMs = timeoutMs;
  }

  async getJson(pathAndQuery: string, signal?: AbortSignal): Promise<unknown> {
    const cluster = this.config.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster');
    const url = new URL(cluster.server.replace(/\/+$/, '') + pathAndQuery);
    const options: https.RequestOptions = { headers: { Accept: 'application/json' }, timeout: this.timeoutMs, signal };
    await this.config.applyToHTTPSOptions(options);
    const transport = url.protocol === 'http:' ? http : https;
    const answer = await new Promise<Answer>((resolve, reject) => {
      const request = transport.get(url, options, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', reject);
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks) }));
      });
      request.on('timeout', () => request.destroy(new Error(`GET ${url.pathname}: no answer in ${this.timeoutMs} ms`)));
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
