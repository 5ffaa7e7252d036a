// The configuration contract: one schema gives the file format, the flags, the defaults and the errors.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseCommandLine } from '../../src/cli.ts';
import { ConfigError, configFlags, resolveConfig } from '../../src/config.ts';
import { renderConfigDocs } from '../../src/configDocs.ts';
import { writeTemp } from './temp.ts';

test('defaults fill every section when no file or flag is given', () => {
  const { config } = parseCommandLine(['run']);
  assert.equal(config.kernel.ringBytes, 8 << 20);
  assert.equal(config.spool.maxBytes, 256 << 20);
  assert.deepEqual(config.outputs, []);
});

test('a flag overrides the file, and --output is the short form of --outputs', () => {
  const file = writeTemp('cfg.yaml', 'kernel:\n  ringBytes: 4096\nlogLevel: warn\n');
  const { config, args } = parseCommandLine(['run', '--config', file, '--kernel.ring-bytes', '65536', '--output', 'jsonl:/tmp/a', '--output=jsonl:/tmp/b']);
  assert.equal(config.kernel.ringBytes, 65536);
  assert.equal(config.logLevel, 'warn');
  assert.deepEqual(config.outputs, ['jsonl:/tmp/a', 'jsonl:/tmp/b']);
  assert.deepEqual(args, []);
});

test('an unknown key in the file is an error that names the key and the file', () => {
  const file = writeTemp('bad.yaml', 'kernel:\n  ringbytes: 4096\n');
  assert.throws(() => parseCommandLine(['run', '--config', file]), (e: Error) => {
    assert.ok(e instanceof ConfigError);
    assert.equal(e.message, `${file}: unknown config key 'kernel.ringbytes'`);
    return true;
  });
});

test('a value of the wrong type is an error naming the key', () => {
  assert.throws(() => parseCommandLine(['run', '--kernel.ring-bytes', 'lots']), /--kernel.ring-bytes: expected a whole number/);
  const file = writeTemp('type.yaml', 'spool:\n  fsync: sometimes\n');
  assert.throws(() => parseCommandLine(['run', '--config', file]), /spool.fsync must be equal to one of the allowed values/);
});

test('headers flag takes key=value pairs like OTEL_EXPORTER_OTLP_HEADERS', () => {
  const { config } = parseCommandLine(['run', '--otlp.headers', 'authorization=Bearer%20x,tenant=a']);
  assert.deepEqual(config.otlp.headers, { authorization: 'Bearer x', tenant: 'a' });
});

test('listen addresses take ${VAR} from the environment, so the chart can bind to the pod IP', () => {
  const raw = { health: { listen: '${POD_IP}:8080' }, prometheus: { listen: '${POD_IP}:9464' } };
  const config = resolveConfig(raw, 'chart.yaml', { POD_IP: '10.244.1.7' });
  assert.equal(config.health.listen, '10.244.1.7:8080');
  assert.equal(config.prometheus.listen, '10.244.1.7:9464');
  assert.equal(resolveConfig({ health: { listen: '${POD_IP}:8080' } }, 'chart.yaml', { POD_IP: 'fd00::7' }).health.listen, 'fd00::7:8080');
  // Nothing but listen addresses is expanded: a ${...} elsewhere is kept as written.
  assert.equal(resolveConfig({ clusterName: '${POD_IP}' }, 'chart.yaml', { POD_IP: '10.244.1.7' }).clusterName, '${POD_IP}');
});

test('an unset variable in a listen address is an error naming the key and the variable, never an empty host', () => {
  // An empty host would mean every address, the very thing binding to the pod IP avoids.
  for (const env of [{}, { POD_IP: '' }]) {
    assert.throws(() => resolveConfig({ health: { listen: '${POD_IP}:8080' } }, 'chart.yaml', env), (e: Error) => {
      assert.ok(e instanceof ConfigError);
      assert.equal(e.message, 'chart.yaml: health.listen uses ${POD_IP}, which is not set in the environment');
      return true;
    });
  }
  assert.throws(
    () => resolveConfig({ prometheus: { listen: '${1bad}:9464' } }, 'chart.yaml', {}),
    /chart\.yaml: prometheus\.listen has an invalid variable reference '\$\{1bad\}'/,
  );
});

test('every config key has a flag', () => {
  const flags = [...configFlags().keys()];
  assert.ok(flags.includes('--otlp.endpoint'));
  assert.ok(flags.includes('--process-table.max-entries'));
});

test('docs/configuration.md is generated from the schema and up to date (node scripts/gen-config-docs.ts)', () => {
  const onDisk = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
  assert.equal(onDisk, renderConfigDocs());
});
