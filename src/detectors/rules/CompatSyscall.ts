// KS-ESC-021: a 32-bit (ia32 compat, int 0x80) system call from a container process. On x86-64 such calls fire no
// syscalls/sys_enter_* tracepoint, so every rule built on those hooks is blind to them: a 64-bit workload that makes
// one is hiding a call (unshare, mount, setns, bpf, ...) from syscall monitoring, a known evasion. The kernel
// (bpf/compat.bpf.c) records the first call of each number per container and second, and every call it killed.

import { EventType } from '../../receiver/events.ts';
import { kernelEnforcementOf } from '../../receiver/enforcement.ts';
import { Attr } from '../attributeKeys.ts';
import { BoundedMap } from '../internal/BoundedMap.ts';
import { NO_FINDINGS, type DetectionContext, type Detector, type DetectorEvent, type Finding, type RuleMetadata } from '../Detector.ts';

const REPORTED = 8192;

/**
 * The i386 numbers (arch/x86/entry/syscalls/syscall_32.tbl) of the calls other rules watch in their 64-bit form: a
 * detection names them. The first group is also enforced (docs/enforcement.md, "32-bit system calls").
 */
export const DANGEROUS_I386_SYSCALLS: Readonly<Record<number, string>> = {
  310: 'unshare',
  120: 'clone',
  435: 'clone3',
  346: 'setns',
  21: 'mount',
  430: 'fsopen',
  128: 'init_module',
  350: 'finit_module',
  26: 'ptrace',
  357: 'bpf',
  342: 'open_by_handle_at',
  // watched, not enforced through the 32-bit entry
  5: 'open',
  8: 'creat',
  295: 'openat',
  437: 'openat2',
  11: 'execve',
  358: 'execveat',
  61: 'chroot',
  217: 'pivot_root',
  429: 'move_mount',
  431: 'fsconfig',
  432: 'fsmount',
  428: 'open_tree',
  129: 'delete_module',
  336: 'perf_event_open',
  347: 'process_vm_readv',
  348: 'process_vm_writev',
  356: 'memfd_create',
  374: 'userfaultfd',
  425: 'io_uring_setup',
  426: 'io_uring_enter',
  185: 'capset',
  213: 'setuid32',
  208: 'setresuid32',
  362: 'connect',
  102: 'socketcall',
};

export class CompatSyscall implements Detector {
  readonly meta: RuleMetadata = {
    id: 'KS-ESC-021',
    version: '1.0.0',
    title: '32-bit system call from a container',
    category: 'container_escape',
    severity: 'high',
    mitre: { technique: 'T1562.001', name: 'Impair Defenses: Disable or Modify Tools' },
    events: [EventType.CompatSyscall],
    description:
      'A container process made a system call through the 32-bit (ia32 compat) entry: int 0x80, or sysenter/syscall ' +
      'from a 32-bit code segment. On x86-64 these calls fire no syscalls/sys_enter_* tracepoint, so the rules on ' +
      'unshare, mount, setns, bpf, ptrace, opens and the rest never see them; a 64-bit workload has no use for the ' +
      '32-bit entry except to go unseen. The raw sys_enter tracepoint sees them: the kernel records the first call ' +
      'of each i386 syscall number per container and second (per process for a call an enforcement check looks ' +
      'at; the count of the others comes with the next record) and every call enforcement acted on. Reported once per container and syscall number, and once per process ' +
      'for the numbers of escape-relevant calls (unshare, clone, clone3, setns, mount, fsopen, init_module, ' +
      'finit_module, ptrace, bpf, open_by_handle_at, the opens, exec, chroot, ...), which the detection names. ' +
      'Where a container\'s rules kill for KS-ESC-001, -002, -004, -006, -007, -009, -010 or -011, the 32-bit form ' +
      'of the call is killed under that rule (docs/enforcement.md, "32-bit system calls"). Not seen: x32-ABI ' +
      'calls (kernels built with CONFIG_X86_X32_ABI) and host processes.',
    falsePositives: [
      'A genuinely 32-bit program (an i386 ELF binary, e.g. a legacy tool or a 32-bit game server) makes every ' +
        'system call through the compat entry. Such a workload is rare in Kubernetes; it is recognised by its ' +
        'executable being ELF32, and reports each syscall number once.',
    ],
    tuning: 'Exception by image (or executable) for containers that run 32-bit binaries on purpose.',
    uuid: 'dfe25e29-f9a8-411a-a61b-04307924b064',
  };

  readonly #reported = new BoundedMap<string, true>(REPORTED);

  stateEvictions(): number {
    return this.#reported.evictions;
  }

  onEvent(event: DetectorEvent, ctx: DetectionContext): readonly Finding[] {
    if (event.type !== EventType.CompatSyscall) return NO_FINDINGS;
    const container = ctx.container(event);
    if (container === null) return NO_FINDINGS;
    const name = DANGEROUS_I386_SYSCALLS[event.nr];
    // An escape-relevant call is worth a detection per process; any other per container, or a 32-bit workload
    // would raise one per process and syscall. A call the kernel acted on is always reported (the engine also
    // reports it under the enforcing rule).
    const key = name === undefined ? `${container.id}/${event.nr}` : `${container.id}/${event.tgid}/${event.startBoottimeNs}/${event.nr}`;
    const acted = kernelEnforcementOf(event.flags) !== undefined;
    if (!acted && this.#reported.get(key)) return NO_FINDINGS;
    this.#reported.set(key, true);
    const syscall = name ?? `i386 syscall ${event.nr}`;
    const attributes: Finding['attributes'] = {
      [Attr.syscall]: name ?? String(event.nr),
      [Attr.compatSyscallNumber]: event.nr,
    };
    if (event.repeats > 0) attributes[Attr.compatSyscallRepeats] = event.repeats;
    return [
      {
        summary: `${event.comm} made the 32-bit system call ${syscall} (int 0x80) in container ${container.id.slice(0, 12)}`,
        attributes,
      },
    ];
  }
}
