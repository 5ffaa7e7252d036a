// Regenerates docs/detections.md from the detectors' metadata: node scripts/gen-detection-docs.ts

import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderDetectionDocs } from '../src/detectors/docs.ts';

const target = fileURLToPath(new URL('../docs/detections.md', import.meta.url));
writeFileSync(target, renderDetectionDocs());
process.stdout.write(`wrote ${target}\n`);
