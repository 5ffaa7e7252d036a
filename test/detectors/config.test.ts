// Rules configuration validation: every mistake is one line naming where it is and what is allowed.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RulesConfigError, compileSettings, validateRulesConfig } from '../../src/detectors/config.ts';

const IDS = ['KS-ESC-001', 'KS-MIN-001'];
const KILLABLE = ['KS-ESC-001'];

const bad: [string, unknown, RegExp][] = [
  ['a config that is not an object', 'rules', /^rules config: must be an object/],
  ['an unknown top-level key', { rule: {} }, /^config\.rule: unknown key \(allowed: enforcement, beforePodMetadata, rules, settings\)$/],
  ['an unknown rule id', { rules: { 'KS-ESC-999': {} } }, /^rules\.KS-ESC-999: unknown rule id \(known: KS-ESC-001, KS-MIN-001\)$/],
  ['a misspelt rule key', { rules: { 'KS-ESC-001': { severty: 'low' } } }, /^rules\.KS-ESC-001\.severty: unknown key \(allowed: enabled, severity, exceptions, action, killIn, killExceptions\)$/],
  ['a severity that does not exist', { rules: { 'KS-ESC-001': { severity: 'urgent' } } }, /severity: must be one of critical, high, medium, low, info/],
  ['enabled given as a string', { rules: { 'KS-ESC-001': { enabled: 'no' } } }, /enabled: must be true or false/],
  ['an exception with an unknown key', { rules: { 'KS-ESC-001': { exceptions: [{ image: ['x'] }] } } }, /exceptions\[0\]\.image: unknown key/],
  ['an empty exception', { rules: { 'KS-ESC-001': { exceptions: [{}] } } }, /exceptions\[0\]: empty exception would silence the whole rule/],
  ['an exception value that is not a list', { rules: { 'KS-ESC-001': { exceptions: [{ images: 'x' }] } } }, /images: must be a list of non-empty strings/],
  ['an enforcement mode that does not exist', { enforcement: 'enforce' }, /^enforcement: must be one of off, dry-run, on$/],
  ['an action that does not exist', { rules: { 'KS-ESC-001': { action: 'block' } } }, /^rules\.KS-ESC-001\.action: must be one of alert, kill$/],
  ['action kill on a rule the kernel cannot enforce', { rules: { 'KS-MIN-001': { action: 'kill' } } }, /^rules\.KS-MIN-001\.action: kill is not supported by this rule \(rules the kernel can enforce: KS-ESC-001\)$/],
  ['a kill exception naming an executable (kills are decided per container)', { rules: { 'KS-ESC-001': { killExceptions: [{ executables: ['/bin/x'] }] } } }, /^rules\.KS-ESC-001\.killExceptions\[0\]\.executables: unknown key \(allowed: namespaces, images, workloads\)$/],
  ['an empty kill exception', { rules: { 'KS-ESC-001': { killExceptions: [{}] } } }, /killExceptions\[0\]: an empty entry would except every container; use action: alert$/],
  ['an empty killIn entry', { rules: { 'KS-ESC-001': { killIn: [{}] } } }, /killIn\[0\]: an empty entry would match every container; omit killIn$/],
  ['killIn that is not a list', { rules: { 'KS-ESC-001': { killIn: { namespaces: ['prod'] } } } }, /^rules\.KS-ESC-001\.killIn: must be a list$/],
  ['a port out of range', { settings: { miningPoolPorts: [70000] } }, /^settings\.miningPoolPorts: must be a list of port numbers 1\.\.65535$/],
  ['an unknown setting', { settings: { poolPorts: [1] } }, /^settings\.poolPorts: unknown key/],
  ['a threshold above 1', { settings: { miningConfidenceThreshold: 2 } }, /miningConfidenceThreshold: must be a number from 0\.01 to 1/],
];

describe('validateRulesConfig', () => {
  for (const [name, config, message] of bad) {
    it(`rejects ${name} with one clear line`, () => {
      assert.throws(() => validateRulesConfig(config, IDS, KILLABLE), (err: unknown) => {
        assert.ok(err instanceof RulesConfigError);
        assert.match(err.message, message);
        assert.ok(!err.message.includes('\n'));
        return true;
      });
    });
  }

  it('accepts an empty or absent config', () => {
    assert.deepEqual(validateRulesConfig(undefined, IDS), {});
    assert.deepEqual(validateRulesConfig({}, IDS), {});
  });

  it('accepts a full config', () => {
    const config = {
      rules: { 'KS-ESC-001': { enabled: true, severity: 'low', exceptions: [{ namespaces: ['ci'], executables: ['/usr/bin/buildah'] }] } },
      settings: { miningPoolPorts: [3333], miningConfidenceThreshold: 0.7, cpuSaturationSeconds: 120 },
    };
    assert.deepEqual(validateRulesConfig(config, IDS), config);
  });

  it('accepts enforcement with a kill action and kill exceptions', () => {
    const config = {
      enforcement: 'dry-run',
      rules: { 'KS-ESC-001': { action: 'kill', killIn: [{ namespaces: ['prod-*'] }], killExceptions: [{ namespaces: ['ci'], images: ['kaniko*'], workloads: ['Deployment/x'] }] } },
    };
    assert.deepEqual(validateRulesConfig(config, IDS, KILLABLE), config);
  });
});

describe('compileSettings', () => {
  it('turns seconds into nanoseconds and lists into sets, lower-casing names', () => {
    const s = compileSettings({ cpuSaturationSeconds: 1.5, minerExecutables: ['XMRig'], miningPoolDomains: ['.Pool.Example.'] });
    assert.equal(s.cpuSaturationNs, 1_500_000_000n);
    assert.ok(s.minerExecutables.has('xmrig'));
    assert.deepEqual(s.miningPoolDomains, ['pool.example']);
  });
});
