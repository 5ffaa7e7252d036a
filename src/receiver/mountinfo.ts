// /proc/<pid>/mountinfo (proc(5)), parsed in one place: which file systems are mounted where.

import { readFileSync } from 'node:fs';

export interface MountEntry {
  /** The st_dev of the mounted filesystem, 'major:minor' (field 3). */
  dev: string;
  /** Which directory of that filesystem is mounted here (field 4): '/' for all of it, else a bind of a subtree. */
  root: string;
  mountPoint: string;
  fstype: string;
  source: string;
}

/** mountinfo escapes space, tab, newline and backslash as \ooo octal. */
function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/** dev, root and the mount point are fields 3-5; fstype and source follow the ' - ' separator. Malformed lines are skipped. */
export function parseMountInfo(text: string): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const [before, after] = line.split(' - ');
    const fields = before.split(' ');
    const tail = (after ?? '').split(' ');
    if (fields.length < 5 || tail.length < 2) continue;
    entries.push({
      dev: fields[2],
      root: unescapeMountField(fields[3]),
      mountPoint: unescapeMountField(fields[4]),
      fstype: tail[0],
      source: unescapeMountField(tail[1]),
    });
  }
  return entries;
}

export function readMountInfo(mountInfoPath = '/proc/self/mountinfo'): MountEntry[] {
  return parseMountInfo(readFileSync(mountInfoPath, 'utf8'));
}
