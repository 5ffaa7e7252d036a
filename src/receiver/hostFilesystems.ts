// The host's filesystems, read once at start-up from the host's mount table: their superblock ids feed the kernel's
// host-filesystem hooks (bpf/hostfs.bpf.c, map host_filesystems), and the table turns a path from a filesystem's root
// (what the kernel records) into the path the host shows it at (what rules and people judge).
//
// The host's view is kthreadd's mountinfo (/proc/2), as for the host namespaces (hostNamespaces.ts): pid 1's can be
// unreadable, and the agent's own is only the host's when it runs in the host mount namespace.

import { readFileSync } from 'node:fs';
import { parseMountInfo, type MountEntry } from './mountinfo.ts';

/**
 * Filesystems that are not the host's storage: kernel views (per namespace or per kernel), memory filesystems
 * (kubelet's secret and configmap volumes are one tmpfs each, and /dev is devtmpfs: a container's /dev/null binds
 * it) and container root filesystems (overlay, unless the host's own root is one).
 */
const NOT_HOST_STORAGE = new Set([
  'autofs', 'binfmt_misc', 'bpf', 'cgroup', 'cgroup2', 'configfs', 'debugfs', 'devpts', 'devtmpfs', 'efivarfs',
  'fuse.lxcfs', 'fusectl', 'hugetlbfs', 'mqueue', 'nsfs', 'overlay', 'proc', 'pstore', 'ramfs', 'rpc_pipefs',
  'securityfs', 'selinuxfs', 'sysfs', 'tmpfs', 'tracefs',
]);

/** KS_MAX_HOST_FILESYSTEMS of bpf/events.h: entries of the kernel's host_filesystems map. */
export const MAX_HOST_FILESYSTEMS = 1024;

/** mountinfo's 'major:minor' as the kernel's s_dev (MKDEV: major << 20 | minor); undefined when malformed. */
export function kernelDev(majorMinor: string): number | undefined {
  const match = /^(\d+):(\d+)$/.exec(majorMinor);
  if (!match) return undefined;
  const major = Number(match[1]);
  const minor = Number(match[2]);
  if (major >= 1 << 12 || minor >= 1 << 20) return undefined;
  return (major * 2 ** 20 + minor) >>> 0;
}

function isBelowOrAt(path: string, dir: string): boolean {
  return dir === '/' || path === dir || path.startsWith(dir + '/');
}

interface HostMount {
  root: string;
  mountPoint: string;
}

export class HostFilesystems {
  /** s_dev → the host's mounts of that filesystem, the widest view (shortest root) first. */
  readonly #mounts = new Map<number, HostMount[]>();

  constructor(entries: readonly MountEntry[]) {
    for (const entry of entries) {
      if (NOT_HOST_STORAGE.has(entry.fstype) && !(entry.fstype === 'overlay' && entry.mountPoint === '/')) continue;
      const dev = kernelDev(entry.dev);
      if (dev === undefined) continue;
      let mounts = this.#mounts.get(dev);
      if (!mounts) this.#mounts.set(dev, (mounts = []));
      mounts.push({ root: entry.root, mountPoint: entry.mountPoint });
    }
    for (const mounts of this.#mounts.values()) {
      mounts.sort((a, b) => a.root.length - b.root.length || a.mountPoint.length - b.mountPoint.length);
    }
  }

  /** Superblock ids for the kernel's host_filesystems map. */
  devices(): number[] {
    return [...this.#mounts.keys()];
  }

  /**
   * Where the host shows `fsPath` (a path from the root of filesystem `dev`), through the host mount that shows the
   * most of that filesystem; '' when the filesystem is not the host's or no host mount shows that part of it.
   */
  hostPath(dev: number, fsPath: string): string {
    for (const { root, mountPoint } of this.#mounts.get(dev) ?? []) {
      if (!isBelowOrAt(fsPath, root)) continue;
      const rest = root === '/' ? fsPath : fsPath.slice(root.length);
      if (rest === '' || rest === '/') return mountPoint;
      return mountPoint === '/' ? rest : mountPoint + rest;
    }
    return '';
  }
}

/**
 * The host's filesystems from the first readable of kthreadd's and init's mountinfo, else (with a warning, because
 * it is only right when the agent runs in the host's mount namespace) the agent's own.
 */
export function readHostFilesystems(warn: (message: string) => void, procRoot = '/proc'): HostFilesystems {
  const failures: string[] = [];
  for (const pid of ['2', '1']) {
    try {
      return new HostFilesystems(parseMountInfo(readFileSync(`${procRoot}/${pid}/mountinfo`, 'utf8')));
    } catch (error) {
      failures.push(`${procRoot}/${pid}/mountinfo: ${(error as Error).message}`);
    }
  }
  warn(`cannot read the host's mount table (${failures.join('; ')}); assuming the agent's own mounts are the host's`);
  return new HostFilesystems(parseMountInfo(readFileSync(`${procRoot}/self/mountinfo`, 'utf8')));
}
