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
// Runtime helpers that get a scope of their own next to the containers they watch: never a container.
const RUNTIME_HELPER = /^(?:crio-conmon|libpod-conmon)-[0-9a-f]{64}(?:\.scope)?$/;
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
/** Segments from the kubepods root to the pod: the QoS level (absent for guaranteed pods), then the pod. */
const MAX_POD_DEPTH = 2;

type Segment =
  | { kind: 'container'; id: string; runtime: ContainerRuntime }
  | { kind: 'helper' }
  | { kind: 'other' };

function classifySegment(segment: string, parent: string): Segment {
  if (RUNTIME_HELPER.test(segment)) return { kind: 'helper' };
  for (const { pattern, runtime } of RUNTIME_SEGMENT) {
    const match = pattern.exec(segment);
    if (match) return { kind: 'container', id: match[1], runtime };
  }
  const bare = BARE_ID.exec(segment);
  if (bare) {
    const runtime = parent === 'docker' ? 'docker' : CGROUPFS_POD.test(parent) ? 'containerd' : 'unknown';
    return { kind: 'container', id: bare[1], runtime };
  }
  return { kind: 'other' };
}

interface PodSegment {
  index: number;
  podUid: string;
  qosClass: string;
}

/** Whether a cgroup path is a kubepods root: the cgroup the kubelet puts every pod's below. */
export function isKubepodsRoot(path: string): boolean {
  return KUBEPODS_ROOT.test(path.slice(path.lastIndexOf('/') + 1));
}

/** The pod segment of the outermost kubepods tree in `segments`, if the path reaches one. */
function findPod(segments: readonly string[]): PodSegment | undefined {
  const root = segments.findIndex((s) => KUBEPODS_ROOT.test(s));
  if (root < 0) return undefined;
  let qosClass = 'guaranteed';
  for (let i = root + 1; i < segments.length && i <= root + MAX_POD_DEPTH; i++) {
    const segment = segments[i];
    const qos = CGROUPFS_QOS.exec(segment);
    if (qos) qosClass = qos[1];
    const cgroupfsPod = CGROUPFS_POD.exec(segment);
    if (cgroupfsPod) return { index: i, podUid: cgroupfsPod[1], qosClass };
    const systemdPod = SYSTEMD_POD.exec(segment);
    if (systemdPod) return { index: i, podUid: systemdPod[2].replaceAll('_', '-'), qosClass: systemdPod[1] ?? qosClass };
  }
  return undefined;
}

/** The outermost container segment in segments[0..end), or a runtime helper met before any container. */
function outermostContainer(segments: readonly string[], end: number): { index: number; segment: Segment } | undefined {
  for (let i = 0; i < end; i++) {
    const segment = classifySegment(segments[i], segments[i - 1] ?? '');
    if (segment.kind !== 'other') return { index: i, segment };
  }
  return undefined;
}

/**
 * The container a cgroup path belongs to, or null for host cgroups and runtime helpers (conmon).
 *
 * Identity is anchored where the runtime put the container, never below it: a privileged process can create
 * cgroups inside its own and move into them, and must not become a host process by naming one
 * `crio-conmon-<hex>`, nor another container by naming one `docker-<hex>.scope`. Under kubepods the container is
 * the segment right below the pod; elsewhere it is the outermost container segment. Whatever lies below the
 * container segment is that container. A kubepods tree inside a container (a kind node) anchors at its own pod;
 * a helper scope there belongs to the node container around it.
 *
 * A bare 64-hex directory is how containerd (and cri-dockerd) name containers under the kubelet's cgroupfs driver;
 * under /docker it is Docker's cgroupfs driver. Elsewhere it is still a container, from an unknown runtime.
 */
export function parseContainerCgroupPath(path: string): ParsedContainerCgroup | null {
  const segments = path.split('/');
  const pod = findPod(segments);
  if (pod !== undefined && pod.index + 1 < segments.length) {
    const segment = classifySegment(segments[pod.index + 1], segments[pod.index]);
    if (segment.kind === 'container') {
      return {
        id: segment.id,
        cgroupPath: segments.slice(0, pod.index + 2).join('/'),
        runtime: segment.runtime,
        podUid: pod.podUid,
        qosClass: pod.qosClass,
      };
    }
  }
  // Above a pod only a node container can hold it; without a pod the whole path is searched.
  const outer = outermostContainer(segments, pod === undefined ? segments.length : segments.findIndex((s) => KUBEPODS_ROOT.test(s)));
  if (outer === undefined || outer.segment.kind !== 'container') return null;
  return { id: outer.segment.id, cgroupPath: segments.slice(0, outer.index + 1).join('/'), runtime: outer.segment.runtime };
}
