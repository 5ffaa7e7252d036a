// Attack-simulation scenarios: what to run in a throw-away container and which rule must fire. The programs are
// the static binaries built from simulator/progs (make -C simulator → build/simulator), mounted read-only into
// the container at SIMULATOR_MOUNT. Every program is harmless: it makes the watched system call and exits; inside
// an unprivileged container most calls are refused, and the attempt is what the rule detects.

import type { Severity } from '../detection.ts';

export const SIMULATOR_MOUNT = '/ks-sim';
/** Relative to the repository root. */
export const SIMULATOR_BUILD_DIR = 'build/simulator';
/** Where a scenario with hostRootVolume sees the host's /. */
export const HOST_ROOT_MOUNT = '/host';

export interface Scenario {
  name: string;
  description: string;
  /** The rule that must report it. */
  rule: string;
  /** The severity the detection must have (the rule's base severity unless the scenario raises it). */
  severity: Severity;
  /** The container's command (argv). Steps that must share one container are chained with sh -c. */
  command: string[];
  /** Needs a privileged container (the call must succeed, or a path only exists there). */
  privileged?: boolean;
  /** Needs the host's pid namespace. */
  hostPid?: boolean;
  /**
   * Needs the runtime's default seccomp profile off: it denies this call before the syscall tracepoint, so
   * nothing would reach the kernel programs (podman/docker --security-opt seccomp=unconfined;
   * Kubernetes securityContext.seccompProfile.type: Unconfined).
   */
  seccompUnconfined?: boolean;
  /** Needs the host's / as a read-only volume at HOST_ROOT_MOUNT (the "bad pod" hostPath). */
  hostRootVolume?: boolean;
  /** Run as this uid instead of root. */
  user?: number;
  /**
   * Only observable on a kernel built with module support (CONFIG_MODULES): without it the module syscalls have
   * no tracepoints (and /proc/modules is absent), so nothing can be detected and the scenario does not apply.
   */
  needsKernelModules?: boolean;
  /**
   * With `enforcement: on` and the rule's `action: kill`, the kernel kills the process at this call (a check of
   * bpf/lib/enforce.h applies; docs/enforcement.md). False where the rule only alerts on what the scenario does.
   */
  killed?: boolean;
}

/** The container options a scenario needs (podman run flags), with the simulator programs mounted from `programs`. */
export function containerOptionsOf(s: Scenario, programs: string): string[] {
  const args = ['-v', `${programs}:${SIMULATOR_MOUNT}:ro`];
  if (s.privileged) args.push('--privileged');
  if (s.hostPid) args.push('--pid', 'host');
  if (s.seccompUnconfined) args.push('--security-opt', 'seccomp=unconfined');
  if (s.hostRootVolume) args.push('-v', `/:${HOST_ROOT_MOUNT}:ro`);
  if (s.user !== undefined) args.push('--user', String(s.user));
  return args;
}

const sim = (program: string, ...args: string[]): string[] => [`${SIMULATOR_MOUNT}/${program}`, ...args];

