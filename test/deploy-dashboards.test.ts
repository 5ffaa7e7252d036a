// Every query in the Grafana dashboards may name only metrics and attributes the agent really emits, as they look
// after Loki's and Prometheus's OTLP translation (dots -> underscores). The names come from the agent's code:
// metrics from MetricNames (src/otel/metricNames.ts), detection attributes from DETECTION_ATTRIBUTE_KEYS
// (src/detectors/attributeKeys.ts) plus the few keys the OTLP log exporter adds itself, resource labels from the
// Prometheus config of the demo. A dashboard with a misspelt or invented name fails here instead of showing an
// empty panel.

import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import type { Detection } from '../src/detection.ts';
import { DETECTION_ATTRIBUTE_KEYS } from '../src/detectors/attributeKeys.ts';
import type { ExportMetricsRecorder } from '../src/otel/AgentMetrics.ts';
import { createTelemetry, type Telemetry } from '../src/otel/index.ts';
import { MetricNames } from '../src/otel/metricNames.ts';
import { run, runOrThrow, spawnBackground, type BackgroundProcess } from './helpers/run.ts';
import { waitFor } from './helpers/wait.ts';
import { collectorBinary, freeLoopbackPort, TestCollector } from './otelcol/collector.ts';

const ROOT = resolve(import.meta.dirname, '..');
const DASHBOARD_DIR = join(ROOT, 'deploy/grafana/dashboards');
const DATASOURCES = join(ROOT, 'deploy/grafana/provisioning/datasources/kubesentry.yaml');
const PROMETHEUS_CONFIG = join(ROOT, 'deploy/compose/prometheus.yaml');
const GATEWAY_CONFIG = join(ROOT, 'otel-collector-config/gateway.yaml');
const RECORDS_SOURCE = join(ROOT, 'src/otel/internal/records.ts');

/** Keys the OTLP log exporter (src/otel/internal/records.ts) adds to every detection record on top of its attributes. */
const EXPORTER_ADDED_LOG_KEYS = [
  'kubesentry.detection.id',
  'kubesentry.detection.severity',
  'kubesentry.process.ancestry',
  'security_rule.name',
  'security_rule.category',
];
/** Resource attributes the agent sets (configured or detected); Loki keeps them as labels or metadata. */
const AGENT_RESOURCE_KEYS = ['service.name', 'service.version', 'host.name', 'host.arch', 'os.type', 'k8s.node.name', 'k8s.cluster.name'];
/** What Loki's OTLP ingestion stores besides attributes; Time and Line are Grafana's names for timestamp and body. */
const LOKI_RECORD_FIELDS = ['trace_id', 'span_id', 'severity_text', 'severity_number', 'observed_timestamp', 'flags', 'Time', 'Line'];
/** Loki's default OTLP index labels that the agent's resource can produce (service.name -> service_name). */
const LOKI_INDEX_LABELS = ['service_name', 'k8s_cluster_name'];
/** Prometheus's OTLP receiver turns service.name into job and service.instance.id into instance. */
const PROMETHEUS_OTLP_LABELS = ['job', 'instance'];

const PROMQL_WORDS = new Set([
  'sum', 'min', 'max', 'avg', 'count', 'topk', 'bottomk', 'quantile', 'stddev', 'group', 'by', 'without', 'on',
  'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'bool', 'offset',
  'rate', 'irate', 'increase', 'delta', 'idelta', 'deriv', 'clamp_min', 'clamp_max', 'abs', 'histogram_quantile',
  'sum_over_time', 'avg_over_time', 'max_over_time', 'min_over_time', 'count_over_time', 'last_over_time',
  'label_values', 'absent', 'vector', 'scalar', 'time', 'e',
]);

const underscored = (key: string) => key.replaceAll(/[^A-Za-z0-9_]/g, '_');

interface Query {
  where: string;
  datasourceUid: string;
  expr: string;
  legendFormat?: string;
}

interface Dashboard {
  file: string;
  json: any;
}

interface Vocabulary {
  /** Prometheus metric name -> labels its series carry. */
  metrics: Map<string, Set<string>>;
  promotedLabels: Set<string>;
  lokiIndexLabels: Set<string>;
  lokiFields: Set<string>;
  serviceName: string;
}

