// Writes docs/configuration.md from the config schema (src/config.ts), so the page cannot drift from the code.
// `node scripts/gen-config-docs.ts` rewrites it; test/cli/config.test.ts fails when it is stale.

import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderConfigDocs } from '../src/configDocs.ts';

const target = fileURLToPath(new URL('../docs/configuration.md', import.meta.url));
writeFileSync(target, renderConfigDocs());
process.stdout.write(`wrote ${target}\n`);
