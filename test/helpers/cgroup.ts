/**
 * cgroup v2 helpers for tests that need a host process inside a chosen cgroup, e.g. one laid out the way
 * containerd + the systemd cgroup driver lay out a Kubernetes pod, without running Kubernetes.
 *
 * cgroup2Root() → absolute mount point of the cgroup2 hierarchy, from /proc/self/mountinfo. Never assume
 *   /sys/fs/cgroup: the dev/CI machines are hybrid (v1 controllers + cgroup2 at /sys/fs/cgroup/unified),
 *   real nodes are pure v2 at /sys/fs/cgroup.
 * cgroupOfPid(pid) → the pid's cgroup2 path relative to that root (the `0::` line of /proc/<pid>/cgroup).
 * cgroupPids(relPath) → host PIDs in it now ([] when it does not exist).
 * cgroupIdOf(relPath) → the cgroup id as bigint: the inode number of the cgroup2 directory, which is what
 *   bpf_get_current_cgroup_id() returns for tasks inside it (kernfs node id == inode on 64-bit).
 *
 * createCgroup(relPath) → Cgroup { relPath, path, id, addProcess(pid), pids(), remove() }
 *   mkdir -p under the cgroup2 root. remove() SIGKILLs whatever is still inside, waits until the kernel reports
 *   the cgroup unpopulated, rmdirs it, then rmdirs the ancestors this module created once they are empty.
 *
 * runInCgroup(relPath, cmd, args, opts) → Promise<InCgroup { pid, process, cgroup, stop() }>
 *   Starts `cmd` so that its execve and everything after happens inside the cgroup: a /bin/sh parks on a pipe
 *   (fd 3), the test moves it into the cgroup through cgroup.procs, then releases it and it execs `cmd`
 *   (same PID). Resolves once the exec has happened (or the process has already exited).
 *   `process` is a run.ts BackgroundProcess (lines, waitForLine, exited, kill).
 *
 * kubepodsSystemdPath({ podUid, containerId, qos }) → the cgroup path kubelet's systemd driver + containerd use:
 *   /kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod<uid with _>.slice/cri-containerd-<id>.scope
 *
 * Everything created and not removed is killed and removed when the test process exits.
 * Needs root (writes cgroup.procs, mkdir in the cgroup2 tree).
 */
import { existsSync, mkdirSync, readFileSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { onExit, spawnBackground, type BackgroundOptions, type BackgroundProcess } from './run.ts';
import { waitFor } from './wait.ts';
import { readCgroup2Mount } from '../../src/receiver/cgroups.ts';

let cachedRoot: string | undefined;

export function cgroup2Root(): string {
  cachedRoot ??= readCgroup2Mount();
  return cachedRoot;
}

export function cgroupOfPid(pid: number): string {
  let content: string;
  try {
    content = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
  } catch (err) {
    throw new Error(`cannot read /proc/${pid}/cgroup: ${(err as Error).message}`);
  }
  const unified = content.split('\n').find((line) => line.startsWith('0::'));
  if (unified === undefined) throw new Error(`/proc/${pid}/cgroup has no cgroup2 (0::) line`);
  return unified.slice(3);
}

export function cgroupIdOf(relPath: string): bigint {
  return statSync(absolutePath(relPath), { bigint: true }).ino;
}

/** Host PIDs in the cgroup now; empty when it does not exist (any more). */
export function cgroupPids(relPath: string): number[] {
  return readPids(absolutePath(relPath));
}

export interface Cgroup {
  /** Relative to the cgroup2 root, starting with '/', as in /proc/<pid>/cgroup and the agent's events. */
  readonly relPath: string;
  /** Absolute directory path. */
  readonly path: string;
  readonly id: bigint;
  addProcess(pid: number): void;
  pids(): number[];
  remove(): Promise<void>;
}

/** Directories this module mkdir'ed and has not removed yet; only these are ever rmdir'ed. */
const createdDirs = new Set<string>();
/** Cgroups handed out and not yet removed, for the exit cleanup. */
const liveCgroups = new Set<string>();

const UNPOPULATED_TIMEOUT_MS = 10_000;

export function createCgroup(relPath: string): Cgroup {
  const abs = absolutePath(relPath);
  registerCleanup();
  const missing: string[] = [];
  for (let dir = abs; !existsSync(dir); dir = path.dirname(dir)) missing.push(dir);
  mkdirSync(abs, { recursive: true });
  for (const dir of missing) createdDirs.add(dir);
  liveCgroups.add(abs);

  return {
    relPath,
    path: abs,
    id: statSync(abs, { bigint: true }).ino,
    addProcess(pid: number): void {
      try {
        writeFileSync(path.join(abs, 'cgroup.procs'), `${pid}\n`);
      } catch (err) {
        throw new Error(`cannot move pid ${pid} into cgroup ${relPath}: ${(err as Error).message}`);
      }
    },
    pids: () => readPids(abs),
    async remove(): Promise<void> {
      if (!liveCgroups.has(abs)) return;
      killAll(abs);
      await waitFor(() => !isPopulated(abs), {
        timeoutMs: UNPOPULATED_TIMEOUT_MS,
        what: `cgroup ${relPath} to become empty after SIGKILLing its processes`,
      });
      removeDirs(abs);
    },
  };
}

export interface InCgroup {
  /** Host PID; the same before and after the exec. */
  readonly pid: number;
  readonly process: BackgroundProcess;
  readonly cgroup: Cgroup;
  /** Kills the process (SIGTERM, then SIGKILL) and removes the cgroup. */
  stop(): Promise<void>;
}

// fd 3 is the go signal; closing it before exec keeps the pipe from leaking into `cmd`.
const PARK_THEN_EXEC = 'read -r go <&3 && exec 3<&- && exec "$0" "$@"';

export async function runInCgroup(
  relPath: string,
  cmd: string,
  args: readonly string[] = [],
  opts: Omit<BackgroundOptions, 'extraFds'> = {},
): Promise<InCgroup> {
  const cgroup = createCgroup(relPath);
  const proc = spawnBackground('/bin/sh', ['-c', PARK_THEN_EXEC, cmd, ...args], { ...opts, extraFds: ['pipe'] });
  const goPipe = proc.child.stdio[3] as Writable;
  goPipe.on('error', () => {}); // the shell may already be gone; that surfaces through proc.exited
  try {
    cgroup.addProcess(proc.pid);
    const landed = cgroupOfPid(proc.pid);
    if (landed !== relPath) throw new Error(`pid ${proc.pid} is in ${landed}, not ${relPath}, after the move`);
  } catch (err) {
    goPipe.destroy(); // EOF makes `read` fail, so the shell exits without running cmd
    await proc.kill('SIGKILL');
    await cgroup.remove();
    throw err;
  }
  goPipe.end('go\n');
  // Resolve only once the exec has happened, so the caller can look at /proc/<pid> or wait for its exec event
  // without racing the parked shell.
  await waitFor(() => proc.exitStatus !== null || !isParked(proc.pid), {
    what: `pid ${proc.pid} to exec ${cmd} in cgroup ${relPath}`,
  });
  return {
    pid: proc.pid,
    process: proc,
    cgroup,
    async stop(): Promise<void> {
      await proc.kill();
      await cgroup.remove();
    },
  };
}

function isParked(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[2] === PARK_THEN_EXEC;
  } catch {
    return false; // exited and reaped
  }
}

