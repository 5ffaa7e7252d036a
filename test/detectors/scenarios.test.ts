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
  // The baseline reports only after a learning period, which a one-shot simulation cannot give it: its end-to-end
  // coverage is test/e2e/baseline.test.ts.
  it('cover every rule but the baseline', () => {
    const covered = new Set(SCENARIOS.map((s) => s.rule));
    const missing = [...rules.values()].filter((m) => m.category !== 'baseline' && !covered.has(m.id)).map((m) => m.id);
    assert.deepEqual(missing, []);
  });
});
