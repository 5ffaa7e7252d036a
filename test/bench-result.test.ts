// The RESULT line format that bench/run.ts collects from every bench (bench/result.ts).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatResult, meetsGoal, parseResult } from '../bench/result.ts';

test('a result with a goal survives formatting and parsing', () => {
  const line = formatResult({ name: 'latency.p99', value: 12.3456789, unit: 'ms', goal: { op: '<=', value: 100 } });
  assert.equal(line, 'RESULT latency.p99 12.3457 ms goal <= 100');
  assert.deepEqual(parseResult(line), { name: 'latency.p99', value: 12.3457, unit: 'ms', goal: { op: '<=', value: 100 } });
});

test('a result without a goal parses without one and is neither met nor missed', () => {
  const r = parseResult('RESULT load.events_per_s 10392 events/s');
  assert.deepEqual(r, { name: 'load.events_per_s', value: 10392, unit: 'events/s' });
  assert.equal(meetsGoal(r!), undefined);
});

test('goals are judged in their direction', () => {
  assert.equal(meetsGoal({ name: 'a', value: 150.1, unit: 'MB', goal: { op: '<=', value: 150 } }), false);
  assert.equal(meetsGoal({ name: 'a', value: 150, unit: 'MB', goal: { op: '<=', value: 150 } }), true);
  assert.equal(meetsGoal({ name: 'a', value: 0.8e6, unit: 'records/s', goal: { op: '>=', value: 1e6 } }), false);
});

test('ordinary output and malformed RESULT lines are not results', () => {
  assert.equal(parseResult('decoder: 812,543 records/s'), undefined);
  assert.equal(parseResult('RESULT only-a-name'), undefined);
  assert.equal(parseResult('RESULT x 12 ms goal ~ 3'), undefined);
});

test('a name or unit with a space is refused with a message naming it', () => {
  assert.throws(() => formatResult({ name: 'p 99', value: 1, unit: 'ms' }), /name must be one word, got "p 99"/);
});
