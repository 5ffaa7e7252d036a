// The host's (initial) namespace inodes, so detectors can tell "this process shares the host's mount/pid/net
// namespace" from a namespace inode in an exec record. kthreadd (pid 2) always runs in the initial namespaces and
// its /proc entry stays readable when pid 1's does not (sandboxed or hardened inits), so it is asked first.

import { readlinkSync } from 'node:fs';
import type { NamespaceInodes } from './events.ts';

const NAMESPACE_KINDS = ['mnt', 'pid', 'net', 'user', 'uts', 'ipc', 'cgroup'] as const;

export interface HostNamespaces {
  inodes: NamespaceInodes;
  /** The /proc entry the inodes were read from. */
  source: string;
}

/** The inode in a /proc/<pid>/ns/<kind> link target such as "mnt:[4026531841]". */
export function parseNamespaceLink(target: string): number {
  const match = /^\w+:\[(\d+)\]$/.exec(target);
  if (!match) throw new Error(`unexpected namespace link target '${target}'`);
  return Number(match[1]);
}

/** Namespace inodes of one process; throws when any link is unreadable. */
export function readNamespaceInodes(procPid: string, procRoot = '/proc'): NamespaceInodes {
  const read = (kind: string) => parseNamespaceLink(readlinkSync(`${procRoot}/${procPid}/ns/${kind}`));
  return { mnt: read('mnt'), pid: read('pid'), net: read('net'), user: read('user'), uts: read('uts'), ipc: read('ipc'), cgroup: read('cgroup') };
}

/**
 * The initial namespaces from kthreadd, then init, then (with a warning, because it is only right when the agent
 * runs in the host namespaces) the agent itself.
 */
export function readHostNamespaces(warn: (message: string) => void, procRoot = '/proc'): HostNamespaces {
  const failures: string[] = [];
  for (const pid of ['2', '1']) {
    try {
      return { inodes: readNamespaceInodes(pid, procRoot), source: `${procRoot}/${pid}/ns` };
    } catch (error) {
      failures.push(`${procRoot}/${pid}/ns: ${(error as Error).message}`);
    }
  }
  warn(`cannot read the host namespaces (${failures.join('; ')}); assuming the agent's own namespaces are the host's`);
  return { inodes: readNamespaceInodes('self', procRoot), source: `${procRoot}/self/ns` };
}

/** Which of a process's namespaces differ from the host's, e.g. ['mnt', 'pid']: empty for a host process. */
export function namespacesDifferingFromHost(ns: NamespaceInodes, host: NamespaceInodes): (keyof NamespaceInodes)[] {
  return NAMESPACE_KINDS.filter((kind) => ns[kind] !== 0 && ns[kind] !== host[kind]);
}
