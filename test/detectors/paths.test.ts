// The sensitive-path patterns for the kernel's open filter.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  MAX_PATH_PATTERNS,
  MAX_PATTERN_PART_BYTES,
  PathPatternKind,
  compilePathPattern,
  matchesPathPattern,
  pathPatternsMayOverlap,
} from '../../src/receiver/pathPatterns.ts';
import { sensitivePathPatterns } from '../../src/detectors/paths.ts';

describe('compilePathPattern', () => {
  const cases: [string, PathPatternKind, string, string][] = [
    ['/dev/mem', PathPatternKind.Exact, '/dev/mem', ''],
    ['/etc/kubernetes/*', PathPatternKind.Prefix, '/etc/kubernetes/', ''],
    ['/proc/*/uid_map', PathPatternKind.PrefixSuffix, '/proc/', '/uid_map'],
    ['/proc/*/root/*', PathPatternKind.PrefixInfix, '/proc/', '/root/'],
  ];
  for (const [pattern, kind, prefix, second] of cases) {
    it(`parses ${pattern}`, () => assert.deepEqual(compilePathPattern(pattern), { kind, prefix, second }));
  }
  it('rejects three wildcards', () => assert.throws(() => compilePathPattern('/a/*/b/*/c*'), /path pattern '\/a\/\*\/b\/\*\/c\*'/));
  it('rejects a relative pattern', () => assert.throws(() => compilePathPattern('proc/*'), /must start with '\/'/));
  it('rejects a part longer than the kernel holds', () => {
    assert.throws(() => compilePathPattern('/' + 'a'.repeat(MAX_PATTERN_PART_BYTES)), /longer than 63 bytes/);
  });
});

describe('matchesPathPattern', () => {
  const m = (p: string, path: string) => matchesPathPattern(compilePathPattern(p), path);
  it('matches a suffix only after the prefix', () => {
    assert.ok(m('/proc/*/uid_map', '/proc/self/uid_map'));
    assert.ok(!m('/proc/*/uid_map', '/proc/uid_map'));
  });
  it('matches an infix after the prefix', () => {
    assert.ok(m('/proc/*/root/*', '/proc/1/root/etc/shadow'));
    assert.ok(!m('/proc/*/root/*', '/proc/1/rootfs'));
  });
  it('does not resolve relative paths (documented evasion limit)', () => {
    assert.ok(!m('/dev/mem', '../dev/mem'));
  });
});

describe('sensitivePathPatterns', () => {
  const patterns = sensitivePathPatterns();
  it('fits the kernel table', () => {
    assert.ok(patterns.length > 0 && patterns.length <= MAX_PATH_PATTERNS, `${patterns.length} patterns`);
    assert.equal(new Set(patterns).size, patterns.length);
  });
  it('covers the paths the escape and mining rules are about', () => {
    const compiled = patterns.map(compilePathPattern);
    for (const path of [
      '/proc/self/uid_map', '/sys/fs/cgroup/memory/release_agent', '/proc/sys/kernel/core_pattern', '/var/run/docker.sock',
      '/proc/12/mem', '/dev/mem', '/proc/1/root/etc/shadow', '/dev/sda', '/proc/self/exe', '/usr/bin/runc',
      '/var/lib/kubelet/pki/kubelet.crt', '/dev/cpu/0/msr', '/proc/sys/vm/nr_hugepages',
    ]) {
      assert.ok(compiled.some((c) => matchesPathPattern(c, path)), path);
    }
  });
  it('give the kernel\'s first-stage comparison at least 5 prefix bytes, so ordinary opens stop there', () => {
    for (const p of patterns) assert.ok(compilePathPattern(p).prefix.length >= 5, p);
  });
  it('does not let ordinary opens through', () => {
    const compiled = patterns.map(compilePathPattern);
    for (const path of ['/etc/passwd', '/usr/lib/x86_64-linux-gnu/libc.so.6', '/proc/self/status', '/dev/null', '/tmp/x']) {
      assert.ok(!compiled.some((c) => matchesPathPattern(c, path)), path);
    }
  });
});

describe('pathPatternsMayOverlap', () => {
  const overlap = (a: string, b: string) => pathPatternsMayOverlap(compilePathPattern(a), compilePathPattern(b));
  it('is true for patterns one path can match', () => {
    for (const [a, b] of [
      ['/proc/*/uid_map', '/proc/*/root/*'], // /proc/1/root/proc/2/uid_map
      ['/dev/sd*', '/dev/sda'],
      ['/run/*.sock', '/run/containerd/*'],
      ['/proc/*/exe', '/proc/self/*'],
      ['/sys/fs/cgroup*/release_agent', '/sys/fs/cgroup/memory/*'],
    ]) {
      assert.ok(overlap(a, b), `${a} / ${b}`);
      assert.ok(overlap(b, a), `${b} / ${a}`);
    }
  });
  it('is false for patterns no path can match both of', () => {
    for (const [a, b] of [
      ['/proc/*/uid_map', '/proc/*/mem'],
      ['/dev/mem', '/dev/kmem'],
      ['/dev/sd*', '/dev/vd*'],
      ['/proc/kcore', '/proc/*/exe'],
      ['/var/run/*.sock', '/run/*.sock'],
    ]) {
      assert.ok(!overlap(a, b), `${a} / ${b}`);
      assert.ok(!overlap(b, a), `${b} / ${a}`);
    }
  });
  it('never calls two patterns disjoint when a path matches both (every pair of the shipped patterns)', () => {
    const compiled = sensitivePathPatterns().map(compilePathPattern);
    const samples = ['/proc/1/root/proc/2/uid_map', '/proc/self/root/dev/mem', '/proc/1/root/run/x.sock', '/proc/self/exe',
      '/proc/1/root/proc/1/mem', '/sys/fs/cgroup/release_agent', '/proc/12/root', '/dev/sda1', '/run/docker.sock'];
    for (const path of samples) {
      const hits = compiled.filter((c) => matchesPathPattern(c, path));
      for (const a of hits) for (const b of hits) assert.ok(pathPatternsMayOverlap(a, b), `${path}: ${a.prefix} / ${b.prefix}`);
    }
  });
});
