// Memory of the behavioural baseline (src/baseline/): the heap a node's worth of profiles costs — 2,000 profiles
// (baseline.maxProfiles) of a typical size (40 learned items, 8 containers), and one profile with every class at
// its cap — and whether a workload asking 10,000 distinct domains stays bounded (its DNS class saturates at 512
// and learns nothing more). Heap deltas after full GCs, in one process. Run: node bench/baseline-memory.ts

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { BaselineDetector } from '../src/baseline/BaselineDetector.ts';
import { CLASS_CAPS, BASELINE_CLASSES } from '../src/baseline/classes.ts';
import { Profile } from '../src/baseline/Profile.ts';
import { compileSettings } from '../src/detectors/config.ts';
import type { DetectionContext } from '../src/detectors/Detector.ts';
import { PayloadKind } from '../src/receiver/events.ts';
import { CONTAINER_SEEN_NS, FakeAgent, dnsQuery, ev } from '../test/detectors/fixtures.ts';
import { reportResult } from './result.ts';

const PROFILES = 2000;
const TYPICAL_ITEMS = 40;
const DOMAINS = 10_000;
const GOAL_BYTES = 64 * 1024 * 1024;

if (typeof globalThis.gc !== 'function') {
  const child = spawn(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url)], { stdio: 'inherit' });
  const [code] = await once(child, 'exit');
  process.exitCode = code ?? 1;
} else {
  measure();
}

function settledHeap(): number {
  for (let i = 0; i < 4; i++) globalThis.gc!();
  return process.memoryUsage().heapUsed;
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(2)} MiB`;
}

/** A stable profile with `items` learned items spread over the classes, as the detector would hold it. */
function profile(key: string, items: number, containers: number): Profile {
  const now = Date.now();
  const p = new Profile(key, now - 7_200_000);
  for (let i = 0; i < items; i++) {
    const cls = BASELINE_CLASSES[i % BASELINE_CLASSES.length];
    p.classes[cls].learn(`/usr/lib/app-${key.length}/${cls}/component-${i.toString(36)}x [root]`, now - 7_000_000, 1_000_000);
  }
  for (let c = 0; c < containers; c++) p.warmingUp(`${key}-${c}`.padEnd(64, '0'), now, now, 0);
  return p;
}

function measure(): void {
  const detector = new BaselineDetector();
  const before = settledHeap();
  for (let i = 0; i < PROFILES; i++) detector.restore(profile(`ns-${i % 50}/Deployment/app-${i}/main`, TYPICAL_ITEMS, 8).snapshot());
  const typical = settledHeap() - before;
  process.stdout.write(`${PROFILES} profiles of ${TYPICAL_ITEMS} items: ${mib(typical)} (${Math.round(typical / PROFILES)} B each)\n`);

  const beforeFull = settledHeap();
  const full = new Profile('ns/Deployment/full/main', Date.now());
  for (const cls of BASELINE_CLASSES) {
    for (let i = 0; i < CLASS_CAPS[cls]; i++) full.classes[cls].learn(`/opt/vendor/${cls}/a-rather-long-path-component/${i.toString(36)}y`, Date.now(), 1_000_000);
  }
  const fullBytes = settledHeap() - beforeFull;
  process.stdout.write(`one profile with every class at its cap: ${mib(fullBytes)}\n`);

  // 10,000 distinct domains from one learning workload, through the detector.
  const agent = new FakeAgent();
  const floodDetector = new BaselineDetector();
  let nowNs = CONTAINER_SEEN_NS;
  const ctx: DetectionContext = {
    settings: compileSettings(undefined),
    process: (tgid) => agent.process(tgid),
    container: (e) => agent.container(e),
    ancestry: (tgid) => agent.ancestry(tgid),
    workload: () => ({ image: 'flood' }),
    hostNamespaces: agent.hostNamespaces,
    get nowNs() {
      return nowNs;
    },
    bootToWallNs: (ns) => agent.bootToWallNs(ns),
  };
  const ask = (from: number, to: number) => {
    for (let i = from; i < to; i++) {
      nowNs += 1_000_000n;
      floodDetector.onEvent(ev.payload({ kind: PayloadKind.DnsQuery, port: 53, data: dnsQuery(`q${(i * 2654435761 % 4294967296).toString(36)}z.example`) }), ctx);
    }
  };
  ask(0, 600);
  const atCap = settledHeap();
  ask(600, DOMAINS);
  const grown = settledHeap() - atCap;
  const state = floodDetector.profile('image/flood')!.classes.dns.state;
  process.stdout.write(`${DOMAINS} distinct domains: DNS class ${state}; heap growth after the cap ${mib(Math.max(0, grown))}\n`);

  reportResult('baseline.heap_2000_profiles', typical / 1024 / 1024, 'MiB', { op: '<=', value: GOAL_BYTES / 1024 / 1024 });
  reportResult('baseline.heap_full_profile', fullBytes / 1024 / 1024, 'MiB');
  reportResult('baseline.heap_growth_after_saturation', Math.max(0, grown) / 1024, 'KiB');
}