/** The resource a real telemetry pipeline builds (configured and detected attributes), node and cluster named. */
async function agentResource(): Promise<Record<string, unknown>> {
  const telemetry = createTelemetry({
    stateDir: mkdtempSync(join(tmpdir(), 'ks-dashboards-state-')),
    nodeName: 'node-1',
    clusterName: 'cluster-1',
    metrics: { otlp: false },
    env: {},
  });
  try {
    await telemetry.resource.waitForAsyncAttributes?.();
    return { ...telemetry.resource.attributes };
  } finally {
    await telemetry.shutdown(1);
  }
}

async function loadVocabulary(): Promise<Vocabulary> {
  const records = readFileSync(RECORDS_SOURCE, 'utf8');
  for (const key of EXPORTER_ADDED_LOG_KEYS) {
    assert.ok(records.includes(`'${key}'`), `${key} is listed as exporter-added but records.ts no longer sets it`);
  }
  const resource = await agentResource();
  for (const key of AGENT_RESOURCE_KEYS) {
    assert.ok(typeof resource[key] === 'string', `${key} is listed as a resource attribute but the agent's resource lacks it`);
  }
  const serviceName = resource['service.name'] as string;

  const prometheus = parseYaml(readFileSync(PROMETHEUS_CONFIG, 'utf8'));
  const promoted: string[] = prometheus.otlp.promote_resource_attributes;
  for (const key of promoted) assert.ok(AGENT_RESOURCE_KEYS.includes(key), `Prometheus promotes ${key}, which the agent never sets`);

  const metrics = new Map<string, Set<string>>();
  for (const definition of Object.values(MetricNames)) {
    metrics.set(definition.prometheus, new Set(definition.attributes.map(underscored)));
  }
  return {
    metrics,
    promotedLabels: new Set([...promoted.map(underscored), ...PROMETHEUS_OTLP_LABELS]),
    lokiIndexLabels: new Set(LOKI_INDEX_LABELS),
    lokiFields: new Set(
      [...DETECTION_ATTRIBUTE_KEYS, ...EXPORTER_ADDED_LOG_KEYS, ...AGENT_RESOURCE_KEYS].map(underscored).concat(LOKI_RECORD_FIELDS),
    ),
    serviceName,
  };
}

function loadDashboards(): Dashboard[] {
  return readdirSync(DASHBOARD_DIR)
    .filter((f) => f.endsWith('.json'))
    .map((file) => ({ file, json: JSON.parse(readFileSync(join(DASHBOARD_DIR, file), 'utf8')) }));
}

function queriesOf(dashboard: Dashboard): Query[] {
  const queries: Query[] = [];
  for (const panel of dashboard.json.panels ?? []) {
    for (const target of panel.targets ?? []) {
      queries.push({
        where: `${dashboard.file} panel "${panel.title}" ${target.refId}`,
        datasourceUid: target.datasource?.uid ?? panel.datasource?.uid,
        expr: target.expr,
        legendFormat: target.legendFormat,
      });
    }
  }
  for (const variable of dashboard.json.templating?.list ?? []) {
    if (variable.type !== 'query') continue;
    queries.push({
      where: `${dashboard.file} variable $${variable.name}`,
      datasourceUid: variable.datasource?.uid,
      expr: typeof variable.query === 'string' ? variable.query : variable.query.query,
    });
  }
  return queries;
}

/** Label names a query groups by or matches on, and what is left once those and string literals are gone. */
function splitLabels(expr: string): { labels: string[]; rest: string } {
  const labels: string[] = [];
  let rest = expr.replaceAll(/"(?:[^"\\]|\\.)*"|`[^`]*`/g, '""');
  rest = rest.replaceAll(/\[[^\]]*\]/g, ' ');
  rest = rest.replaceAll(/\b(?:by|without)\s*\(([^)]*)\)/g, (_, list: string) => {
    labels.push(...list.split(',').map((l) => l.trim()).filter(Boolean));
    return ' ';
  });
  rest = rest.replaceAll(/\{([^}]*)\}/g, (_, matchers: string) => {
    for (const m of matchers.matchAll(/([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)/g)) labels.push(m[1]);
    return ' ';
  });
  return { labels, rest };
}