export type QosClass = 'besteffort' | 'burstable' | 'guaranteed';

export interface KubepodsPath {
  /** Pod UID with dashes, as the API server reports it. */
  podUid: string;
  /** 64 hex; a random one when omitted. */
  containerId: string;
  relPath: string;
}

/**
 * The cgroup path kubelet (systemd driver) + containerd give a container. Guaranteed pods sit directly under
 * kubepods.slice; the systemd driver turns the UID's dashes into underscores because '-' separates slice levels.
 */
export function kubepodsSystemdPath(opts: { podUid: string; containerId?: string; qos?: QosClass }): KubepodsPath {
  const containerId = opts.containerId ?? randomBytes(32).toString('hex');
  if (!/^[0-9a-f]{64}$/.test(containerId)) throw new Error(`container id must be 64 lowercase hex, got "${containerId}"`);
  const qos = opts.qos ?? 'besteffort';
  const uid = opts.podUid.replaceAll('-', '_');
  const podSlice = qos === 'guaranteed'
    ? `/kubepods.slice/kubepods-pod${uid}.slice`
    : `/kubepods.slice/kubepods-${qos}.slice/kubepods-${qos}-pod${uid}.slice`;
  return { podUid: opts.podUid, containerId, relPath: `${podSlice}/cri-containerd-${containerId}.scope` };
}

function absolutePath(relPath: string): string {
  if (!relPath.startsWith('/') || relPath.split('/').some((part) => part === '..' || part === '.')) {
    throw new Error(`cgroup path must be absolute within the cgroup2 tree and free of . and .., got "${relPath}"`);
  }
  return path.join(cgroup2Root(), relPath);
}

function readPids(abs: string): number[] {
  try {
    return readFileSync(path.join(abs, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function isPopulated(abs: string): boolean {
  try {
    return /^populated 1$/m.test(readFileSync(path.join(abs, 'cgroup.events'), 'utf8'));
  } catch {
    return false; // gone already
  }
}

function killAll(abs: string): void {
  // cgroup.kill (5.14+) also catches processes forked while we iterate; the pid loop is the fallback.
  const killFile = path.join(abs, 'cgroup.kill');
  if (existsSync(killFile)) {
    try {
      writeFileSync(killFile, '1');
      return;
    } catch {
      // fall through
    }
  }
  for (const pid of readPids(abs)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // exited meanwhile
    }
  }
}

function removeDirs(abs: string): void {
  liveCgroups.delete(abs);
  rmdirQuietly(abs);
  // Ancestors we created may be shared with sibling cgroups; each remove() tries them and the last one wins.
  for (let dir = path.dirname(abs); createdDirs.has(dir); dir = path.dirname(dir)) {
    if (!rmdirQuietly(dir)) break;
  }
}

/** true when the directory is gone afterwards. */
function rmdirQuietly(dir: string): boolean {
  try {
    rmdirSync(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') return false; // EBUSY/ENOTEMPTY: still has children or tasks
  }
  createdDirs.delete(dir);
  return true;
}

let cleanupRegistered = false;

function registerCleanup(): void {
  if (cleanupRegistered) return;
  cleanupRegistered = true;
  onExit(() => {
    const sleeper = new Int32Array(new SharedArrayBuffer(4));
    for (const abs of [...liveCgroups].sort().reverse()) {
      killAll(abs);
      // Exit handlers must be synchronous: poll with a blocking pause, bounded by a deadline.
      const deadline = Date.now() + UNPOPULATED_TIMEOUT_MS;
      while (isPopulated(abs) && Date.now() < deadline) Atomics.wait(sleeper, 0, 0, 10);
      removeDirs(abs);
    }
  });
}
