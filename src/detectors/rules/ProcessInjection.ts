// KS-ESC-009: writing into another process: ptrace attach/seize/poke, process_vm_writev, or /proc/<pid>/mem.

import { EventType, Op, OpenFileFact, type OpenEvent, type PtraceEvent } from '../../receiver/events.ts';
import type { ContainerIdentity } from '../../receiver/identity.ts';
import { Attr } from '../attributeKeys.ts';
import { NO_FINDINGS, type DetectionContext, type Detector, type DetectorEvent, type Finding, type RuleMetadata } from '../Detector.ts';
import { hex, isOwnProcReference, isWriteOpen, splitProcPath } from '../internal/util.ts';
import { KernelEnforceCheck } from '../../receiver/enforcement.ts';

const PTRACE_REQUESTS: ReadonlyMap<bigint, string> = new Map([
  [4n, 'PTRACE_POKETEXT'],
  [5n, 'PTRACE_POKEDATA'],
  [6n, 'PTRACE_POKEUSER'],
  [16n, 'PTRACE_ATTACH'],
  [0x4206n, 'PTRACE_SEIZE'],
]);

export class ProcessInjection implements Detector {
  readonly meta: RuleMetadata = {
    id: 'KS-ESC-009',
    version: '1.0.0',
    title: 'Process injection from a container',
    category: 'container_escape',
    severity: 'high',
    mitre: { technique: 'T1055.008', name: 'Process Injection: Ptrace System Calls' },
    events: [EventType.Ptrace, EventType.Open],
    description:
      'A container process calls ptrace with PTRACE_ATTACH, PTRACE_SEIZE or PTRACE_POKE*, calls ' +
      'process_vm_writev on another process, or opens /proc/<pid>/mem of another process for writing. Critical ' +
      'when the target is a host process or in another container. /proc/<pid>/mem is also matched on the opened ' +
      'file\'s resolved path (a relative path, dirfd or symlink to it is seen); there /proc/self is the opener\'s ' +
      'pid, so whether a resolved open is of the process\'s own memory comes from the kernel (the proc inode\'s ' +
      'pid is the opener\'s), not from what the caller wrote.',
    falsePositives: ['Debuggers and profilers (gdb, delve, py-spy) in development or debug pods.'],
    tuning: 'Exception by image or namespace for debug tooling.',
    uuid: '9dc4e91b-a54f-4de7-b49b-9d185009e827',
    enforcement: {
      checks: [KernelEnforceCheck.PtraceAttach],
      description:
        'ptrace PTRACE_ATTACH or PTRACE_SEIZE, through the 32-bit entry (int 0x80, KS-ESC-021) too: the tracer dies ' +
        'before it reads or writes the tracee (process_vm_writev is not enforced).',
    },
    openPathPatterns: ['/proc/*/mem'],
  };

  onEvent(event: DetectorEvent, ctx: DetectionContext): readonly Finding[] {
    if (event.type === EventType.Ptrace) return this.#onPtrace(event, ctx);
    if (event.type === EventType.Open) return this.#onOpen(event, ctx);
    return NO_FINDINGS;
  }

  #onPtrace(event: PtraceEvent, ctx: DetectionContext): readonly Finding[] {
    let request: string;
    if (event.op === Op.ProcessVmWritev) request = 'process_vm_writev';
    else {
      const name = PTRACE_REQUESTS.get(event.request);
      if (name === undefined) return NO_FINDINGS;
      request = name;
    }
    if (event.targetTgid !== 0 && event.targetTgid === event.tgid) return NO_FINDINGS;
    const container = ctx.container(event);
    if (container === null) return NO_FINDINGS;
    const target = event.targetTgid === 0 ? undefined : ctx.process(event.targetTgid);
    const attributes: Finding['attributes'] = {
      [Attr.syscall]: event.op === Op.ProcessVmWritev ? 'process_vm_writev' : 'ptrace',
      [Attr.ptraceRequest]: request,
      [Attr.targetPid]: event.targetTgid || event.targetPidArg,
    };
    if (target) attributes[Attr.targetExecutable] = target.executable;
    const outside = target !== undefined && !sameContainer(container, target.container);
    if (outside && target.container) attributes[Attr.targetContainerId] = target.container.id;
    const where = !outside ? 'inside its container' : target.container === null ? 'on the host' : 'in another container';
    return [
      {
        severity: outside ? 'critical' : undefined,
        summary: `${event.comm} used ${request} on ${target?.executable ?? `pid ${event.targetPidArg}`} ${where}`,
        attributes,
      },
    ];
  }

  #onOpen(event: OpenEvent, ctx: DetectionContext): readonly Finding[] {
    if (!isWriteOpen(event.openFlags)) return NO_FINDINGS;
    const proc = splitProcPath(event.path);
    if (!proc || proc.rest !== 'mem' || isOwnProcReference(proc.pid) || writtenAsOwnMemory(event)) return NO_FINDINGS;
    if (ctx.container(event) === null) return NO_FINDINGS;
    return [
      {
        summary: `${event.comm} opened ${event.path} for writing inside a container`,
        attributes: { [Attr.filePath]: event.path, [Attr.openFlags]: hex(event.openFlags) },
      },
    ];
  }
}

/**
 * /proc/self/mem resolves to /proc/<pid>/mem, and whether <pid> is the opener's own is not in the path (pid
 * namespaces): the kernel says so from the proc inode (OwnProcess), whatever string the caller wrote.
 */
function writtenAsOwnMemory(event: OpenEvent): boolean {
  return (event.fileFacts & OpenFileFact.OwnProcess) !== 0;
}

function sameContainer(a: ContainerIdentity, b: ContainerIdentity | null): boolean {
  return b !== null && a.id === b.id;
}
