// Which executions are the container runtime's own set-up, from kernel facts only. runc, crun and their kin join a
// new container's cgroup before they unshare, mount, pivot_root and setns into it, so those records carry the
// container's cgroup id and would look like an escape. What tells them apart is the file that was executed (its
// device and inode, which the exec record carries, compared with the host's runtime binaries stat'd through the
// host's root) and where it was executed (the host's mount namespace: a container's process execs files of the
// container's mount namespace). Names (comm, argv, a basename) are the caller's choice and decide nothing.
//
// The process table keeps the verdict per process, inherited across fork and recomputed at every exec, so the
// runtime's children keep it until one of them execs the container's entrypoint: from then on that process and
// everything it starts is the workload.

import { lstatSync, readlinkSync, statSync, type BigIntStats } from 'node:fs';
import path from 'node:path';
import { ExecFlag } from './events.ts';
import { RateLimiter } from './RateLimiter.ts';

/**
 * The host's root directory as the agent sees it: through kthreadd's (pid 2) or init's /proc entry when the agent
 * runs in a container with the host's pid namespace, else (with a warning) the agent's own root.
 */
export function findHostRoot(warn: (message: string) => void, procRoot = '/proc'): string {
  const failures: string[] = [];
  for (const pid of ['2', '1']) {
    const root = `${procRoot}/${pid}/root`;
    try {
      statSync(`${root}/`);
      return root;
    } catch (error) {
      failures.push(`${root}: ${(error as Error).message}`);
    }
  }
  warn(`cannot read the host's root (${failures.join('; ')}); looking for container runtime binaries in the agent's own root`);
  return '/';
}

/** A file's identity as the kernel records it: st_dev in the kernel's encoding and the inode number. */
export interface FileIdentity {
  dev: number;
  ino: bigint;
}

/** What an exec record (or a /proc read) says about the file a process runs and where it ran it. */
export interface ExecFacts {
  exeDev: number;
  exeIno: bigint;
  exeFlags: number;
  /** Mount namespace inode after the exec; 0 when unknown. */
  mntNs: number;
  /** The executed path as the caller passed it (bprm->filename). */
  path: string;
}

/** The process table's question: is the process that just executed `exec` doing the runtime's set-up? */
export interface RuntimeExecClassifier {
  /** `wasRuntimeSetup`: the process was runtime set-up before this exec (its own, or inherited from its parent). */
  isRuntimeSetupExec(exec: ExecFacts, wasRuntimeSetup: boolean): boolean;
}

/** Where runtimes are installed when settings.runtimeExecutables names one by base name. */
export const RUNTIME_DIRECTORIES: readonly string[] = [
  '/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin', '/usr/libexec/podman',
  '/usr/libexec/crio', '/usr/lib/cri-o-runc/sbin', '/opt/bin',
];

const MINOR_BITS = 20;
const MAX_SYMLINK_HOPS = 16;

/**
 * st_dev as user space gets it (glibc's encoding: minor in bits 0-7 and 20-31 of the low word, major in bits 8-19
 * and the high word) → the kernel's dev_t (major << 20 | minor), which BPF reads from the superblock.
 */
export function kernelDevOf(userDev: bigint | number): number {
  const dev = BigInt(userDev);
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  return Number(((major << BigInt(MINOR_BITS)) | (minor & 0xfffffn)) & 0xffffffffn);
}

/**
 * `file` (absolute, in the host's view) stat'd below `root`. Symbolic links are followed inside `root`: through
 * /proc/<pid>/root an absolute link target would otherwise resolve against the agent's own root.
 */
export function statInRoot(root: string, file: string): BigIntStats | null {
  let current = path.posix.normalize(file);
  for (let hop = 0; hop < MAX_SYMLINK_HOPS; hop++) {
    const inRoot = root === '/' ? current : root + current;
    let link: BigIntStats;
    try {
      link = lstatSync(inRoot, { bigint: true });
    } catch {
      return null;
    }
    if (!link.isSymbolicLink()) return link.isFile() ? link : null;
    let target: string;
    try {
      target = readlinkSync(inRoot);
    } catch {
      return null;
    }
    current = path.posix.resolve(path.posix.dirname(current), target);
  }
  return null;
}

