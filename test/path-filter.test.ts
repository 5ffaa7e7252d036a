// The in-kernel open filter's index (bpf/open/path_index.h) against the user-space matcher: for the agent's real
// pattern list plus patterns chosen to hit the index's edges (keys shorter than KS_PATH_KEY_BYTES, patterns sharing
// a key, prefixes ending around the 8- and 15-byte head words), every path must be reported with exactly the lowest
// pattern index matchesPathPattern() finds, or not at all. Needs root and kernel BTF; never skipped.

import assert from 'node:assert/strict';
import { openSync, closeSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { createDecoderStats, decodeBatch } from '../src/receiver/decoder.ts';
import { EventType, OpenPathSource, type KernelEvent } from '../src/receiver/events.ts';
import {
  compilePathPatterns,
  openKernelSource,
  pathHeadBucket,
  pathHeadKey,
  pathPatternIndex,
  PATH_HEAD_KEY_BYTES,
  type KernelSource,
} from '../src/receiver/kernel.ts';
import { sensitivePathPatterns } from '../src/detectors/paths.ts';
import { compilePathPattern, matchesPathPattern, pathPatternLeaf } from '../src/receiver/pathPatterns.ts';
import { waitFor } from './helpers/wait.ts';

const SENTINEL = `/tmp/ks-pf-sentinel-${process.pid}`;
const EDGE_PATTERNS = [
  '/tmp/ks-pf-exact', // shares its key with the next one and comes first: its index must win
  '/tmp/ks-pf-*',
  '/q*', // a 2-byte key
  '/tmp/ks-pf-abcd', // 15 bytes: ends in the head's second word
  '/tmp/ks-pf-0123456789abcdefghi*', // exactly 31 bytes: the whole of stage 2's head
  '/tmp/ks-pf-0123456789abcdefghijk*', // longer than the head: bytes past it are checked only by the full match
  '/tmp/ks-pf-1234*x',
  `${SENTINEL}*`,
];
const PATTERNS = [...sensitivePathPatterns(), ...EDGE_PATTERNS];

// Opened by this process; the opens fail (or succeed read-only) either way, the tracepoint sees the path.
const PATHS = [
  '/etc/ld.so.cache',
  '/usr/lib/x86_64-linux-gnu/libc.so.6',
  '/usr/libexec/podman/conmonx',
  '/usr/libexec/podman/conmo',
  'relative/ks-pf',
  '',
  '/',
  '/q',
  '/r',
  '/run/ks-pf-missing.sock',
  '/run/ks-pf-missing.sockx',
  '/run/',
  '/run',
  '/tmp/ks-pf-dir/release_agent',
  '/tmp/ks-pf-dir/notify_on_release',
  '/tmp/ks-pf-exact',
  '/tmp/ks-pf-exac',
  '/tmp/ks-pf-other',
  '/tmp/ks-pf-abcd',
  '/tmp/ks-pf-abce',
  '/tmp/ks-pf-0123456789abcdefghi',
  '/tmp/ks-pf-0123456789abcdefghX',
  '/tmp/ks-pf-0123456789abcdefghiX',
  '/tmp/ks-pf-0123456789abcdefghij',
  '/tmp/ks-pf-0123456789abcdefghijk-more',
  '/tmp/ks-pf-0123456789abcdefghijX-more',
  '/tmp/ks-pf-1234-x',
  '/tmp/ks-pf-1235-x',
  '/tmp/ks-pf-1234-y',
  '/tmp/k',
  '/tmp/',
  '/proc/999999999/uid_map',
  '/proc/999999999/root',
  '/proc/999999999/root/etc/ks-pf',
  '/proc/999999999/rootx',
  '/proc/sys/kernel/core_patternx',
  '/dev/sd',
  '/dev/sdzz-ks-pf',
  '/dev/s',
  '/dev/xvdzz-ks-pf',
  '/dev/cpu/999/msr',
  '/dev/cpu/999/msrx',
  '/sys/fs/cgroup/ks-pf-missing/release_agent',
  '/sys/fs/cgroupx/ks-pf-missing/release_agent',
  '/var/run/ks-pf-missing.sock',
  '/var/lib/kubelet/pods/ks-pf/volumes/kubernetes.io~secret/x',
  '/var/lib/kubelet/pods/ks-pf/volumes/kubernetes.io~configmap/x',
  '/etc/kubernetes/ks-pf-missing.conf',
  '/etc/kubernetes/ks-pf-missing.confx',
];

describe('open filter index', () => {
  const compiled = compilePathPatterns(PATTERNS);

  test("indexes a pattern's leaf, the literal start of its last component, only when it has one", () => {
    const leaves: Array<[string, string | null]> = [
      ['/proc/sys/kernel/core_pattern', 'core_pattern'],
      ['/sys/fs/cgroup*/release_agent', 'release_agent'],
      ['/proc/*/mem', 'mem'],
      ['/dev/sd*', 'sd'],
      ['/usr/bin/containerd-shim*', 'containerd-shim'],
      ['/etc/kubernetes/pki/*', null],
      ['/etc/kubernetes/*.conf', null],
      ['/proc/*/root/*', null],
      ['/', null],
    ];
    for (const [pattern, leaf] of leaves) assert.equal(pathPatternLeaf(compilePathPattern(pattern)), leaf, pattern);
    const { leaves: index } = pathPatternIndex(compiled);
    const leafMask = [...index.buckets.values()].reduce((a, b) => a | b, 0n);
    for (const [i, pattern] of compiled.entries()) {
      assert.equal((leafMask >> BigInt(i)) & 1n, pathPatternLeaf(pattern) === null ? 0n : 1n, PATTERNS[i]);
    }
  });

  test('keys every prefix by at most its first PATH_HEAD_KEY_BYTES bytes, each pattern in its key\'s bucket', () => {
    const { buckets, keyLengths } = pathPatternIndex(compiled);
    assert.equal(pathHeadKey('/tmp/ks-pf-exact'), pathHeadKey('/tmp/k'));
    assert.notEqual(pathHeadKey('/run/'), pathHeadKey('/run/\0'), 'the byte count is part of the key');
    const tmpMask = buckets.get(pathHeadBucket(pathHeadKey('/tmp/k'))) ?? 0n;
    for (const pattern of ['/tmp/ks-pf-exact', '/tmp/ks-pf-*']) {
      assert.equal((tmpMask >> BigInt(PATTERNS.indexOf(pattern))) & 1n, 1n, pattern);
    }
    assert.equal(keyLengths & (1n << 2n), 1n << 2n, "'/q*' needs a 2-byte key");
    assert.equal(keyLengths >> BigInt(PATH_HEAD_KEY_BYTES + 1), 0n, 'no key is longer than PATH_HEAD_KEY_BYTES');
    let covered = 0n;
    for (const mask of buckets.values()) {
      assert.equal(covered & mask, 0n, 'each pattern is in one bucket');
      covered |= mask;
    }
    assert.equal(covered, (1n << BigInt(PATTERNS.length)) - 1n);
    assert.ok([...buckets.keys()].every((bucket) => Number.isInteger(bucket) && bucket >= 0 && bucket < 1024));
  });

  describe('in the kernel', () => {
    const opens: Extract<KernelEvent, { type: typeof EventType.Open }>[] = [];
    let source: KernelSource;

    before(() => {
      // The opens come from this very process, so it must not be the agent the kernel filters out.
      source = openKernelSource({ agentTgid: 0x7fffffff, pathPatterns: PATTERNS, wakeupBatchBytes: 0 });
      const stats = createDecoderStats();
      source.start((batch) =>
        decodeBatch(
          batch,
          (event) => {
            if (event.type === EventType.Open && event.tgid === process.pid) opens.push(event);
          },
          stats,
        ),
      );
    });
    after(() => source?.close());

    test('reports each path with the lowest index of the patterns it matches, and only those', async () => {
      for (const path of PATHS) {
        try {
          closeSync(openSync(path, 'r'));
        } catch {
          // missing or not openable: the open was still attempted
        }
      }
      try {
        openSync(SENTINEL, 'r');
      } catch {}
      // The ring keeps one thread's records in order: once the sentinel is in, every earlier open is too.
      await waitFor(() => opens.some((open) => open.path === SENTINEL), { what: `the sentinel open ${SENTINEL}` });

      const expected = PATHS.map((path) => [path, compiled.findIndex((pattern) => matchesPathPattern(pattern, path))] as const)
        .filter(([, index]) => index >= 0)
        .map(([path, index]) => `${path} -> ${PATTERNS[index]}`);
      const reported = opens
        .filter((open) => open.path !== SENTINEL && PATHS.includes(open.path))
        .map((open) => `${open.path} -> ${PATTERNS[open.patternId]}`);
      assert.deepEqual(reported, expected);
      // Nothing this process opened besides the list (Node's own file reads) may match a pattern it does not.
      for (const open of opens) {
        assert.ok(matchesPathPattern(compiled[open.patternId]!, open.path), `${open.path} does not match ${PATTERNS[open.patternId]}`);
      }
    });

    test("matches an opened file's resolved path when the caller's string does not, and says so", async () => {
      const dir = mkdtempSync('/tmp/ks-zz-');
      const file = `/tmp/ks-pf-resolved-${process.pid}`;
      const sentinel = `${SENTINEL}-resolved`;
      try {
        writeFileSync(file, '');
        writeFileSync(`${dir}/mem`, ''); // a leaf of /proc/*/mem: rebuilt, then matches nothing
        symlinkSync(file, `${dir}/link`);
        const callers = [`${dir}/link`, `/etc/..${file}`, `/${file}`, `${dir}/mem`];
        for (const caller of callers) closeSync(openSync(caller, 'r'));
        try {
          openSync(sentinel, 'r');
        } catch {}
        await waitFor(() => opens.some((open) => open.path === sentinel), { what: `the sentinel open ${sentinel}` });
        const reported = opens
          .filter((open) => callers.includes(open.callerPath) || callers.includes(open.path))
          .map((open) => [open.callerPath, open.path, open.pathSource, PATTERNS[open.patternId], open.result >= 0]);
        assert.deepEqual(reported, callers.slice(0, 3).map((caller) => [caller, file, OpenPathSource.Resolved, '/tmp/ks-pf-*', true]));
      } finally {
        rmSync(dir, { recursive: true, force: true });
        rmSync(file, { force: true });
      }
    });
  });
});