/** Metric names and label names one PromQL query (or a label_values() variable) refers to. */
function promqlNames(expr: string): { metrics: string[]; labels: string[] } {
  let { labels, rest } = splitLabels(expr);
  const labelValues = /label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)\s*,\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)/.exec(rest);
  if (labelValues) {
    labels.push(labelValues[2]);
    rest = rest.replace(labelValues[0], ` ${labelValues[1]} `);
  }
  const identifiers = [...rest.replaceAll(/\$\w+/g, ' ').matchAll(/\b[A-Za-z_:][A-Za-z0-9_:]*\b/g)].map((m) => m[0]);
  const metrics = identifiers.filter((id) => !PROMQL_WORDS.has(id) && !/^\d/.test(id));
  return { metrics: [...new Set(metrics)], labels: [...new Set(labels)] };
}

/** Problems with one PromQL query, as sentences; empty when every name is one the agent emits. */
function checkPromQL(query: Query, vocabulary: Vocabulary): string[] {
  const problems: string[] = [];
  const { metrics, labels } = promqlNames(query.expr);
  if (metrics.length === 0) problems.push(`${query.where}: names no metric`);
  const allowedLabels = new Set(vocabulary.promotedLabels);
  for (const metric of metrics) {
    const metricLabels = vocabulary.metrics.get(metric);
    if (!metricLabels) problems.push(`${query.where}: metric ${metric} is not in MetricNames (src/otel/metricNames.ts)`);
    else for (const label of metricLabels) allowedLabels.add(label);
  }
  for (const label of labels) {
    if (!allowedLabels.has(label)) problems.push(`${query.where}: label ${label} is not carried by ${metrics.join(', ') || 'its metrics'}`);
  }
  problems.push(...checkLegend(query, labels));
  return problems;
}

/** Stream-selector labels and pipeline/grouping labels of one LogQL query. */
function logqlNames(expr: string): { selector: Array<{ label: string; value: string }>; labels: string[] } | undefined {
  const selectorMatch = /\{([^}]*)\}/.exec(expr);
  if (!selectorMatch) return undefined;
  const selector = [...selectorMatch[1].matchAll(/([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)\s*"([^"]*)"/g)].map((m) => ({
    label: m[1],
    value: m[2],
  }));
  const pipeline = expr.slice(selectorMatch.index + selectorMatch[0].length).replaceAll(/"(?:[^"\\]|\\.)*"/g, '""');
  const labels: string[] = [];
  for (const m of pipeline.matchAll(/\|\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=|>=|<=|>|<)/g)) labels.push(m[1]);
  for (const m of expr.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)) {
    labels.push(...m[1].split(',').map((l) => l.trim()).filter(Boolean));
  }
  return { selector, labels: [...new Set(labels)] };
}

/** Problems with one LogQL query. Stream selectors may only use index labels; filters any emitted field. */
function checkLogQL(query: Query, vocabulary: Vocabulary): string[] {
  const names = logqlNames(query.expr);
  if (!names) return [`${query.where}: no stream selector`];
  const problems: string[] = [];
  for (const { label, value } of names.selector) {
    if (!vocabulary.lokiIndexLabels.has(label)) problems.push(`${query.where}: ${label} is not a Loki index label for the agent's records`);
    if (label === 'service_name' && value !== vocabulary.serviceName) {
      problems.push(`${query.where}: service_name "${value}" is not the agent's service.name "${vocabulary.serviceName}"`);
    }
  }
  for (const label of names.labels) {
    if (!vocabulary.lokiFields.has(label) && !vocabulary.lokiIndexLabels.has(label)) {
      problems.push(`${query.where}: ${label} is not an attribute the agent emits on detection records`);
    }
  }
  problems.push(...checkLegend(query, names.labels));
  return problems;
}

/** A legend naming a label the query does not group by would render empty. */
function checkLegend(query: Query, labels: string[]): string[] {
  if (!query.legendFormat) return [];
  return [...query.legendFormat.matchAll(/\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g)]
    .filter((m) => !labels.includes(m[1]))
    .map((m) => `${query.where}: legend {{${m[1]}}} is not a label of the query's result`);
}

