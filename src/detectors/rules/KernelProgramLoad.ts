// KS-ESC-010: loading eBPF programs or opening perf events from a container: both reach into the host kernel.

import { EventType, Op } from '../../receiver/events.ts';
import { Attr } from '../attributeKeys.ts';
import { SECCOMP_DENIED_NOTE } from '../internal/notes.ts';
import { NO_FINDINGS, type DetectionContext, type Detector, type DetectorEvent, type Finding, type RuleMetadata } from '../Detector.ts';
import { KernelEnforceCheck } from '../../receiver/enforcement.ts';

const BPF_PROG_LOAD = 5;

export class KernelProgramLoad implements Detector {
  readonly meta: RuleMetadata = {
    id: 'KS-ESC-010',
    version: '1.0.0',
    title: 'eBPF program load or perf_event_open from a container',
    category: 'container_escape',
    severity: 'high',
    mitre: { technique: 'T1611', name: 'Escape to Host' },
    events: [EventType.Bpf],
    description:
      'A container process calls bpf(BPF_PROG_LOAD) (high) or perf_event_open (medium). eBPF programs and ' +
      'perf events observe or alter the whole host; both are common kernel-exploit primitives. Reported on the ' +
      'attempt, even when the kernel refuses it.' +
      SECCOMP_DENIED_NOTE,
    falsePositives: [
      'Observability agents (Cilium, Pixie, Parca, other eBPF tools) running as privileged pods.',
      'Profilers using perf_event_open inside development pods.',
    ],
    tuning: 'Exception by namespace or image for eBPF-based node agents.',
    uuid: '0915c3bc-9884-43d7-9108-1613128f971a',
    enforcement: {
      checks: [KernelEnforceCheck.BpfProgLoad],
      description:
        'bpf(BPF_PROG_LOAD), through the 32-bit entry (int 0x80, KS-ESC-021) too: the program may load, but the ' +
        'process dies before it can attach it.',
    },
  };

  onEvent(event: DetectorEvent, ctx: DetectionContext): readonly Finding[] {
    if (event.type !== EventType.Bpf) return NO_FINDINGS;
    const isProgLoad = event.op === Op.Bpf && event.cmd === BPF_PROG_LOAD;
    const isPerf = event.op === Op.PerfEventOpen;
    if (!isProgLoad && !isPerf) return NO_FINDINGS;
    if (ctx.container(event) === null) return NO_FINDINGS;
    if (isProgLoad) {
      return [
        {
          summary: `${event.comm} loaded an eBPF program (type ${event.progType}) from inside a container`,
          attributes: { [Attr.syscall]: 'bpf', [Attr.bpfCommand]: 'BPF_PROG_LOAD', [Attr.bpfProgramType]: event.progType },
        },
      ];
    }
    return [
      {
        severity: 'medium',
        summary: `${event.comm} called perf_event_open from inside a container`,
        attributes: { [Attr.syscall]: 'perf_event_open', [Attr.targetPid]: event.targetPid },
      },
    ];
  }
}
