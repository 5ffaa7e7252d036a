// docs/detections.md is generated from the rules' metadata; this fails when someone changed a rule without
// regenerating it (node scripts/gen-detection-docs.ts).

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { it } from 'node:test';
import { renderDetectionDocs } from '../src/detectors/docs.ts';
import { allDetectors } from '../src/detectors/registry.ts';

it('docs/detections.md matches the rules (run: node scripts/gen-detection-docs.ts)', () => {
  const committed = readFileSync(new URL('../docs/detections.md', import.meta.url), 'utf8');
  assert.ok(committed === renderDetectionDocs(), 'docs/detections.md is stale: run node scripts/gen-detection-docs.ts');
});

it('every rule has a stable, unique id and uuid and complete metadata', () => {
  const ids = new Set<string>();
  const uuids = new Set<string>();
  for (const { meta } of allDetectors()) {
    assert.match(meta.id, /^KS-(ESC|MIN|GAP|BL)-\d{3}$/);
    assert.match(meta.uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.ok(!ids.has(meta.id) && !uuids.has(meta.uuid), `${meta.id} duplicated`);
    ids.add(meta.id);
    uuids.add(meta.uuid);
    assert.ok(meta.events.length > 0 && meta.description && meta.tuning && meta.falsePositives.length > 0, meta.id);
    assert.match(meta.mitre.technique, /^T\d{4}(\.\d{3})?$/);
  }
});
