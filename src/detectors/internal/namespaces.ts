// Namespace kinds by their CLONE_NEW* bit, and comparison with the host's namespace inodes.

import type { NamespaceInodes } from '../../receiver/events.ts';

const TYPE_BY_FLAG: ReadonlyArray<[number, keyof NamespaceInodes]> = [
  [0x00020000, 'mnt'],
  [0x20000000, 'pid'],
  [0x40000000, 'net'],
  [0x10000000, 'user'],
  [0x04000000, 'uts'],
  [0x08000000, 'ipc'],
  [0x02000000, 'cgroup'],
];

export function namespaceTypeName(cloneFlag: number): string {
  for (const [flag, name] of TYPE_BY_FLAG) if (cloneFlag === flag) return name;
  return cloneFlag === 0 ? 'any' : `0x${cloneFlag.toString(16)}`;
}

/** The host namespace kind the inode belongs to, or undefined. A known type narrows the comparison. */
export function hostNamespaceNamed(ino: number, cloneFlag: number, host: NamespaceInodes): string | undefined {
  if (ino === 0) return undefined;
  for (const [flag, name] of TYPE_BY_FLAG) {
    if (cloneFlag !== 0 && cloneFlag !== flag) continue;
    if (host[name] === ino) return name;
  }
  return undefined;
}
