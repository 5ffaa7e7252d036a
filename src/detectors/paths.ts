// Which opens the kernel's filter lets through: the patterns are derived from the rules
// (RuleMetadata.openPathPatterns), so a rule that needs a path also makes the kernel report it. The pattern
// language itself is the filter's: src/receiver/pathPatterns.ts.

import { compilePathPattern, MAX_PATH_PATTERNS } from '../receiver/pathPatterns.ts';
import type { Detector } from './Detector.ts';
import { allDetectors } from './registry.ts';

/**
 * The union of the detectors' open-path patterns, in their order, without duplicates; at most 64. The kernel tags
 * each open record with the index of the pattern it matched in this list.
 */
export function sensitivePathPatterns(detectors: readonly Detector[] = allDetectors()): string[] {
  const patterns: string[] = [];
  for (const detector of detectors) {
    for (const p of detector.meta.openPathPatterns ?? []) {
      if (!patterns.includes(p)) patterns.push(p);
    }
  }
  if (patterns.length > MAX_PATH_PATTERNS) {
    throw new Error(`rules need ${patterns.length} sensitive-path patterns; the kernel filter holds ${MAX_PATH_PATTERNS}`);
  }
  for (const p of patterns) compilePathPattern(p);
  return patterns;
}