/** Field names that table transformations and overrides refer to in Loki-backed panels. */
function fieldReferences(dashboard: Dashboard): Array<{ where: string; field: string }> {
  const references: Array<{ where: string; field: string }> = [];
  for (const panel of dashboard.json.panels ?? []) {
    if (panel.datasource?.type !== 'loki') continue;
    const where = `${dashboard.file} panel "${panel.title}"`;
    for (const t of panel.transformations ?? []) {
      for (const name of t.options?.include?.names ?? []) references.push({ where, field: name });
      for (const name of Object.keys(t.options?.indexByName ?? {})) references.push({ where, field: name });
      for (const name of Object.keys(t.options?.renameByName ?? {})) references.push({ where, field: name });
    }
    for (const override of panel.fieldConfig?.overrides ?? []) {
      if (override.matcher?.id === 'byName') references.push({ where, field: override.matcher.options });
    }
  }
  return references;
}

function checkDashboards(dashboards: Dashboard[], vocabulary: Vocabulary, datasourceTypes: Map<string, string>): string[] {
  const problems: string[] = [];
  for (const dashboard of dashboards) {
    for (const query of queriesOf(dashboard)) {
      const type = datasourceTypes.get(query.datasourceUid);
      if (type === 'prometheus') problems.push(...checkPromQL(query, vocabulary));
      else if (type === 'loki') problems.push(...checkLogQL(query, vocabulary));
      else problems.push(`${query.where}: datasource uid ${query.datasourceUid} is not provisioned`);
    }
    for (const { where, field } of fieldReferences(dashboard)) {
      if (!vocabulary.lokiFields.has(field)) problems.push(`${where}: field ${field} is not something the agent emits`);
    }
  }
  return problems;
}

/** Runs Prometheus's own PromQL parser (built into deploy/validate) over the queries; exit code and messages. */
async function parsePromQL(queries: Query[]) {
  const path = join(workDir, `promql-${queries.length}-${Date.now()}.json`);
  writeFileSync(path, JSON.stringify(queries.map(({ where, expr }) => ({ where, expr }))));
  return run(join(validatorBinDir, 'kubesentry-validate'), ['-promql', path]);
}

// A cold build of the validators from Go modules takes minutes; warm, it is instant.
const BUILD_TIMEOUT_MS = 30 * 60_000;
let validatorBinDir = '';
const workDir = mkdtempSync(join(tmpdir(), 'ks-dashboards-'));
after(() => rmSync(workDir, { recursive: true, force: true }));

const datasources: Array<Record<string, any>> = parseYaml(readFileSync(DATASOURCES, 'utf8')).datasources;
const datasourceTypes = new Map(datasources.map((d) => [d.uid as string, d.type as string]));
const vocabulary = await loadVocabulary();
const dashboards = loadDashboards();

describe('Grafana dashboards', () => {
  it('exist and parse, each with a unique uid', () => {
    assert.ok(dashboards.length >= 2, 'expected the detections and agent-health dashboards');
    const uids = dashboards.map((d) => d.json.uid);
    assert.equal(new Set(uids).size, uids.length);
  });

  it('name only metrics, labels and attributes the agent emits', () => {
    assert.deepEqual(checkDashboards(dashboards, vocabulary, datasourceTypes), []);
  });

  it('chart detections, events/s, kernel drops, export failures and spool size', () => {
    const exprs = dashboards.flatMap(queriesOf).map((q) => q.expr).join('\n');
    for (const key of ['detections', 'eventsReceived', 'kernelDrops', 'exportFailures', 'spoolBytes'] as const) {
      assert.ok(exprs.includes(MetricNames[key].prometheus), `no panel charts ${MetricNames[key].prometheus}`);
    }
  });

  it('link the latest critical detections to their incident traces in Tempo', () => {
    const detections = dashboards.find((d) => d.json.uid === 'kubesentry-detections');
    assert.ok(detections);
    const table = detections.json.panels.find((p: any) => p.type === 'table');
    assert.match(table.targets[0].expr, /kubesentry_detection_severity="critical"/);
    const traceLink = table.fieldConfig.overrides.find((o: any) => o.matcher.options === 'trace_id');
    const url: string = traceLink.properties.find((p: any) => p.id === 'links').value[0].url;
    const panes = JSON.parse(decodeURIComponent(new URL(url, 'http://grafana.invalid').searchParams.get('panes')!));
    const query = Object.values<any>(panes)[0].queries[0];
    assert.equal(query.datasource.uid, 'tempo');
    assert.equal(query.query, '${__value.raw}');
  });
});