export const SCENARIOS: readonly Scenario[] = [
  {
    name: 'user-namespace-uid-map',
    killed: true,
    description: 'unshare(CLONE_NEWUSER) and write the new namespace\'s uid_map',
    rule: 'KS-ESC-001',
    severity: 'critical',
    command: sim('userns_uidmap'),
  },
  {
    name: 'setns',
    description: 'setns into the container\'s own network namespace (refused without CAP_SYS_ADMIN)',
    rule: 'KS-ESC-002',
    severity: 'medium',
    command: sim('setns_path', '/proc/self/ns/net'),
  },
  {
    name: 'setns-host-mount-namespace',
    killed: true,
    description: 'setns into the host mount namespace through /proc/2/ns/mnt (kthreadd) from a privileged hostPID container',
    rule: 'KS-ESC-002',
    severity: 'critical',
    command: sim('setns_path', '/proc/2/ns/mnt'),
    privileged: true,
    hostPid: true,
  },
  {
    name: 'host-pid-namespace',
    description: 'run a program in a container that shares the host pid namespace (hostPID)',
    rule: 'KS-ESC-003',
    severity: 'high',
    command: sim('noop'),
    hostPid: true,
  },
  {
    name: 'mount-cgroup',
    killed: true,
    description: 'mount a cgroup v1 filesystem inside the container (CVE-2022-0492 first step)',
    rule: 'KS-ESC-004',
    severity: 'high',
    command: sim('mount_fs', 'cgroup', '/tmp/ks-cgroup'),
  },
  {
    name: 'release-agent-write',
    description: 'open a cgroup release_agent for writing (nothing is written)',
    rule: 'KS-ESC-004',
    severity: 'critical',
    command: sim('release_agent', '/sys/fs/cgroup/release_agent'),
  },
  {
    name: 'core-pattern-write',
    description: 'open /proc/sys/kernel/core_pattern for writing (read-only /proc/sys refuses it)',
    rule: 'KS-ESC-005',
    severity: 'critical',
    command: sim('open_path', 'w', '/proc/sys/kernel/core_pattern'),
  },
  {
    name: 'mount-proc',
    killed: true,
    description: 'mount a proc filesystem inside the container',
    rule: 'KS-ESC-006',
    severity: 'high',
    command: sim('mount_fs', 'proc', '/tmp/ks-proc'),
  },
  {
    name: 'mount-sysfs',
    killed: true,
    description: 'mount a sysfs filesystem inside the container',
    rule: 'KS-ESC-006',
    severity: 'high',
    command: sim('mount_fs', 'sysfs', '/tmp/ks-sys'),
  },
  {
    name: 'kernel-module-load',
    killed: true,
    description: 'init_module with bytes that are not a module',
    rule: 'KS-ESC-007',
    severity: 'critical',
    command: sim('init_module'),
    seccompUnconfined: true,
    needsKernelModules: true,
  },
  {
    name: 'runtime-socket-connect',
    description: 'connect to /run/docker.sock (absent in the container: the attempt is reported)',
    rule: 'KS-ESC-008',
    severity: 'high',
    command: sim('connect_to', 'unix', '/run/docker.sock'),
  },
  {
    name: 'kubelet-api-connect',
    description: 'connect to port 10250 on loopback (refused: the attempt is reported)',
    rule: 'KS-ESC-008',
    severity: 'high',
    command: sim('connect_to', 'tcp', '127.0.0.1', '10250'),
  },
  {
    name: 'ptrace-attach',
    killed: true,
    description: 'PTRACE_ATTACH to a child process in the same container',
    rule: 'KS-ESC-009',
    severity: 'high',
    command: sim('ptrace_child'),
  },
  {
    name: 'process-vm-writev',
    description: 'process_vm_writev into a child process in the same container',
    rule: 'KS-ESC-009',
    severity: 'high',
    command: sim('vm_writev_child'),
  },
  {
    name: 'bpf-prog-load',
    killed: true,
    description: 'bpf(BPF_PROG_LOAD) of a "return 0" socket filter (EPERM in a container)',
    rule: 'KS-ESC-010',
    severity: 'high',
    command: sim('bpf_prog_load'),
    seccompUnconfined: true,
  },
  {
    name: 'perf-event-open',
    description: 'perf_event_open of a software counter',
    rule: 'KS-ESC-010',
    severity: 'medium',
    command: sim('perf_event_open'),
    seccompUnconfined: true,
  },
  {
    name: 'open-by-handle-at',
    killed: true,
    description: 'open_by_handle_at with a made-up handle ("shocker")',
    rule: 'KS-ESC-011',
    severity: 'critical',
    command: sim('open_by_handle'),
    seccompUnconfined: true,
  },
  {
    name: 'dev-mem-open',
    description: 'open /dev/mem read-only (absent in the container)',
    rule: 'KS-ESC-012',
    severity: 'critical',
    command: sim('open_path', 'r', '/dev/mem'),
  },
  {
    name: 'proc-self-exe-write',
    description: 'open /proc/self/exe for writing (ETXTBSY), the runc CVE-2019-5736 pattern',
    rule: 'KS-ESC-013',
    severity: 'critical',
    command: sim('open_path', 'w', '/proc/self/exe'),
  },
  {
    name: 'userfaultfd-non-root',
    description: 'userfaultfd as uid 65534',
    rule: 'KS-ESC-014',
    severity: 'medium',
    command: sim('userfaultfd'),
    seccompUnconfined: true,
  },
  {
    name: 'io-uring-ops',
    description: 'io_uring_setup, then an OPENAT and a CONNECT submitted through the ring instead of the syscalls',
    rule: 'KS-ESC-020',
    severity: 'medium',
    command: sim('io_uring_ops', '/etc/passwd', '3391'),
    seccompUnconfined: true,
  },
  {
    name: 'compat-unshare',
    description: 'unshare(CLONE_NEWUSER) through int 0x80: the 32-bit entry, which no syscall tracepoint sees',
    rule: 'KS-ESC-021',
    severity: 'high',
    command: sim('compat_call', '310', '0x10000000'),
  },
  {
    name: 'kubelet-credentials-read',
    description: 'open the kubelet\'s client certificate path (absent in the container)',
    rule: 'KS-ESC-015',
    severity: 'critical',
    command: sim('open_path', 'r', '/var/lib/kubelet/pki/kubelet-client-current.pem'),
  },
  {
    name: 'setuid-root',
    description: 'setuid(0) as uid 65534 (EPERM)',
    rule: 'KS-ESC-016',
    severity: 'high',
    command: sim('setuid_root'),
  },
  {
    name: 'capset-raise',
    description: 'capset asking for CAP_SYS_ADMIN as uid 65534 (EPERM)',
    rule: 'KS-ESC-016',
    severity: 'high',
    command: sim('capset_raise'),
  },
  {
    name: 'memfd-exec',
    killed: true,
    description: 'execute a copy of a program from a memfd',
    rule: 'KS-ESC-017',
    severity: 'high',
    command: sim('memfd_exec'),
  },
  {
    name: 'tmp-exec',
    description: 'execute a copy of a program from /tmp (/dev/shm is noexec under most runtimes)',
    rule: 'KS-ESC-017',
    severity: 'high',
    command: sim('shm_exec', '/tmp'),
  },
  {
    name: 'chroot-host-root',
    description: `chroot into the host's / mounted read-only at ${HOST_ROOT_MOUNT} and run the host's busybox true`,
    rule: 'KS-ESC-018',
    severity: 'critical',
    command: ['chroot', HOST_ROOT_MOUNT, '/usr/bin/busybox', 'true'],
    hostRootVolume: true,
  },
  {
    name: 'mining-stratum',
    description: 'send a stratum mining.subscribe to a listener the program opens on 127.0.0.1:3390 (not a pool port)',
    rule: 'KS-MIN-001',
    severity: 'high',
    command: sim('stratum_connect', '3390'),
  },
  {
    name: 'mining-miner-executable',
    description: 'run a no-op program named xmrig, without miner arguments',
    rule: 'KS-MIN-001',
    severity: 'high',
    command: ['sh', '-c', `cp ${SIMULATOR_MOUNT}/noop /tmp/xmrig && /tmp/xmrig`],
  },
  {
    name: 'mining-miner-arguments',
    description: 'run a no-op program under an innocent name with miner arguments (a renamed miner)',
    rule: 'KS-MIN-001',
    severity: 'high',
    command: ['sh', '-c', `cp ${SIMULATOR_MOUNT}/noop /tmp/kworker-helper && /tmp/kworker-helper -o stratum+tcp://127.0.0.1:3333 --donate-level=1`],
  },
  {
    name: 'mining-renamed-miner',
    description: 'run a no-op program renamed xmrig with miner arguments (executable and arguments: critical)',
    rule: 'KS-MIN-001',
    severity: 'critical',
    command: ['sh', '-c', `cp ${SIMULATOR_MOUNT}/noop /tmp/xmrig && /tmp/xmrig -o stratum+tcp://127.0.0.1:3333 --donate-level=1`],
  },
  {
    name: 'mining-host-tuning',
    description: 'query a pool domain over DNS, open /dev/cpu/0/msr and open nr_hugepages for writing',
    rule: 'KS-MIN-001',
    severity: 'medium',
    command: ['sh', '-c', `${SIMULATOR_MOUNT}/dns_query pool.supportxmr.com; ${SIMULATOR_MOUNT}/msr_open; ${SIMULATOR_MOUNT}/hugepages`],
  },
  {
    name: 'telemetry-gap-fork-flood',
    description: 'two processes fork children that exit at once for 5 s, past the per-container rate for hot records',
    rule: 'KS-GAP-001',
    severity: 'medium',
    command: sim('fork_flood', '5', '2'),
  },
];

export function scenarioNamed(name: string): Scenario | undefined {
  return SCENARIOS.find((s) => s.name === name);
}

/** The simulator programs a scenario needs (base names under build/simulator). */
export function programsOf(scenario: Scenario): string[] {
  const programs = new Set<string>();
  for (const word of scenario.command.join(' ').split(/[\s;&|]+/)) {
    if (word.startsWith(`${SIMULATOR_MOUNT}/`)) programs.add(word.slice(SIMULATOR_MOUNT.length + 1));
  }
  return [...programs];
}
