// Small pure helpers shared by several detectors.

import { OpenFileFact, type KernelEvent, type OpenEvent } from '../../receiver/events.ts';
import type { ProcessInfo } from '../../receiver/identity.ts';
import type { DetectionContext } from '../Detector.ts';

const O_ACCMODE = 0o3;
const O_CREAT = 0o100;
const O_TRUNC = 0o1000;

/** Opened for writing: write access mode, or creating/truncating the file. */
export function isWriteOpen(flags: number): boolean {
  return (flags & O_ACCMODE) !== 0 || (flags & (O_CREAT | O_TRUNC)) !== 0;
}

/**
 * An open record for writing: the caller's flags, or the opened file's own mode, which the kernel reports when there
 * was a file (openat2's flags can be unreadable, or rewritten by another thread after the kernel copied them).
 */
export function opensForWrite(event: OpenEvent): boolean {
  return isWriteOpen(event.openFlags) || (event.fileFacts & OpenFileFact.Write) !== 0;
}

/**
 * Whether the opened file is what `fact` says (OpenFileFact): decided by the kernel's struct file when there was
 * one; without a file (a refused open) only the caller's path can tell, and `byPath` decides.
 */
export function openedFileIs(event: OpenEvent, fact: number, byPath: () => boolean): boolean {
  if ((event.fileFacts & OpenFileFact.Known) !== 0) return (event.fileFacts & fact) !== 0;
  return byPath();
}

export function basename(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash < 0 ? path : path.slice(slash + 1);
}

/** '/a/b/' → '/a/b'; keeps '/' itself. */
export function trimTrailingSlash(path: string): string {
  let end = path.length;
  while (end > 1 && path.charCodeAt(end - 1) === 47) end--;
  return end === path.length ? path : path.slice(0, end);
}

/**
 * Splits '/proc/<pid>/<rest>' into its pid part and rest; undefined for any other path. The pid part is as written
 * ('self', 'thread-self' or digits): it is in the caller's pid namespace, so it cannot be compared with host ids.
 */
export function splitProcPath(path: string): { pid: string; rest: string } | undefined {
  if (!path.startsWith('/proc/')) return undefined;
  const slash = path.indexOf('/', 6);
  if (slash < 0) return { pid: path.slice(6), rest: '' };
  return { pid: path.slice(6, slash), rest: path.slice(slash + 1) };
}

export function isOwnProcReference(pid: string): boolean {
  return pid === 'self' || pid === 'thread-self';
}

/**
 * True for the container runtime's own set-up work inside a new container: runc/crun join the container's cgroup
 * before they unshare, mount, pivot_root and setns, so those records carry the container's cgroup id. The process
 * table decides it from kernel facts (ProcessInfo.runtimeSetup: the host's runtime binary by device and inode,
 * executed in the host's mount namespace, until the next exec of anything else); a name decides nothing. An
 * unknown process is not the runtime, and neither is one whose standing is older than a lost exec or fork record
 * of its cgroup: the lost exec may be the one that ended it (a workload keeping the runtime's standing).
 */
export function isRuntimeSetup(event: KernelEvent, ctx: DetectionContext): boolean {
  const proc = processOf(event, ctx);
  return proc?.runtimeSetup === true && ctx.lineageRecordsLostSince?.(event.cgroupId, proc.execTimeNs) !== true;
}

/** The process that made `event`: by tgid and start time, so never an earlier holder of the pid. */
export function processOf(event: KernelEvent, ctx: DetectionContext): ProcessInfo | undefined {
  return ctx.process(event.tgid, event.startBoottimeNs);
}

export function hex(n: bigint | number): string {
  return '0x' + n.toString(16);
}
