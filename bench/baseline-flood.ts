// The real agent's memory while one container asks 10,000 distinct domains (the baseline's DNS class of its profile
// must end saturated and the agent's RSS bounded), as a ratio to the same agent in the same run after the same
// number of queries of a few known names. Three phases on one agent and one busybox container (root, kernel, podman):
//   known    10,000 queries of 10 names, over and over (what a normal workload's resolver does)
//   distinct 10,000 queries of distinct names: the DNS class learns 512 and saturates, the rest is counted
//   more     10,000 more distinct names: after the cap nothing more is kept
// RSS is the agent's VmRSS a few seconds after each phase (no forced GC: the agent's heap as it runs).
// Run: node bench/baseline-flood.ts [--queries 10000]

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startAgent, type RunningAgent } from '../test/helpers/agent.ts';
import { startContainer, type Container } from '../test/helpers/podman.ts';
import { waitFor } from '../test/helpers/wait.ts';
import { freeLoopbackPort } from '../test/otelcol/collector.ts';
import { SIMULATOR_BUILD_DIR, SIMULATOR_MOUNT } from '../src/simulate/scenarios.ts';
import { reportResult } from './result.ts';

const { values } = parseArgs({ options: { queries: { type: 'string', default: '10000' } } });
const QUERIES = Number(values.queries);
if (!Number.isInteger(QUERIES) || QUERIES < 1000) {
  console.error(`baseline-flood: --queries must be a whole number ≥ 1000, got ${values.queries}`);
  process.exit(2);
}
const SIMULATOR_DIR = fileURLToPath(new URL(`../${SIMULATOR_BUILD_DIR}`, import.meta.url));
if (!existsSync(path.join(SIMULATOR_DIR, 'dns_query'))) {
  console.error(`baseline-flood: ${SIMULATOR_DIR}/dns_query is missing (make simulator)`);
  process.exit(2);
}
/** Settling time after a phase before RSS is read: the agent drains the ring and runs its timers. */
const SETTLE_MS = 4000;
const BATCH = 1000;

/** `count` distinct names of 12 random lower-case letters under flood.example, the same for the same seed. */
function randomNames(seed: number, count: number): string[] {
  let x = seed >>> 0 || 1;
  const next = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % 26;
  };
  const names = new Set<string>();
  while (names.size < count) names.add(`${Array.from({ length: 12 }, () => String.fromCharCode(97 + next())).join('')}.flood.example`);
  return [...names];
}

interface PersistedClass {
  state: string;
  items: string[];
  patterns: string[];
}

