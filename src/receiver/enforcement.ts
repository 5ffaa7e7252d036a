// The TypeScript side of the kernel's enforcement ABI (bpf/events.h enum ks_enforce_rule, the KS_HDR_FLAG_KILLED
// and KS_HDR_FLAG_WOULD_KILL header flags, bpf/lib/enforce.h). Numbers are ABI: never renumber, never reuse.

export const KernelEnforceCheck = {
  UserNamespace: 0,
  SetnsHost: 1,
  CgroupMount: 2,
  SensitiveMount: 3,
  ModuleLoad: 4,
  PtraceAttach: 5,
  BpfProgLoad: 6,
  OpenByHandle: 7,
  MemfdExec: 8,
  ReleaseAgentWrite: 9,
  TunableWrite: 10,
} as const;
export type KernelEnforceCheck = (typeof KernelEnforceCheck)[keyof typeof KernelEnforceCheck];
export const KERNEL_ENFORCE_CHECK_MAX = 11;

/**
 * The hooks (program names without their variant, as KernelSource.hooks() names them) whose programs decide each
 * check. A check works where all of them attach; on a kernel without some syscall (no init_module without
 * CONFIG_MODULES, no open(2) on arm64) the others still enforce what reaches them. sys_enter_compat decides the
 * checks of the calls made through the 32-bit entry (bpf/compat.bpf.c).
 */
const WRITE_OPEN_HOOKS = ['sys_exit_openat', 'sys_exit_openat2', 'sys_exit_open', 'sys_exit_creat'] as const;
/** The raw sys_enter program that sees 32-bit (int 0x80) calls (bpf/compat.bpf.c); kernel.compatSyscalls can leave it out. */
export const COMPAT_SYSCALL_HOOK = 'sys_enter_compat';
export const ENFORCE_CHECK_HOOKS: Record<KernelEnforceCheck, readonly string[]> = {
  // sched_fork: a child found in a new user namespace (clone3 flags rewritten under the entry's read).
  [KernelEnforceCheck.UserNamespace]: ['sys_enter_unshare', 'sys_enter_clone', 'sys_enter_clone3', 'sched_fork', COMPAT_SYSCALL_HOOK],
  [KernelEnforceCheck.SetnsHost]: ['sys_enter_setns', COMPAT_SYSCALL_HOOK],
  // The exits judge the kernel's own type: a type rewritten under the entry's read.
  [KernelEnforceCheck.CgroupMount]: ['sys_enter_mount', 'sys_enter_fsopen', 'sys_exit_mount', 'sys_exit_fsopen', COMPAT_SYSCALL_HOOK],
  [KernelEnforceCheck.SensitiveMount]: ['sys_enter_mount', 'sys_enter_fsopen', 'sys_exit_mount', 'sys_exit_fsopen', COMPAT_SYSCALL_HOOK],
  [KernelEnforceCheck.ModuleLoad]: ['sys_enter_init_module', 'sys_enter_finit_module', COMPAT_SYSCALL_HOOK],
  [KernelEnforceCheck.PtraceAttach]: ['sys_enter_ptrace', COMPAT_SYSCALL_HOOK],
  [KernelEnforceCheck.BpfProgLoad]: ['sys_enter_bpf', COMPAT_SYSCALL_HOOK],
  [KernelEnforceCheck.OpenByHandle]: ['sys_enter_open_by_handle_at', COMPAT_SYSCALL_HOOK],
  [KernelEnforceCheck.MemfdExec]: ['sched_exec'],
  // Also a release agent set by a mount option or an fsconfig key.
  [KernelEnforceCheck.ReleaseAgentWrite]: [...WRITE_OPEN_HOOKS, 'sys_enter_mount', 'sys_enter_fsconfig', 'sys_exit_fsconfig'],
  [KernelEnforceCheck.TunableWrite]: WRITE_OPEN_HOOKS,
};

/** enum ks_enforce_levels_slot: enforce_levels' slots; the agent writes its own two, the exec hook ORs into its. */
export const EnforceLevelsSlot = { ArmedByAgent: 0, ArmedByKernel: 1, Pending: 2 } as const;
export const ENFORCE_LEVELS_SLOTS = 3;

/** enum ks_enforce_mode, the value of enforce_mode[0]. */
export const EnforcementMode = { off: 0, 'dry-run': 1, on: 2 } as const;
export type EnforcementModeName = keyof typeof EnforcementMode;
export const ENFORCEMENT_MODES = Object.keys(EnforcementMode) as EnforcementModeName[];

/** enum ks_enforce_outcome: what the kernel did, in the order of enforce_actions' slots per check. */
export const ENFORCEMENT_OUTCOMES = ['killed', 'dry-run', 'kill-failed'] as const;
export type EnforcementOutcome = (typeof ENFORCEMENT_OUTCOMES)[number];

const HEADER_FLAG_KILLED = 1 << 1;
const HEADER_FLAG_WOULD_KILL = 1 << 2;
const HEADER_FLAG_KILL_FAILED = 1 << 3;
const HEADER_ENFORCE_RULE_SHIFT = 8;
const HEADER_ENFORCE_RULE_MASK = 0xff;

/** What the kernel did about a record: which check decided, and the outcome. */
export interface KernelEnforcement {
  check: KernelEnforceCheck;
  outcome: EnforcementOutcome;
}

/** From a record's hdr.flags; undefined when the kernel decided nothing for it. */
export function kernelEnforcementOf(flags: number): KernelEnforcement | undefined {
  const outcome: EnforcementOutcome | undefined =
    (flags & HEADER_FLAG_KILLED) !== 0 ? 'killed'
    : (flags & HEADER_FLAG_KILL_FAILED) !== 0 ? 'kill-failed'
    : (flags & HEADER_FLAG_WOULD_KILL) !== 0 ? 'dry-run'
    : undefined;
  if (outcome === undefined) return undefined;
  return { check: ((flags >>> HEADER_ENFORCE_RULE_SHIFT) & HEADER_ENFORCE_RULE_MASK) as KernelEnforceCheck, outcome };
}