describe('PromQL in the dashboards', () => {
  before(
    async () => {
      const built = await runOrThrow('bash', [join(ROOT, 'scripts/build-validators.sh')], { timeoutMs: BUILD_TIMEOUT_MS });
      validatorBinDir = built.stdout.trim();
    },
    { timeout: BUILD_TIMEOUT_MS },
  );

  it("parses with Prometheus's own parser", async () => {
    const queries = dashboards.flatMap(queriesOf).filter((q) => datasourceTypes.get(q.datasourceUid) === 'prometheus');
    assert.ok(queries.length > 10, `only ${queries.length} Prometheus queries found`);
    const result = await parsePromQL(queries);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`^${queries.length} PromQL expressions parse`));
  });

  it('rejects a malformed expression, naming where it is', async () => {
    const result = await parsePromQL([
      { where: 'good', datasourceUid: 'prometheus', expr: 'sum(rate(kubesentry_detections_total[$__rate_interval]))' },
      { where: 'broken panel', datasourceUid: 'prometheus', expr: 'sum by (security_rule_name (kubesentry_detections_total)' },
    ]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /^broken panel: .*parse error/m);
    assert.doesNotMatch(result.stderr, /^good:/m);
  });
});

describe('Grafana datasources', () => {
  it('turn a detection trace id into a Tempo link and a Tempo trace back into its detections', () => {
    const loki = datasources.find((d) => d.type === 'loki')!;
    const tempo = datasources.find((d) => d.type === 'tempo')!;
    const derived = loki.jsonData.derivedFields[0];
    assert.equal(derived.matcherType, 'label');
    assert.ok(vocabulary.lokiFields.has(derived.matcherRegex), `${derived.matcherRegex} is not a Loki record field`);
    assert.equal(datasourceTypes.get(derived.datasourceUid), 'tempo');
    // Grafana expands $VAR in provisioning files; its own macros must be escaped as $${...}.
    assert.equal(derived.url, '$${__value.raw}');
    assert.equal(datasourceTypes.get(tempo.jsonData.tracesToLogsV2.datasourceUid), 'loki');
    const backQuery = { where: 'Tempo traces-to-logs query', datasourceUid: 'loki', expr: tempo.jsonData.tracesToLogsV2.query };
    assert.deepEqual(checkLogQL(backQuery, vocabulary), []);
  });
});

