// A stand-in for the Kubernetes API server: the one mock the tests accept, because no control plane can run here.
// It speaks the real wire protocol the informer relies on: chunked pod lists (limit/continue) carrying a
// resourceVersion, watches as a chunked stream of JSON lines that replay history after the requested version,
// 410 Gone (as an ERROR event carrying a Status) once that version has been compacted away, bookmarks, and plain
// GETs of ReplicaSets and Jobs. Serves HTTPS on 127.0.0.1 with a throw-away CA, so the client's TLS and bearer
// token paths are the ones production uses.

import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type PodObject = {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace: string; uid: string; resourceVersion?: string; [key: string]: unknown };
  spec?: { nodeName?: string; [key: string]: unknown };
  status?: Record<string, unknown>;
  [key: string]: unknown;
};

type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';
interface HistoryEntry {
  resourceVersion: number;
  type: WatchEventType;
  pod: PodObject;
}
interface OpenWatch {
  response: ServerResponse;
  nodeName: string | undefined;
  timeout: NodeJS.Timeout | undefined;
}

export interface RequestCounts {
  list: number;
  watch: number;
  /** Watches answered with 410 Gone because their resourceVersion was compacted away. */
  gone: number;
  replicaSetGet: number;
  jobGet: number;
  unauthorized: number;
}

export const TEST_TOKEN = 'kubesentry-test-token';

export class FakeApiServer {
  readonly dir: string;
  readonly caPath: string;
  readonly kubeconfigPath: string;
  readonly requests: RequestCounts = { list: 0, watch: 0, gone: 0, replicaSetGet: 0, jobGet: 0, unauthorized: 0 };
  port = 0;

  private readonly key: Buffer;
  private readonly cert: Buffer;
  private server: https.Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly pods = new Map<string, PodObject>();
  private history: HistoryEntry[] = [];
  private resourceVersion = 1000;
  /** Watches from a resourceVersion below this get 410 Gone. */
  private compactedBelow = 0;
  private readonly watches = new Set<OpenWatch>();
  private readonly replicaSets = new Map<string, object>();
  private readonly jobs = new Map<string, object>();
  private readonly forbidden = new Set<'replicasets' | 'jobs'>();
  /** While set, list requests wait here instead of being answered. */
  private pausedLists: (() => void)[] | undefined;

