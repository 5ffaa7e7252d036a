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

/** enum ks_enforce_mode, the value of enforce_mode[0]. */
export const EnforcementMode = { off: 0, 'dry-run': 1, on: 2 } as const;
export type EnforcementModeName = keyof typeof EnforcementMode;
export const ENFORCEMENT_MODES = Object.keys(EnforcementMode) as EnforcementModeName[];

const HEADER_FLAG_KILLED = 1 << 1;
const HEADER_FLAG_WOULD_KILL = 1 << 2;
const HEADER_ENFORCE_RULE_SHIFT = 8;
const HEADER_ENFORCE_RULE_MASK = 0xff;

/** What the kernel did about a record: which check decided, and whether SIGKILL was sent (else dry-run). */
export interface KernelEnforcement {
  check: KernelEnforceCheck;
  killed: boolean;
}

/** From a record's hdr.flags; undefined when the kernel decided nothing for it. */
export function kernelEnforcementOf(flags: number): KernelEnforcement | undefined {
  if ((flags & (HEADER_FLAG_KILLED | HEADER_FLAG_WOULD_KILL)) === 0) return undefined;
  return {
    check: ((flags >>> HEADER_ENFORCE_RULE_SHIFT) & HEADER_ENFORCE_RULE_MASK) as KernelEnforceCheck,
    killed: (flags & HEADER_FLAG_KILLED) !== 0,
  };
}
