// The simulation table stays consistent with the rules and the simulator programs.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import { SCENARIOS, programsOf } from '../../src/simulate/scenarios.ts';
import { allDetectors } from '../../src/detectors/registry.ts';

const rules = new Map(allDetectors().map((d) => [d.meta.id, d.meta]));

describe('simulation scenarios', () => {
  it('have unique names', () => {
    assert.equal(new Set(SCENARIOS.map((s) => s.name)).size, SCENARIOS.length);
  });
  for (const s of SCENARIOS) {
    it(`${s.name} expects an existing rule and uses programs that exist in simulator/progs`, () => {
      assert.ok(rules.has(s.rule), `${s.rule} is not a rule`);
      for (const program of programsOf(s)) {
        assert.ok(existsSync(new URL(`../../simulator/progs/${program}.c`, import.meta.url)), `simulator/progs/${program}.c`);
      }
    });
  }
  it('cover every rule', () => {
    const covered = new Set(SCENARIOS.map((s) => s.rule));
    const missing = [...rules.keys()].filter((id) => !covered.has(id));
    assert.deepEqual(missing, []);
  });
});