  private constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'kubesentry-apiserver-'));
    this.caPath = join(this.dir, 'ca.crt');
    this.kubeconfigPath = join(this.dir, 'kubeconfig');
    const keyPath = join(this.dir, 'server.key');
    const csrPath = join(this.dir, 'server.csr');
    const certPath = join(this.dir, 'server.crt');
    const caKeyPath = join(this.dir, 'ca.key');
    const extPath = join(this.dir, 'ext.cnf');
    const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
    openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', '/CN=kubesentry-test-ca', '-keyout', caKeyPath, '-out', this.caPath);
    openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-subj', '/CN=127.0.0.1', '-keyout', keyPath, '-out', csrPath);
    writeFileSync(extPath, 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
    openssl('x509', '-req', '-in', csrPath, '-CA', this.caPath, '-CAkey', caKeyPath, '-CAcreateserial', '-days', '1',
      '-extfile', extPath, '-out', certPath);
    this.key = readFileSync(keyPath);
    this.cert = readFileSync(certPath);
  }

  static async start(): Promise<FakeApiServer> {
    const server = new FakeApiServer();
    await server.listen(0);
    server.writeKubeconfig();
    return server;
  }

  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  /** Lays out a service-account directory the way the kubelet mounts it, for the in-cluster config path. */
  writeServiceAccount(): { root: string; env: Record<string, string> } {
    const root = join(this.dir, 'sa-root');
    const saDir = join(root, 'var/run/secrets/kubernetes.io/serviceaccount');
    mkdirSync(saDir, { recursive: true });
    writeFileSync(join(saDir, 'token'), TEST_TOKEN);
    writeFileSync(join(saDir, 'ca.crt'), readFileSync(this.caPath));
    writeFileSync(join(saDir, 'namespace'), 'kubesentry');
    return { root, env: { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(this.port) } };
  }

  // --- cluster state -------------------------------------------------------------------------------------------

  addPod(pod: PodObject): PodObject {
    return this.record('ADDED', pod);
  }

  updatePod(pod: PodObject): PodObject {
    if (!this.pods.has(pod.metadata.uid)) throw new Error(`updatePod: no pod with uid ${pod.metadata.uid}`);
    return this.record('MODIFIED', pod);
  }

  deletePod(uid: string): void {
    const pod = this.pods.get(uid);
    if (!pod) throw new Error(`deletePod: no pod with uid ${uid}`);
    this.record('DELETED', pod);
  }

  putReplicaSet(namespace: string, name: string, owner?: { kind: string; name: string }): void {
    this.replicaSets.set(`${namespace}/${name}`, ownedObject('apps/v1', 'ReplicaSet', namespace, name, owner));
  }

  putJob(namespace: string, name: string, owner?: { kind: string; name: string }): void {
    this.jobs.set(`${namespace}/${name}`, ownedObject('batch/v1', 'Job', namespace, name, owner));
  }

  /** Answer GETs of this resource with 403, as an API server does when RBAC does not grant `get`. */
  forbid(resource: 'replicasets' | 'jobs'): void {
    this.forbidden.add(resource);
  }

  /**
   * Compacts history up to now: every open watch gets an ERROR event with a 410 Status and is closed, and any
   * later watch from an older resourceVersion gets the same, so the client must relist.
   */
  expireWatches(): void {
    this.compactedBelow = this.resourceVersion + 1;
    this.history = [];
    for (const watch of [...this.watches]) this.sendGoneAndEnd(watch);
  }

  /**
   * Forgets history before the current resourceVersion without touching open watches, as etcd compaction does:
   * a watch resumed from the current version (e.g. a bookmark's) still works, an older one gets 410.
   */
  compactHistory(): void {
    this.compactedBelow = this.resourceVersion;
    this.history = [];
  }

  /** Ends every open watch normally, as the API server does when a watch's timeoutSeconds is up. */
  endWatches(): void {
    for (const watch of [...this.watches]) {
      clearTimeout(watch.timeout);
      this.watches.delete(watch);
      watch.response.end();
    }
  }

  /** Sends a BOOKMARK carrying the current resourceVersion to every open watch. */
  sendBookmark(): void {
    const line = JSON.stringify({
      type: 'BOOKMARK',
      object: { kind: 'Pod', apiVersion: 'v1', metadata: { resourceVersion: String(this.resourceVersion) } },
    });
    for (const watch of this.watches) watch.response.write(line + '\n');
  }

  /**
   * Writes raw bytes into every open watch stream, e.g. an event line that never ends, as a broken or hostile
   * server (or a proxy in front of it) might; the watch stays open.
   */
  writeToWatches(bytes: Buffer | string): void {
    for (const watch of this.watches) watch.response.write(bytes);
  }

  /** Holds every list request unanswered until resumeLists(), like an API server under load. */
  pauseLists(): void {
    this.pausedLists ??= [];
  }

  resumeLists(): void {
    const paused = this.pausedLists ?? [];
    this.pausedLists = undefined;
    for (const answer of paused) answer();
  }

  /** List requests waiting for resumeLists(). */
  get pausedListCount(): number {
    return this.pausedLists?.length ?? 0;
  }

  get openWatchCount(): number {
    return this.watches.size;
  }

  // --- server lifecycle -----------------------------------------------------------------------------------------

  /** Stops listening and cuts every connection, as an API server restart does. State is kept. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    for (const watch of this.watches) clearTimeout(watch.timeout);
    this.watches.clear();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    await closed;
  }

  /** Listens again on the same port. */
  async restart(): Promise<void> {
    await this.listen(this.port);
  }

  async close(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  // --- internals ------------------------------------------------------------------------------------------------

  private async listen(port: number): Promise<void> {
    const server = https.createServer({ key: this.key, cert: this.cert }, (req, res) => this.handle(req, res));
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    server.on('secureConnection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as { port: number }).port;
    this.server = server;
  }

  private writeKubeconfig(): void {
    writeFileSync(this.kubeconfigPath, [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: fake',
      '  cluster:',
      `    server: ${this.url}`,
      `    certificate-authority: ${this.caPath}`,
      'users:',
      '- name: fake',
      '  user:',
      `    token: ${TEST_TOKEN}`,
      'contexts:',
      '- name: fake',
      '  context: {cluster: fake, user: fake}',
      'current-context: fake',
      '',
    ].join('\n'));
  }

  private record(type: WatchEventType, input: PodObject): PodObject {
    this.resourceVersion += 1;
    const pod: PodObject = structuredClone(input);
    pod.apiVersion = 'v1';
    pod.kind = 'Pod';
    pod.metadata.resourceVersion = String(this.resourceVersion);
    if (type === 'DELETED') this.pods.delete(pod.metadata.uid);
    else this.pods.set(pod.metadata.uid, pod);
    this.history.push({ resourceVersion: this.resourceVersion, type, pod });
    const line = JSON.stringify({ type, object: pod }) + '\n';
    for (const watch of this.watches) {
      if (matchesNode(pod, watch.nodeName)) watch.response.write(line);
    }
    return pod;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    if (req.headers.authorization !== `Bearer ${TEST_TOKEN}`) {
      this.requests.unauthorized += 1;
      sendStatus(res, 401, 'Unauthorized', 'Unauthorized');
      return;
    }
    const url = new URL(req.url ?? '/', 'https://127.0.0.1');
    const nodeName = parseNodeSelector(url.searchParams.get('fieldSelector'));
    if (url.pathname === '/api/v1/pods') {
      const watch = url.searchParams.get('watch');
      if (watch === '1' || watch === 'true') this.serveWatch(url, nodeName, res);
      else if (this.pausedLists) this.pausedLists.push(() => this.serveList(url, nodeName, res));
      else this.serveList(url, nodeName, res);
      return;
    }
    const owned = /^\/apis\/(apps\/v1|batch\/v1)\/namespaces\/([^/]+)\/(replicasets|jobs)\/([^/]+)$/.exec(url.pathname);
    if (owned) {
      const [, , namespace, resource, name] = owned;
      const kind = resource as 'replicasets' | 'jobs';
      if (kind === 'replicasets') this.requests.replicaSetGet += 1;
      else this.requests.jobGet += 1;
      if (this.forbidden.has(kind)) {
        sendStatus(res, 403, 'Forbidden', `${kind} "${name}" is forbidden: cannot get resource "${kind}"`);
        return;
      }
      const object = (kind === 'replicasets' ? this.replicaSets : this.jobs).get(`${namespace}/${name}`);
      if (!object) {
        sendStatus(res, 404, 'NotFound', `${kind} "${name}" not found`);
        return;
      }
      sendJson(res, 200, object);
      return;
    }
    sendStatus(res, 404, 'NotFound', `the server could not find the requested resource ${url.pathname}`);
  }

  private serveList(url: URL, nodeName: string | undefined, res: ServerResponse): void {
    this.requests.list += 1;
    const limit = Number(url.searchParams.get('limit') ?? '0');
    const token = url.searchParams.get('continue');
    let listVersion = this.resourceVersion;
    let items: PodObject[];
    let offset = 0;
    if (token) {
      const parsed = JSON.parse(Buffer.from(token, 'base64url').toString()) as { rv: number; offset: number };
      if (parsed.rv < this.compactedBelow) {
        sendStatus(res, 410, 'Expired', 'The provided continue parameter is too old');
        return;
      }
      listVersion = parsed.rv;
      offset = parsed.offset;
      items = this.snapshotAt(listVersion, nodeName);
    } else {
      items = [...this.pods.values()].filter((pod) => matchesNode(pod, nodeName)).sort(byNamespaceAndName);
    }
    const page = limit > 0 ? items.slice(offset, offset + limit) : items.slice(offset);
    const next = offset + page.length;
    const metadata: Record<string, string> = { resourceVersion: String(listVersion) };
    if (next < items.length) metadata.continue = Buffer.from(JSON.stringify({ rv: listVersion, offset: next })).toString('base64url');
    sendJson(res, 200, { kind: 'PodList', apiVersion: 'v1', metadata, items: page });
  }

  /** The pods as they were at a resourceVersion, rebuilt from history, for consistent continue pages. */
  private snapshotAt(version: number, nodeName: string | undefined): PodObject[] {
    const state = new Map(this.pods);
    for (let i = this.history.length - 1; i >= 0 && this.history[i].resourceVersion > version; i--) {
      const entry = this.history[i];
      const previous = this.history.slice(0, i).findLast((e) => e.pod.metadata.uid === entry.pod.metadata.uid);
      if (entry.type === 'ADDED') state.delete(entry.pod.metadata.uid);
      else if (previous) state.set(entry.pod.metadata.uid, previous.pod);
    }
    return [...state.values()].filter((pod) => matchesNode(pod, nodeName)).sort(byNamespaceAndName);
  }

  private serveWatch(url: URL, nodeName: string | undefined, res: ServerResponse): void {
    this.requests.watch += 1;
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    // A real API server answers a watch at once, before any event; clients wait for these headers.
    res.flushHeaders();
    const watch: OpenWatch = { response: res, nodeName, timeout: undefined };
    const from = Number(url.searchParams.get('resourceVersion') ?? '0');
    if (from > 0 && from < this.compactedBelow) {
      this.sendGoneAndEnd(watch);
      return;
    }
    for (const entry of this.history) {
      if (entry.resourceVersion > from && matchesNode(entry.pod, nodeName)) {
        res.write(JSON.stringify({ type: entry.type, object: entry.pod }) + '\n');
      }
    }
    this.watches.add(watch);
    const timeoutSeconds = Number(url.searchParams.get('timeoutSeconds') ?? '0');
    if (timeoutSeconds > 0) {
      watch.timeout = setTimeout(() => {
        this.watches.delete(watch);
        res.end();
      }, timeoutSeconds * 1000);
    }
    res.on('close', () => {
      clearTimeout(watch.timeout);
      this.watches.delete(watch);
    });
  }

  private sendGoneAndEnd(watch: OpenWatch): void {
    this.requests.gone += 1;
    clearTimeout(watch.timeout);
    this.watches.delete(watch);
    const status = {
      kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure',
      message: 'too old resource version', reason: 'Expired', code: 410,
    };
    watch.response.end(JSON.stringify({ type: 'ERROR', object: status }) + '\n');
  }
}

function ownedObject(apiVersion: string, kind: string, namespace: string, name: string,
  owner?: { kind: string; name: string }): object {
  const metadata: Record<string, unknown> = { name, namespace, uid: `${kind.toLowerCase()}-${namespace}-${name}` };
  if (owner) {
    const ownerApi = owner.kind === 'CronJob' ? 'batch/v1' : 'apps/v1';
    metadata.ownerReferences = [{ apiVersion: ownerApi, kind: owner.kind, name: owner.name, uid: `uid-${owner.name}`, controller: true }];
  }
  return { apiVersion, kind, metadata, spec: {} };
}

function parseNodeSelector(selector: string | null): string | undefined {
  if (!selector) return undefined;
  const match = /^spec\.nodeName=(.*)$/.exec(selector);
  if (!match) throw new Error(`fake apiserver: unsupported fieldSelector ${selector}`);
  return match[1];
}

function matchesNode(pod: PodObject, nodeName: string | undefined): boolean {
  return nodeName === undefined || pod.spec?.nodeName === nodeName;
}

function byNamespaceAndName(a: PodObject, b: PodObject): number {
  return `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`);
}

