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
import { DETECTION_ATTRIBUTE_KEYS } from '../src/detectors/attributeKeys.ts';
import { MetricNames } from '../src/otel/metricNames.ts';
import { run, runOrThrow } from './helpers/run.ts';

const ROOT = resolve(import.meta.dirname, '..');
const DASHBOARD_DIR = join(ROOT, 'deploy/grafana/dashboards');
const DATASOURCES = join(ROOT, 'deploy/grafana/provisioning/datasources/kubesentry.yaml');
const PROMETHEUS_CONFIG = join(ROOT, 'deploy/compose/prometheus.yaml');
const RECORDS_SOURCE = join(ROOT, 'src/otel/internal/records.ts');
const TELEMETRY_CONFIG_SOURCE = join(ROOT, 'src/otel/TelemetryConfig.ts');

/** Keys the OTLP log exporter (src/otel/internal/records.ts) adds to every detection record on top of its attributes. */
const EXPORTER_ADDED_LOG_KEYS = [
  'kubesentry.detection.id',
  'kubesentry.detection.severity',
  'kubesentry.process.ancestry',
  'security_rule.name',
  'security_rule.category',
];
/** Resource attributes the agent sets (src/otel/TelemetryConfig.ts); Loki keeps them as labels or metadata. */
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

function loadVocabulary(): Vocabulary {
  const records = readFileSync(RECORDS_SOURCE, 'utf8');
  for (const key of EXPORTER_ADDED_LOG_KEYS) {
    assert.ok(records.includes(`'${key}'`), `${key} is listed as exporter-added but records.ts no longer sets it`);
  }
  const telemetryConfig = readFileSync(TELEMETRY_CONFIG_SOURCE, 'utf8');
  for (const key of AGENT_RESOURCE_KEYS) {
    assert.ok(telemetryConfig.includes(`'${key}'`), `${key} is listed as a resource attribute but TelemetryConfig.ts does not set it`);
  }
  const serviceName = /set\('service\.name',[^\n]*\?\? '([^']+)'\)/.exec(telemetryConfig)?.[1];
  assert.ok(serviceName, 'cannot find the default service.name in TelemetryConfig.ts');

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

/** Problems with one PromQL query, as sentences; empty when every name is one the agent emits. */
function checkPromQL(query: Query, vocabulary: Vocabulary): string[] {
  const problems: string[] = [];
  let { labels, rest } = splitLabels(query.expr);
  const labelValues = /label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)\s*,\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)/.exec(rest);
  if (labelValues) {
    labels.push(labelValues[2]);
    rest = rest.replace(labelValues[0], ` ${labelValues[1]} `);
  }
  const identifiers = [...rest.replaceAll(/\$\w+/g, ' ').matchAll(/\b[A-Za-z_:][A-Za-z0-9_:]*\b/g)].map((m) => m[0]);
  const metrics = identifiers.filter((id) => !PROMQL_WORDS.has(id) && !/^\d/.test(id));
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

/** Problems with one LogQL query. Stream selectors may only use index labels; filters any emitted field. */
function checkLogQL(query: Query, vocabulary: Vocabulary): string[] {
  const problems: string[] = [];
  const selector = /\{([^}]*)\}/.exec(query.expr);
  if (!selector) return [`${query.where}: no stream selector`];
  for (const m of selector[1].matchAll(/([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)"/g)) {
    if (!vocabulary.lokiIndexLabels.has(m[1])) problems.push(`${query.where}: ${m[1]} is not a Loki index label for the agent's records`);
    if (m[1] === 'service_name' && m[3] !== vocabulary.serviceName) {
      problems.push(`${query.where}: service_name "${m[3]}" is not the agent's service.name "${vocabulary.serviceName}"`);
    }
  }
  const pipeline = query.expr.slice(selector.index + selector[0].length).replaceAll(/"(?:[^"\\]|\\.)*"/g, '""');
  const labels: string[] = [];
  for (const m of pipeline.matchAll(/\|\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=|>=|<=|>|<)/g)) labels.push(m[1]);
  for (const m of query.expr.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)) {
    labels.push(...m[1].split(',').map((l) => l.trim()).filter(Boolean));
  }
  for (const label of labels) {
    if (!vocabulary.lokiFields.has(label) && !vocabulary.lokiIndexLabels.has(label)) {
      problems.push(`${query.where}: ${label} is not an attribute the agent emits on detection records`);
    }
  }
  problems.push(...checkLegend(query, labels));
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
const vocabulary = loadVocabulary();
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
