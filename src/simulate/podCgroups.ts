// podman creates a --cgroup-parent in every cgroup hierarchy (each v1 controller and cgroup2) and never removes it.
// Simulations and tests use one-off pod UIDs, so their parents are removed after the container, or they pile up.

import { readFileSync, rmdirSync } from 'node:fs';
import path from 'node:path';

function cgroupMounts(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((line) => /^cgroup2? /.test(line.split(' - ')[1] ?? ''))
    .map((line) => line.split(' ')[4]);
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
