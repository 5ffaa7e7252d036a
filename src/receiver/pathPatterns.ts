// The pattern language of the kernel's sensitive-path open filter: which opens leave the kernel at all. The rules
// say which patterns they need (src/detectors/paths.ts); this is the filter's side of the contract.
//
// Syntax (mirrors enum ks_pattern_kind in bpf/events.h):
//   '/dev/mem'          exact
//   '/etc/kubernetes/*' prefix
//   '/proc/*/uid_map'   prefix*suffix
//   '/proc/*/root/*'    prefix*infix*  (infix anywhere after the prefix)
// The kernel matches two strings at syscall exit (bpf/README.md "Open filter"): the caller's, exactly as passed
// (relative paths, dirfd opens, '..', symlinks are not resolved there); and the opened file's real path,
// rebuilt from its dentries and mounts up to the opener's root. The second is computed only for files whose name is
// the LEAF of some pattern (pathPatternLeaf): a pattern whose last component starts with '*' ('/etc/pki/*',
// '/run/*.sock') has no leaf and is matched on the caller's string alone, and so is a failed open (no file).

export const MAX_PATH_PATTERNS = 64;
export const MAX_PATTERN_PART_BYTES = 63;

export const PathPatternKind = { Exact: 1, Prefix: 2, PrefixSuffix: 3, PrefixInfix: 4 } as const;
export type PathPatternKind = (typeof PathPatternKind)[keyof typeof PathPatternKind];

export interface CompiledPathPattern {
  kind: PathPatternKind;
  prefix: string;
  /** Suffix (PrefixSuffix) or infix (PrefixInfix); '' otherwise. */
  second: string;
}

/** Parses one pattern; throws a one-line Error naming the pattern when it is not expressible in the kernel filter. */
export function compilePathPattern(pattern: string): CompiledPathPattern {
  const stars = pattern.split('*').length - 1;
  let compiled: CompiledPathPattern;
  if (stars === 0) {
    compiled = { kind: PathPatternKind.Exact, prefix: pattern, second: '' };
  } else if (stars === 1 && pattern.endsWith('*')) {
    compiled = { kind: PathPatternKind.Prefix, prefix: pattern.slice(0, -1), second: '' };
  } else if (stars === 1) {
    const star = pattern.indexOf('*');
    compiled = { kind: PathPatternKind.PrefixSuffix, prefix: pattern.slice(0, star), second: pattern.slice(star + 1) };
  } else if (stars === 2 && pattern.endsWith('*') && !pattern.endsWith('**')) {
    const star = pattern.indexOf('*');
    compiled = { kind: PathPatternKind.PrefixInfix, prefix: pattern.slice(0, star), second: pattern.slice(star + 1, -1) };
  } else {
    throw new Error(`path pattern '${pattern}': use 'exact', 'prefix*', 'prefix*suffix' or 'prefix*infix*'`);
  }
  if (!compiled.prefix.startsWith('/')) throw new Error(`path pattern '${pattern}': must start with '/'`);
  for (const part of [compiled.prefix, compiled.second]) {
    if (Buffer.byteLength(part) > MAX_PATTERN_PART_BYTES) {
      throw new Error(`path pattern '${pattern}': '${part}' is longer than ${MAX_PATTERN_PART_BYTES} bytes`);
    }
  }
  return compiled;
}

/**
 * The literal start of the pattern's final path component, which the kernel's exit-side gate looks the opened file's
 * name up by; null when that component starts with '*'. Mirrors ks_pattern_leaf() in bpf/open/path_index.h.
 */
export function pathPatternLeaf(compiled: CompiledPathPattern): string | null {
  if (compiled.kind === PathPatternKind.PrefixSuffix && compiled.second.includes('/')) {
    return compiled.second.slice(compiled.second.lastIndexOf('/') + 1) || null;
  }
  if (compiled.kind === PathPatternKind.PrefixInfix) return null;
  return compiled.prefix.slice(compiled.prefix.lastIndexOf('/') + 1) || null;
}

/** The same match the kernel performs, for tests and for user space to tell which pattern a path hits. */
export function matchesPathPattern(compiled: CompiledPathPattern, path: string): boolean {
  switch (compiled.kind) {
    case PathPatternKind.Exact:
      return path === compiled.prefix;
    case PathPatternKind.Prefix:
      return path.startsWith(compiled.prefix);
    case PathPatternKind.PrefixSuffix:
      return (
        path.length >= compiled.prefix.length + compiled.second.length &&
        path.startsWith(compiled.prefix) &&
        path.endsWith(compiled.second)
      );
    case PathPatternKind.PrefixInfix:
      return path.startsWith(compiled.prefix) && path.indexOf(compiled.second, compiled.prefix.length) >= 0;
  }
}

/**
 * Whether one path can match both patterns. Conservative: true unless the patterns provably exclude each other, so
 * an event the kernel attributed to one pattern is still shown to every rule that another matching pattern serves.
 */
export function pathPatternsMayOverlap(a: CompiledPathPattern, b: CompiledPathPattern): boolean {
  if (a.kind === PathPatternKind.Exact) return matchesPathPattern(b, a.prefix);
  if (b.kind === PathPatternKind.Exact) return matchesPathPattern(a, b.prefix);
  if (!a.prefix.startsWith(b.prefix) && !b.prefix.startsWith(a.prefix)) return false;
  if (a.kind === PathPatternKind.PrefixSuffix && b.kind === PathPatternKind.PrefixSuffix) {
    return a.second.endsWith(b.second) || b.second.endsWith(a.second);
  }
  return true;
}