describe('dashboard checker', () => {
  // The checks above are only worth something if the checker can fail.
  const broken = (panel: object, templating: object[] = []): Dashboard => ({
    file: 'broken.json',
    json: { uid: 'broken', panels: [panel], templating: { list: templating } },
  });
  const cases: Array<[string, Dashboard, RegExp]> = [
    [
      'a metric that is not in MetricNames',
      broken({ title: 'p', datasource: { uid: 'prometheus' }, targets: [{ refId: 'A', expr: 'sum(rate(kubesentry_events_recieved_total[5m]))' }] }),
      /metric kubesentry_events_recieved_total is not in MetricNames/,
    ],
    [
      'a label the metric does not carry',
      broken({ title: 'p', datasource: { uid: 'prometheus' }, targets: [{ refId: 'A', expr: 'sum by (k8s_pod_name) (kubesentry_detections_total)' }] }),
      /label k8s_pod_name is not carried/,
    ],
    [
      'a Loki filter on an attribute the agent never sets',
      broken({ title: 'p', datasource: { uid: 'loki', type: 'loki' }, targets: [{ refId: 'A', expr: '{service_name="kubesentry"} | k8s_pod_nmae="x"' }] }),
      /k8s_pod_nmae is not an attribute the agent emits/,
    ],
    [
      'a structured-metadata key used as a stream selector',
      broken({ title: 'p', datasource: { uid: 'loki', type: 'loki' }, targets: [{ refId: 'A', expr: '{k8s_namespace_name="default"}' }] }),
      /k8s_namespace_name is not a Loki index label/,
    ],
    [
      'a legend naming a label the query drops',
      broken({ title: 'p', datasource: { uid: 'prometheus' }, targets: [{ refId: 'A', expr: 'sum(kubesentry_detections_total)', legendFormat: '{{security_rule_name}}' }] }),
      /legend \{\{security_rule_name\}\} is not a label/,
    ],
    [
      'a variable over a label no metric has',
      broken({ title: 'p', targets: [] }, [{ name: 'pod', type: 'query', datasource: { uid: 'prometheus' }, query: { query: 'label_values(kubesentry_detections_total, pod)' } }]),
      /label pod is not carried/,
    ],
    [
      'a table column for a field that does not exist',
      broken({ title: 'p', datasource: { uid: 'loki', type: 'loki' }, targets: [], transformations: [{ id: 'filterFieldsByName', options: { include: { names: ['rule_name'] } } }] }),
      /field rule_name is not something the agent emits/,
    ],
  ];
  for (const [name, dashboard, expected] of cases) {
    it(`reports ${name}`, () => {
      const problems = checkDashboards([dashboard], vocabulary, datasourceTypes);
      assert.ok(problems.some((p) => expected.test(p)), `expected ${expected} among: ${JSON.stringify(problems)}`);
    });
  }
});