let agent: RunningAgent | undefined;
let container: Container | undefined;
try {
  const metricsPort = await freeLoopbackPort();
  agent = await startAgent({
    args: [
      '--baseline.min-learning-ms', '600000', // the DNS class stays learning: it ends saturated by its cap alone
      '--baseline.warmup-ms', '1000',
      '--baseline.persist-interval-ms', '500',
      // One container flooding on purpose: its records must all reach the detector.
      '--kernel.hot-records-per-second', '0',
      '--prometheus.listen', `127.0.0.1:${metricsPort}`,
    ],
  });
  const pid = agent.process.pid;
  container = await startContainer({ extraArgs: ['-v', `${SIMULATOR_DIR}:${SIMULATOR_MOUNT}:ro`] });
  const c = container;
  const profileKey = `container/${c.id}`;
  const dnsClass = (): PersistedClass | undefined => {
    const dir = path.join(agent!.stateDir, 'baseline');
    if (!existsSync(dir)) return undefined;
    for (const name of readdirSync(dir).filter((n) => n.endsWith('.json'))) {
      const p = JSON.parse(readFileSync(path.join(dir, name), 'utf8'));
      if (p.key === profileKey) return p.classes.dns as PersistedClass;
    }
    return undefined;
  };
  const metric = async (pattern: RegExp): Promise<number> => {
    const text = await fetch(`http://127.0.0.1:${metricsPort}/metrics`).then((r) => r.text());
    return text.split('\n').filter((l) => pattern.test(l)).reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0);
  };
  const received = () => metric(/^kubesentry_events_received_total\{[^}]*event_type="payload"/);
  const dropped = () => metric(/^kubesentry_events_kernel_dropped_by_reason_total\{[^}]*event_type="payload"/);
  const saturatedCount = () => metric(/^kubesentry_baseline_deviations_suppressed_total\{[^}]*suppress_reason="saturated"/);
  const rssMb = (): number => {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
    return Number(line?.split(/\s+/)[1]) / 1024;
  };

  /**
   * Sends QUERIES queries: `distinct` names (random letters, so no two share a shape that would collapse them into
   * one learned pattern, as an attacker's generated names would not), repeated until QUERIES, in batches of 1,000
   * per process so the flood is paced by the execs rather than dropped by the kernel's ring.
   */
  const flood = async (seed: number, distinct: number): Promise<{ seconds: number; received: number; dropped: number }> => {
    const names = randomNames(seed, distinct);
    const [r0, d0] = [await received(), await dropped()];
    const started = performance.now();
    for (let from = 0; from < QUERIES; from += BATCH) {
      const batch = Array.from({ length: Math.min(BATCH, QUERIES - from) }, (_, i) => names[(from + i) % distinct]);
      const r = await c.exec(['sh', '-c', `xargs ${SIMULATOR_MOUNT}/dns_query > /dev/null`], { input: batch.join('\n'), timeoutMs: 60_000 });
      if (r.code !== 0) throw new Error(`flood failed (${r.code}): ${r.stderr}`);
    }
    const seconds = (performance.now() - started) / 1000;
    // Every query is in once the received + dropped counts stop moving.
    let last = -1;
    await waitFor(async () => {
      const now = (await received()) + (await dropped());
      const settled = now === last;
      last = now;
      return settled;
    }, { what: 'the agent caught up', timeoutMs: 120_000, intervalMs: 1000 });
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS)); // a measurement interval, not a synchronisation
    return { seconds, received: (await received()) - r0, dropped: (await dropped()) - d0 };
  };

  // The container's warm-up passes, and the profile exists.
  await c.exec(['sh', '-c', `${SIMULATOR_MOUNT}/dns_query warm.flood.example > /dev/null`]);
  await waitFor(() => dnsClass(), { what: 'the profile written', timeoutMs: 30_000 });

  const known = await flood(1, 10);
  const rssKnown = rssMb();
  const afterKnown = dnsClass()!;
  console.log(`known: ${QUERIES} queries of 10 names in ${known.seconds.toFixed(1)} s; received ${known.received}, dropped ${known.dropped}; ` +
    `DNS class ${afterKnown.state} with ${afterKnown.items.length} items; agent RSS ${rssKnown.toFixed(1)} MB`);

  const distinct = await flood(2, QUERIES);
  const rssDistinct = rssMb();
  const afterDistinct = dnsClass()!;
  const saturatedAfterDistinct = await saturatedCount();
  console.log(`distinct: ${QUERIES} distinct names in ${distinct.seconds.toFixed(1)} s; received ${distinct.received}, dropped ${distinct.dropped}; ` +
    `DNS class ${afterDistinct.state} with ${afterDistinct.items.length + afterDistinct.patterns.length} items, ` +
    `${saturatedAfterDistinct} novelties counted past the cap; agent RSS ${rssDistinct.toFixed(1)} MB`);

  const more = await flood(3, QUERIES);
  const rssMore = rssMb();
  const afterMore = dnsClass()!;
  console.log(`more: ${QUERIES} more distinct names in ${more.seconds.toFixed(1)} s; received ${more.received}, dropped ${more.dropped}; ` +
    `DNS class ${afterMore.state} with ${afterMore.items.length + afterMore.patterns.length} items, ` +
    `${await saturatedCount()} counted past the cap; agent RSS ${rssMore.toFixed(1)} MB`);

  if (afterDistinct.state !== 'saturated') console.log(`NOTE: the DNS class is ${afterDistinct.state}, not saturated`);
  reportResult('baseline_flood.rss_known', rssKnown, 'MB');
  reportResult('baseline_flood.rss_distinct_ratio', rssDistinct / rssKnown, 'x');
  reportResult('baseline_flood.rss_more_ratio', rssMore / rssKnown, 'x');
  reportResult('baseline_flood.dns_items', afterMore.items.length + afterMore.patterns.length, 'items');
} finally {
  await container?.remove().catch(() => {});
  await agent?.stop().catch(() => {});
}
