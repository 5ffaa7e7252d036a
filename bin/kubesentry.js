#!/usr/bin/env node
// The package's bin. The agent is TypeScript run by Node 24's type stripping: this shim checks the Node version
// first, so that an old Node fails with a sentence instead of a syntax error, and bounds the V8 heap of `run`.
const [major] = process.versions.node.split('.').map(Number);
if (major < 24) {
  process.stderr.write(`kubesentry: needs Node.js 24 or newer, this is ${process.version} (see README: Quick start)\n`);
  process.exit(2);
}

// The agent's live heap is a few tens of MB, but V8 sizes the young generation for throughput and lets RSS climb by
// ~100 MB under load (docs/benchmarks.md). V8 reads heap limits only at start-up, so the long-running agent replaces
// itself (same pid, via execve) with a Node that has them; heap flags the operator gave (on the command line or in
// NODE_OPTIONS) win, and KUBESENTRY_V8_HEAP_FLAGS=off keeps V8's defaults.
// glibc gives each thread that allocates (V8's compiler and GC workers, libuv's pool) an arena of its own, which
// keeps its peak: two arenas cut ~12 MB of RSS under load at no measurable CPU cost (an operator's value wins).
const HEAP_FLAGS = ['--max-semi-space-size=1'];
const operatorFlags = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
if (
  process.argv[2] === 'run' &&
  process.env.KUBESENTRY_V8_HEAP_FLAGS !== 'off' &&
  typeof process.execve === 'function' &&
  !operatorFlags.some((flag) => /^--max[-_](semi|old)[-_]space[-_]size/.test(flag))
) {
  const env = { MALLOC_ARENA_MAX: '2', ...process.env };
  process.execve(process.execPath, [process.execPath, ...HEAP_FLAGS, ...process.execArgv, ...process.argv.slice(1)], env);
}

const { main } = await import('../src/cli.ts');
process.exitCode = await main(process.argv.slice(2));