/** The executed file is the runtime's sealed copy of itself (runc init from a memfd, an fd or /proc/self/exe). */
function isSealedSelfCopy(exec: ExecFacts): boolean {
  return (
    (exec.exeFlags & (ExecFlag.Memfd | ExecFlag.Unlinked)) !== 0 ||
    exec.path === '/proc/self/exe' ||
    exec.path.startsWith('/proc/self/fd/') ||
    exec.path.startsWith('/dev/fd/')
  );
}

export interface HostRuntimeBinariesOptions {
  /** The host's root directory as the agent sees it, e.g. /proc/2/root. */
  hostRoot: string;
  /** Mount namespace inode of the host. */
  hostMntNs: number;
  /** Base names (looked up in RUNTIME_DIRECTORIES) or absolute paths; read again whenever it returns a new value. */
  executables: () => Iterable<string>;
  /** Re-stats per second when a host exec of a runtime-named file matches nothing (a runtime upgrade); burst 1. */
  restatsPerSecond?: number;
  now?: () => number;
}

export class HostRuntimeBinaries implements RuntimeExecClassifier {
  readonly #hostRoot: string;
  readonly #hostMntNs: number;
  readonly #executables: () => Iterable<string>;
  readonly #restatLimiter: RateLimiter;
  #configured: Iterable<string> | undefined;
  #names = new Set<string>();
  /** `${dev}:${ino}` → the host path it was found at. */
  #identities = new Map<string, string>();
  /** Re-stats done because a runtime-named host exec matched nothing. */
  restats = 0;

  constructor(options: HostRuntimeBinariesOptions) {
    this.#hostRoot = options.hostRoot;
    this.#hostMntNs = options.hostMntNs;
    this.#executables = options.executables;
    this.#restatLimiter = new RateLimiter(options.restatsPerSecond ?? 0.1, 1, options.now);
    this.#refreshIfReconfigured();
  }

  /** The runtime binaries found, as host path → identity, for the start-up log and tests. */
  found(): Map<string, FileIdentity> {
    const out = new Map<string, FileIdentity>();
    for (const [key, file] of this.#identities) {
      const [dev, ino] = key.split(':');
      out.set(file, { dev: Number(dev), ino: BigInt(ino) });
    }
    return out;
  }

  isRuntimeBinary(identity: FileIdentity): boolean {
    this.#refreshIfReconfigured();
    return identity.ino !== 0n && this.#identities.has(`${identity.dev}:${identity.ino}`);
  }

  isRuntimeSetupExec(exec: ExecFacts, wasRuntimeSetup: boolean): boolean {
    // The runtime executes itself (and its sealed copy) before it enters the container's mount namespace; a file
    // executed inside a container's mount namespace is the container's, whatever it is called or whose inode it is.
    if (exec.mntNs === 0 || exec.mntNs !== this.#hostMntNs) return false;
    const identity = { dev: exec.exeDev, ino: exec.exeIno };
    if (this.isRuntimeBinary(identity)) return true;
    if (wasRuntimeSetup && isSealedSelfCopy(exec)) return true;
    // A host exec of a runtime-named file that matches nothing: the binary may have been replaced (an upgrade).
    if (this.#names.has(path.posix.basename(exec.path)) && this.#restatLimiter.tryAcquire()) {
      this.restats++;
      this.#refresh();
      return this.isRuntimeBinary(identity);
    }
    return false;
  }

  #refreshIfReconfigured(): void {
    const configured = this.#executables();
    if (configured === this.#configured) return;
    this.#configured = configured;
    this.#refresh();
  }

  #refresh(): void {
    const names = new Set<string>();
    const identities = new Map<string, string>();
    for (const entry of this.#configured ?? []) {
      names.add(path.posix.basename(entry));
      const candidates = entry.startsWith('/') ? [entry] : RUNTIME_DIRECTORIES.map((d) => `${d}/${entry}`);
      for (const file of candidates) {
        const stat = statInRoot(this.#hostRoot, file);
        if (stat === null) continue;
        const key = `${kernelDevOf(stat.dev)}:${stat.ino}`;
        if (!identities.has(key)) identities.set(key, file);
      }
    }
    this.#names = names;
    this.#identities = identities;
  }
}