function sendJson(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function sendStatus(res: ServerResponse, code: number, reason: string, message: string): void {
  sendJson(res, code, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });
}

// --- pod fixtures -----------------------------------------------------------------------------------------------

export interface PodFixtureOptions {
  name: string;
  namespace?: string;
  uid: string;
  nodeName: string;
  labels?: Record<string, string>;
  owner?: { kind: string; name: string };
  serviceAccount?: string;
  /** execProbe: a liveness exec probe's command; preStop: an exec preStop hook's. */
  containers?: { name: string; image: string; id?: string; imageID?: string; execProbe?: string[]; preStop?: string[] }[];
  initContainers?: { name: string; image: string; id?: string; imageID?: string }[];
}

/** A pod object shaped like what the kubelet reports: spec, containerStatuses with runtime-prefixed ids. */
export function podFixture(options: PodFixtureOptions): PodObject {
  const containers = options.containers ?? [];
  const initContainers = options.initContainers ?? [];
  const metadata: PodObject['metadata'] = {
    name: options.name,
    namespace: options.namespace ?? 'default',
    uid: options.uid,
    labels: options.labels ?? {},
    annotations: { 'kubectl.kubernetes.io/restartedAt': '2026-11-25T06:00:00Z' },
  };
  if (options.owner) {
    metadata.ownerReferences = [{
      apiVersion: options.owner.kind === 'Job' ? 'batch/v1' : 'apps/v1', kind: options.owner.kind,
      name: options.owner.name, uid: `uid-${options.owner.name}`, controller: true, blockOwnerDeletion: true,
    }];
  }
  const status = (c: { name: string; image: string; id?: string; imageID?: string }) => ({
    name: c.name,
    image: c.image,
    imageID: c.imageID ?? '',
    containerID: c.id ?? '',
    ready: c.id !== undefined,
    restartCount: 0,
    state: c.id ? { running: { startedAt: '2026-11-25T06:00:01Z' } } : { waiting: { reason: 'ContainerCreating' } },
  });
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata,
    spec: {
      nodeName: options.nodeName,
      serviceAccountName: options.serviceAccount ?? 'default',
      containers: containers.map((c) => ({
        name: c.name,
        image: c.image,
        ...(c.execProbe ? { livenessProbe: { exec: { command: c.execProbe }, periodSeconds: 10 } } : {}),
        ...(c.preStop ? { lifecycle: { preStop: { exec: { command: c.preStop } } } } : {}),
      })),
      initContainers: initContainers.map((c) => ({ name: c.name, image: c.image })),
    },
    status: {
      phase: 'Running',
      containerStatuses: containers.map(status),
      initContainerStatuses: initContainers.map(status),
    },
  };
}
