/**
 * A container whose init parks one child shell on a fifo: the test learns the child's HOST pid first, then releases
 * it and the child execs the command in place (same pid). So a detection's process.pid can be checked exactly, and
 * the child's ancestry ends at the container's init.
 *
 *   const c = await startContainer({ podUid, cmd: parkedInit('unshare -U -r true') });
 *   const pid = await parkedChildPid(c);
 *   await releaseParked(c);
 */
import { readFileSync } from 'node:fs';
import type { Container } from './podman.ts';
import { waitFor } from './wait.ts';

export function parkedInit(command: string): string[] {
  return ['sh', '-c', `mkfifo /tmp/go; (read x < /tmp/go; exec ${command}) & wait; sleep 3600`];
}

export function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

export async function parkedChildPid(container: Container): Promise<number> {
  const [pid] = await waitFor(() => {
    const kids = childPids(container.initPid);
    return kids.length ? kids : undefined;
  }, { what: `the parked shell inside container ${container.id.slice(0, 12)}` });
  return pid;
}

export async function releaseParked(container: Container): Promise<void> {
  const r = await container.exec(['sh', '-c', 'echo go > /tmp/go']);
  if (r.code !== 0) throw new Error(`releasing the parked shell failed: ${r.stderr}`);
}