// End to end with real data: the agent's telemetry pipeline sends to the shipped gateway Collector config, which
// writes metrics into a real Prometheus running the demo's config; Loki and Tempo are played by test Collectors
// (Loki is AGPL and cannot be built into this project's tooling; Tempo is not needed to check names).
describe('dashboards against real telemetry: agent -> gateway Collector config -> Prometheus', () => {
  const NODE_NAME = 'node-ci-1';
  const detection: Detection = {
    id: '01890a5d-ac96-774b-bcce-b302099a8057',
    time: new Date().toISOString(),
    timeUnixNs: BigInt(Date.now()) * 1_000_000n,
    rule: 'container_escape.nsenter_host',
    category: 'container_escape',
    severity: 'critical',
    summary: 'nsenter into the host namespaces from a container',
    attributes: {
      'container.id': 'c'.repeat(64),
      'k8s.pod.name': 'web-0',
      'k8s.namespace.name': 'shop',
      'k8s.pod.uid': '8b7c2f4e-1b2a-4c3d-9e8f-0a1b2c3d4e5f',
      'process.pid': 4242,
      'process.executable.path': '/usr/bin/nsenter',
      'process.command_line': 'nsenter -t 1 -m -u -i -n sh',
    },
    ancestry: [
      { pid: 4242, executable: '/usr/bin/nsenter', command_line: 'nsenter -t 1 -m -u -i -n sh', start_time: new Date().toISOString(), start_boottime_ns: '1000' },
    ],
  };

  let prometheusUrl = '';
  let loki: TestCollector | undefined;
  let tempo: TestCollector | undefined;
  const processes: BackgroundProcess[] = [];
  let telemetry: Telemetry | undefined;

  before(
    async () => {
      const built = await runOrThrow('bash', [join(ROOT, 'scripts/build-validators.sh')], { timeoutMs: BUILD_TIMEOUT_MS });
      const binDir = built.stdout.trim();
      const dir = mkdtempSync(join(workDir, 'pipeline-'));

      const prometheusPort = await freeLoopbackPort();
      prometheusUrl = `http://127.0.0.1:${prometheusPort}`;
      processes.push(
        spawnBackground(join(binDir, 'prometheus'), [
          `--config.file=${PROMETHEUS_CONFIG}`,
          `--storage.tsdb.path=${join(dir, 'prometheus')}`,
          `--web.listen-address=127.0.0.1:${prometheusPort}`,
          '--web.enable-otlp-receiver',
        ]),
      );
      await waitFor(async () => (await fetch(`${prometheusUrl}/-/ready`)).ok, { what: 'Prometheus to be ready', timeoutMs: 60_000 });

      loki = await TestCollector.start({ http: { logsPath: '/otlp/v1/logs' } });
      tempo = await TestCollector.start();

      // The gateway config serves TLS only; a throwaway certificate for 127.0.0.1 stands in for the cluster's.
      const cert = join(dir, 'tls.crt');
      const key = join(dir, 'tls.key');
      await runOrThrow('openssl', [
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
        '-subj', '/CN=gateway', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert,
      ]);
      const gatewayPort = await freeLoopbackPort();
      const gateway = spawnBackground(collectorBinary(), ['--config', GATEWAY_CONFIG], {
        env: {
          RECEIVER_ENDPOINT: `127.0.0.1:${gatewayPort}`,
          TLS_CERT_FILE: cert,
          TLS_KEY_FILE: key,
          LOKI_OTLP_ENDPOINT: `${loki.httpEndpoint}/otlp`,
          TEMPO_OTLP_ENDPOINT: `127.0.0.1:${tempo.port}`,
          PROMETHEUS_OTLP_ENDPOINT: `${prometheusUrl}/api/v1/otlp`,
          QUEUE_DIR: join(dir, 'queue'),
          HEALTH_ENDPOINT: `127.0.0.1:${await freeLoopbackPort()}`,
          TELEMETRY_METRICS_HOST: '127.0.0.1',
          TELEMETRY_METRICS_PORT: String(await freeLoopbackPort()),
        },
      });
      processes.push(gateway);
      await gateway.waitForLine(/Everything is ready/, 60_000);

      telemetry = createTelemetry({
        endpoint: `https://127.0.0.1:${gatewayPort}`,
        caFile: cert,
        stateDir: join(dir, 'agent-state'),
        nodeName: NODE_NAME,
        clusterName: 'ci',
        metrics: { exportIntervalMs: 250 },
        env: {},
      });
      // Every metric gets a data point, so every panel has a series to find.
      const metrics = telemetry.metrics;
      metrics.eventsReceived('exec', 10);
      metrics.kernelDropped('exec', 1);
      metrics.decoderError('truncated');
      metrics.k8sMetadataMiss();
      metrics.setProcessTableSize(120);
      metrics.setContainerCacheSize(3);
      // The export-side counters are normally driven by failures; record one of each directly.
      const exportSide = metrics as unknown as ExportMetricsRecorder;
      exportSide.exportFailure('logs', 'UNAVAILABLE');
      exportSide.evicted('logs', 1);
      exportSide.dropped('traces', 'too_large', 1);
      // As src/agent.ts does for every detection: count it, then export it.
      metrics.detection(detection.rule, detection.severity);
      telemetry.emit(detection);
      await telemetry.forceFlush(60_000);
    },
    { timeout: BUILD_TIMEOUT_MS },
  );

  after(async () => {
    await telemetry?.shutdown(5_000);
    for (const process of processes.reverse()) await process.kill();
    await loki?.dispose();
    await tempo?.dispose();
  });

  /** What Prometheus holds and what the gateway said: the first things to look at when data is missing. */
  async function pipelineDiagnostics(): Promise<string> {
    const names = (await (await fetch(`${prometheusUrl}/api/v1/label/__name__/values`)).json()) as { data: string[] };
    const gatewayLog = processes[1]?.lines.slice(-15).join('\n') ?? '';
    const prometheusLog = processes[0]?.lines.filter((l) => /level=(warn|error)/i.test(l)).slice(-10).join('\n') ?? '';
    return `Prometheus metric names: ${names.data.join(', ') || '(none)'}\ngateway log:\n${gatewayLog}\nPrometheus warnings:\n${prometheusLog}`;
  }

  async function prometheusSeries(metric: string): Promise<Array<Record<string, string>>> {
    const response = await fetch(`${prometheusUrl}/api/v1/series?match[]=${encodeURIComponent(metric)}`);
    const body = (await response.json()) as { data: Array<Record<string, string>> };
    return body.data;
  }

  it('stores every metric a dashboard queries under that name, with every label the dashboard uses', async () => {
    const queries = dashboards.flatMap(queriesOf).filter((q) => datasourceTypes.get(q.datasourceUid) === 'prometheus');
    const wanted = new Map<string, Set<string>>();
    for (const query of queries) {
      const { metrics, labels } = promqlNames(query.expr);
      for (const metric of metrics) for (const label of labels) (wanted.get(metric) ?? wanted.set(metric, new Set()).get(metric)!).add(label);
      for (const metric of metrics) if (!wanted.has(metric)) wanted.set(metric, new Set());
    }
    // Metrics reach Prometheus on the agent's export interval; wait until all of them are there.
    const series = await waitFor(
      async () => {
        const found = new Map<string, Array<Record<string, string>>>();
        for (const metric of wanted.keys()) {
          const s = await prometheusSeries(metric);
          if (s.length === 0) return false;
          found.set(metric, s);
        }
        return found;
      },
      { what: `every dashboard metric in Prometheus (${[...wanted.keys()].join(', ')})`, timeoutMs: 60_000, intervalMs: 500 },
    ).catch(async (error: Error) => {
      throw new Error(`${error.message}\n${await pipelineDiagnostics()}`);
    });
    const missing: string[] = [];
    for (const [metric, labels] of wanted) {
      for (const label of labels) {
        if (!series.get(metric)!.some((s) => label in s)) missing.push(`${metric} has no label ${label}`);
      }
      if (!series.get(metric)!.some((s) => s.k8s_node_name === NODE_NAME)) missing.push(`${metric} is not labelled with its node`);
    }
    assert.deepEqual(missing, []);
  });

  it('answers every dashboard PromQL query with data', async () => {
    const queries = dashboards.flatMap(queriesOf).filter((q) => datasourceTypes.get(q.datasourceUid) === 'prometheus');
    const grafanaToProm = (expr: string) =>
      expr.replaceAll('$__rate_interval', '1m').replaceAll('$__range', '1h').replaceAll('$node', '.*');
    const empty = await waitFor(
      async () => {
        const stillEmpty: string[] = [];
        for (const query of queries) {
          if (query.expr.startsWith('label_values(')) continue;
          const url = `${prometheusUrl}/api/v1/query?query=${encodeURIComponent(grafanaToProm(query.expr))}`;
          const body = (await (await fetch(url)).json()) as { status: string; error?: string; data: { result: unknown[] } };
          assert.equal(body.status, 'success', `${query.where}: ${body.error}`);
          if (body.data.result.length === 0) stillEmpty.push(query.where);
        }
        // rate() needs two samples in its window: wait for the next exports rather than fail early.
        return stillEmpty.length === 0 ? stillEmpty : false;
      },
      { what: 'every dashboard query to return data', timeoutMs: 60_000, intervalMs: 1_000 },
    ).catch((error: Error) => error.message);
    assert.deepEqual(empty, []);
  });

  it('delivers the detection to Loki with every field the Loki queries and the trace link use', async () => {
    const record = await waitFor(
      () => loki!.readLogs().find((l) => l.attributes['kubesentry.detection.id'] === detection.id),
      { what: 'the detection log record at the Loki stand-in', timeoutMs: 30_000 },
    );
    assert.equal(record.resource['service.name'], vocabulary.serviceName);
    // What Loki's OTLP ingestion makes of the record: underscored attribute keys, plus trace_id from the record.
    const lokiFields = new Set([...Object.keys(record.attributes), ...Object.keys(record.resource)].map(underscored));
    if (record.traceId) lokiFields.add('trace_id');
    const queries = dashboards.flatMap(queriesOf).filter((q) => datasourceTypes.get(q.datasourceUid) === 'loki');
    const missing = queries.flatMap((q) =>
      logqlNames(q.expr)!.labels.filter((label) => !lokiFields.has(label)).map((label) => `${q.where}: ${label}`),
    );
    assert.deepEqual(missing, []);
    assert.equal(record.attributes['kubesentry.detection.severity'], 'critical');
    const spans = await waitFor(() => tempo!.readSpans().filter((s) => s.traceId === record.traceId).length > 0 && tempo!.readSpans(), {
      what: 'the incident trace at the Tempo stand-in',
      timeoutMs: 30_000,
    });
    assert.ok(spans.some((s) => s.traceId === record.traceId));
  });
});
