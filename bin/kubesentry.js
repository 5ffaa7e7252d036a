#!/usr/bin/env node
// The package's bin. The agent is TypeScript run by Node 24's type stripping; this shim only checks the Node
// version first, so that an old Node fails with a sentence instead of a syntax error.
const [major] = process.versions.node.split('.').map(Number);
if (major < 24) {
  process.stderr.write(`kubesentry: needs Node.js 24 or newer, this is ${process.version} (see README: Quick start)\n`);
  process.exit(2);
}
const { main } = await import('../src/cli.ts');
process.exitCode = await main(process.argv.slice(2));
