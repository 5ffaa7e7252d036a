// Runs a detector's case table: one test per case, named as a sentence.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EventType, Op, OPEN_NO_PATTERN } from '../../src/receiver/events.ts';
import type { Detector } from '../../src/detectors/Detector.ts';
import { sensitivePathPatterns } from '../../src/detectors/paths.ts';
import { compilePathPattern, matchesPathPattern } from '../../src/receiver/pathPatterns.ts';
import { runCase, type Case } from './fixtures.ts';

const kernelFilter = sensitivePathPatterns().map(compilePathPattern);

export function detectorTable(make: () => Detector, cases: Case[]): void {
  const meta = make().meta;
  describe(`${meta.id} ${meta.title}`, () => {
    for (const c of cases) {
      it(c.name, () => {
        const { findings, severities } = runCase(make, c);
        assert.deepEqual(severities, c.expect);
        c.check?.(findings);
        for (const f of findings) assert.ok(f.summary.length > 0 && !f.summary.includes('\n'), 'summary is one line');
        const last = c.events.at(-1)!;
        // A record with no pattern is one the kernel emits for what its file is (bpf/open/file_identity.h), not its path.
        if (findings.length > 0 && last.type === EventType.Open && last.op !== Op.OpenByHandleAt && last.patternId !== OPEN_NO_PATTERN) {
          assert.ok(
            kernelFilter.some((p) => matchesPathPattern(p, last.path)),
            `${last.path} fires the rule but the kernel open filter would never report it`,
          );
        }
      });
    }
  });
}
