// What the agent knows about a process and the container it runs in. Built by the process table and the
// container resolver; read by detectors (through DetectionContext) and by the exporters.

import type { NamespaceInodes } from './events.ts';

export type ContainerRuntime = 'containerd' | 'cri-o' | 'docker' | 'podman' | 'unknown';

export interface ContainerIdentity {
  /** Full 64-hex container id as the runtime names it. */
  id: string;
  runtime: ContainerRuntime;
  /** Pod UID with dashes (the systemd driver's underscores translated back), when the cgroup is a kubepods one. */
  podUid?: string;
  /** 'guaranteed' | 'burstable' | 'besteffort' from a kubepods path. */
  qosClass?: string;
  /** cgroup v2 path relative to the cgroup2 root, e.g. /kubepods/besteffort/pod<uid>/<id>. */
  cgroupPath: string;
  cgroupId: bigint;
  /** CLOCK_BOOTTIME ns when the agent first saw the container's cgroup (mkdir event or start-up walk). */
  firstSeenNs: bigint;
}

export interface ProcessInfo {
  tgid: number;
  /** With tgid the identity of a process across pid reuse. */
  startBoottimeNs: bigint;
  ppid: number;
  /** Start time of the parent, so ancestry never follows a reused pid. */
  parentStartBoottimeNs: bigint;
  executable: string;
  argv: string[];
  commandLine: string;
  uid: number;
  euid: number;
  gid: number;
  comm: string;
  /** CLOCK_BOOTTIME ns of the last exec (or of the snapshot for processes that existed at start). */
  execTimeNs: bigint;
  /** Identity of the executed file: inode and st_dev in the kernel's encoding (0 when unknown). */
  exeIno: bigint;
  exeDev: number;
  exeMtimeNs: bigint;
  exeFlags: number;
  ns: NamespaceInodes;
  capEffective: bigint;
  cgroupId: bigint;
  /**
   * The container runtime's own set-up work: the process (or the ancestor it forked from without exec-ing since)
   * executed a host runtime binary in the host's mount namespace (HostRuntimeBinaries.ts). False again from the
   * first exec of anything else, such as the container's entrypoint.
   */
  runtimeSetup: boolean;
  /** null: a host process (its cgroup is not a container's). */
  container: ContainerIdentity | null;
}
