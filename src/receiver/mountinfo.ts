// /proc/<pid>/mountinfo (proc(5)), parsed in one place: which file systems are mounted where.

import { readFileSync } from 'node:fs';

export interface MountEntry {
  mountPoint: string;
  fstype: string;
  source: string;
}

/** mountinfo escapes space, tab, newline and backslash as \ooo octal. */
function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/** The mount point is field 5; fstype and source follow the ' - ' separator. Malformed lines are skipped. */
export function parseMountInfo(text: string): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const [before, after] = line.split(' - ');
    const fields = before.split(' ');
    const tail = (after ?? '').split(' ');
    if (fields.length < 5 || tail.length < 2) continue;
    entries.push({ mountPoint: unescapeMountField(fields[4]), fstype: tail[0], source: unescapeMountField(tail[1]) });
  }
  return entries;
}

export function readMountInfo(mountInfoPath = '/proc/self/mountinfo'): MountEntry[] {
  return parseMountInfo(readFileSync(mountInfoPath, 'utf8'));
}
