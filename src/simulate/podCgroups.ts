// podman creates a --cgroup-parent in every cgroup hierarchy (each v1 controller and cgroup2) and never removes it.
// Simulations and tests use one-off pod UIDs, so their parents are removed after the container, or they pile up.

import { rmdirSync } from 'node:fs';
import path from 'node:path';
import { readMountInfo } from '../receiver/mountinfo.ts';

function cgroupMounts(): string[] {
  return readMountInfo()
    .filter((m) => m.fstype === 'cgroup' || m.fstype === 'cgroup2')
    .map((m) => m.mountPoint);
}

/** Removes `parent` (and podman's conmon child of it) in every hierarchy; quietly keeps what is still in use. */
export function removeEmptyCgroupParent(parent: string): void {
  for (const mount of cgroupMounts()) {
    for (const dir of [path.join(mount, parent, 'conmon'), path.join(mount, parent)]) {
      try {
        rmdirSync(dir);
      } catch {
        // absent, or still busy
      }
    }
  }
}
