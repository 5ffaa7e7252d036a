// cgroup facts the container resolver builds on: where cgroup2 is mounted, how cgroup ids map to directories
// (a cgroup2 id is the inode number of its directory), and how container runtimes and the kubelet name the
// cgroups of containers and pods.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import type { ContainerRuntime } from './identity.ts';
import { parseMountInfo } from './mountinfo.ts';

/** The cgroup2 mount point from a mountinfo text: /sys/fs/cgroup on pure v2 hosts, e.g. /sys/fs/cgroup/unified on hybrid. */
export function findCgroup2Mount(mountinfo: string): string | null {
  return parseMountInfo(mountinfo).find((m) => m.fstype === 'cgroup2')?.mountPoint ?? null;
}

export function readCgroup2Mount(mountinfoPath = '/proc/self/mountinfo'): string {
  const mount = findCgroup2Mount(readFileSync(mountinfoPath, 'utf8'));
  if (!mount) throw new Error(`no cgroup2 file system is mounted (${mountinfoPath} lists none); the agent needs cgroup v2`);
  return mount;
}

/** The cgroup id (inode number) of a directory under the cgroup2 mount, or null if it is gone. */
export function cgroupIdOf(directory: string): bigint | null {
  try {
    return statSync(directory, { bigint: true }).ino;
  } catch {
    return null;
  }
}

/**
 * Every cgroup under `root` (the cgroup2 mount or a directory below it), as id → path relative to `mountPoint`
 * starting with '/'. Directories that vanish during the walk are skipped.
 */
export function walkCgroups(mountPoint: string, root = mountPoint, into = new Map<bigint, string>()): Map<bigint, string> {
  const relative = root === mountPoint ? '/' : root.slice(mountPoint.length);
  const id = cgroupIdOf(root);
  if (id === null) return into;
  into.set(id, relative);
  let entries;
  try {
    entries = readdirSync(root, { withFileTypes: true });
  } catch {
    return into;
  }
  for (const entry of entries) {
    if (entry.isDirectory()) walkCgroups(mountPoint, `${root === '/' ? '' : root}/${entry.name}`, into);
  }
  return into;
}

/**
 * The cgroup path of a process from /proc/<pid>/cgroup text: the cgroup2 line ("0::/path") when there is one, else
 * the systemd named hierarchy, else the first v1 line (v1 paths name containers the same way).
 */
export function cgroupPathFromProcFile(text: string): string | null {
  let systemd: string | null = null;
  let first: string | null = null;
  for (const line of text.split('\n')) {
    const firstColon = line.indexOf(':');
    const secondColon = line.indexOf(':', firstColon + 1);
    if (firstColon < 0 || secondColon < 0) continue;
    const hierarchy = line.slice(0, firstColon);
    const controllers = line.slice(firstColon + 1, secondColon);
    const path = line.slice(secondColon + 1);
    if (hierarchy === '0' && controllers === '') return path;
    if (controllers === 'name=systemd') systemd ??= path;
    first ??= path;
  }
  return systemd ?? first;
}

export interface ParsedContainerCgroup {
  id: string;
  /** The container's own cgroup: the path up to and including the container segment. */
  cgroupPath: string;
  runtime: ContainerRuntime;
  podUid?: string;
  qosClass?: string;
}

const HEX64 = '[0-9a-f]{64}';
// Runtime scope/directory names. Order matters only for prefixes that contain each other (conmon before runtime).
const NOT_A_CONTAINER = /^(?:crio-conmon|libpod-conmon)-[0-9a-f]{64}(?:\.scope)?$/;
const RUNTIME_SEGMENT: { pattern: RegExp; runtime: ContainerRuntime }[] = [
  { pattern: new RegExp(`^cri-containerd-(${HEX64})(?:\\.scope)?$`), runtime: 'containerd' },
  { pattern: new RegExp(`^nerdctl-(${HEX64})(?:\\.scope)?$`), runtime: 'containerd' },
  { pattern: new RegExp(`^crio-(${HEX64})(?:\\.scope)?$`), runtime: 'cri-o' },
  { pattern: new RegExp(`^docker-(${HEX64})(?:\\.scope)?$`), runtime: 'docker' },
  { pattern: new RegExp(`^libpod-(${HEX64})(?:\\.scope)?$`), runtime: 'podman' },
];
const BARE_ID = new RegExp(`^(${HEX64})$`);
// Pod UIDs: RFC 4122 text (the systemd driver writes '_' for '-'), or 32 hex digits for static (mirror) pods.
const POD_UID = '([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12}|[0-9a-f]{32})';
const CGROUPFS_POD = new RegExp(`^pod${POD_UID}$`);
// kind and other nested kubelets prefix the slices with 'kubelet-'.
const SYSTEMD_POD = new RegExp(`^(?:kubelet-)?kubepods(?:-(besteffort|burstable))?-pod${POD_UID}\\.slice$`);
const KUBEPODS_ROOT = /^(?:kubepods|(?:kubelet-)?kubepods\.slice)$/;
const CGROUPFS_QOS = /^(besteffort|burstable)$/;

/**
 * The container a cgroup path belongs to, or null for host cgroups and runtime helpers (conmon). The innermost
 * container segment wins, so sub-cgroups a container makes inside its own (e.g. .../libpod-<id>.scope/container)
 * and containers nested in a node container (kind) resolve to the innermost container.
 *
 * A bare 64-hex directory is how containerd (and cri-dockerd) name containers under the kubelet's cgroupfs driver;
 * under /docker it is Docker's cgroupfs driver. Elsewhere it is still a container, from an unknown runtime.
 */
export function parseContainerCgroupPath(path: string): ParsedContainerCgroup | null {
  const segments = path.split('/');
  let containerIndex = -1;
  let id = '';
  let runtime: ContainerRuntime = 'unknown';
  for (let i = segments.length - 1; i >= 0 && containerIndex < 0; i--) {
    const segment = segments[i];
    if (NOT_A_CONTAINER.test(segment)) return null;
    for (const { pattern, runtime: r } of RUNTIME_SEGMENT) {
      const match = pattern.exec(segment);
      if (match) {
        containerIndex = i;
        id = match[1];
        runtime = r;
        break;
      }
    }
    if (containerIndex < 0) {
      const bare = BARE_ID.exec(segment);
      if (bare) {
        containerIndex = i;
        id = bare[1];
        const parent = segments[i - 1] ?? '';
        runtime = parent === 'docker' ? 'docker' : CGROUPFS_POD.test(parent) ? 'containerd' : 'unknown';
      }
    }
  }
  if (containerIndex < 0) return null;

  const parsed: ParsedContainerCgroup = { id, cgroupPath: segments.slice(0, containerIndex + 1).join('/'), runtime };
  let inKubepods = false;
  for (let i = 0; i < containerIndex; i++) {
    const segment = segments[i];
    if (KUBEPODS_ROOT.test(segment)) inKubepods = true;
    if (!inKubepods) continue;
    const qos = CGROUPFS_QOS.exec(segment);
    if (qos) parsed.qosClass = qos[1];
    const cgroupfsPod = CGROUPFS_POD.exec(segment);
    if (cgroupfsPod) parsed.podUid = cgroupfsPod[1];
    const systemdPod = SYSTEMD_POD.exec(segment);
    if (systemdPod) {
      parsed.podUid = systemdPod[2].replaceAll('_', '-');
      if (systemdPod[1]) parsed.qosClass = systemdPod[1];
    }
  }
  // Guaranteed pods sit directly under kubepods, with no QoS level in between.
  if (parsed.podUid !== undefined) parsed.qosClass ??= 'guaranteed';
  return parsed;
}
