// What /proc says about a process, for processes that existed before the agent started and for processes whose
// exec the agent never saw. The kernel records are the primary source; this is the fallback, so it reads only what
// ProcessInfo needs and treats a vanished process as "no answer" rather than an error.

import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import type { NamespaceInodes } from './events.ts';
import { readNamespaceInodes } from './hostNamespaces.ts';
import { cgroupPathFromProcFile } from './cgroups.ts';
import { kernelDevOf } from './HostRuntimeBinaries.ts';

/**
 * /proc/<pid>/stat reports start time in USER_HZ ticks, which is 100 on every architecture Linux runs
 * Kubernetes nodes on; the kernel records carry the same start time in nanoseconds (task->start_boottime).
 */
export const NS_PER_CLOCK_TICK = 10_000_000n;

const DELETED_SUFFIX = ' (deleted)';

export interface ProcProcess {
  tgid: number;
  ppid: number;
  /** Start time truncated to clock ticks, in ns; compare with kernel start times through sameStartTime(). */
  startBoottimeNs: bigint;
  comm: string;
  executable: string;
  /** The executable was deleted after it was started. */
  exeUnlinked: boolean;
  exeMtimeNs: bigint;
  /** Identity of the executable (st_dev in the kernel's encoding); 0 when there is none (kernel threads). */
  exeIno: bigint;
  exeDev: number;
  argv: string[];
  uid: number;
  euid: number;
  gid: number;
  egid: number;
  capEffective: bigint;
  ns: NamespaceInodes;
  /** cgroup path from /proc/<pid>/cgroup (cgroup2 line when present). */
  cgroupPath: string | null;
}

/** Whether a coarse /proc start time (ticks, in ns) and a precise kernel start time name the same moment. */
export function sameStartTime(coarseNs: bigint, preciseNs: bigint): boolean {
  return coarseNs / NS_PER_CLOCK_TICK === preciseNs / NS_PER_CLOCK_TICK;
}

export interface ProcStat {
  comm: string;
  ppid: number;
  startBoottimeNs: bigint;
}

/** The fields of /proc/<pid>/stat the table needs. comm may contain spaces and ')', so parse from the last ')'. */
export function parseProcStat(text: string): ProcStat {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) throw new Error(`malformed /proc stat line: ${text.slice(0, 80)}`);
  const rest = text.slice(close + 2).split(' '); // rest[0] is field 3 (state)
  return {
    comm: text.slice(open + 1, close),
    ppid: Number(rest[1]),
    startBoottimeNs: BigInt(rest[19]) * NS_PER_CLOCK_TICK, // field 22
  };
}

function statusField(status: string, key: string): string[] {
  const at = status.indexOf(`\n${key}:`);
  if (at < 0) return [];
  const end = status.indexOf('\n', at + 1);
  return status.slice(at + key.length + 2, end < 0 ? undefined : end).trim().split(/\s+/);
}

/** Reads a process from /proc; null when it has exited (or was never there). */
export function readProcProcess(pid: number, procRoot = '/proc'): ProcProcess | null {
  const dir = `${procRoot}/${pid}`;
  let stat: ProcStat;
  let status: string;
  try {
    stat = parseProcStat(readFileSync(`${dir}/stat`, 'latin1'));
    status = '\n' + readFileSync(`${dir}/status`, 'latin1');
  } catch {
    return null;
  }
  const optional = <T>(read: () => T, fallback: T): T => {
    try {
      return read();
    } catch {
      return fallback; // kernel threads have no exe; a process can exit between reads
    }
  };
  const exeLink = optional(() => readlinkSync(`${dir}/exe`), '');
  const exeUnlinked = exeLink.endsWith(DELETED_SUFFIX);
  const exe = optional(() => statSync(`${dir}/exe`, { bigint: true }), null);
  const cmdline = optional(() => readFileSync(`${dir}/cmdline`, 'utf8'), '');
  const argv = cmdline === '' ? [] : cmdline.replace(/\0$/, '').split('\0');
  const ns = optional(() => readNamespaceInodes(String(pid), procRoot), { mnt: 0, pid: 0, net: 0, user: 0, uts: 0, ipc: 0, cgroup: 0 });
  const cgroupPath = optional(() => cgroupPathFromProcFile(readFileSync(`${dir}/cgroup`, 'utf8')), null);
  // A process reaped while it was read leaves everything after stat absent, and its pid may already name another:
  // either way what was read is not one process. Read stat again; gone or started at another time is gone.
  const after = optional(() => parseProcStat(readFileSync(`${dir}/stat`, 'latin1')), null);
  if (after === null || after.startBoottimeNs !== stat.startBoottimeNs) return null;
  const uids = statusField(status, 'Uid');
  const gids = statusField(status, 'Gid');
  const capEff = statusField(status, 'CapEff')[0];
  return {
    tgid: pid,
    ppid: stat.ppid,
    startBoottimeNs: stat.startBoottimeNs,
    comm: stat.comm,
    executable: exeUnlinked ? exeLink.slice(0, -DELETED_SUFFIX.length) : exeLink,
    exeUnlinked,
    exeMtimeNs: exe?.mtimeNs ?? 0n,
    exeIno: exe?.ino ?? 0n,
    exeDev: exe ? kernelDevOf(exe.dev) : 0,
    argv,
    uid: Number(uids[0] ?? 0),
    euid: Number(uids[1] ?? 0),
    gid: Number(gids[0] ?? 0),
    egid: Number(gids[1] ?? 0),
    capEffective: capEff ? BigInt(`0x${capEff}`) : 0n,
    ns,
    cgroupPath,
  };
}

/** Process ids (thread-group leaders) currently in /proc. */
export function listProcessIds(procRoot = '/proc'): number[] {
  const pids: number[] = [];
  for (const name of readdirSync(procRoot)) {
    const pid = Number(name);
    if (Number.isInteger(pid) && pid > 0) pids.push(pid);
  }
  return pids;
}
